"""Frozen data the whole mailer shares: accounts, recipients, templates, settings, outcomes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from urllib.parse import unquote, urlsplit

from core.schedule import SendingWindow

__all__ = [
    "DEFAULT_COMMAND_TIMEOUT",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_DATA_TIMEOUT",
    "DEFAULT_DELAY_MS",
    "GMAIL_API_ROOT",
    "HTTP_PROXY_PORT",
    "SMTP_PLAIN_PORT",
    "SMTP_STARTTLS_PORT",
    "SMTP_TLS_PORT",
    "SOCKS_PORT",
    "Account",
    "AuthMethod",
    "BodyFormat",
    "Credentials",
    "OAuthProvider",
    "OAuthSettings",
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
    "TransportKind",
    "default_security_for_port",
]

SMTP_PLAIN_PORT = 25
SMTP_STARTTLS_PORT = 587
SMTP_TLS_PORT = 465
SOCKS_PORT = 1080
HTTP_PROXY_PORT = 3128

DEFAULT_CONNECT_TIMEOUT = 30.0
DEFAULT_COMMAND_TIMEOUT = 60.0
DEFAULT_DATA_TIMEOUT = 600.0  # RFC 5321 4.5.3.2.6: wait up to 10 minutes for the final-dot reply
DEFAULT_DELAY_MS = 1000
GMAIL_API_ROOT = "https://gmail.googleapis.com"  # the Gmail API's root; a setting for tests


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
    SOCKS4 = "socks4"  # SOCKS4a: the proxy resolves the host name
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
    """Certificate checks: on by default; pinned CA files or folders for private CAs.

    `ca_file` is the first (and, in settings saved by older versions, the only) CA file;
    `ca_files` adds more files or folders of PEM certificates (a company bundle and a private
    CA, say). `ca_paths` is every one of them, in order, each once.
    """

    verify: bool = True
    ca_file: str | None = None
    server_name: str | None = None  # name to check the certificate against, if not the host
    ca_files: tuple[str, ...] = ()

    @property
    def ca_paths(self) -> tuple[str, ...]:
        """Every pinned CA file or folder: `ca_file` first, then `ca_files`, no repeats."""
        first = (self.ca_file,) if self.ca_file else ()
        return tuple(dict.fromkeys((*first, *self.ca_files)))

    @classmethod
    def with_ca_paths(
        cls, paths: Sequence[str], *, verify: bool = True, server_name: str | None = None
    ) -> TLSOptions:
        """Options pinning `paths` (files or folders): the first in `ca_file`, the rest after."""
        unique = tuple(dict.fromkeys(path for path in paths if path))
        return cls(
            verify=verify,
            ca_file=unique[0] if unique else None,
            server_name=server_name,
            ca_files=unique[1:],
        )


@dataclass(frozen=True, slots=True)
class Proxy:
    """A SOCKS5, SOCKS4 or HTTP CONNECT proxy. Its password, if any, travels in `Credentials`."""

    kind: ProxyKind
    host: str
    port: int
    username: str | None = None

    @classmethod
    def from_url(cls, url: str) -> tuple[Proxy, Secret | None]:
        """Parse `socks5://user:pass@host:1080`, `socks4://host` or `http://host:3128`.

        Returns the proxy and its password (None when the URL has none). Error messages show
        the URL without its password.
        """
        parts = urlsplit(url)
        shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        scheme = (parts.scheme or "").lower()
        kinds = {
            "socks5": ProxyKind.SOCKS5,
            "socks5h": ProxyKind.SOCKS5,
            "socks4": ProxyKind.SOCKS4,
            "socks4a": ProxyKind.SOCKS4,
            "http": ProxyKind.HTTP,
        }
        if scheme not in kinds:
            raise ValueError(f"proxy URL {shown!r}: scheme must be socks5://, socks4:// or http://")
        if not parts.hostname:
            raise ValueError(f"proxy URL {shown!r}: no host")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"proxy URL {shown!r}: bad port") from exc
        if port is None:
            port = SOCKS_PORT if kinds[scheme] is not ProxyKind.HTTP else HTTP_PROXY_PORT
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


class TransportKind(StrEnum):
    """How messages leave: an SMTP server, or Google's Gmail API (`users.messages.send`)."""

    SMTP = "smtp"
    GMAIL_API = "gmail-api"


class OAuthProvider(StrEnum):
    """Who signs the person in (OAuth 2.0 for installed apps, RFC 8252)."""

    GOOGLE = "google"
    MICROSOFT = "microsoft"


@dataclass(frozen=True, slots=True)
class OAuthSettings:
    """Where and how to get tokens for a signed-in account. No secret here: the refresh token
    (and a Google client's secret) live in the vault."""

    provider: OAuthProvider
    client_id: str
    auth_uri: str  # authorization endpoint
    token_uri: str  # token endpoint
    scopes: tuple[str, ...]
    device_uri: str = ""  # device authorization endpoint (Microsoft), empty if none
    authority: str = ""  # Microsoft: https://login.microsoftonline.com/<tenant>
    has_client_secret: bool = False  # Google Desktop clients have one (kept in the vault)


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
    transport: TransportKind = TransportKind.SMTP
    oauth: OAuthSettings | None = None  # signed in with Google or Microsoft (XOAUTH2 / API)
    api_url: str = GMAIL_API_ROOT  # the Gmail API's root, for TransportKind.GMAIL_API

    @property
    def tls_server_name(self) -> str:
        """The name the server's certificate must carry."""
        return self.tls.server_name or self.host

    @property
    def needs_login(self) -> bool:
        """Whether sending through this account takes a password (or an OAuth token)."""
        return self.auth is not AuthMethod.NONE and bool(self.username)

    @property
    def needs_proxy_login(self) -> bool:
        """Whether the account's proxy asks for a password."""
        return self.proxy is not None and bool(self.proxy.username)

    @property
    def login_secret_name(self) -> str:
        """What a person types to log in: a password, or an OAuth access token."""
        return "OAuth access token" if self.auth is AuthMethod.XOAUTH2 else "password"


@dataclass(frozen=True, slots=True)
class Credentials:
    """Secrets for one connection, kept apart from the account so they are never stored with it."""

    password: Secret | None = None
    oauth_token: Secret | None = None
    proxy_password: Secret | None = None

    def login_secret(self, account: Account) -> Secret | None:
        """The secret `account` logs in with: the OAuth token for XOAUTH2, else the password."""
        return self.oauth_token if account.auth is AuthMethod.XOAUTH2 else self.password

    def with_login_secret(self, account: Account, secret: Secret | None) -> Credentials:
        """These credentials with `secret` in the slot `account` logs in with."""
        if account.auth is AuthMethod.XOAUTH2:
            return replace(self, oauth_token=secret)
        return replace(self, password=secret)

    def missing(self, account: Account) -> tuple[bool, bool]:
        """(login secret missing, proxy password missing) for `account`."""
        return (
            account.needs_login and not self.login_secret(account),
            account.needs_proxy_login and not self.proxy_password,
        )

    def or_else(self, other: Credentials) -> Credentials:
        """Each secret from these credentials, or from `other` where these have none."""
        return Credentials(
            password=self.password or other.password,
            oauth_token=self.oauth_token or other.oauth_token,
            proxy_password=self.proxy_password or other.proxy_password,
        )


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
    # Batches and a sending window, for all connections together like the rest.
    batch_size: int = 0  # messages per batch, then `batch_pause` (0: no batches)
    batch_pause: float = 0.0  # seconds between batches (a wall-clock deadline)
    window: SendingWindow | None = None  # hours (and days, in its zone) when sending is allowed


class RecipientStatus(StrEnum):
    """Where a recipient stands in a campaign. `SENT` means accepted by the server."""

    PENDING = "pending"
    DEFERRED = "deferred"  # a transient failure; will be retried
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"  # message sent, reply lost: waits for a person
    SKIPPED = "skipped"  # on the suppression list when its turn came: never sent
