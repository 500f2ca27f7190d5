"""The SMTP client: one reused connection, strict TLS policy, rate-limited login, proxies."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field

import aiosmtplib
from aiosmtplib.email import quote_address
from python_socks import ProxyType
from python_socks.async_.asyncio import Proxy as _SocksProxy

from core.credentials import CredentialProvider, as_provider
from core.errors import (
    AuthError,
    ConnectError,
    DisconnectedError,
    DowngradeError,
    NotSupportedError,
    Phase,
    ProxyError,
    SMTPError,
)
from core.models import Account, AuthMethod, Credentials, ProxyKind, Security
from core.ports import Envelope
from core.transport.certinfo import CertInfo, parse_certificate
from core.transport.errors import translating
from core.transport.pipeline import DataStartHook, Step, Wire, envelope_groups
from core.transport.proxies import ProxyChoice, choose_proxy
from core.transport.replies import Reply
from core.transport.tls import build_tls_context

__all__ = ["DataStartHook", "LoginGuard", "SMTPTransport", "SessionInfo", "StepCallback"]

StepCallback = Callable[[str, float, str], None]  # (step name, seconds, detail)

_PROXY_TYPES = {
    ProxyKind.SOCKS5: ProxyType.SOCKS5,
    ProxyKind.SOCKS4: ProxyType.SOCKS4,  # with rdns: SOCKS4a, the proxy resolves the name
    ProxyKind.HTTP: ProxyType.HTTP,
}


@dataclass(slots=True)
class SessionInfo:
    """What we learned about the server while connecting."""

    greeting: str = ""
    extensions: dict[str, str] = field(default_factory=dict)
    tls_version: str | None = None
    cipher: str | None = None
    auth_mechanism: str | None = None
    certificate: CertInfo | None = None  # the server's, once a TLS handshake completed
    proxy: ProxyChoice | None = None  # the proxy the connection went through, if any

    @property
    def encrypted(self) -> bool:
        return self.tls_version is not None


class LoginGuard:
    """At most `limit` logins per `window` seconds, so reconnect loops cannot storm the server."""

    def __init__(
        self,
        *,
        limit: int = 5,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._stamps: deque[float] = deque()

    async def acquire(self) -> None:
        """Wait, if needed, until another login is allowed; then count it."""
        now = self._clock()
        while self._stamps and now - self._stamps[0] >= self.window:
            self._stamps.popleft()
        if len(self._stamps) >= self.limit:
            await self._sleep(self.window - (now - self._stamps[0]))
            self._stamps.popleft()
        self._stamps.append(self._clock())


class SMTPTransport:
    """One authenticated SMTP connection, kept open for many messages and reopened when dropped.

    The TLS policy is enforced here: `starttls` refuses a server that does not offer STARTTLS
    before anything else is said, and AUTH is never sent over a connection without TLS unless
    the account's security is explicitly `none`.
    """

    def __init__(
        self,
        account: Account,
        credentials: Credentials | CredentialProvider | None = None,
        *,
        login_guard: LoginGuard | None = None,
        on_step: StepCallback | None = None,
    ) -> None:
        self.account = account
        self._provider = as_provider(credentials)
        self._credentials = credentials if isinstance(credentials, Credentials) else Credentials()
        self._guard = login_guard or LoginGuard()
        self._on_step = on_step
        self._smtp: aiosmtplib.SMTP | None = None  # while connecting and logging in
        self._wire: Wire | None = None  # after: the send path is ours (`core.transport.pipeline`)
        self._quoted_cache: dict[tuple[str, str], bytes] = {}
        self._last_envelope: tuple[Envelope, list[list[Step]]] | None = None
        self.session = SessionInfo()

    # -- connection -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._wire is not None and not self._wire.closed

    async def connect(self) -> SessionInfo:
        """Connect, greet, secure the connection as the account requires, and log in."""
        await self.close(polite=False)
        account = self.account
        self.session = SessionInfo()
        tls_context = build_tls_context(account) if account.security is not Security.NONE else None
        implicit = account.security is Security.TLS
        if account.needs_proxy_login and not self._credentials.proxy_password:
            with translating(Phase.AUTH):  # a provider's proxy password, before the tunnel
                self._credentials = await self._provider.current()
        try:
            self.session.proxy = choose_proxy(account, self._credentials)
        except ValueError as exc:  # ALL_PROXY is not a proxy URL we can use
            raise ProxyError(str(exc), reason="setting") from exc
        needs_socket = self.session.proxy is not None or account.tls.server_name
        sock = await self._open_socket(self.session.proxy) if needs_socket else None
        smtp = aiosmtplib.SMTP(
            hostname=account.tls_server_name if sock is not None else account.host,
            port=None if sock is not None else account.port,
            sock=sock,
            use_tls=implicit,
            start_tls=False,
            tls_context=tls_context,
            timeout=account.timeouts.command,
            local_hostname=account.local_hostname,
        )
        self._smtp = smtp
        try:
            with self._step("greeting" if not implicit else "tls+greeting", Phase.CONNECT):
                greeting = await smtp.connect(timeout=account.timeouts.connect)
            self.session.greeting = greeting.message
            if implicit:
                self._note_tls(smtp)
            with self._step("ehlo", Phase.EHLO):
                await smtp.ehlo()
            if account.security is Security.STARTTLS:
                await self._starttls(smtp, tls_context)
            self.session.extensions = dict(smtp.esmtp_extensions)
            await self._login(smtp)
            with translating(Phase.MAIL):
                self._wire = Wire.take(
                    smtp,
                    command_timeout=account.timeouts.command,
                    data_timeout=account.timeouts.data,
                )
                self._last_envelope = None  # worked out for another connection's extensions
        except BaseException:
            smtp.close()
            raise
        finally:
            self._smtp = None  # aiosmtplib's part is over either way
        return self.session

    async def _open_socket(self, choice: ProxyChoice | None) -> socket.socket:
        account = self.account
        if choice is not None:
            proxy, password = choice.proxy, choice.password
            kind = _PROXY_TYPES[proxy.kind]
            with self._step("proxy", Phase.PROXY):
                socks = _SocksProxy(
                    kind,
                    proxy.host,
                    proxy.port,
                    username=proxy.username,
                    password=password.reveal() if password else None,
                    rdns=True,
                )
                return await socks.connect(
                    account.host, account.port, timeout=account.timeouts.connect
                )
        with self._step("tcp", Phase.CONNECT):
            loop = asyncio.get_running_loop()
            infos = await loop.getaddrinfo(account.host, account.port, type=socket.SOCK_STREAM)
            last: OSError | None = None
            for family, type_, proto, _, address in infos:
                sock = socket.socket(family, type_, proto)
                sock.setblocking(False)
                try:
                    await asyncio.wait_for(
                        loop.sock_connect(sock, address), account.timeouts.connect
                    )
                except OSError as exc:
                    sock.close()
                    last = exc
                    continue
                except BaseException:
                    sock.close()
                    raise
                return sock
            raise last or ConnectError("no address to connect to")

    async def _starttls(self, smtp: aiosmtplib.SMTP, context: ssl.SSLContext | None) -> None:
        if not smtp.supports_extension("starttls"):
            raise DowngradeError(
                "the server did not offer STARTTLS, which this account requires: possible "
                "downgrade attack; nothing else was sent"
            )
        with self._step("starttls", Phase.STARTTLS):
            await smtp.starttls(server_hostname=self.account.tls_server_name, tls_context=context)
        self._note_tls(smtp)
        with self._step("ehlo (after TLS)", Phase.EHLO):
            await smtp.ehlo()

    def _note_tls(self, smtp: aiosmtplib.SMTP) -> None:
        sslobj = smtp.get_transport_info("ssl_object")
        if sslobj is not None:
            self.session.tls_version = sslobj.version()
            cipher = sslobj.cipher()
            self.session.cipher = cipher[0] if cipher else None
            der = sslobj.getpeercert(binary_form=True)
            with contextlib.suppress(ValueError):
                self.session.certificate = parse_certificate(der) if der else None

    async def _login(self, smtp: aiosmtplib.SMTP) -> None:
        """Log in with what the credential provider gives now; an XOAUTH2 token the server
        refuses (334 then 535) is refreshed once through the provider and tried again."""
        account = self.account
        if account.auth is AuthMethod.NONE or not account.username:
            return
        if account.security is not Security.NONE and not self.session.encrypted:
            raise DowngradeError("refusing to send the login over a connection without TLS")
        offered = smtp.server_auth_methods
        if not smtp.supports_extension("auth"):
            raise NotSupportedError("the server does not offer AUTH (login)", phase=Phase.AUTH)
        mechanism = self._choose_mechanism(offered)
        with translating(Phase.AUTH):
            creds = await self._provider.current()
        self._credentials = creds
        await self._guard.acquire()
        with self._step(f"auth {mechanism}", Phase.AUTH):
            if mechanism == "xoauth2":
                await self._xoauth2(smtp, creds)
            else:
                password = creds.password.reveal() if creds.password else ""
                method = smtp.auth_plain if mechanism == "plain" else smtp.auth_login
                await method(account.username, password)
        self.session.auth_mechanism = mechanism

    async def _xoauth2(self, smtp: aiosmtplib.SMTP, creds: Credentials) -> None:
        username = self.account.username or ""
        token = creds.oauth_token.reveal() if creds.oauth_token else ""
        try:
            with translating(Phase.AUTH):
                await smtp.auth_xoauth2(username, token)
            return
        except AuthError:
            fresh = await self._provider.refresh()
            if fresh is None or not smtp.is_connected:
                raise
        self._credentials = fresh
        token = fresh.oauth_token.reveal() if fresh.oauth_token else ""
        await smtp.auth_xoauth2(username, token)

    def _choose_mechanism(self, offered: list[str]) -> str:
        wanted = self.account.auth
        if wanted is AuthMethod.AUTO:
            for mechanism in ("plain", "login"):
                if mechanism in offered:
                    return mechanism
        elif wanted.value in offered:
            return wanted.value
        raise NotSupportedError(
            f"the server offers AUTH {' '.join(offered).upper() or '(none)'}, "
            f"not {wanted.value.upper() if wanted is not AuthMethod.AUTO else 'PLAIN or LOGIN'}",
            phase=Phase.AUTH,
        )

    async def ensure_connected(self) -> None:
        """Reconnect if the server dropped the connection (idle timeout, 421)."""
        if not self.connected:
            await self.connect()

    async def close(self, *, polite: bool = True) -> None:
        """QUIT when the connection still stands (if polite), then close it.

        Polite: an outstanding final dot's reply is read first (`settle`), so its future
        has the server's answer rather than a lost connection.
        """
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()
        wire, self._wire = self._wire, None
        if wire is None:
            return
        if polite:
            await wire.quit()
        else:
            wire.close()

    # -- commands ---------------------------------------------------------------------------

    def supports(self, extension: str) -> bool:
        return extension.lower() in self.session.extensions

    async def mail_from(self, sender: str, *, smtputf8: bool = False) -> Reply:
        """MAIL FROM; raises a classified error on anything but 250."""
        wire = self._require()
        quoted = self._quoted(sender, "utf-8" if smtputf8 else "ascii")
        line = b"MAIL FROM:" + quoted + (b" SMTPUTF8" if smtputf8 else b"") + b"\r\n"
        return await wire.command(line, Phase.MAIL)

    async def rset(self) -> None:
        """Abandon the current transaction; a failed RSET closes the connection."""
        if not self.connected:
            return
        try:
            await self._require().command(b"RSET\r\n", Phase.RSET)
        except SMTPError:
            await self.close(polite=False)

    async def send(
        self,
        sender: str,
        recipient: str,
        payload: bytes,
        *,
        smtputf8: bool = False,
        on_data_start: DataStartHook | None = None,
        extra_recipients: Sequence[str] = (),
    ) -> Reply:
        """One transaction: MAIL, RCPT, DATA, message, final dot. Returns the final reply.

        `submit`, then the reply to the final dot; see `submit` for the rest.
        """
        reply = await self.submit(
            sender,
            recipient,
            payload,
            smtputf8=smtputf8,
            on_data_start=on_data_start,
            extra_recipients=extra_recipients,
        )
        await self.settle()
        return await reply

    async def submit(
        self,
        sender: str,
        recipient: str,
        payload: bytes,
        *,
        smtputf8: bool = False,
        on_data_start: DataStartHook | None = None,
        extra_recipients: Sequence[str] = (),
        ahead: Callable[[], Envelope | None] | None = None,
    ) -> asyncio.Future[Reply]:
        """Send up to the final dot; returns the reply to come (read by the next call or `settle`).

        When the server offers PIPELINING (RFC 2920), MAIL, RCPT and DATA go out in one write,
        right behind the previous message's final dot: one round trip per message. Cc/Bcc
        recipients are sent only once the main recipient is accepted. `on_data_start` runs
        after the server said 354 (and after the previous message's reply was read) and before
        the first byte of the message: the journal makes its "data started" record durable
        there. Then `ahead` may name the next message: its envelope goes in the same write as
        this final dot (when it is one group: no Cc/Bcc), and the next call, which must be for
        it, writes nothing before reading. A refused envelope is raised here; the message's
        own outcome (phase MESSAGE: the server may have stored it) comes through the returned
        awaitable. `extra_recipients` (Cc/Bcc of a mailmerge template) are best effort.
        """
        wire = self._require()
        try:
            groups = self._envelope(Envelope(sender, recipient, smtputf8, tuple(extra_recipients)))
        except SMTPError:
            await wire.settle()  # nothing was written: the previous reply is read all the same
            raise
        hook = None if ahead is None else functools.partial(self._written_ahead, ahead)
        return await wire.submit(
            groups, recipient, payload, on_data_start=on_data_start, ahead=hook
        )

    def _written_ahead(self, ahead: Callable[[], Envelope | None]) -> Sequence[Step] | None:
        """The next message's envelope to write behind this final dot: one group, or None."""
        following = ahead()
        if following is None:
            return None
        try:
            groups = self._envelope(following)
        except SMTPError:
            return None  # raised by its own `submit`, with nothing written ahead
        return groups[0] if len(groups) == 1 else None

    def _envelope(self, envelope: Envelope) -> list[list[Step]]:
        """The envelope's command groups (the last one is kept: the next call asks again)."""
        known = self._last_envelope
        if known is not None and known[0] == envelope:
            return known[1]
        wire = self._require()
        if envelope.smtputf8 and not self.supports("smtputf8"):
            raise NotSupportedError(
                "the address needs SMTPUTF8 (a non-ASCII local part), which the server "
                "does not offer",
                phase=Phase.RCPT,
                recipient=envelope.recipient,
            )
        with translating(Phase.MAIL):
            quoted = self._quoted(envelope.sender, "utf-8" if envelope.smtputf8 else "ascii")
        groups = envelope_groups(
            quoted_sender=quoted,
            sender=envelope.sender,
            recipient=envelope.recipient,
            extra_recipients=envelope.extra_recipients,
            smtputf8=envelope.smtputf8,
            pipelining=wire.pipelining,
        )
        self._last_envelope = (envelope, groups)
        return groups

    async def settle(self) -> None:
        """Read the reply to the last final dot now, if it is still to come."""
        if self._wire is not None:
            await self._wire.settle()

    def _quoted(self, sender: str, encoding: str) -> bytes:
        """`<sender>` as aiosmtplib quotes it; the sender rarely changes, so it is kept."""
        key = (sender, encoding)
        quoted = self._quoted_cache.get(key)
        if quoted is None:
            quoted = quote_address(sender).encode(encoding)
            self._quoted_cache = {key: quoted}
        return quoted

    async def noop(self) -> Reply:
        return await self._require().command(b"NOOP\r\n", Phase.RSET)

    # -- helpers ----------------------------------------------------------------------------

    def _require(self) -> Wire:
        if self._wire is None or self._wire.closed:
            raise DisconnectedError("not connected", phase=Phase.MAIL)
        return self._wire

    @contextlib.contextmanager
    def _step(self, name: str, phase: Phase) -> Iterator[None]:
        started = time.perf_counter()
        with translating(phase):
            yield
        if self._on_step is not None:
            self._on_step(name, time.perf_counter() - started, "")
