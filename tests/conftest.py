"""Shared fixtures: test CA, real SMTP servers, a private data folder; CI fails on skips."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.models import Account, Credentials, Secret, Security, TLSOptions
from tests.certs import CertSet, make_certs
from tests.smtpd import PASSWORD, USER, Recorder, ServerHandle, start_server

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped in CI (CI=true turns a skip into a failure): {reason}"


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertSet:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(autouse=True)
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own BULKMAILER_HOME so nothing touches the real user folder."""
    home = tmp_path / "bulkmailer-home"
    monkeypatch.setenv("BULKMAILER_HOME", str(home))
    monkeypatch.delenv("BULKMAILER_SMTP_PASSWORD", raising=False)
    monkeypatch.delenv("BULKMAILER_PASSPHRASE", raising=False)
    for name in ("all_proxy", "ALL_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)  # tests set the proxy they mean to test
    return home


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def starttls_server(certs: CertSet, recorder: Recorder) -> AsyncIterator[ServerHandle]:
    handle = await start_server("starttls", certs, recorder=recorder)
    yield handle
    await handle.close()


@pytest.fixture
async def tls_server(certs: CertSet, recorder: Recorder) -> AsyncIterator[ServerHandle]:
    handle = await start_server("tls", certs, recorder=recorder)
    yield handle
    await handle.close()


@pytest.fixture
async def plain_server(recorder: Recorder) -> AsyncIterator[ServerHandle]:
    handle = await start_server("plain", recorder=recorder, auth=False)
    yield handle
    await handle.close()


def account_for(
    handle: ServerHandle,
    security: Security,
    certs: CertSet | None = None,
    **overrides: object,
) -> Account:
    """An account that reaches `handle` as `localhost`, pinning the test CA."""
    values: dict[str, object] = {
        "host": "localhost" if security is not Security.NONE else handle.host,
        "port": handle.port,
        "sender": USER,
        "security": security,
        "username": USER if security is not Security.NONE else None,
        "tls": TLSOptions(ca_file=str(certs.ca_file) if certs else None),
        "local_hostname": "client.test",
    }
    values.update(overrides)
    return Account(**values)  # type: ignore[arg-type]


def good_credentials() -> Credentials:
    return Credentials(password=Secret(PASSWORD))
