"""Non-secret settings in TinyDB: saved accounts, preferences, recent templates; atomic writes.

Every change is one read-modify-write under a cross-process file lock, so the GUI and the
CLI (or two CLIs) saving at once both keep what they saved.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from tinydb import Query, TinyDB
from tinydb.table import Document

from core.errors import InputError
from core.models import Account, SendSettings
from storage.codec import from_plain, to_plain
from storage.errors import AccountNotFoundError, SettingsError
from storage.jsonstore import MIGRATIONS, SCHEMA_VERSION, AtomicJSONStorage
from storage.locking import FileLocked, locked
from storage.paths import (
    data_dir,
    ensure_private_dir,
    remove_stale_temp_files,
    secure_file,
)

__all__ = [
    "MAX_ACCOUNT_NAME",
    "MAX_RECENT_TEMPLATES",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SETTINGS_FILE",
    "AtomicJSONStorage",
    "Preferences",
    "SavedAccount",
    "SettingsStore",
    "Theme",
    "validate_account_name",
]

SETTINGS_FILE = "settings.json"
MAX_RECENT_TEMPLATES = 10
MAX_ACCOUNT_NAME = 64

_ACCOUNTS, _PREFERENCES, _RECENT = "accounts", "preferences", "recent_templates"
_PREFERENCES_DOC = 1  # the one document in `preferences`


class Theme(StrEnum):
    """The app's colour scheme."""

    AUTO = "auto"  # follow the operating system
    LIGHT = "light"
    DARK = "dark"


@dataclass(frozen=True, slots=True)
class Preferences:
    """What the user chose last time: pacing and caps, the account in use, the theme."""

    send: SendSettings = field(default_factory=SendSettings)
    last_account: str | None = None
    theme: Theme = Theme.AUTO


@dataclass(frozen=True, slots=True)
class SavedAccount:
    """An account as saved under a name; whether its secrets are kept in the vault."""

    name: str
    account: Account
    remember_password: bool = False


def validate_account_name(name: str) -> str:
    """The name trimmed, or `InputError` if it is empty, too long or not printable."""
    cleaned = name.strip()
    if not cleaned:
        raise InputError("an account name must not be empty", field="name")
    if len(cleaned) > MAX_ACCOUNT_NAME:
        raise InputError(f"an account name has at most {MAX_ACCOUNT_NAME} characters", field="name")
    if not cleaned.isprintable():
        raise InputError("an account name must not contain control characters", field="name")
    return cleaned


class SettingsStore:
    """Saved accounts (never their secrets), preferences and recent templates.

    `warnings` collects what a person should be told, e.g. that a damaged settings file was
    moved aside; the UI and the CLI show them.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else data_dir() / SETTINGS_FILE
        ensure_private_dir(self.path.parent)
        self.warnings: list[str] = []
        self._db = TinyDB(self.path, storage=AtomicJSONStorage, warn=self._warn)
        self._accounts = self._db.table(_ACCOUNTS, cache_size=0)
        self._preferences = self._db.table(_PREFERENCES, cache_size=0)
        self._recent = self._db.table(_RECENT, cache_size=0)
        with self._changing():
            # Only under the lock: another process may be writing its temporary file now.
            remove_stale_temp_files(self.path)
            if self.path.exists():
                secure_file(self.path)  # a file left 0644 by an older version or a copy
            self._db.storage.read()  # recover a damaged file now, so `warnings` is filled

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """One read-modify-write, under the cross-process lock of the settings file.

        TinyDB reads the file again for each change (its tables keep no cache here), so
        what another process saved a moment ago is kept; only the next free document id
        is remembered between changes, and it is forgotten here.
        """
        try:
            with locked(self.path):
                for table in (self._accounts, self._preferences, self._recent):
                    table._next_id = None
                yield
        except FileLocked as exc:
            raise SettingsError(str(exc)) from exc

    def _warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def close(self) -> None:
        """Release the database (nothing is buffered: every change is already on disk)."""
        self._db.close()

    # -- accounts -------------------------------------------------------------------------

    def save_account(
        self, name: str, account: Account, *, remember_password: bool = False
    ) -> SavedAccount:
        """Save (or replace) `account` under `name`. Secrets never come here."""
        name = validate_account_name(name)
        doc = {"name": name, "remember_password": remember_password, "account": to_plain(account)}
        with self._changing():
            self._accounts.upsert(doc, Query().name == name)
        return SavedAccount(name, account, remember_password)

    def get_saved_account(self, name: str) -> SavedAccount:
        """The account saved as `name`; `AccountNotFoundError` or `SettingsError` if unusable."""
        doc = self._accounts.get(Query().name == name.strip())
        if doc is None or isinstance(doc, list):
            raise AccountNotFoundError(name)
        return _saved_from_doc(dict(doc))

    def get_account(self, name: str) -> Account:
        """The account saved as `name` (see `get_saved_account`)."""
        return self.get_saved_account(name).account

    def list_accounts(self) -> list[SavedAccount]:
        """Every usable saved account, by name; damaged records are skipped with a warning."""
        saved = []
        for doc in self._accounts.all():
            try:
                saved.append(_saved_from_doc(dict(doc)))
            except SettingsError as exc:
                self._warn(str(exc))
        return sorted(saved, key=lambda item: item.name.casefold())

    def delete_account(self, name: str) -> bool:
        """Forget the account saved as `name`; False if there was none."""
        with self._changing():
            removed = self._accounts.remove(Query().name == name.strip())
            prefs = self.get_preferences()
            if removed and prefs.last_account == name.strip():
                self.set_preferences(replace(prefs, last_account=None))
        return bool(removed)

    # -- preferences ----------------------------------------------------------------------

    def get_preferences(self) -> Preferences:
        """The saved preferences; a damaged value falls back to its default, with a warning."""
        doc = self._preferences.get(doc_id=_PREFERENCES_DOC)
        if doc is None or isinstance(doc, list):
            return Preferences()
        problems: list[str] = []
        try:
            prefs = from_plain(Preferences, dict(doc), lenient=True, problems=problems)
        except ValueError as exc:  # pragma: no cover - every Preferences field has a default
            problems.append(str(exc))
            prefs = Preferences()
        for problem in problems:
            self._warn(f"settings: {problem}")
        return prefs

    def set_preferences(self, preferences: Preferences) -> None:
        """Replace the saved preferences."""
        with self._changing():
            self._preferences.upsert(Document(to_plain(preferences), doc_id=_PREFERENCES_DOC))

    def update_preferences(self, **changes: Any) -> Preferences:
        """Change some preference fields (`dataclasses.replace` keywords); returns the result."""
        with self._changing():
            prefs = replace(self.get_preferences(), **changes)
            self.set_preferences(prefs)
        return prefs

    # -- recent templates -----------------------------------------------------------------

    def add_recent_template(self, ref: str) -> None:
        """Put a template (its path or name) first in the recent list, keeping the newest few."""
        with self._changing():
            self._recent.remove(Query().ref == ref)
            self._recent.insert({"ref": ref, "used_at": time.time()})
            docs = sorted(self._recent.all(), key=lambda d: (d.get("used_at", 0), d.doc_id))
            excess = len(docs) - MAX_RECENT_TEMPLATES
            if excess > 0:
                self._recent.remove(doc_ids=[d.doc_id for d in docs[:excess]])

    def recent_templates(self) -> list[str]:
        """Recently used templates, newest first."""
        docs = sorted(
            self._recent.all(), key=lambda d: (d.get("used_at", 0), d.doc_id), reverse=True
        )
        return [d["ref"] for d in docs if isinstance(d.get("ref"), str)]


def _saved_from_doc(doc: dict[str, Any]) -> SavedAccount:
    name = doc.get("name")
    if not isinstance(name, str):
        raise SettingsError("a saved account has no name; it was skipped")
    try:
        account = from_plain(Account, doc.get("account"))
    except ValueError as exc:
        raise SettingsError(f"saved account {name!r} is damaged: {exc}") from None
    return SavedAccount(name, account, doc.get("remember_password") is True)
