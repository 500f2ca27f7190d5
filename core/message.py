"""Build each recipient's message bytes: stdlib header encoding, constants encoded once."""

from __future__ import annotations

import binascii
import hashlib
import mimetypes
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.policy import EmailPolicy
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from email_validator import EmailNotValidError, validate_email

from core.models import Account, Recipient, Template
from core.templating import (
    CompiledTemplate,
    IssueKind,
    MergeError,
    RenderedMessage,
    resolve_attachment,
)

__all__ = [
    "MAX_HEADER_CHARS",
    "MAX_LINE_OCTETS",
    "BuiltMessage",
    "MessageBuilder",
    "attachment_part_size",
    "choose_transfer_encoding",
    "fold_header",
    "message_id_for",
    "parse_address_list",
]

MAX_LINE_OCTETS = 998  # RFC 5322 2.1.1: no line may be longer, CRLF excluded
MAX_HEADER_CHARS = 900  # a rendered header value (subject, address list, URL) may not be longer
_URL_HEADERS = frozenset({"list-unsubscribe"})  # folding would turn long URLs into encoded-words
_ONE_CLICK = "List-Unsubscribe=One-Click"  # RFC 8058
_CACHE_LIMIT = 512  # header values kept encoded per builder (static or low-cardinality ones)
_ATTACHMENT_HEADERS_ESTIMATE = 200  # bytes of part headers and boundary around an attachment
_B64_LINE = 76
_HEADER_BREAK_RE = re.compile(r"[\r\n\x00]")
_BODY_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_URI_BAD_RE = re.compile(r'[^\x21-\x7e]|[",<>]')
_ID_DOMAIN_RE = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?)+$")
_CRLF = b"\r\n"
_FOLD_WIDTH = 78  # policy.SMTP.max_line_length
_UTF8 = "utf-8"
_TEXT_HEADERS = frozenset({"subject"})  # unstructured headers that may carry encoded-words
_PRINTABLE_RE = re.compile(r"[ -~]+")  # printable ASCII: a header value the folder leaves alone
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOT_ATOM_ADDRESS_RE = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@{_LABEL}(?:\.{_LABEL})*")


if TYPE_CHECKING:  # generic only in typeshed
    _PolicyBase = EmailPolicy[EmailMessage]
else:
    _PolicyBase = EmailPolicy


class _SMTPPolicy(_PolicyBase):
    """`email.policy.SMTP`, except that URL-list headers are folded only past 998 octets.

    The stock folder turns any word longer than 78 characters into an RFC 2047 encoded-word,
    which breaks the `<https://...>` of a List-Unsubscribe header.
    """

    def fold(self, name: str, value: Any) -> Any:
        if name.lower() in _URL_HEADERS and self.max_line_length != MAX_LINE_OCTETS:
            return self.clone(max_line_length=MAX_LINE_OCTETS).fold(name, value)
        return super().fold(name, value)

    def fold_binary(self, name: str, value: Any) -> bytes:
        if name.lower() in _URL_HEADERS and self.max_line_length != MAX_LINE_OCTETS:
            return self.clone(max_line_length=MAX_LINE_OCTETS).fold_binary(name, value)
        return super().fold_binary(name, value)


_SMTP = _SMTPPolicy(linesep="\r\n")
_SMTPUTF8 = _SMTP.clone(utf8=True)


@dataclass(frozen=True, slots=True)
class BuiltMessage:
    """One message ready for SMTP DATA (CRLF line endings; the transport dot-stuffs)."""

    payload: bytes
    message_id: str
    envelope_recipients: tuple[str, ...]  # To + Cc + Bcc, deduplicated; Bcc is not in payload
    size: int
    smtputf8: bool = False  # an address needs the server's SMTPUTF8 extension


def message_id_for(campaign_id: str, email: str, sender: str) -> str:
    """`<hash@sender-domain>`: the same campaign and recipient always get the same Message-ID."""
    seed = f"{campaign_id}\0{email}".encode("utf-8", "surrogatepass")
    return f"<{hashlib.sha256(seed).hexdigest()[:32]}@{_id_domain(sender)}>"


def _id_domain(sender: str) -> str:
    domain = sender.rpartition("@")[2].strip().rstrip(".").lower()
    try:
        ascii_domain = domain if domain.isascii() else domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise MergeError(
            f"sender {sender!r}: domain cannot be encoded",
            kind=IssueKind.INVALID_ADDRESS,
            part="from",
        ) from exc
    if not ascii_domain or not _ID_DOMAIN_RE.match(ascii_domain):
        raise MergeError(
            f"sender {sender!r} has no usable domain", kind=IssueKind.INVALID_ADDRESS, part="from"
        )
    return ascii_domain


def choose_transfer_encoding(text: str) -> str:
    """'7bit' for plain ASCII with lines of at most 998 octets, else 'quoted-printable'."""
    if (
        text.isascii()
        and not _BODY_CONTROL_RE.search(text)
        and max(map(len, text.split("\n"))) <= MAX_LINE_OCTETS
    ):
        return "7bit"
    return "quoted-printable"


def _normalize_body(text: str) -> str:
    """LF line endings and a final newline, as `EmailMessage.set_content` would make them."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"


def _encode_body(text: str, cte: str) -> bytes:
    if cte == "7bit":
        return text.replace("\n", "\r\n").encode("ascii")
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True)
    return encoded.replace(b"\n", _CRLF)


def _check_folded(name: str, folded: bytes) -> bytes:
    """Refuse a folded header that smuggles in a line of its own or is too long to send.

    Python before 3.11.10 decodes encoded-words found in a value and can write a CR/LF they
    contain verbatim (CVE-2024-6923); this check makes that impossible whatever the version.
    """
    lines = folded.split(_CRLF)
    if lines[-1] != b"":
        raise _injection(name)
    for index, line in enumerate(lines[:-1]):
        if b"\r" in line or b"\n" in line or b"\0" in line:
            raise _injection(name)
        if index and line[:1] not in (b" ", b"\t"):
            raise _injection(name)
        if len(line) > MAX_LINE_OCTETS:
            raise MergeError(
                f"{name} header would be longer than {MAX_LINE_OCTETS} octets on one line",
                kind=IssueKind.INVALID_HEADER,
                part=name.lower(),
            )
    return folded


def fold_header(
    name: str, value: str | Sequence[Address], *, policy: EmailPolicy | None = None
) -> bytes:
    """One header line (with its CRLF), encoded by the stdlib and checked for injection.

    The general case is `policy.header_factory` + `policy.fold_binary`. Two common cases take
    a cheaper stdlib route: a short printable-ASCII value, which the folder returns unchanged
    (written as is; tests prove the bytes identical), and a non-ASCII subject or display name,
    encoded with `email.header.Header` (RFC 2047 encoded-words, ~15x faster).
    """
    pol = policy or _SMTP
    if not pol.utf8:
        quick = _quick_fold(name, value)
        if quick is not None:
            return _check_folded(name, quick)
    return _check_folded(name, pol.fold_binary(name, pol.header_factory(name, value)))


def _is_plain(name: str, text: str) -> bool:
    width = MAX_LINE_OCTETS if name.lower() in _URL_HEADERS else _FOLD_WIDTH
    return (
        len(name) + 2 + len(text) <= width
        and _PRINTABLE_RE.fullmatch(text) is not None
        and "=?" not in text
    )


def _encoded_words(name: str, text: str) -> str | None:
    """`text` as RFC 2047 encoded-words folded for header `name`, if it is worth doing so."""
    if text.isascii() or text != " ".join(text.split()):
        return None  # ASCII needs no encoding; odd whitespace is left to the full folder
    return Header(text, _UTF8, header_name=name).encode(linesep="\r\n")


def _quick_fold(name: str, value: str | Sequence[Address]) -> bytes | None:
    if isinstance(value, str):
        if _is_plain(name, value):
            return f"{name}: {value}\r\n".encode("ascii")
        words = _encoded_words(name, value) if name.lower() in _TEXT_HEADERS else None
        return None if words is None else f"{name}: {words}\r\n".encode("ascii")
    if len(value) != 1:
        return None
    address = value[0]
    text = str(address)
    if _is_plain(name, text):
        return f"{name}: {text}\r\n".encode("ascii")
    spec = f"<{address.addr_spec}>"
    if not _PRINTABLE_RE.fullmatch(spec):
        return None
    words = _encoded_words(name, address.display_name)
    if words is None or "\r\n" in words:
        # Several encoded-words in a display name: some parsers (Python's among them) keep
        # the folding space between them, so long names take the stdlib folder.
        return None
    sep = " " if len(name) + 2 + len(words) + 1 + len(spec) <= _FOLD_WIDTH else "\r\n "
    return f"{name}: {words}{sep}{spec}\r\n".encode("ascii")


def _injection(name: str) -> MergeError:
    return MergeError(
        f"{name} would contain a line break or NUL (header injection refused)",
        kind=IssueKind.HEADER_INJECTION,
        part=name.lower(),
    )


def _check_header_value(value: str, part: str) -> str:
    if _HEADER_BREAK_RE.search(value):
        raise MergeError(
            f"{part} contains a line break or NUL (header injection refused)",
            kind=IssueKind.HEADER_INJECTION,
            part=part,
        )
    if len(value) > MAX_HEADER_CHARS:
        raise MergeError(
            f"{part} is longer than {MAX_HEADER_CHARS} characters",
            kind=IssueKind.INVALID_HEADER,
            part=part,
        )
    return value


def parse_address_list(value: str, *, part: str) -> tuple[Address, ...]:
    """The addresses in a rendered header value (`a@x.com, Name <b@y.org>`), each validated.

    Parsing is the stdlib's; every address is then checked with email-validator (no DNS) and
    its domain converted to A-labels. Raises MergeError (INVALID_ADDRESS, HEADER_INJECTION).
    """
    _check_header_value(value, part)
    try:
        header = _SMTP.header_factory("To", value)
    except (ValueError, LookupError, HeaderParseError) as exc:  # the parser trips on some input
        raise MergeError(
            f"{part}: {value!r} is not a valid address list",
            kind=IssueKind.INVALID_ADDRESS,
            part=part,
        ) from exc
    if header.defects:
        raise MergeError(
            f"{part}: {value!r} is not a valid address list ({header.defects[0]})",
            kind=IssueKind.INVALID_ADDRESS,
            part=part,
        )
    return tuple(_checked(address, part) for address in header.addresses)


def _checked(address: Address, part: str) -> Address:
    try:
        info = validate_email(address.addr_spec, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise MergeError(
            f"{part}: {address.addr_spec!r} is not a valid address ({exc})",
            kind=IssueKind.INVALID_ADDRESS,
            part=part,
        ) from exc
    return Address(
        display_name=address.display_name, username=info.local_part, domain=info.ascii_domain
    )


def _own_address(display_name: str, email: str, part: str) -> Address:
    """An address we already trust (validated on import or configured), checked for safety."""
    _check_header_value(display_name, part)
    _check_header_value(email, part)
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        raise MergeError(
            f"{part}: {email!r} is not an address", kind=IssueKind.INVALID_ADDRESS, part=part
        )
    if not local.isascii() or _DOT_ATOM_ADDRESS_RE.fullmatch(email):
        # A plain dot-atom parses to exactly these parts (skip the parser: it costs ~25 us);
        # a non-ASCII local part (SMTPUTF8) is refused by the parser but valid here.
        return Address(display_name=display_name, username=local, domain=domain)
    try:
        return Address(display_name=display_name, addr_spec=email)
    except (ValueError, LookupError, HeaderParseError) as exc:
        raise MergeError(
            f"{part}: {email!r} is not a valid address ({exc})",
            kind=IssueKind.INVALID_ADDRESS,
            part=part,
        ) from exc


def _needs_utf8(address: Address) -> bool:
    return not address.username.isascii()


@dataclass(frozen=True, slots=True)
class _Attachment:
    filename: str
    maintype: str
    subtype: str
    params: dict[str, str]
    data: bytes
    part: bytes  # the encoded MIME part, headers included, for the fast path


def _load_attachment(path: Path) -> _Attachment:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MergeError(
            f"attachment cannot be read: {path} ({exc.strerror or exc})",
            kind=IssueKind.MISSING_ATTACHMENT,
            part="attachment",
            path=str(path),
        ) from exc
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    maintype, _, subtype = ctype.partition("/")
    params: dict[str, str] = {}
    if maintype == "text" and _is_utf8(data):
        params["charset"] = _UTF8  # else readers assume US-ASCII and garble the file
    part = MIMEPart(policy=_SMTP)
    part.set_content(
        data, maintype, subtype, disposition="attachment", filename=path.name, params=params
    )
    return _Attachment(path.name, maintype, subtype, params, data, part.as_bytes(policy=_SMTP))


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode(_UTF8)
    except UnicodeDecodeError:
        return False
    return True


def attachment_part_size(filename: str, size: int) -> int:
    """Close estimate of the bytes a file of `size` bytes adds to a message (base64 + headers)."""
    encoded = 4 * ((size + 2) // 3)
    lines = (encoded + _B64_LINE - 1) // _B64_LINE
    return encoded + 2 * lines + _ATTACHMENT_HEADERS_ESTIMATE + 3 * len(filename.encode())


@dataclass(frozen=True, slots=True)
class _Headers:
    """The per-recipient header values, validated, before encoding."""

    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    cc_key: str
    reply_to: tuple[Address, ...]
    reply_to_key: str
    subject: str
    unsubscribe: str | None
    envelope: tuple[str, ...]
    smtputf8: bool
    message_id: str


class MessageBuilder:
    """Builds every message of one campaign; everything that does not vary is encoded once.

    `build` takes a fast path for the common case (no per-recipient attachment, no SMTPUTF8):
    it joins pre-encoded bytes with the few headers that change, each still encoded by the
    stdlib header machinery (`Address` + `policy.fold_binary`). Anything else goes through
    `EmailMessage`. Both produce messages that parse to the same headers and body.
    """

    def __init__(
        self,
        account: Account,
        template: Template,
        campaign_id: str,
        *,
        base_dir: Path | str,
        compiled: CompiledTemplate | None = None,
        fast_path: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.account = account
        self.template = template
        self.campaign_id = campaign_id
        self.base_dir = Path(base_dir)
        self.compiled = compiled if compiled is not None else CompiledTemplate(template)
        self.fast_path = fast_path
        self.fast_builds = 0  # counters for benchmarks and tests
        self.slow_builds = 0
        self._clock = clock
        self._folded: dict[tuple[str, str], bytes] = {}
        self._parsed: dict[tuple[str, str], tuple[Address, ...]] = {}
        self._date_second = -1
        self._date = ""
        self._date_line = b""

        display = template.from_name if template.from_name is not None else account.sender_name
        self._from = (_own_address(display, account.sender, "from"),)
        self._sender_utf8 = _needs_utf8(self._from[0])
        message_id_for(campaign_id, "", account.sender)  # fail now on an unusable sender domain
        self._from_line = b"" if self._sender_utf8 else self._fold_addresses("From", self._from)

        digest = hashlib.sha256(f"boundary\0{campaign_id}".encode()).hexdigest()[:24]
        self._boundary_mark = digest
        self._alt_boundary = f"=_alt_{digest}".encode("ascii")
        self._mixed_boundary = f"=_mix_{digest}".encode("ascii")
        self._alt_header = self._fold_text(
            "Content-Type", f'multipart/alternative; boundary="=_alt_{digest}"'
        )
        self._mixed_header = self._fold_text(
            "Content-Type", f'multipart/mixed; boundary="=_mix_{digest}"'
        )
        self._leaf_headers = {
            (subtype, cte): self._fold_text("Content-Type", f'text/{subtype}; charset="utf-8"')
            + self._fold_text("Content-Transfer-Encoding", cte)
            for subtype in ("plain", "html")
            for cte in ("7bit", "quoted-printable")
        }
        self._mime_version = self._fold_text("MIME-Version", "1.0")
        self._one_click = (
            self._fold_text("List-Unsubscribe-Post", _ONE_CLICK)
            if template.list_unsubscribe_url
            else b""
        )
        self._shared = tuple(
            _load_attachment(resolve_attachment(self.base_dir, name, from_data=False))
            for name in template.attachments
        )
        self._shared_parts = tuple(att.part for att in self._shared)

    # -- public --------------------------------------------------------------------------

    def build(self, recipient: Recipient) -> BuiltMessage:
        """Render and encode one recipient's message. Raises MergeError (an InputError)."""
        return self.build_rendered(recipient, self.compiled.render(recipient))

    def build_rendered(self, recipient: Recipient, rendered: RenderedMessage) -> BuiltMessage:
        """Encode an already rendered message for `recipient`."""
        with _about(recipient):
            heads = self._headers(recipient, rendered)
            own = (
                _load_attachment(
                    resolve_attachment(self.base_dir, rendered.attachment, from_data=True)
                )
                if rendered.attachment is not None
                else None
            )
            if self.fast_path and own is None and not heads.smtputf8:
                payload = self._assemble(heads, rendered, self._shared_parts)
                self.fast_builds += 1
            else:
                attachments = self._shared if own is None else (*self._shared, own)
                payload = self._email_message(heads, rendered, attachments)
                self.slow_builds += 1
        return BuiltMessage(
            payload=payload,
            message_id=heads.message_id,
            envelope_recipients=heads.envelope,
            size=len(payload),
            smtputf8=heads.smtputf8,
        )

    def measure(self, recipient: Recipient, rendered: RenderedMessage) -> tuple[int, bool]:
        """(size in bytes without any per-recipient attachment, needs SMTPUTF8) for pre-flight."""
        with _about(recipient):
            heads = self._headers(recipient, rendered)
            if heads.smtputf8 or not self.fast_path:
                return len(self._email_message(heads, rendered, self._shared)), heads.smtputf8
            return len(self._assemble(heads, rendered, self._shared_parts)), False

    # -- headers -------------------------------------------------------------------------

    def _headers(self, recipient: Recipient, rendered: RenderedMessage) -> _Headers:
        rendered_to = rendered.to
        own_to = rendered_to is None or rendered_to.strip() == recipient.email
        if rendered_to is None or own_to:
            name = _check_header_value(recipient.name, "name") if rendered_to is None else ""
            name = " ".join(name.split())  # after the check: split() would hide CR/LF
            to: tuple[Address, ...] = (_own_address(name, recipient.email, "to"),)
        else:
            to = self._addresses(rendered_to, "to")
            if not to:
                raise MergeError(
                    "to is empty after merging", kind=IssueKind.INVALID_ADDRESS, part="to"
                )
        cc = self._address_lists(rendered.cc, "cc")
        bcc = self._address_lists(rendered.bcc, "bcc")
        reply_to = (
            self._addresses(rendered.reply_to, "reply_to")
            if rendered.reply_to and rendered.reply_to.strip()
            else ()
        )
        # Whitespace runs collapse to one space, as header folding would do anyway.
        subject = " ".join(_check_header_value(rendered.subject, "subject").split())
        envelope: dict[str, str] = {recipient.email.lower(): recipient.email} if own_to else {}
        for address in (*to[1:], *cc, *bcc) if own_to else (*to, *cc, *bcc):
            envelope.setdefault(address.addr_spec.lower(), address.addr_spec)
        smtputf8 = (
            self._sender_utf8
            or recipient.needs_smtputf8
            or any(_needs_utf8(address) for address in (*to, *cc, *bcc, *reply_to))
        )
        return _Headers(
            to=to,
            cc=cc,
            cc_key="\0".join(rendered.cc),
            reply_to=reply_to,
            reply_to_key=rendered.reply_to or "",
            subject=subject,
            unsubscribe=_list_unsubscribe(rendered),
            envelope=tuple(envelope.values()),
            smtputf8=smtputf8,
            message_id=message_id_for(self.campaign_id, recipient.email, self.account.sender),
        )

    def _addresses(self, value: str, part: str) -> tuple[Address, ...]:
        key = (part, value)
        cached = self._parsed.get(key)
        if cached is None:
            cached = parse_address_list(value, part=part) if value.strip() else ()
            if len(self._parsed) >= _CACHE_LIMIT:
                self._parsed.clear()
            self._parsed[key] = cached
        return cached

    def _address_lists(self, values: Iterable[str], part: str) -> tuple[Address, ...]:
        out: list[Address] = []
        for index, value in enumerate(values):
            out.extend(self._addresses(value, f"{part}[{index}]"))
        return tuple(out)

    def _fold_text(self, name: str, value: str) -> bytes:
        key = (name, value)
        folded = self._folded.get(key)
        if folded is None:
            folded = fold_header(name, value)
            if len(self._folded) >= _CACHE_LIMIT:
                self._folded.clear()
            self._folded[key] = folded
        return folded

    def _fold_addresses(
        self, name: str, addresses: Sequence[Address], key: str | None = None
    ) -> bytes:
        if key is not None:
            folded = self._folded.get((name, key))
            if folded is not None:
                return folded
        folded = fold_header(name, addresses)
        if key is not None:
            if len(self._folded) >= _CACHE_LIMIT:
                self._folded.clear()
            self._folded[(name, key)] = folded
        return folded

    def _date_value(self) -> str:
        now = self._clock()
        second = int(now)
        if second != self._date_second:
            self._date_second = second
            self._date = format_datetime(datetime.fromtimestamp(second, UTC))
            # Date and Message-ID are ASCII we generate ourselves: nothing to encode or fold.
            self._date_line = b"Date: " + self._date.encode("ascii") + _CRLF
        return self._date

    # -- fast path -----------------------------------------------------------------------

    def _assemble(
        self, heads: _Headers, rendered: RenderedMessage, attachments: Sequence[bytes]
    ) -> bytes:
        self._date_value()
        out = [self._from_line, self._fold_addresses("To", heads.to)]
        if heads.cc:
            out.append(self._fold_addresses("Cc", heads.cc, heads.cc_key))
        if heads.reply_to:
            out.append(self._fold_addresses("Reply-To", heads.reply_to, heads.reply_to_key))
        out.append(self._fold_text("Subject", heads.subject))
        out.append(self._date_line)
        out.append(b"Message-ID: " + heads.message_id.encode("ascii") + _CRLF)
        if heads.unsubscribe is not None:
            out.append(self._fold_text("List-Unsubscribe", heads.unsubscribe))
            out.append(self._one_click)
        out.append(self._mime_version)
        leaves = []
        if rendered.text is not None:
            leaves.append(self._leaf(rendered.text, "plain"))
        if rendered.html is not None:
            leaves.append(self._leaf(rendered.html, "html"))
        body = (
            self._multipart(self._alt_header, self._alt_boundary, leaves)
            if len(leaves) > 1
            else leaves[0]
        )
        if attachments:
            body = self._multipart(self._mixed_header, self._mixed_boundary, [body, *attachments])
        out.append(body)
        return b"".join(out)

    def _leaf(self, text: str, subtype: str) -> bytes:
        text = _normalize_body(text)
        cte = choose_transfer_encoding(text)
        if cte == "7bit" and self._boundary_mark in text:
            cte = "quoted-printable"  # QP output can never contain our "=_" boundaries
        return self._leaf_headers[(subtype, cte)] + _CRLF + _encode_body(text, cte)

    @staticmethod
    def _multipart(header: bytes, boundary: bytes, parts: Sequence[bytes]) -> bytes:
        # The same layout as email.generator: parts end in CRLF, then CRLF--boundary.
        out = [header, _CRLF, b"--", boundary, _CRLF]
        for index, part in enumerate(parts):
            if index:
                out += [_CRLF, b"--", boundary, _CRLF]
            out.append(part)
        out += [_CRLF, b"--", boundary, b"--", _CRLF]
        return b"".join(out)

    # -- EmailMessage path ---------------------------------------------------------------

    def _email_message(
        self, heads: _Headers, rendered: RenderedMessage, attachments: Sequence[_Attachment]
    ) -> bytes:
        policy = _SMTPUTF8 if heads.smtputf8 else _SMTP
        msg = EmailMessage(policy=policy)
        msg["From"] = self._from
        msg["To"] = heads.to
        if heads.cc:
            msg["Cc"] = heads.cc
        if heads.reply_to:
            msg["Reply-To"] = heads.reply_to
        msg["Subject"] = heads.subject
        msg["Date"] = self._date_value()
        msg["Message-ID"] = heads.message_id
        if heads.unsubscribe is not None:
            msg["List-Unsubscribe"] = heads.unsubscribe
            if self._one_click:
                msg["List-Unsubscribe-Post"] = _ONE_CLICK
        msg["MIME-Version"] = "1.0"
        text = None if rendered.text is None else _normalize_body(rendered.text)
        html = None if rendered.html is None else _normalize_body(rendered.html)
        if text is not None:
            msg.set_content(text, cte=choose_transfer_encoding(text))
            if html is not None:
                msg.add_alternative(html, subtype="html", cte=choose_transfer_encoding(html))
        elif html is not None:
            msg.set_content(html, subtype="html", cte=choose_transfer_encoding(html))
        for att in attachments:
            msg.add_attachment(
                att.data, att.maintype, att.subtype, filename=att.filename, params=att.params
            )
        payload = msg.as_bytes(policy=policy)
        _verify_header_block(payload, list(msg.keys()))
        return payload


@contextmanager
def _about(recipient: Recipient) -> Iterator[None]:
    """Every failure while encoding one recipient becomes a MergeError naming that recipient."""
    try:
        yield
    except MergeError as exc:
        raise exc.for_recipient(recipient) from exc
    except UnicodeError as exc:
        raise MergeError(
            f"message contains text that cannot be encoded ({exc})", kind=IssueKind.RENDER_ERROR
        ).for_recipient(recipient) from exc
    except (ValueError, LookupError, HeaderParseError) as exc:  # the stdlib header parser
        raise MergeError(
            f"a header cannot be encoded ({exc})", kind=IssueKind.INVALID_HEADER
        ).for_recipient(recipient) from exc


def _verify_header_block(payload: bytes, expected: list[str]) -> None:
    """The generated header block holds exactly the headers we set, each line sendable."""
    block, _, _ = payload.partition(b"\r\n\r\n")
    names: list[str] = []
    for line in block.split(_CRLF):
        if b"\r" in line or b"\n" in line or b"\0" in line:
            raise _injection("header")
        if len(line) > MAX_LINE_OCTETS:
            raise MergeError(
                f"a header would be longer than {MAX_LINE_OCTETS} octets on one line",
                kind=IssueKind.INVALID_HEADER,
            )
        if line[:1] not in (b" ", b"\t"):
            names.append(line.partition(b":")[0].decode("utf-8", "replace").lower())
    if names != [name.lower() for name in expected]:
        raise _injection("header")


def _list_unsubscribe(rendered: RenderedMessage) -> str | None:
    items: list[str] = []
    mailto = (rendered.list_unsubscribe_mailto or "").strip()
    if mailto:
        if not mailto.lower().startswith("mailto:"):
            mailto = f"mailto:{mailto}"
        items.append(f"<{_checked_uri(mailto, 'list_unsubscribe_mailto')}>")
    url = (rendered.list_unsubscribe_url or "").strip()
    if url:
        if not url.lower().startswith("https://"):
            raise MergeError(
                "list_unsubscribe_url must be an https:// URL (RFC 8058 one-click)",
                kind=IssueKind.INVALID_HEADER,
                part="list_unsubscribe_url",
            )
        items.append(f"<{_checked_uri(url, 'list_unsubscribe_url')}>")
    return ", ".join(items) if items else None


def _checked_uri(uri: str, part: str) -> str:
    _check_header_value(uri, part)
    if _URI_BAD_RE.search(uri):
        raise MergeError(
            f"{part} must be plain ASCII without spaces, quotes, commas or <>; "
            "encode merged values with |urlencode",
            kind=IssueKind.INVALID_HEADER,
            part=part,
        )
    return uri
