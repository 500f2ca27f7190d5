"""Step-by-step connection diagnosis: DNS, TCP, TLS, EHLO, STARTTLS, AUTH, sender; with hints."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field

from core.classify import classify
from core.credentials import CredentialProvider
from core.errors import ConnectError, DNSError, Phase, SMTPError, TimedOutError
from core.models import (
    SMTP_STARTTLS_PORT,
    SMTP_TLS_PORT,
    Account,
    Credentials,
    Security,
    TransportKind,
)
from core.transport import GmailAPITransport, SessionInfo, SMTPTransport

__all__ = ["Diagnosis", "Step", "diagnose", "verify"]


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the diagnosis: passed or not, how long it took, and what to do if not."""

    name: str
    ok: bool
    seconds: float
    detail: str = ""
    hint: str = ""


@dataclass(slots=True)
class Diagnosis:
    """The whole report. `ok` only when every step passed."""

    account: Account
    steps: list[Step] = field(default_factory=list)
    session: SessionInfo | None = None
    error: SMTPError | None = None

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps) and self.error is None

    def lines(self) -> list[str]:
        """The report as lines of text a person reads top to bottom."""
        out = []
        for step in self.steps:
            mark = "ok  " if step.ok else "FAIL"
            took = f"{step.seconds * 1000:.0f} ms"
            detail = f"  {step.detail}" if step.detail else ""
            out.append(f"[{mark}] {step.name:<18} {took:>8}{detail}")
            if step.hint:
                out.append(f"       hint: {step.hint}")
        return out


_STEP_NAMES = {
    "tcp": "TCP connect",
    "proxy": "proxy",
    "greeting": "greeting",
    "tls+greeting": "TLS + greeting",
    "ehlo": "EHLO",
    "starttls": "STARTTLS",
    "ehlo (after TLS)": "EHLO (after TLS)",
}


def _human(step: str) -> str:
    if step.startswith("auth "):
        return f"AUTH {step[5:].upper()}"
    return _STEP_NAMES.get(step, step)


def _failed_step_name(error: SMTPError, account: Account) -> str:
    return {
        Phase.PROXY: "proxy",
        Phase.DNS: "DNS lookup",
        Phase.CONNECT: "TLS + greeting" if account.security is Security.TLS else "TCP connect",
        Phase.GREETING: "greeting",
        Phase.TLS: "TLS handshake",
        Phase.EHLO: "EHLO",
        Phase.STARTTLS: "STARTTLS",
        Phase.AUTH: "AUTH",
        Phase.MAIL: "sender (MAIL FROM)",
    }.get(error.phase, error.phase.value)


def _connect_hint(error: SMTPError, account: Account) -> str:
    if isinstance(error, DNSError):
        return "Check the host name's spelling; test DNS with `nslookup HOST`."
    if isinstance(error, TimedOutError) and error.phase is Phase.CONNECT:
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
    if error.phase is Phase.GREETING:
        return "The server refused the session; it may be busy or block your address."
    if error.phase is Phase.PROXY:
        return (
            "Check the proxy's address, port and credentials, and that it allows connections "
            f"to port {account.port}."
        )
    return ""


async def diagnose(
    account: Account,
    credentials: Credentials | CredentialProvider | None = None,
    *,
    check_network: bool = True,
    check_sender: bool = True,
) -> Diagnosis:
    """Run every step a person would check, in order, stopping at the first failure.

    With `check_network`, DNS and a bare TCP connect run first so a blocked port is told apart
    from a TLS or login problem. No message is ever sent: MAIL FROM is followed by RSET.
    """
    report = Diagnosis(account)
    if account.transport is TransportKind.GMAIL_API:
        return await diagnose_gmail_api(report, credentials)
    if check_network and account.proxy is None and not await _network_steps(report):
        return report

    def on_step(name: str, seconds: float, detail: str) -> None:
        report.steps.append(Step(_human(name), True, seconds, detail))

    transport = SMTPTransport(account, credentials, on_step=on_step)
    started = time.perf_counter()
    try:
        session = await transport.connect()
        report.session = session
        _describe_session(report, session)
        if check_sender:
            began = time.perf_counter()
            reply = await transport.mail_from(account.sender)
            await transport.rset()
            report.steps.append(
                Step("sender (MAIL FROM)", True, time.perf_counter() - began, str(reply))
            )
    except SMTPError as exc:
        report.error = exc
        elapsed = time.perf_counter() - started - sum(s.seconds for s in report.steps)
        verdict = classify(exc, host=account.host)
        hint = verdict.hint or _connect_hint(exc, account)
        detail = str(exc)
        report.steps.append(
            Step(_failed_step_name(exc, account), False, max(elapsed, 0.0), detail, hint)
        )
    finally:
        await transport.close()
    return report


async def verify(
    account: Account, credentials: Credentials | CredentialProvider | None = None
) -> Diagnosis:
    """Connect, secure, log in, MAIL FROM + RSET, QUIT. Which steps passed, with timings."""
    return await diagnose(account, credentials, check_network=False)


async def _network_steps(report: Diagnosis) -> bool:
    account = report.account
    loop = asyncio.get_running_loop()
    began = time.perf_counter()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(account.host, account.port, type=socket.SOCK_STREAM),
            account.timeouts.connect,
        )
    except (OSError, TimeoutError) as exc:
        error = DNSError(f"cannot resolve {account.host!r}: {getattr(exc, 'strerror', '') or exc}")
        report.error = error
        report.steps.append(
            Step(
                "DNS lookup",
                False,
                time.perf_counter() - began,
                str(error),
                _connect_hint(error, account),
            )
        )
        return False
    addresses = sorted({str(info[4][0]) for info in infos})
    report.steps.append(
        Step("DNS lookup", True, time.perf_counter() - began, ", ".join(addresses[:3]))
    )
    began = time.perf_counter()
    last: SMTPError | None = None
    for info in infos:
        address = str(info[4][0])
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(address, account.port), account.timeouts.connect
            )
        except TimeoutError:
            last = TimedOutError(f"no answer from {address}:{account.port}", phase=Phase.CONNECT)
            continue
        except OSError as exc:
            last = ConnectError(
                f"{address}:{account.port}: {exc.strerror or exc}",
                refused=isinstance(exc, ConnectionRefusedError),
            )
            continue
        writer.close()
        report.steps.append(
            Step("TCP connect", True, time.perf_counter() - began, f"{address}:{account.port}")
        )
        return True
    assert last is not None
    report.error = last
    report.steps.append(
        Step(
            "TCP connect",
            False,
            time.perf_counter() - began,
            str(last),
            _connect_hint(last, account),
        )
    )
    return False


async def diagnose_gmail_api(
    report: Diagnosis, credentials: Credentials | CredentialProvider | None
) -> Diagnosis:
    """For a Gmail API account: an access token (a refresh), then the API reachable over TLS.

    Nothing is sent: the gmail.send scope allows no read-only call, so the second step checks
    that the API answers at all (any HTTP reply) with a verified certificate.
    """
    account = report.account
    transport = GmailAPITransport(account, credentials)
    started = time.perf_counter()
    try:
        await transport.connect()
        report.steps.append(
            Step("access token", True, time.perf_counter() - started, "signed in, token fresh")
        )
        started = time.perf_counter()
        status = await transport.probe()
        report.steps.append(
            Step("Gmail API", True, time.perf_counter() - started, f"HTTP {status} from the API")
        )
    except SMTPError as exc:
        report.error = exc
        verdict = classify(exc, host=account.host)
        name = "access token" if exc.phase is Phase.AUTH else "Gmail API"
        report.steps.append(
            Step(name, False, time.perf_counter() - started, str(exc), verdict.hint)
        )
    finally:
        await transport.close()
    return report


def _describe_session(report: Diagnosis, session: SessionInfo) -> None:
    extensions = ", ".join(sorted(session.extensions)) or "none"
    tls = f"{session.tls_version} {session.cipher}" if session.encrypted else "not encrypted"
    report.steps.append(Step("session", True, 0.0, f"{tls}; extensions: {extensions}"))
