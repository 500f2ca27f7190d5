"""Step-by-step connection diagnosis: proxy, DNS, TCP, TLS, greeting, STARTTLS, AUTH, sender."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field

from core.classify import classify
from core.credentials import CredentialProvider
from core.diagnose_hints import (
    BAD_PROXY_SETTING_HINT,
    connect_hint,
    failed_step_name,
    failure_hint,
    proxy_unreachable_hint,
)
from core.diagnose_probes import probe_tcp
from core.errors import ConnectError, DNSError, Phase, ProxyError, SMTPError, TimedOutError
from core.models import Account, Credentials, Secret, TransportKind
from core.transport import SessionInfo, SMTPTransport
from core.transport.proxies import ProxyChoice, choose_proxy

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
    """The whole report. `ok` only when every step passed.

    `secrets` are the secrets the check used (passwords, tokens): never shown, kept so a
    report made from this diagnosis can be checked to contain none of them.
    """

    account: Account
    steps: list[Step] = field(default_factory=list)
    session: SessionInfo | None = None
    error: SMTPError | None = None
    proxy: ProxyChoice | None = None
    secrets: tuple[Secret, ...] = ()
    started_at: float = field(default_factory=time.time)

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

    def fail(
        self, name: str, seconds: float, error: SMTPError, hint: str, detail: str = ""
    ) -> None:
        """Record the failing step (the last one)."""
        self.error = error
        text = f"{error}; {detail}" if detail else str(error)
        self.steps.append(Step(name, False, max(seconds, 0.0), text, hint))


_STEP_NAMES = {
    "tcp": "TCP connect",
    "proxy": "proxy tunnel",
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


def _secrets(credentials: Credentials | None, proxy: ProxyChoice | None) -> tuple[Secret, ...]:
    found = []
    if credentials is not None:
        found += [credentials.password, credentials.oauth_token, credentials.proxy_password]
    if proxy is not None:
        found.append(proxy.password)
    return tuple(secret for secret in found if secret)


async def diagnose(
    account: Account,
    credentials: Credentials | CredentialProvider | None = None,
    *,
    check_network: bool = True,
    check_sender: bool = True,
) -> Diagnosis:
    """Run every step a person would check, in order, stopping at the first failure.

    A proxy (the account's, or the environment's ALL_PROXY) is first tested on its own. With
    `check_network` and no proxy, DNS and a bare TCP connect run first so a blocked port is
    told apart from a TLS or login problem. No message is ever sent: MAIL FROM is followed by
    RSET.
    """
    report = Diagnosis(account)
    if account.transport is TransportKind.GMAIL_API:
        return await diagnose_gmail_api(report, credentials)
    known = credentials if not isinstance(credentials, CredentialProvider) else None
    try:
        report.proxy = choose_proxy(account, known)
    except ValueError as exc:
        error = ProxyError(str(exc), reason="setting")
        report.fail("proxy setting", 0.0, error, BAD_PROXY_SETTING_HINT)
        return report
    report.secrets = _secrets(known, report.proxy)
    if report.proxy is not None:
        if not await _proxy_step(report, report.proxy):
            return report
    elif check_network and not await _network_steps(report):
        return report

    def on_step(name: str, seconds: float, detail: str) -> None:
        human = _human(name)
        if human == "TCP connect" and any(s.name == human for s in report.steps):
            return  # the network steps already connected once; say it once
        if human == "proxy tunnel":
            detail = detail or f"to {account.host}:{account.port}"
        report.steps.append(Step(human, True, seconds, detail))

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
        if report.session is None:
            report.session = transport.session  # what was learned before the failure
        elapsed = time.perf_counter() - started - sum(s.seconds for s in report.steps)
        await transport.close(polite=False)
        hint, detail = await failure_hint(exc, account, known, proxy=report.proxy)
        report.fail(failed_step_name(exc, account), elapsed, exc, hint, detail)
    finally:
        await transport.close()
    return report


async def verify(
    account: Account, credentials: Credentials | CredentialProvider | None = None
) -> Diagnosis:
    """Connect, secure, log in, MAIL FROM + RSET, QUIT. Which steps passed, with timings."""
    return await diagnose(account, credentials, check_network=False)


async def _proxy_step(report: Diagnosis, choice: ProxyChoice) -> bool:
    """Test the proxy on its own: a TCP connect to the proxy's address, nothing more."""
    result = await probe_tcp(choice, report.account.timeouts.connect)
    if result.ok:
        report.steps.append(Step("proxy reachable", True, result.seconds, choice.describe()))
        return True
    error = ConnectError(
        f"proxy {choice.proxy.host}:{choice.proxy.port}: {result.error}", phase=Phase.PROXY
    )
    hint = proxy_unreachable_hint(choice)
    report.fail("proxy reachable", result.seconds, error, hint, choice.describe())
    return False


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
        report.fail("DNS lookup", time.perf_counter() - began, error, connect_hint(error, account))
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
    report.fail("TCP connect", time.perf_counter() - began, last, connect_hint(last, account))
    return False


async def diagnose_gmail_api(
    report: Diagnosis, credentials: Credentials | CredentialProvider | None
) -> Diagnosis:
    """For a Gmail API account: an access token (a refresh), then the API reachable over TLS.

    Nothing is sent: the gmail.send scope allows no read-only call, so the second step checks
    that the API answers at all (any HTTP reply) with a verified certificate.
    """
    account = report.account
    from core.transport.gmail_api import GmailAPITransport  # httpx: Gmail API accounts only

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
