"""The connection check as a Markdown report: complete enough to help, with nothing secret."""

from __future__ import annotations

import base64
from dataclasses import replace

from core.diagnose import diagnose
from core.diagnose_report import REDACTED_USER, report_markdown
from core.models import Credentials, Proxy, Secret, Security
from tests.certs import CertSet
from tests.conftest import account_for
from tests.smtpd import PASSWORD, USER, Recorder, ServerHandle, start_server
from tests.socks import start_socks_proxy

SENTINEL = "s3ntinel-Pa55word-do-not-leak"
LOCAL_PART = "sentinel.local-part"
SENTINEL_USER = f"{LOCAL_PART}@example.com"
PROXY_SECRET = "proxy-s3cret-sentinel"


def _leaks(text: str) -> list[str]:
    forms = [SENTINEL, PROXY_SECRET, LOCAL_PART, base64.b64encode(SENTINEL.encode()).decode()]
    return [form for form in forms if form.lower() in text.lower()]


async def test_report_has_steps_timings_capabilities_and_certificate(
    starttls_server: ServerHandle, certs: CertSet
) -> None:
    account = account_for(starttls_server, Security.STARTTLS, certs)
    report = await diagnose(account, Credentials(password=Secret(PASSWORD)))
    assert report.ok, report.lines()
    text = report_markdown(report)
    assert "- Result: passed" in text
    assert "| 1 | DNS lookup | ok |" in text and " ms |" in text
    for step in ("STARTTLS", "AUTH PLAIN", "sender (MAIL FROM)"):
        assert f"| {step} | ok |" in text
    assert "- EHLO keywords:" in text and "AUTH LOGIN PLAIN" in text and "STARTTLS" in text
    assert "- TLS: TLSv1." in text and "cipher" in text
    assert "- Certificate subject: CN=bulk mailer test server" in text
    assert "- Certificate issuer: CN=Bulk Mailer Test CA" in text
    assert "- Certificate valid: " in text
    assert f"{REDACTED_USER}@example.com" in text  # the domain stays, the local part goes
    assert "alice" not in text and PASSWORD not in text


async def test_report_of_a_refused_login_leaks_no_secret_nor_local_part(certs: CertSet) -> None:
    recorder = Recorder(users={SENTINEL_USER: "another password"})
    handle = await start_server("starttls", certs, recorder=recorder)
    proxy = await start_socks_proxy(credentials=("proxyuser", PROXY_SECRET))
    try:
        account = account_for(
            handle,
            Security.STARTTLS,
            certs,
            username=SENTINEL_USER,
            sender=SENTINEL_USER,
            proxy=Proxy.from_url(f"socks5://proxyuser@127.0.0.1:{proxy.port}")[0],
        )
        credentials = Credentials(password=Secret(SENTINEL), proxy_password=Secret(PROXY_SECRET))
        report = await diagnose(account, credentials)
        assert not report.ok and report.steps[-1].name == "AUTH"
        assert recorder.auth_attempts == [(SENTINEL_USER, "PLAIN", False)]  # it was really sent
        text = report_markdown(report)
        assert "failed at **AUTH**" in text and "### Hints" in text
        assert f"- Proxy: socks5://{REDACTED_USER}@127.0.0.1:{proxy.port}" in text
        assert "proxyuser" not in text
        assert _leaks(text) == []
    finally:
        await proxy.close()
        await handle.close()


async def test_report_redacts_secrets_that_appear_in_server_replies(certs: CertSet) -> None:
    """A server that echoes the login (some do, in 535 texts) still leaks nothing."""
    recorder = Recorder(users={USER: SENTINEL}, mail_reply=f"553 5.7.1 {SENTINEL_USER} {SENTINEL}")
    handle = await start_server("starttls", certs, recorder=recorder)
    try:
        account = account_for(handle, Security.STARTTLS, certs)
        account = replace(account, sender=SENTINEL_USER)
        report = await diagnose(account, Credentials(password=Secret(SENTINEL)))
        assert report.steps[-1].name == "sender (MAIL FROM)"
        assert SENTINEL in report.steps[-1].detail  # the raw step has it ...
        text = report_markdown(report)
        assert _leaks(text) == []  # ... the report does not
    finally:
        await handle.close()
