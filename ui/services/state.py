"""The app's state for its one local user: the draft being prepared and the running campaign."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from core.events import CampaignFinished
from core.models import Credentials, Secret, SendSettings, Template
from core.recipients import ImportReport
from storage.accounts import AccountBook
from storage.errors import StorageError, VaultLockedError
from storage.journal import JournalStore
from storage.paths import private_subdir
from storage.settings import SettingsStore
from storage.vault import Vault
from ui.services.campaigns import CampaignSession
from ui.services.credentials import LoginKey
from ui.services.monitor import CampaignMonitor

if TYPE_CHECKING:
    from core.oauth import OAuthCredentials

__all__ = [
    "SANDBOX_KEY",
    "ActiveCampaign",
    "AppState",
    "ConnectionTest",
    "DraftState",
    "PassphraseHolder",
    "Spawn",
    "get_state",
    "reset_state",
]

SANDBOX_KEY = ""  # the draft's account name when it uses the built-in sandbox


@dataclass
class DraftState:
    """What the person is preparing: account, recipients, message, pacing. Lives in memory."""

    account_name: str = SANDBOX_KEY  # a saved account's name, or SANDBOX_KEY
    recipients: ImportReport | None = None
    template: Template = field(default_factory=lambda: Template(subject="", body=""))
    settings: SendSettings = field(default_factory=SendSettings)
    attachments_dir: Path | None = None  # where uploaded attachments are kept
    # stored attachment path (relative to base_dir) -> the file name the person uploaded
    attachment_names: dict[str, str] = field(default_factory=dict)

    def base_dir(self) -> Path:
        """Attachments are resolved against this folder (uploads land in it)."""
        if self.attachments_dir is None:
            self.attachments_dir = private_subdir("attachments")
        return self.attachments_dir


@dataclass(frozen=True, slots=True)
class ConnectionTest:
    """The last connection test of an account in this app session (Accounts > Test)."""

    ok: bool
    summary: str  # "connected, TLS and login fine" or the step that failed and why
    at: float  # when it finished (seconds since the epoch)
    host: str
    port: int


class ActiveCampaign:
    """A campaign running as a background task: closing the tab does not stop it."""

    def __init__(self, session: CampaignSession, monitor: CampaignMonitor) -> None:
        self.session = session
        self.monitor = monitor
        self.task: asyncio.Task[Any] | None = None
        self.result: CampaignFinished | None = None
        self.error: BaseException | None = None

    @property
    def campaign_id(self) -> str:
        return self.session.campaign_id

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self, spawn: Spawn) -> None:
        """Run it in the app's event loop, independent of any browser tab."""
        self.task = spawn(self._run(), name=f"campaign {self.campaign_id}")

    async def _run(self) -> CampaignFinished:
        try:
            self.result = await self.session.run()
        except Exception as exc:  # shown to the person; the journal keeps every recipient
            self.error = exc
            raise
        return self.result


class PassphraseHolder:
    """The master passphrase typed in a dialog, handed to the vault's key source when asked.

    The vault asks synchronously; the app asks the person asynchronously (a dialog) first and
    keeps the answer here for the app session. It never shows itself (`Secret`).
    """

    def __init__(self) -> None:
        self._value: Secret | None = None

    @property
    def is_set(self) -> bool:
        return self._value is not None

    def set(self, passphrase: Secret) -> None:
        self._value = passphrase

    def clear(self) -> None:
        self._value = None

    def __call__(self, new: bool) -> Secret:
        if self._value is None:
            raise VaultLockedError("the vault is locked: enter the master passphrase first")
        return self._value


class Spawn(Protocol):
    """Starts a background task that outlives any page (the web face: NiceGUI's
    `background_tasks.create`, which keeps a reference and awaits it at shutdown)."""

    def __call__(
        self, coroutine: Coroutine[Any, Any, Any], /, *, name: str
    ) -> asyncio.Task[Any]: ...


_tasks: set[asyncio.Task[Any]] = set()


def _spawn_task(coroutine: Coroutine[Any, Any, Any], /, *, name: str) -> asyncio.Task[Any]:
    task = asyncio.get_running_loop().create_task(coroutine, name=name)
    _tasks.add(task)  # a task nobody references can be garbage-collected mid-run
    task.add_done_callback(_tasks.discard)
    return task


class AppState:
    """One per process (a local app has one user)."""

    def __init__(self) -> None:
        self.spawn: Spawn = _spawn_task  # the web face installs NiceGUI's background tasks
        self.draft = DraftState()
        self.active: ActiveCampaign | None = None
        self._journal: JournalStore | None = None
        self._settings: SettingsStore | None = None
        self._vault: Vault | None = None
        self.passphrase = PassphraseHolder()  # set once it opened the vault (or made it)
        # Secrets typed for this app session only (never written anywhere), by login
        # (`ui.services.credentials.login_key`); the one credential resolver fills it.
        self.credential_memory: dict[LoginKey, Credentials] = {}
        # Signed-in accounts' token providers by saved name: access tokens live only here.
        self.sign_in_providers: dict[str, OAuthCredentials] = {}
        # The last connection test per saved account name (SANDBOX_KEY: the sandbox).
        self.connection_tests: dict[str, ConnectionTest] = {}
        self._draft_restored = False

    @property
    def journal(self) -> JournalStore:
        if self._journal is None:
            self._journal = JournalStore()
        return self._journal

    @property
    def settings(self) -> SettingsStore:
        """The settings store (saved accounts, preferences, recent templates)."""
        if self._settings is None:
            self._settings = SettingsStore()
        return self._settings

    @property
    def vault(self) -> Vault:
        """The credential vault; its key comes from the OS keyring or `passphrase`."""
        if self._vault is None:
            self._vault = Vault.open_default(passphrase=self.passphrase)
        return self._vault

    @property
    def accounts(self) -> AccountBook:
        """Saved accounts with their remembered secrets."""
        return AccountBook(self.settings, self.vault)

    def restore_draft_account(self) -> None:
        """Once per app session: use the account chosen last time, if it is still saved."""
        if self._draft_restored:
            return
        self._draft_restored = True
        try:
            last = self.settings.get_preferences().last_account
            if last:
                self.settings.get_saved_account(last)
                self.draft.account_name = last
        except StorageError:
            pass  # deleted or damaged: stay on the sandbox

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        if self._settings is not None:
            self._settings.close()
            self._settings = None
        if self._vault is not None:
            self._vault.lock()
            self._vault = None
        self.passphrase.clear()
        self.credential_memory.clear()
        self.sign_in_providers.clear()


_state: AppState | None = None


def get_state() -> AppState:
    global _state
    if _state is None:
        _state = AppState()
    return _state


def reset_state() -> None:
    """Forget everything in memory (tests; the journal on disk stays)."""
    global _state
    if _state is not None:
        _state.close()
    _state = None
