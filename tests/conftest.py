"""Shared fixtures: test CA, real SMTP servers, a private data folder; CI fails on skips."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

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
    monkeypatch.delenv("BULKMAILER_PROXY_PASSWORD", raising=False)
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


Start = Callable[..., ServerHandle]
T = TypeVar("T")


class BackgroundLoop:
    """An event loop in a thread, for servers the CLI (which runs its own loop) talks to."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(5)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def background_loop() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop()
    yield loop
    loop.stop()


@pytest.fixture
def servers(certs: CertSet, background_loop: BackgroundLoop) -> Iterator[Start]:
    """Start aiosmtpd servers in a background loop, so the CLI can run its own asyncio.run."""
    handles: list[ServerHandle] = []

    def start(mode: str, **options: Any) -> ServerHandle:
        handle = background_loop.run(start_server(mode, certs, **options))
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        background_loop.run(handle.close())
