"""What to tell a person when a step of the connection check fails: one hint per known case."""

from __future__ import annotations

import datetime as dt
import ipaddress

from core.classify import classify
from core.diagnose_probes import (
    probe_certificate,
    probe_implicit_tls,
    server_clock,
)
from core.errors import (
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
from core.models import (
    SMTP_PLAIN_PORT,
    SMTP_STARTTLS_PORT,
    SMTP_TLS_PORT,
    Account,
    Credentials,
    Security,
)
from core.transport.certinfo import clock_verdict
from core.transport.proxies import ProxyChoice

__all__ = [
    "BAD_PROXY_SETTING_HINT",
    "IMPLICIT_TLS_HINT",
    "PLAIN_PORT_HINT",
    "connect_hint",
    "failed_step_name",
    "failure_hint",
    "proxy_unreachable_hint",
]

IMPLICIT_TLS_HINT = (
    f"This port expects TLS at once: choose TLS ({SMTP_TLS_PORT}) "
    f"or STARTTLS on {SMTP_STARTTLS_PORT}."
)
PLAIN_PORT_HINT = (
    f"This port speaks plain SMTP first: choose STARTTLS (usually port {SMTP_STARTTLS_PORT}) "
    f"or TLS on {SMTP_TLS_PORT}."
)
BAD_PROXY_SETTING_HINT = (
    "The proxy variable named above is not a proxy URL: use socks5://host:port, "
    "socks4://host:port or http://host:port, or unset it."
)
_CA_FILE_HINTS = {
    "ca-file-missing": "The CA file does not exist: check its path (one file or folder per "
    "line in the account's certificate options, or --ca-file).",
    "ca-file-not-pem": "The CA file is not a PEM certificate (text starting with "
    "'-----BEGIN CERTIFICATE-----'): export the CA as PEM / Base64, not DER or PKCS#12.",
}


def failed_step_name(error: SMTPError, account: Account) -> str:
    """The name of the step that `error` stopped."""
    if isinstance(error, TLSError) and error.reason.startswith("ca-file"):
        return "CA file"
    return {
        Phase.PROXY: "proxy tunnel",
        Phase.DNS: "DNS lookup",
        Phase.CONNECT: "TLS + greeting" if account.security is Security.TLS else "TCP connect",
        Phase.GREETING: "greeting",
        Phase.TLS: "TLS handshake",
        Phase.EHLO: "EHLO",
        Phase.STARTTLS: "STARTTLS",
        Phase.AUTH: "AUTH",
        Phase.MAIL: "sender (MAIL FROM)",
    }.get(error.phase, error.phase.value)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def connect_hint(error: SMTPError, account: Account) -> str:
    """Hints for failures before the server said anything useful (DNS, TCP, greeting)."""
    if isinstance(error, DNSError):
        return "Check the host name's spelling; test DNS with `nslookup HOST`."
    if isinstance(error, TimedOutError) and error.phase is Phase.CONNECT:
        if account.port == SMTP_PLAIN_PORT:
            return (
                f"Port {SMTP_PLAIN_PORT} timed out: most ISPs and many networks block it for "
                f"mail clients; use {SMTP_STARTTLS_PORT} (STARTTLS) or {SMTP_TLS_PORT} (TLS)."
            )
        other = (
            f"try {SMTP_STARTTLS_PORT} with STARTTLS"
            if account.port == SMTP_TLS_PORT
            else f"try {SMTP_TLS_PORT} with TLS"
        )
        return (
            f"Port {account.port} timed out: a firewall or your ISP may block it; {other}, "
            "or another network."
        )
    if isinstance(error, ConnectError) and error.refused:
        return f"Nothing answers on port {account.port}: check the port (587 or 465)."
    if isinstance(error, TimedOutError) and error.phase is Phase.GREETING:
        return (
            f"The connection to port {account.port} opened but the server said nothing: it "
            "may be overloaded, or something between you and it holds the connection; "
            "retry later or try another port."
        )
    if error.phase is Phase.GREETING:
        return "The server refused the session; it may be busy or block your address."
    return ""


def proxy_unreachable_hint(choice: ProxyChoice) -> str:
    """The proxy's own address does not answer (tested on its own, before any tunnel)."""
    where = f"{choice.proxy.host}:{choice.proxy.port}"
    fix = (
        "correct or unset that variable"
        if choice.source.startswith("environment")
        else "correct the account's proxy"
    )
    return (
        f"Nothing answers at the proxy {where}, set by {choice.source}: check its address "
        f"and port and that it is running; {fix}, or ask your network admin."
    )


def _proxy_hint(error: ProxyError, account: Account, choice: ProxyChoice | None) -> str:
    if error.reason == "setting":
        return BAD_PROXY_SETTING_HINT
    source = f" (set by {choice.source})" if choice else ""
    if error.reason == "auth":
        return (
            f"The proxy{source} refused its user name or password: check the proxy's "
            "credentials and whether it needs a login at all."
        )
    if error.reason in {"unreachable", "timeout"} and choice is not None:
        return proxy_unreachable_hint(choice)
    return (
        f"The proxy{source} answered but would not connect to {account.host}:{account.port}: "
        "it may not allow mail ports; ask its admin, or try without the proxy."
    )


async def failure_hint(
    error: SMTPError,
    account: Account,
    credentials: Credentials | None,
    *,
    proxy: ProxyChoice | None,
    now: dt.datetime | None = None,
) -> tuple[str, str]:
    """(hint, extra detail) for a failed step; may take a second look at the server."""
    if isinstance(error, ProxyError):
        return _proxy_hint(error, account, proxy), ""
    if isinstance(error, TLSError):
        return await _tls_hint(error, account, credentials, now=now)
    at_greeting = error.phase in {Phase.GREETING, Phase.CONNECT}
    confused = isinstance(error, TimedOutError | DisconnectedError) or (
        isinstance(error, ReplyError) and error.phase is Phase.GREETING and error.code is None
    )
    if (
        at_greeting
        and confused
        and account.security is not Security.TLS
        and await probe_implicit_tls(account, credentials)
    ):
        return IMPLICIT_TLS_HINT, "a TLS handshake on this port succeeds"
    hint = classify(error, host=account.host).hint or connect_hint(error, account)
    return hint, ""


async def _tls_hint(
    error: TLSError,
    account: Account,
    credentials: Credentials | None,
    *,
    now: dt.datetime | None,
) -> tuple[str, str]:
    if error.reason in _CA_FILE_HINTS:
        return _CA_FILE_HINTS[error.reason], ""
    if error.reason == "not-tls":
        return PLAIN_PORT_HINT, ""
    if error.reason == "ip-mismatch" or (error.reason == "hostname" and _is_ip(account.host)):
        cert, _ = await probe_certificate(account, credentials)
        listed = ", ".join(cert.names or (cert.subject,)) if cert else ""
        names = f" ({listed})" if listed else ""
        return (
            f"The account reaches the server by its IP address {account.host}, but the "
            f"certificate is issued for host names{names}: use one of them as the host, "
            "or keep the IP and set the TLS server name to it (--tls-server-name).",
            f"the certificate names {listed}" if listed else "",
        )
    if error.reason in {"expired", "not-yet-valid"}:
        cert, greeting = await probe_certificate(account, credentials)
        if cert is None:
            return classify(error, host=account.host).hint, ""
        verdict = clock_verdict(
            cert, now=now or dt.datetime.now(dt.UTC), server_time=server_clock(greeting)
        )
        dates = f"certificate valid {cert.not_before:%Y-%m-%d} to {cert.not_after:%Y-%m-%d}"
        return verdict, dates
    return classify(error, host=account.host).hint, ""
