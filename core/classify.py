"""Classify every SMTP failure (RELIABILITY.md section 1) into what it means and what to do."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from core.errors import (
    AuthError,
    ConnectError,
    DisconnectedError,
    DNSError,
    DowngradeError,
    HTTPReplyError,
    NotSupportedError,
    Phase,
    ProxyError,
    RecipientsMismatchError,
    SignInRequiredError,
    SMTPError,
    TimedOutError,
    TLSError,
)

__all__ = [
    "SIGN_IN_EXPIRED",
    "Action",
    "Classification",
    "FailureKind",
    "classify",
    "is_rate_limit",
    "login_hint",
]

SIGN_IN_EXPIRED = "the sign-in has expired or was revoked"  # a campaign's stop reason starts so


class FailureKind(StrEnum):
    """What a failure says about the session, the recipient or the campaign."""

    TRANSIENT_SESSION = "transient-session"  # the connection is the problem: reconnect, retry
    TRANSIENT_RECIPIENT = "transient-recipient"  # this recipient, for now: defer
    PERMANENT_RECIPIENT = "permanent-recipient"  # this recipient, for good: failed
    PERMANENT_SESSION = "permanent-session"  # the server will not talk to us (554 greeting)
    PERMANENT_CAMPAIGN = "permanent-campaign"  # the content: it will fail for everyone
    CONFIG = "config"  # settings are wrong (TLS, login, sender): stop before more harm
    RATE_LIMITED = "rate-limited"  # quota or rate: pause long, the rest stay pending
    AMBIGUOUS = "ambiguous"  # message sent, reply lost: UNKNOWN, a person decides


class Action(StrEnum):
    """What the engine does next."""

    RECONNECT = "reconnect"  # back off, reconnect, retry the same recipient
    DEFER = "defer"  # retry this recipient later with backoff; go on with the others
    FAIL = "fail"  # record the recipient as failed; go on
    ABORT = "abort"  # stop the campaign
    PAUSE = "pause"  # pause the campaign for a long while
    HOLD = "hold"  # mark UNKNOWN; never resend without a person


_ACTIONS = {
    FailureKind.TRANSIENT_SESSION: Action.RECONNECT,
    FailureKind.TRANSIENT_RECIPIENT: Action.DEFER,
    FailureKind.PERMANENT_RECIPIENT: Action.FAIL,
    FailureKind.PERMANENT_SESSION: Action.ABORT,
    FailureKind.PERMANENT_CAMPAIGN: Action.ABORT,
    FailureKind.CONFIG: Action.ABORT,
    FailureKind.RATE_LIMITED: Action.PAUSE,
    FailureKind.AMBIGUOUS: Action.HOLD,
}


@dataclass(frozen=True, slots=True)
class Classification:
    """The verdict on one failure: its kind, the action it implies, why, and a hint."""

    kind: FailureKind
    reason: str
    hint: str = ""
    until_daily_window: bool = False  # a daily quota: pause until the 24-hour window allows
    retry_after: float | None = None  # seconds the provider asked to wait (HTTP Retry-After)

    @property
    def action(self) -> Action:
        return _ACTIONS[self.kind]


_RATE_TEXT = re.compile(
    r"quota|rate.?limit|sending limit|daily (user )?sending|limit exceeded|exceeded .{0,40}limit"
    r"|throttl|unusual rate|submission rate|too many (messages|mails|emails|recipients|connections)"
    r"|submissionquotaexceeded|try again (in|after) \d+ (minutes|hours)",
    re.IGNORECASE,
)
_MAILBOX_FULL = re.compile(r"mailbox (is )?full|over quota|exceeded (its|the) storage", re.I)
_RATE_ENHANCED = {"5.4.5", "4.7.28", "5.7.28", "4.2.1"}
_CONTENT_ENHANCED_PREFIX = "5.6."  # media / content errors
_TRANSIENT_RCPT_CODES = {450, 451, 452, 552}  # 552 per RFC 5321 4.5.3.1.10
_LOGIN_CODES = {530, 534, 535, 538}
_API_RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
_API_DAILY_REASON = "dailyLimitExceeded"
_API_MAYBE_SENT = {500, 502, 504}  # after the whole body: Google may have sent it
_HTTP_TOO_MANY = 429
_HTTP_UNAUTHORIZED = 401
_HTTP_FORBIDDEN = 403
_HTTP_UNAVAILABLE = 503


def is_rate_limit(code: int | None, enhanced: str | None, text: str) -> bool:
    """True when a reply says quota or rate limit, by its enhanced code or its words."""
    if enhanced in _RATE_ENHANCED:
        return True
    if (enhanced or "").endswith(".2.2") or _MAILBOX_FULL.search(text or ""):
        return False  # the recipient's mailbox is full: about them, not about our quota
    if code == 454 and "throttl" in text.lower():
        return True
    return bool(_RATE_TEXT.search(text or ""))


def login_hint(error: SMTPError, host: str = "") -> str:
    """What a person should try when the server refuses the login."""
    host = host.lower()
    text = (error.text or "").lower()
    if error.enhanced == "5.7.139" or "basic authentication is disabled" in text:
        return (
            "Microsoft has turned basic authentication off for this account (5.7.139): "
            "sign in with OAuth (XOAUTH2) or ask the admin to enable SMTP AUTH."
        )
    if "gmail" in host or "google" in host or "application-specific password" in text:
        return (
            "Gmail refuses the normal password: turn on 2-Step Verification and create an "
            "app password (Google Account > Security > App passwords)."
        )
    if "yahoo" in host:
        return "Yahoo needs an app password (Account security > Generate app password)."
    if "icloud" in host or "me.com" in host:
        return "iCloud needs an app-specific password (appleid.apple.com > Sign-In and Security)."
    if error.code == 530:
        return "The server wants a login before sending: set the user name and password."
    if error.code == 534:
        return "The server wants a stronger login method (app password or OAuth)."
    return "Check the user name and password; some providers need an app password."


_Rule = tuple[Callable[[SMTPError], bool], FailureKind, str]


def _code(error: SMTPError) -> int:
    return error.code or 0


def _api(error: SMTPError, *statuses: int) -> bool:
    return isinstance(error, HTTPReplyError) and (not statuses or _code(error) in statuses)


def _api_reason(error: SMTPError) -> str:
    return error.reason if isinstance(error, HTTPReplyError) else ""


def _api_maybe_sent(error: SMTPError) -> bool:
    return isinstance(error, HTTPReplyError) and error.body_sent and _code(error) in _API_MAYBE_SENT


def _broke(error: SMTPError) -> bool:
    return isinstance(error, DisconnectedError | TimedOutError)


# Ordered: the first rule that matches decides. Each row is one line of RELIABILITY.md section 1.
_RULES: tuple[_Rule, ...] = (
    # After the final dot a lost reply means the server may have stored the message.
    (
        lambda e: e.phase is Phase.MESSAGE and _broke(e),
        FailureKind.AMBIGUOUS,
        "the connection broke after the message was sent, before the server replied",
    ),
    # The Gmail API's replies (HTTP statuses and Google's reasons), before the SMTP rows.
    (
        lambda e: _api(e) and _api_reason(e) == _API_DAILY_REASON,
        FailureKind.RATE_LIMITED,
        "the account's daily sending limit (Gmail API)",
    ),
    (
        lambda e: (
            _api(e, _HTTP_TOO_MANY)
            or (_api(e, _HTTP_FORBIDDEN) and _api_reason(e) in _API_RATE_REASONS)
        ),
        FailureKind.RATE_LIMITED,
        "the Gmail API's rate limit",
    ),
    (
        _api_maybe_sent,
        FailureKind.AMBIGUOUS,
        "the Gmail API failed after the whole message was sent: it may have gone out",
    ),
    (
        lambda e: _api(e) and (_code(e) == _HTTP_UNAVAILABLE or _code(e) >= 500),
        FailureKind.TRANSIENT_SESSION,
        "the Gmail API is unavailable for now",
    ),
    (
        lambda e: _api(e, _HTTP_UNAUTHORIZED, _HTTP_FORBIDDEN),
        FailureKind.CONFIG,
        "the Gmail API refused this account's token or permissions",
    ),
    (lambda e: _api(e), FailureKind.PERMANENT_RECIPIENT, "the Gmail API refused the message"),
    (
        lambda e: isinstance(e, RecipientsMismatchError),
        FailureKind.PERMANENT_RECIPIENT,
        "the message's To/Cc headers name someone outside this row's recipients",
    ),
    (lambda e: isinstance(e, TLSError), FailureKind.CONFIG, "TLS handshake or certificate failed"),
    (
        lambda e: isinstance(e, SignInRequiredError),
        FailureKind.CONFIG,
        SIGN_IN_EXPIRED,
    ),
    (
        lambda e: isinstance(e, DowngradeError),
        FailureKind.CONFIG,
        "STARTTLS required but not offered: possible downgrade",
    ),
    (
        lambda e: e.phase is Phase.AUTH and _code(e) in {454, 432},
        FailureKind.TRANSIENT_SESSION,
        "temporary login failure",
    ),
    (
        lambda e: e.phase is Phase.AUTH and (isinstance(e, AuthError) or _code(e) >= 500),
        FailureKind.CONFIG,
        "the server refused the login",
    ),
    (
        lambda e: e.phase is Phase.AUTH and isinstance(e, NotSupportedError),
        FailureKind.CONFIG,
        "the server offers no usable login method",
    ),
    (
        lambda e: (
            _code(e) >= 400
            and e.phase is not Phase.AUTH
            and is_rate_limit(e.code, e.enhanced, e.text)
        ),
        FailureKind.RATE_LIMITED,
        "the provider's sending quota or rate limit",
    ),
    (
        lambda e: isinstance(e, ProxyError) and e.reason == "setting",
        FailureKind.CONFIG,
        "the proxy setting cannot be used",
    ),
    (
        lambda e: isinstance(e, DNSError | ConnectError | ProxyError),
        FailureKind.TRANSIENT_SESSION,
        "could not connect",
    ),
    (
        lambda e: e.phase is Phase.GREETING and 400 <= _code(e) < 500,
        FailureKind.TRANSIENT_SESSION,
        "the server is busy (greeting)",
    ),
    (
        lambda e: e.phase is Phase.GREETING and _code(e) >= 500,
        FailureKind.PERMANENT_SESSION,
        "the server refuses connections from us",
    ),
    (lambda e: _code(e) == 421, FailureKind.TRANSIENT_SESSION, "the server is closing the session"),
    (
        lambda e: e.phase is Phase.MAIL and _code(e) >= 500,
        FailureKind.CONFIG,
        "the server does not accept this sender address",
    ),
    (
        lambda e: e.phase is Phase.RCPT and isinstance(e, NotSupportedError),
        FailureKind.PERMANENT_RECIPIENT,
        "needs SMTPUTF8, which the server does not offer",
    ),
    (
        lambda e: e.phase is Phase.RCPT and _code(e) in _TRANSIENT_RCPT_CODES,
        FailureKind.TRANSIENT_RECIPIENT,
        "recipient temporarily refused",
    ),
    (
        lambda e: e.phase is Phase.RCPT and _code(e) >= 500,
        FailureKind.PERMANENT_RECIPIENT,
        "recipient refused",
    ),
    (
        lambda e: (
            e.phase is Phase.MESSAGE
            and (
                (_code(e) == 552 and e.enhanced in {None, "5.3.4"})
                or (_code(e) == 554 and (e.enhanced or "").startswith(_CONTENT_ENHANCED_PREFIX))
            )
        ),
        FailureKind.PERMANENT_CAMPAIGN,
        "the message itself was refused (size or content): it would fail for everyone",
    ),
    (
        lambda e: _broke(e) or e.code is None,
        FailureKind.TRANSIENT_SESSION,
        "the connection broke before the message was sent",
    ),
    (
        lambda e: e.phase in {Phase.EHLO, Phase.STARTTLS} and _code(e) >= 500,
        FailureKind.CONFIG,
        "the server refused the session setup",
    ),
    (
        lambda e: e.phase in {Phase.EHLO, Phase.STARTTLS, Phase.MAIL, Phase.RSET, Phase.QUIT},
        FailureKind.TRANSIENT_SESSION,
        "temporary failure setting up the session",
    ),
    (lambda e: 400 <= _code(e) < 500, FailureKind.TRANSIENT_RECIPIENT, "temporary failure"),
    (lambda e: _code(e) >= 500, FailureKind.PERMANENT_RECIPIENT, "permanent failure"),
)


def classify(error: SMTPError, *, host: str = "") -> Classification:
    """Decide what a failure means. Pure: the same error always gets the same verdict."""
    for matches, kind, reason in _RULES:
        if matches(error):
            hint = _hint(error, kind, host)
            daily = _api_reason(error) == _API_DAILY_REASON
            wait = getattr(error, "retry_after", None)
            return Classification(
                kind=kind, reason=reason, hint=hint, until_daily_window=daily, retry_after=wait
            )
    return Classification(FailureKind.TRANSIENT_SESSION, "unexpected failure")


def _hint(error: SMTPError, kind: FailureKind, host: str) -> str:
    if isinstance(error, SignInRequiredError):
        return (
            "Sign in again (Accounts > Sign in, or python main.py account login NAME), then "
            "resume the campaign: nothing was sent since the sign-in stopped working."
        )
    if kind is FailureKind.CONFIG and error.phase is Phase.AUTH:
        return login_hint(error, host)
    if isinstance(error, TLSError):
        return _tls_hint(error.reason)
    if isinstance(error, DowngradeError):
        return (
            "The server did not offer STARTTLS. Something on the network may be stripping it; "
            "try port 465 (implicit TLS) or another network."
        )
    if kind is FailureKind.CONFIG and error.phase is Phase.MAIL:
        return "Use the account's own address (or an alias the provider has verified) as sender."
    if kind is FailureKind.RATE_LIMITED and _api_reason(error) == _API_DAILY_REASON:
        return "The daily limit was reached: the campaign waits for the 24-hour window."
    if kind is FailureKind.RATE_LIMITED:
        return "The provider's limit was reached: the campaign pauses and resumes later."
    if kind is FailureKind.AMBIGUOUS:
        return "The server may have accepted it. Choose: resend (may duplicate) or mark as sent."
    if kind is FailureKind.PERMANENT_CAMPAIGN:
        return "Make the message smaller or change its content, then retry the failed recipients."
    return ""


def _tls_hint(reason: str) -> str:
    return {
        "expired": "The server's certificate has expired: tell the server's admin.",
        "not-yet-valid": "The certificate is not valid yet: check this computer's date and time.",
        "hostname": "The certificate is for another name: check the host, or set the TLS "
        "server name the certificate carries.",
        "unknown-ca": "The certificate is signed by an unknown authority: for a self-signed "
        "or company server, pin its CA file in the account's certificate options.",
    }.get(reason, "TLS failed: check the port and security mode (465 = TLS, 587 = STARTTLS).")
