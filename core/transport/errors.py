"""Where aiosmtplib, ssl, socket and proxy exceptions become ours (httpx's mapping pattern)."""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Callable, Iterator

import aiosmtplib
from python_socks import ProxyConnectionError as _SocksConnectionError
from python_socks import ProxyError as _SocksError
from python_socks import ProxyTimeoutError as _SocksTimeoutError

from core.errors import (
    AuthError,
    ConnectError,
    DisconnectedError,
    DNSError,
    NotSupportedError,
    Phase,
    ProxyError,
    ReplyError,
    SMTPError,
    TimedOutError,
)
from core.transport.tls import tls_error

__all__ = ["EXCEPTION_MAP", "translate_exception", "translating"]


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
        return tls_error(cause, Phase.TLS)
    if isinstance(cause, socket.gaierror):
        return DNSError(f"cannot resolve the server's name: {cause.strerror or cause}")
    if isinstance(cause, ConnectionRefusedError):
        return ConnectError("connection refused (nothing listens on that port)", refused=True)
    return ConnectError(f"cannot connect: {exc}", phase=phase)


def _connect_timeout(exc: BaseException) -> SMTPError:
    """A connect timeout; when TCP had connected and the greeting never came, say so."""
    if isinstance(exc.__cause__, aiosmtplib.SMTPTimeoutError):
        return TimedOutError(
            "connected, but the server sent no greeting in time", phase=Phase.GREETING
        )
    return TimedOutError(f"no answer from the server in time ({exc})", phase=Phase.CONNECT)


def _proxy_error(exc: BaseException) -> ProxyError:
    if isinstance(exc, _SocksTimeoutError):
        return ProxyError(f"the proxy did not answer in time: {exc}", reason="timeout")
    if isinstance(exc, _SocksConnectionError):
        return ProxyError(f"cannot reach the proxy: {exc}", reason="unreachable")
    text = str(exc)
    if "authentication" in text.lower() or "407" in text:
        return ProxyError(f"the proxy refused the login: {text}", reason="auth")
    return ProxyError(f"the proxy would not open the connection: {text}", reason="refused")


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
    (aiosmtplib.SMTPConnectTimeoutError, lambda e, p: _connect_timeout(e)),
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
        return tls_error(exc, phase)
    if isinstance(exc, _SocksTimeoutError | _SocksConnectionError | _SocksError):
        return _proxy_error(exc)
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


@contextlib.contextmanager
def translating(phase: Phase) -> Iterator[None]:
    """Raise any exception from the block as ours (`translate_exception`), chained to it."""
    try:
        yield
    except SMTPError:
        raise
    except Exception as exc:
        raise translate_exception(exc, phase) from exc
