"""Frozen data the whole mailer shares: accounts, recipients, templates, settings, outcomes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from urllib.parse import unquote, urlsplit

__all__ = [
    "DEFAULT_COMMAND_TIMEOUT",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_DATA_TIMEOUT",
    "DEFAULT_DELAY_MS",
    "SMTP_PLAIN_PORT",
    "SMTP_STARTTLS_PORT",
    "SMTP_TLS_PORT",
    "Account",
    "AuthMethod",
    "BodyFormat",
    "Credentials",
    "Proxy",
    "ProxyKind",
    "Recipient",
    "RecipientStatus",
    "RetryPolicy",
    "Secret",
    "Security",
    "SendSettings",
    "TLSOptions",
    "Template",
    "Timeouts",
    "default_security_for_port",
]

SMTP_PLAIN_PORT = 25
SMTP_STARTTLS_PORT = 587
SMTP_TLS_PORT = 465

DEFAULT_CONNECT_TIMEOUT = 30.0
DEFAULT_COMMAND_TIMEOUT = 60.0
DEFAULT_DATA_TIMEOUT = 600.0  # RFC 5321 4.5.3.2.6: wait up to 10 minutes for the final-dot reply
DEFAULT_DELAY_MS = 1000


class Security(StrEnum):
    """How the connection is protected. `NONE` only by explicit choice."""

    STARTTLS = "starttls"  # plain connect, STARTTLS required before anything else
    TLS = "tls"  # implicit TLS from the first byte (port 465)
    NONE = "none"  # no encryption at all


def default_security_for_port(port: int) -> Security:
    """The security mode a port implies: 465 is implicit TLS, everything else STARTTLS."""
    return Security.TLS if port == SMTP_TLS_PORT else Security.STARTTLS


class AuthMethod(StrEnum):
    """SASL mechanism to log in with."""

    AUTO = "auto"  # the best the server offers among PLAIN / LOGIN
    PLAIN = "plain"
    LOGIN = "login"
    XOAUTH2 = "xoauth2"
    NONE = "none"  # no login (relays that trust the network)


class ProxyKind(StrEnum):
    """Proxy protocols the transport can tunnel through."""

    SOCKS5 = "socks5"
    HTTP = "http"  # HTTP CONNECT


class Secret:
    """A string that never shows itself in repr, str, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself: call only where it goes on the wire or into the vault."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True, slots=True)
class TLSOptions:
    """Certificate checks: on by default; a pinned CA file for self-signed or enterprise CAs."""

    verify: bool = True
    ca_file: str | None = None
    server_name: str | None = None  # name to check the certificate against, if not the host


@dataclass(frozen=True, slots=True)
class Proxy:
    """A SOCKS5 or HTTP CONNECT proxy. Its password, if any, travels in `Credentials`."""

    kind: ProxyKind
    host: str
    port: int
    username: str | None = None

    @classmethod
    def from_url(cls, url: str) -> tuple[Proxy, Secret | None]:
        """Parse `socks5://user:pass@host:1080` or `http://host:3128` into a proxy and password."""
        parts = urlsplit(url)
        scheme = (parts.scheme or "").lower()
        kinds = {"socks5": ProxyKind.SOCKS5, "socks5h": ProxyKind.SOCKS5, "http": ProxyKind.HTTP}
        if scheme not in kinds:
            raise ValueError(f"proxy URL {url!r}: scheme must be socks5:// or http://")
        if not parts.hostname:
            raise ValueError(f"proxy URL {url!r}: no host")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"proxy URL {url!r}: bad port") from exc
        if port is None:
            port = 1080 if kinds[scheme] is ProxyKind.SOCKS5 else 3128
        username = unquote(parts.username) if parts.username else None
        password = Secret(unquote(parts.password)) if parts.password else None
        return cls(kind=kinds[scheme], host=parts.hostname, port=port, username=username), password

    def url(self) -> str:
        """The proxy as a URL without its password (safe to show and to store)."""
        user = f"{self.username}@" if self.username else ""
        return f"{self.kind.value}://{user}{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds to wait: TCP+greeting, each command, and the reply after the final dot."""

    connect: float = DEFAULT_CONNECT_TIMEOUT
    command: float = DEFAULT_COMMAND_TIMEOUT
    data: float = DEFAULT_DATA_TIMEOUT


@dataclass(frozen=True, slots=True)
class Account:
    """Everything needed to reach and log in to an SMTP server, except the secrets."""

    host: str
    port: int
    sender: str  # the envelope and From address
    security: Security = Security.STARTTLS
    username: str | None = None
    sender_name: str = ""
    auth: AuthMethod = AuthMethod.AUTO
    tls: TLSOptions = field(default_factory=TLSOptions)
    proxy: Proxy | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    preset: str | None = None
    local_hostname: str | None = None  # name sent in EHLO; default: this machine's FQDN

    @property
    def tls_server_name(self) -> str:
        """The name the server's certificate must carry."""
        return self.tls.server_name or self.host


@dataclass(frozen=True, slots=True)
class Credentials:
    """Secrets for one connection, kept apart from the account so they are never stored with it."""

    password: Secret | None = None
    oauth_token: Secret | None = None
    proxy_password: Secret | None = None


@dataclass(frozen=True, slots=True)
class Recipient:
    """One validated address with its merge fields and where it came from."""

    email: str  # normalized: domain in A-labels (IDNA), local part as given
    fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    name: str = ""  # display name for the To header, when the source had one
    line: int = 0  # 1-based line (or row) in the source; 0 when not from a file
    source: str = ""  # file name or "pasted"
    needs_smtputf8: bool = False  # non-ASCII local part: the server must offer SMTPUTF8


class BodyFormat(StrEnum):
    """How the body template is written."""

    TEXT = "text"
    HTML = "html"
    MARKDOWN = "markdown"  # renders both HTML and a plain-text alternative


@dataclass(frozen=True, slots=True)
class Template:
    """Subject and body with Jinja2 merge fields, plus attachments and list headers."""

    subject: str
    body: str
    format: BodyFormat = BodyFormat.TEXT
    text_alternative: str | None = None  # explicit plain part when `format` is HTML
    attachments: tuple[str, ...] = ()  # shared by every recipient
    recipient_attachment: str | None = None  # Jinja2 pattern, e.g. "invoices/{{ id }}.pdf"
    reply_to: str | None = None
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    to: str | None = None  # To header template (mailmerge); default: the recipient
    from_name: str | None = None  # overrides the account's display name
    list_unsubscribe_mailto: str | None = None
    list_unsubscribe_url: str | None = None  # with List-Unsubscribe-Post one-click (RFC 8058)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff for sessions (reconnects) and for deferred recipients. Every number a setting."""

    max_attempts: int = 5  # per recipient, counting the first
    session_backoff_base: float = 2.0  # 2, 4, 8, 16, 32 s (+ jitter) between reconnects
    session_backoff_max: float = 32.0
    max_reconnects: int = 5  # in a row, then the campaign pauses
    defer_backoff_base: float = 60.0  # a deferred recipient waits 1, 2, 4 ... minutes
    defer_backoff_max: float = 30 * 60.0
    give_up_after: float = 4 * 3600.0  # a deferred recipient fails after this long
    jitter: float = 0.1  # +-10 % on every backoff


@dataclass(frozen=True, slots=True)
class SendSettings:
    """How a campaign paces itself and when it stops."""

    delay_ms: int = DEFAULT_DELAY_MS  # minimum interval between the starts of two sends
    jitter_ms: int = 0  # random 0..jitter added to each interval
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    daily_cap: int | None = None  # sends per rolling 24 h, across campaigns
    max_consecutive_permanent: int = 10  # K permanent failures in a row pause the campaign
    rate_limit_pause: float = 3600.0  # seconds to pause on a quota / rate reply
    max_attachment_bytes: int = 25 * 1024 * 1024
    throttle_factor: float = 2.0  # delay multiplier after a transient failure
    throttle_max_ms: int = 60_000
    # Parallel connections (relays allow several; personal accounts must stay at 1). The
    # delay, jitter, rate and daily cap hold for the sum of them, not per connection.
    connections: int = 1
    rate_per_minute: float | None = None  # at most N send starts per minute, all connections
    messages_per_connection: int = 0  # reconnect after this many messages (0: no limit)


class RecipientStatus(StrEnum):
    """Where a recipient stands in a campaign. `SENT` means accepted by the server."""

    PENDING = "pending"
    DEFERRED = "deferred"  # a transient failure; will be retried
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"  # message sent, reply lost: waits for a person
