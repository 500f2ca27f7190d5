"""The one place that talks to aiosmtplib: strict TLS, login, one reused connection, proxies."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field

import aiosmtplib
from aiosmtplib.email import quote_address
from python_socks import ProxyConnectionError as _SocksConnectionError
from python_socks import ProxyError as _SocksError
from python_socks import ProxyTimeoutError as _SocksTimeoutError
from python_socks import ProxyType
from python_socks.async_.asyncio import Proxy as _SocksProxy

from core.errors import (
    AuthError,
    ConnectError,
    DisconnectedError,
    DNSError,
    DowngradeError,
    NotSupportedError,
    Phase,
    ProxyError,
    ReplyError,
    SMTPError,
    TimedOutError,
    TLSError,
)
from core.models import Account, AuthMethod, Credentials, ProxyKind, Security
from core.replies import Reply, ReplyFormatError, ReplyReader

__all__ = [
    "EXCEPTION_MAP",
    "LoginGuard",
    "Reply",
    "SMTPTransport",
    "SessionInfo",
    "StepCallback",
    "build_tls_context",
    "translate_exception",
]

StepCallback = Callable[[str, float, str], None]  # (step name, seconds, detail)
DataStartHook = Callable[[], Awaitable[None] | None]

_STUFF_RE = re.compile(rb"(?m)^\.")
_EOL_RE = re.compile(rb"\r\n|\r|\n")
_SMTP_START_INPUT = 354
_SMTP_OK = 250
_SMTP_WILL_FORWARD = 251
_SMTP_CLOSING = 421  # RFC 5321: the server closes the connection after this reply
# What aiosmtplib refuses in a command line (CR, LF and NUL above all: command injection).
_COMMAND_INJECTION_RE = re.compile(rb"[\x00-\x1f\x7f]")

# Verify codes from OpenSSL, named so a person can act on them.
_TLS_REASONS = {
    10: "expired",
    9: "not-yet-valid",
    62: "hostname",
    18: "unknown-ca",
    19: "unknown-ca",
    20: "unknown-ca",
    21: "unknown-ca",
    2: "unknown-ca",
}


@dataclass(slots=True)
class SessionInfo:
    """What we learned about the server while connecting."""

    greeting: str = ""
    extensions: dict[str, str] = field(default_factory=dict)
    tls_version: str | None = None
    cipher: str | None = None
    auth_mechanism: str | None = None

    @property
    def encrypted(self) -> bool:
        return self.tls_version is not None


def build_tls_context(account: Account) -> ssl.SSLContext:
    """A client context that verifies certificates unless the account explicitly says not to."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if account.tls.ca_file:
        try:
            context.load_verify_locations(cafile=account.tls.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise TLSError(
                f"cannot load the CA file {account.tls.ca_file!r}: {exc}", reason="ca-file"
            ) from exc
    if not account.tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _tls_error(exc: BaseException, phase: Phase) -> TLSError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = _TLS_REASONS.get(getattr(exc, "verify_code", 0), "certificate")
        detail = getattr(exc, "verify_message", "") or str(exc)
        return TLSError(f"certificate check failed: {detail}", phase=phase, reason=reason)
    return TLSError(f"TLS handshake failed: {exc}", phase=phase, reason="handshake")


def _root_cause(exc: BaseException) -> BaseException | None:
    seen: set[int] = set()
    cause = exc.__cause__ or exc.__context__
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLError | socket.gaierror | ConnectionRefusedError | OSError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _from_connect_error(exc: aiosmtplib.SMTPConnectError, phase: Phase) -> SMTPError:
    cause = _root_cause(exc)
    if isinstance(cause, ssl.SSLError):
        return _tls_error(cause, Phase.TLS)
    if isinstance(cause, socket.gaierror):
        return DNSError(f"cannot resolve the server's name: {cause.strerror or cause}")
    if isinstance(cause, ConnectionRefusedError):
        return ConnectError("connection refused (nothing listens on that port)", refused=True)
    return ConnectError(f"cannot connect: {exc}", phase=phase)


def _response(
    exc: aiosmtplib.SMTPResponseException, phase: Phase, kind: type[SMTPError]
) -> SMTPError:
    return kind(
        f"server replied to {phase.value.upper()}", phase=phase, code=exc.code, text=exc.message
    )


def _recipients_refused(exc: aiosmtplib.SMTPRecipientsRefused, phase: Phase) -> SMTPError:
    first = exc.recipients[0] if exc.recipients else None
    if first is None:
        return ReplyError("recipient refused", phase=Phase.RCPT)
    return ReplyError(
        "recipient refused",
        phase=Phase.RCPT,
        code=first.code,
        text=first.message,
        recipient=first.recipient,
    )


_Translator = Callable[[BaseException, Phase], SMTPError]

# Every aiosmtplib exception class, most specific first. A test checks none is missing.
EXCEPTION_MAP: tuple[tuple[type[BaseException], _Translator], ...] = (
    (
        aiosmtplib.SMTPConnectTimeoutError,
        lambda e, p: TimedOutError(f"no answer from the server in time ({e})", phase=Phase.CONNECT),
    ),
    (aiosmtplib.SMTPConnectResponseError, lambda e, p: _response(e, Phase.GREETING, ReplyError)),  # type: ignore[arg-type]
    (aiosmtplib.SMTPConnectError, lambda e, p: _from_connect_error(e, p)),  # type: ignore[arg-type]
    (
        aiosmtplib.SMTPReadTimeoutError,
        lambda e, p: TimedOutError(
            f"timed out waiting for the reply to {p.value.upper()}", phase=p
        ),
    ),
    (
        aiosmtplib.SMTPTimeoutError,
        lambda e, p: TimedOutError(f"timed out during {p.value.upper()}", phase=p),
    ),
    (
        aiosmtplib.SMTPServerDisconnected,
        lambda e, p: DisconnectedError(
            f"the server closed the connection during {p.value.upper()}", phase=p
        ),
    ),
    (aiosmtplib.SMTPAuthenticationError, lambda e, p: _response(e, Phase.AUTH, AuthError)),  # type: ignore[arg-type]
    (aiosmtplib.SMTPSenderRefused, lambda e, p: _response(e, Phase.MAIL, ReplyError)),  # type: ignore[arg-type]
    (aiosmtplib.SMTPRecipientRefused, lambda e, p: _response(e, Phase.RCPT, ReplyError)),  # type: ignore[arg-type]
    (aiosmtplib.SMTPRecipientsRefused, lambda e, p: _recipients_refused(e, p)),  # type: ignore[arg-type]
    (aiosmtplib.SMTPHeloError, lambda e, p: _response(e, Phase.EHLO, ReplyError)),  # type: ignore[arg-type]
    (aiosmtplib.SMTPDataError, lambda e, p: _response(e, p, ReplyError)),  # type: ignore[arg-type]
    (
        aiosmtplib.SMTPNotSupported,
        lambda e, p: NotSupportedError(f"not supported by the server: {e}", phase=p),
    ),
    (aiosmtplib.SMTPResponseException, lambda e, p: _response(e, p, ReplyError)),  # type: ignore[arg-type]
    (aiosmtplib.SMTPException, lambda e, p: NotSupportedError(str(e), phase=p)),
)


def translate_exception(exc: BaseException, phase: Phase) -> SMTPError:
    """Turn any aiosmtplib / ssl / socket / proxy exception into one of ours."""
    if isinstance(exc, SMTPError):
        return exc
    for cls, translate in EXCEPTION_MAP:
        if isinstance(exc, cls):
            return translate(exc, phase)
    if isinstance(exc, ssl.SSLError):
        return _tls_error(exc, phase)
    if isinstance(exc, _SocksTimeoutError):
        return ProxyError(f"the proxy did not answer in time: {exc}")
    if isinstance(exc, _SocksConnectionError | _SocksError):
        return ProxyError(f"proxy: {exc}")
    if isinstance(exc, socket.gaierror):
        return DNSError(f"cannot resolve the server's name: {exc.strerror or exc}")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectError("connection refused (nothing listens on that port)", refused=True)
    if isinstance(exc, TimeoutError):
        return TimedOutError(f"timed out during {phase.value.upper()}", phase=phase)
    if isinstance(exc, ConnectionError | OSError):
        if phase in {Phase.CONNECT, Phase.PROXY, Phase.DNS}:
            return ConnectError(f"cannot connect: {exc}", phase=phase)
        return DisconnectedError(
            f"the connection broke during {phase.value.upper()}: {exc}", phase=phase
        )
    if isinstance(exc, ValueError):
        return NotSupportedError(f"refused to send: {exc}", phase=phase)
    raise exc


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
        credentials: Credentials | None = None,
        *,
        login_guard: LoginGuard | None = None,
        on_step: StepCallback | None = None,
    ) -> None:
        self.account = account
        self._credentials = credentials or Credentials()
        self._guard = login_guard or LoginGuard()
        self._on_step = on_step
        self._smtp: aiosmtplib.SMTP | None = None
        self._quoted_cache: dict[tuple[str, str], bytes] = {}
        self.session = SessionInfo()

    # -- connection -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._smtp is not None and self._smtp.is_connected

    async def connect(self) -> SessionInfo:
        """Connect, greet, secure the connection as the account requires, and log in."""
        await self.close(polite=False)
        account = self.account
        self.session = SessionInfo()
        tls_context = build_tls_context(account) if account.security is not Security.NONE else None
        implicit = account.security is Security.TLS
        sock = await self._open_socket() if (account.proxy or account.tls.server_name) else None
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
        except BaseException:
            smtp.close()
            self._smtp = None
            raise
        return self.session

    async def _open_socket(self) -> socket.socket:
        account = self.account
        if account.proxy is not None:
            proxy = account.proxy
            kind = ProxyType.SOCKS5 if proxy.kind is ProxyKind.SOCKS5 else ProxyType.HTTP
            password = self._credentials.proxy_password
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

    async def _login(self, smtp: aiosmtplib.SMTP) -> None:
        account, creds = self.account, self._credentials
        if account.auth is AuthMethod.NONE or not account.username:
            return
        if account.security is not Security.NONE and not self.session.encrypted:
            raise DowngradeError("refusing to send the login over a connection without TLS")
        offered = smtp.server_auth_methods
        if not smtp.supports_extension("auth"):
            raise NotSupportedError("the server does not offer AUTH (login)", phase=Phase.AUTH)
        mechanism = self._choose_mechanism(offered)
        await self._guard.acquire()
        with self._step(f"auth {mechanism}", Phase.AUTH):
            if mechanism == "xoauth2":
                token = creds.oauth_token.reveal() if creds.oauth_token else ""
                await smtp.auth_xoauth2(account.username, token)
            else:
                password = creds.password.reveal() if creds.password else ""
                method = smtp.auth_plain if mechanism == "plain" else smtp.auth_login
                await method(account.username, password)
        self.session.auth_mechanism = mechanism

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
        """QUIT when the connection still stands (if polite), then close it."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        if polite and smtp.is_connected:
            with contextlib.suppress(Exception):
                await smtp.quit(timeout=self.account.timeouts.command)
        smtp.close()

    # -- commands ---------------------------------------------------------------------------

    def supports(self, extension: str) -> bool:
        return self._smtp is not None and self._smtp.supports_extension(extension)

    async def mail_from(self, sender: str, *, smtputf8: bool = False) -> Reply:
        """MAIL FROM; raises a classified error on anything but 250."""
        smtp = self._require()
        options = ["SMTPUTF8"] if smtputf8 else []
        with self._phase(Phase.MAIL):
            reply = await smtp.mail(
                sender, options=options, encoding="utf-8" if smtputf8 else "ascii"
            )
        return Reply(reply.code, reply.message)

    async def rset(self) -> None:
        """Abandon the current transaction; a failed RSET closes the connection."""
        if not self.connected:
            return
        smtp = self._require()
        try:
            with self._phase(Phase.RSET):
                await smtp.rset()
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

        When the server offers PIPELINING (RFC 2920), MAIL, RCPT and DATA go out in one write
        and their replies are read in order: one round trip instead of three. Cc/Bcc recipients
        are sent only once the main recipient is accepted, so a refused main recipient can
        never leave the server ready to take a message for the others.
        `on_data_start` runs after the server said 354 and before the first byte of the message:
        the journal makes its "data started" record durable there. A failure after that point
        is raised with phase MESSAGE (the server may have stored the message).
        `extra_recipients` (Cc/Bcc of a mailmerge template) are best effort: a refusal of one of
        them does not fail the message for the main recipient.
        """
        smtp = self._require()
        if smtputf8 and not smtp.supports_extension("smtputf8"):
            raise NotSupportedError(
                "the address needs SMTPUTF8 (a non-ASCII local part), which the server does "
                "not offer",
                phase=Phase.RCPT,
                recipient=recipient,
            )
        reader = _take_over(smtp)
        try:
            try:
                await self._envelope(reader, smtp, sender, recipient, extra_recipients, smtputf8)
            except SMTPError as exc:
                exc.recipient = exc.recipient or recipient
                reader.restore()
                if exc.code is not None and exc.code != _SMTP_CLOSING:
                    await self.rset()
                else:
                    await self.close(polite=False)
                raise
            if on_data_start is not None:
                try:
                    maybe = on_data_start()
                    if maybe is not None:
                        await maybe
                except BaseException:
                    # The server waits for message text: a QUIT now would be read as such.
                    # Drop the connection so no message, not even an empty one, is sent.
                    reader.restore()
                    await self.close(polite=False)
                    raise
            try:
                with self._phase(Phase.MESSAGE):
                    _write(reader, _data_lines(payload) + b".\r\n")
                    reply = await self._final_reply(smtp, reader)
            except SMTPError as exc:
                exc.recipient = recipient
                if exc.code is None or exc.code == _SMTP_CLOSING:
                    reader.restore()
                    await self.close(polite=False)
                raise
        finally:
            reader.restore()
        if reply.code != _SMTP_OK:
            raise ReplyError(
                "server refused the message",
                phase=Phase.MESSAGE,
                code=reply.code,
                text=reply.text,
                recipient=recipient,
            )
        return reply

    async def _envelope(
        self,
        reader: ReplyReader,
        smtp: aiosmtplib.SMTP,
        sender: str,
        recipient: str,
        extra_recipients: Sequence[str],
        smtputf8: bool,
    ) -> None:
        """MAIL, RCPT (main, then extra) and DATA, up to the server's 354."""
        encoding = "utf-8" if smtputf8 else "ascii"
        with self._phase(Phase.MAIL):
            options = b" SMTPUTF8" if smtputf8 else b""
            mail = _command(b"MAIL FROM:" + self._quoted(sender, encoding) + options)
        with self._phase(Phase.RCPT):
            rcpts = [
                _command(b"RCPT TO:" + quote_address(address).encode(encoding))
                for address in (recipient, *extra_recipients)
            ]
        head = [_Step(Phase.MAIL, mail, sender), _Step(Phase.RCPT, rcpts[0], recipient)]
        tail = [_Step(Phase.RCPT, command, None) for command in rcpts[1:]]
        tail.append(_Step(Phase.DATA, b"DATA\r\n", None))
        if not smtp.supports_extension("pipelining"):
            groups = [[step] for step in (*head, *tail)]
        elif extra_recipients:
            groups = [head, tail]  # the others only once the main recipient is accepted
        else:
            groups = [[*head, *tail]]
        for group in groups:
            await self._exchange(reader, group)

    async def _exchange(self, reader: ReplyReader, steps: Sequence[_Step]) -> None:
        """Write `steps` at once, read a reply for each in order, raise the first refusal.

        Every reply of the group is read before raising, so none is left to be taken for the
        reply to a later command; only a 421 (the server is closing) stops at once.
        """
        timeout = self.account.timeouts.command
        with self._phase(steps[0].phase):
            _write(reader, b"".join(step.command for step in steps))
        refusal: SMTPError | None = None
        for step in steps:
            with self._phase(step.phase):
                reply = await _read(reader, timeout)
            if refusal is None:
                refusal = step.refusal(reply)
                if refusal is not None and reply.code == _SMTP_CLOSING:
                    raise refusal
            elif step.phase is Phase.DATA and reply.code == _SMTP_START_INPUT:
                # The server took DATA although the transaction failed. A lone dot would end
                # an empty message; closing the connection abandons it, delivering nothing.
                reader.close()
        if refusal is not None:
            raise refusal

    def _quoted(self, sender: str, encoding: str) -> bytes:
        """`<sender>` as aiosmtplib quotes it; the sender rarely changes, so it is kept."""
        key = (sender, encoding)
        quoted = self._quoted_cache.get(key)
        if quoted is None:
            quoted = quote_address(sender).encode(encoding)
            self._quoted_cache = {key: quoted}
        return quoted

    async def _final_reply(self, smtp: aiosmtplib.SMTP, reader: ReplyReader) -> Reply:
        try:
            return await _read(reader, self.account.timeouts.data)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
            reader.restore()
            smtp.close()
            raise

    async def noop(self) -> Reply:
        smtp = self._require()
        with self._phase(Phase.RSET):
            reply = await smtp.noop()
        return Reply(reply.code, reply.message)

    # -- helpers ----------------------------------------------------------------------------

    def _require(self) -> aiosmtplib.SMTP:
        if self._smtp is None or not self._smtp.is_connected:
            raise DisconnectedError("not connected", phase=Phase.MAIL)
        return self._smtp

    @contextlib.contextmanager
    def _phase(self, phase: Phase) -> Iterator[None]:
        try:
            yield
        except SMTPError:
            raise
        except Exception as exc:
            raise translate_exception(exc, phase) from exc

    @contextlib.contextmanager
    def _step(self, name: str, phase: Phase) -> Iterator[None]:
        started = time.perf_counter()
        with self._phase(phase):
            yield
        if self._on_step is not None:
            self._on_step(name, time.perf_counter() - started, "")


@dataclass(frozen=True, slots=True)
class _Step:
    """One envelope command and who it is about (None: a refusal does not fail the message)."""

    phase: Phase
    command: bytes
    address: str | None

    def refusal(self, reply: Reply) -> SMTPError | None:
        """The error this reply means for the message, translated as aiosmtplib's would be."""
        code, text = reply.code, reply.text
        if self.phase is Phase.DATA:
            if code == _SMTP_START_INPUT:
                return None
            return ReplyError("server refused DATA", phase=Phase.DATA, code=code, text=text)
        if self.address is None:
            return None  # a Cc/Bcc recipient: best effort
        exc: aiosmtplib.SMTPResponseException
        if self.phase is Phase.MAIL:
            if code == _SMTP_OK:
                return None
            exc = aiosmtplib.SMTPSenderRefused(code, text, self.address)
        else:
            if code in (_SMTP_OK, _SMTP_WILL_FORWARD):
                return None
            exc = aiosmtplib.SMTPRecipientRefused(code, text, self.address)
        error = translate_exception(exc, self.phase)
        error.__cause__ = exc
        return error


def _command(line: bytes) -> bytes:
    """A command line with its CRLF; control characters are refused as aiosmtplib does."""
    if _COMMAND_INJECTION_RE.search(line):
        raise ValueError("Command arg contains a prohibited control character")
    return line + b"\r\n"


def _take_over(smtp: aiosmtplib.SMTP) -> ReplyReader:
    """Read this connection's replies with a `ReplyReader` until it is restored."""
    protocol = smtp.protocol
    transport = protocol.transport if protocol is not None else None
    if protocol is None or transport is None:
        raise DisconnectedError("not connected", phase=Phase.MAIL)
    return ReplyReader(transport, protocol)


def _data_lines(payload: bytes) -> bytes:
    """The message as DATA sends it: CRLF line ends, leading dots doubled, a final CRLF."""
    data = _EOL_RE.sub(b"\r\n", payload)
    data = _STUFF_RE.sub(b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def _write(reader: ReplyReader, data: bytes) -> None:
    try:
        reader.write(data)
    except ConnectionError as exc:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost") from exc


async def _read(reader: ReplyReader, timeout: float | None) -> Reply:
    """The next reply; failures raised as aiosmtplib's, so they translate the same way."""
    try:
        return await reader.read(timeout)
    except TimeoutError as exc:
        raise aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response") from exc
    except ConnectionError as exc:
        raise aiosmtplib.SMTPServerDisconnected(str(exc)) from exc
    except ReplyFormatError as exc:
        raise aiosmtplib.SMTPResponseException(-1, str(exc)) from exc
