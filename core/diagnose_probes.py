"""Second looks the connection check takes after a failure: does the port speak TLS at once,
what certificate does the server show, what time does it think it is."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import re
import socket
import time
from dataclasses import dataclass, replace

from core.errors import SMTPError
from core.models import Account, AuthMethod, Credentials, Security, Timeouts, TLSOptions
from core.transport import SMTPTransport
from core.transport.certinfo import CertInfo
from core.transport.proxies import ProxyChoice

__all__ = [
    "PROBE_TIMEOUT",
    "ProbeResult",
    "probe_certificate",
    "probe_implicit_tls",
    "probe_tcp",
    "server_clock",
]

PROBE_TIMEOUT = 10.0  # a second look never waits longer than this
_RFC2822_DATE = re.compile(
    r"(?:\w{3},\s*)?\d{1,2}\s+\w{3}\s+\d{4}\s+\d{1,2}:\d{2}(?::\d{2})?\s*(?:[+-]\d{4}|[A-Z]{1,5})"
)


def _probe_account(account: Account, **changes: object) -> Account:
    """The account with no login and no certificate check: a probe only looks."""
    limit = min(account.timeouts.connect, PROBE_TIMEOUT)
    probe = replace(
        account,
        auth=AuthMethod.NONE,
        username=None,
        tls=TLSOptions(verify=False, server_name=account.tls.server_name),
        timeouts=Timeouts(connect=limit, command=limit, data=limit),
    )
    return replace(probe, **changes)  # type: ignore[arg-type]


async def probe_implicit_tls(account: Account, credentials: Credentials | None) -> bool:
    """True when the port completes a TLS handshake (and greets) as soon as it is connected."""
    proxy_only = Credentials(proxy_password=credentials.proxy_password if credentials else None)
    transport = SMTPTransport(_probe_account(account, security=Security.TLS), proxy_only)
    try:
        session = await transport.connect()
    except SMTPError:
        return False
    finally:
        await transport.close(polite=False)
    return session.encrypted


async def probe_certificate(
    account: Account, credentials: Credentials | None
) -> tuple[CertInfo | None, str]:
    """The server's certificate, read over a connection that does not check it; and the greeting.

    Nothing is sent after the handshake (no login); (None, "") when even that fails.
    """
    proxy_only = Credentials(proxy_password=credentials.proxy_password if credentials else None)
    transport = SMTPTransport(_probe_account(account), proxy_only)
    try:
        session = await transport.connect()
    except SMTPError:
        return None, transport.session.greeting
    finally:
        await transport.close(polite=False)
    return session.certificate, session.greeting


def server_clock(greeting: str) -> dt.datetime | None:
    """The date and time a server's greeting shows (Exchange and others do), if any."""
    match = _RFC2822_DATE.search(greeting or "")
    if match is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(match.group(0))
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """How a plain TCP connect to a proxy went: ok, seconds, and the error text if not."""

    ok: bool
    seconds: float
    error: str = ""


async def probe_tcp(choice: ProxyChoice, timeout: float) -> ProbeResult:
    """Connect to the proxy itself, nothing more: is anything listening at its address?"""
    began = time.perf_counter()
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(choice.proxy.host, choice.proxy.port), timeout
        )
    except TimeoutError:
        return ProbeResult(False, time.perf_counter() - began, "no answer in time")
    except OSError as exc:
        text = "connection refused" if isinstance(exc, ConnectionRefusedError) else str(exc)
        if isinstance(exc, socket.gaierror):
            text = f"cannot resolve {choice.proxy.host!r}"
        return ProbeResult(False, time.perf_counter() - began, text)
    writer.close()
    return ProbeResult(True, time.perf_counter() - began)
