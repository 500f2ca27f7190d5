"""Every aiosmtplib exception is translated to one of ours, in one place (httpx's pattern)."""

from __future__ import annotations

import inspect
import socket
import ssl

import aiosmtplib
import aiosmtplib.errors
import pytest

from core.errors import (
    AuthError,
    ConnectError,
    DisconnectedError,
    DNSError,
    Phase,
    ProxyError,
    ReplyError,
    SMTPError,
    TimedOutError,
    TLSError,
)
from core.transport import EXCEPTION_MAP, translate_exception


def _aiosmtplib_exceptions() -> list[type[BaseException]]:
    return [
        obj
        for _, obj in inspect.getmembers(aiosmtplib.errors, inspect.isclass)
        if issubclass(obj, BaseException) and obj.__module__ == "aiosmtplib.errors"
    ]


def test_every_aiosmtplib_exception_has_its_own_entry() -> None:
    mapped = {cls for cls, _ in EXCEPTION_MAP}
    missing = [cls.__name__ for cls in _aiosmtplib_exceptions() if cls not in mapped]
    assert missing == [], f"add these to core.transport.errors.EXCEPTION_MAP: {missing}"


def _instance(cls: type[BaseException]) -> BaseException:
    if issubclass(cls, aiosmtplib.SMTPRecipientsRefused):
        return cls([aiosmtplib.SMTPRecipientRefused(550, "5.1.1 no", "x@example.com")])
    if issubclass(cls, aiosmtplib.SMTPSenderRefused | aiosmtplib.SMTPRecipientRefused):
        return cls(550, "5.7.1 no", "x@example.com")
    if issubclass(cls, aiosmtplib.SMTPResponseException):
        return cls(451, "4.3.0 later")
    return cls("boom")


@pytest.mark.parametrize("cls", _aiosmtplib_exceptions(), ids=lambda c: c.__name__)
def test_each_aiosmtplib_exception_translates_to_an_smtp_error(cls: type[BaseException]) -> None:
    translated = translate_exception(_instance(cls), Phase.MAIL)
    assert isinstance(translated, SMTPError)
    assert str(translated)


@pytest.mark.parametrize(
    ("exc", "phase", "expected"),
    [
        (aiosmtplib.SMTPAuthenticationError(535, "5.7.8 bad"), Phase.AUTH, AuthError),
        (aiosmtplib.SMTPConnectTimeoutError("slow"), Phase.CONNECT, TimedOutError),
        (aiosmtplib.SMTPReadTimeoutError("slow"), Phase.MESSAGE, TimedOutError),
        (aiosmtplib.SMTPServerDisconnected("gone"), Phase.MESSAGE, DisconnectedError),
        (aiosmtplib.SMTPConnectResponseError(421, "busy"), Phase.CONNECT, ReplyError),
        (ssl.SSLCertVerificationError("bad cert"), Phase.STARTTLS, TLSError),
        (socket.gaierror(-2, "Name or service not known"), Phase.CONNECT, DNSError),
        (ConnectionRefusedError(111, "refused"), Phase.CONNECT, ConnectError),
        (ConnectionResetError(104, "reset"), Phase.RCPT, DisconnectedError),
        (TimeoutError(), Phase.DATA, TimedOutError),
    ],
)
def test_translation_keeps_meaning(exc: BaseException, phase: Phase, expected: type) -> None:
    assert isinstance(translate_exception(exc, phase), expected)


def test_proxy_errors_are_translated() -> None:
    from python_socks import ProxyConnectionError, ProxyTimeoutError
    from python_socks import ProxyError as SocksError

    for exc in (ProxyConnectionError("no"), SocksError("no"), ProxyTimeoutError("slow")):
        assert isinstance(translate_exception(exc, Phase.PROXY), ProxyError)


def test_connect_error_caused_by_certificate_is_a_tls_error() -> None:
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cause.verify_code = 10
    cause.verify_message = "certificate has expired"
    wrapped = aiosmtplib.SMTPConnectError("Error connecting")
    wrapped.__cause__ = cause
    translated = translate_exception(wrapped, Phase.CONNECT)
    assert isinstance(translated, TLSError) and translated.reason == "expired"


def test_unknown_exception_is_not_swallowed() -> None:
    with pytest.raises(KeyError):
        translate_exception(KeyError("bug"), Phase.MAIL)
