"""UI fixtures: NiceGUI's simulated `user` on the app's root page, and a sandbox to send to."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail
from nicegui import app as nicegui_app
from nicegui.storage import Storage
from nicegui.testing import User
from nicegui.testing.user_simulation import user_simulation

from storage.outbox import OutboxStore
from ui.services import sandbox
from ui.services.state import reset_state
from ui.web.app import root
from ui.web.outbox import outbox_changed


@pytest.fixture(scope="session", autouse=True)
def _nicegui_storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep NiceGUI's own storage files out of the work tree (as its user_plugin does)."""
    previous = Storage.path
    Storage.path = tmp_path_factory.mktemp("nicegui-storage").resolve()
    nicegui_app.storage = Storage()
    yield
    Storage.path = previous


@pytest.fixture(autouse=True)
def _fresh_app_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with an empty draft, no unlocked vault and no OS keyring."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setattr(keyring.core, "_keyring_backend", fail.Keyring())
    reset_state()
    yield
    reset_state()


@pytest.fixture
async def user(caplog: pytest.LogCaptureFixture) -> AsyncIterator[User]:
    """NiceGUI's `user` fixture on the real root page (not main.py, which parses sys.argv).

    Like NiceGUI's own fixture, any ERROR log record fails the test.
    """
    outbox_changed.callbacks.clear()  # a module-level event outlives simulated clients
    async with user_simulation(root=root) as simulated:
        yield simulated
    outbox_changed.callbacks.clear()
    errors = [r for r in caplog.get_records("call") if r.levelname == "ERROR"]
    if errors:
        pytest.fail(f"unexpected ERROR logs: {[r.getMessage() for r in errors]}", pytrace=False)


@pytest.fixture
def outbox(data_home: Path) -> OutboxStore:
    """The store the Outbox screen reads (under this test's BULKMAILER_HOME)."""
    return OutboxStore()


@pytest.fixture
async def running_sandbox(data_home: Path) -> AsyncIterator[sandbox.SandboxServer]:
    """The app's sandbox SMTP server, started in the test's event loop."""
    server = await sandbox.start(on_message=outbox_changed.emit)
    yield server
    await sandbox.stop()
