"""One root error for the mailer; SMTP failures carry their reply, merge failures their kind."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.models import Recipient

__all__ = [
    "AuthError",
    "ConnectError",
    "DNSError",
    "DisconnectedError",
    "DowngradeError",
    "HTTPReplyError",
    "InputError",
    "IssueKind",
    "JournalWriteError",
    "MailerError",
    "MergeError",
    "NotSupportedError",
    "Phase",
    "ProxyError",
    "RecipientsMismatchError",
    "ReplyError",
    "SMTPError",
    "SignInRequiredError",
    "TLSError",
    "TimedOutError",
    "parse_enhanced_code",
]

_ENHANCED_RE = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")


def parse_enhanced_code(text: str) -> str | None:
    """The RFC 3463 enhanced status code at the start of a reply text, e.g. '5.7.139'."""
    match = _ENHANCED_RE.match(text or "")
    return ".".join(match.groups()) if match else None


class Phase(StrEnum):
    """Where in the SMTP conversation something happened."""

    PROXY = "proxy"
    DNS = "dns"
    CONNECT = "connect"  # TCP connect (and the TLS handshake for implicit TLS)
    GREETING = "greeting"
    TLS = "tls"  # certificate checks and handshakes
    EHLO = "ehlo"
    STARTTLS = "starttls"
    AUTH = "auth"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"  # the DATA command, before any message byte is sent
    MESSAGE = "message"  # message sent, waiting for the reply to the final dot
    RSET = "rset"
    QUIT = "quit"


class MailerError(Exception):
    """Root of every error the mailer raises on purpose."""


class JournalWriteError(MailerError):
    """The campaign's journal could not record a step (disk full, I/O error).

    The engine stops the campaign (aborted, resumable): without the record, sending on
    could resend or skip someone after a crash. What was recorded before stays valid.
    """


class InputError(MailerError):
    """Bad input from a person or a file: says what and where."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.line = line
        self.field = field
        where = ", ".join(
            part
            for part in (
                source or "",
                f"line {line}" if line is not None else "",
                f"field {field!r}" if field else "",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)


class IssueKind(StrEnum):
    """What went wrong when merging one recipient (or the template itself)."""

    SYNTAX_ERROR = "syntax_error"  # the template does not compile
    MISSING_FIELD = "missing_field"  # a merge field the recipient does not have
    RENDER_ERROR = "render_error"  # any other failure while rendering
    HEADER_INJECTION = "header_injection"  # CR, LF or NUL in a rendered header value
    INVALID_HEADER = "invalid_header"  # a header value that cannot be sent (bad URL, too long)
    INVALID_ADDRESS = "invalid_address"  # a rendered To/Cc/Bcc/Reply-To that is not an address
    MISSING_ATTACHMENT = "missing_attachment"
    UNSAFE_PATH = "unsafe_path"  # an attachment path from CSV data that leaves base_dir
    TOO_LARGE = "too_large"  # the message is bigger than the size limit
    EMPTY_PART = "empty_part"  # the template's subject or body is empty


class MergeError(InputError):
    """A template failed for one recipient (or at all): the kind, the template part, the fields."""

    def __init__(
        self,
        message: str,
        *,
        kind: IssueKind,
        part: str | None = None,
        fields: tuple[str, ...] = (),
        line: int | None = None,
        email: str | None = None,
        template_line: int | None = None,
        path: str | None = None,
        source: str | None = None,
    ) -> None:
        super().__init__(message, source=source, line=line, field=part)
        self.kind = kind
        self.part = part
        self.fields = fields
        self.email = email
        self.template_line = template_line
        self.path = path

    def for_recipient(self, recipient: Recipient) -> MergeError:
        """The same error, saying which recipient it is about."""
        if self.email is not None:
            return self
        return MergeError(
            self.message,
            kind=self.kind,
            part=self.part,
            fields=self.fields,
            line=recipient.line or None,
            email=recipient.email,
            template_line=self.template_line,
            path=self.path,
            source=recipient.source or None,
        )


class SMTPError(MailerError):
    """A failure talking to an SMTP server, with everything needed to classify it."""

    def __init__(
        self,
        message: str,
        *,
        phase: Phase,
        code: int | None = None,
        text: str = "",
        enhanced: str | None = None,
        recipient: str | None = None,
    ) -> None:
        self.message = message
        self.phase = phase
        self.code = code
        self.text = text
        self.enhanced = enhanced if enhanced is not None else parse_enhanced_code(text)
        self.recipient = recipient
        super().__init__(message)

    def __str__(self) -> str:
        reply = f" ({self.code} {self.text})" if self.code is not None and self.text else ""
        if self.code is not None and not self.text:
            reply = f" ({self.code})"
        return f"{self.message}{reply}"

    @property
    def reply(self) -> str:
        """The server's reply as a person would read it, or an empty string."""
        if self.code is None:
            return ""
        return f"{self.code} {self.text}".strip()


class ConnectError(SMTPError):
    """The TCP connection could not be made (refused, unreachable, reset)."""

    def __init__(self, message: str, *, phase: Phase = Phase.CONNECT, refused: bool = False):
        super().__init__(message, phase=phase)
        self.refused = refused


class DNSError(SMTPError):
    """The server's host name does not resolve."""

    def __init__(self, message: str) -> None:
        super().__init__(message, phase=Phase.DNS)


class TimedOutError(SMTPError):
    """No answer in time: connect, a command, or the reply after the final dot."""


class DisconnectedError(SMTPError):
    """The server closed the connection (or it broke) in the middle of something."""


class TLSError(SMTPError):
    """TLS handshake or certificate check failed: never retried, never followed by AUTH."""

    def __init__(self, message: str, *, phase: Phase = Phase.TLS, reason: str = "") -> None:
        super().__init__(message, phase=phase)
        self.reason = reason  # expired, not-yet-valid, hostname, unknown-ca, handshake


class DowngradeError(SMTPError):
    """STARTTLS was required but the server did not offer it: a possible downgrade attack."""

    def __init__(self, message: str) -> None:
        super().__init__(message, phase=Phase.STARTTLS)


class AuthError(SMTPError):
    """The server refused the login (535 and friends)."""


class SignInRequiredError(AuthError):
    """The refresh token was refused (`invalid_grant`): only a new sign-in helps.

    Raised at login time, so the campaign stops before any message and nothing is marked
    sent; it can be resumed once the person signed in again.
    """

    def __init__(self, message: str, *, provider: str = "") -> None:
        super().__init__(message, phase=Phase.AUTH)
        self.provider = provider


class ReplyError(SMTPError):
    """The server answered a command with an error reply."""


class HTTPReplyError(ReplyError):
    """An HTTP API (the Gmail API) answered with an error status.

    `code` is the HTTP status, `reason` the provider's reason (`userRateLimitExceeded`,
    `dailyLimitExceeded`, ...), `body_sent` whether the whole message had gone out first
    (then a 5xx may mean it was sent anyway).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        reason: str = "",
        text: str = "",
        body_sent: bool = False,
        recipient: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        phase = Phase.MESSAGE if body_sent else Phase.DATA
        super().__init__(
            message, phase=phase, code=status, text=text, enhanced="", recipient=recipient
        )
        self.enhanced = None  # HTTP has no RFC 3463 codes
        self.reason = reason
        self.body_sent = body_sent
        self.retry_after = retry_after  # seconds from the reply's Retry-After, if any


class RecipientsMismatchError(SMTPError):
    """The message's To/Cc headers name someone outside the row's envelope (the Gmail API sends
    to the headers, not to an envelope): refused rather than sent to the wrong people."""

    def __init__(self, message: str, *, recipient: str | None = None) -> None:
        super().__init__(message, phase=Phase.RCPT, recipient=recipient)


class NotSupportedError(SMTPError):
    """The server lacks something required (AUTH, SMTPUTF8, a SASL mechanism)."""


class ProxyError(SMTPError):
    """The proxy could not be reached or refused to open the tunnel.

    `reason`: "unreachable" (nothing answers at the proxy's address), "timeout", "auth" (the
    proxy refused its user name or password), "refused" (it would not open the tunnel) or
    "setting" (the proxy setting itself is unusable, e.g. a bad ALL_PROXY).
    """

    def __init__(self, message: str, *, reason: str = "") -> None:
        super().__init__(message, phase=Phase.PROXY)
        self.reason = reason
