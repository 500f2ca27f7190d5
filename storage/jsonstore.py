"""TinyDB storage for settings.json: atomic writes, a schema version, damaged files moved aside."""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

from storage.errors import SettingsError
from storage.locking import locked
from storage.paths import atomic_write_bytes, move_aside

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "AtomicJSONStorage", "Migration", "Tables"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_META = "meta"
_SINGLE_DOC = "1"

Tables = dict[str, dict[str, Any]]


class _NeedsRepair(Exception):
    """`_read` found something to write (move aside, upgrade) and was not allowed to."""


Migration = Callable[[Tables], Tables]


def _v0_to_v1(data: Tables) -> Tables:
    """Files from before versioning have the same tables; the version is added on write."""
    return data


# MIGRATIONS[v] upgrades a file from schema v to v + 1. Add one entry per schema change.
MIGRATIONS: dict[int, Migration] = {0: _v0_to_v1}


class AtomicJSONStorage(Storage):
    """TinyDB storage: atomic writes, schema migration, and a damaged file moved aside.

    Repairs (moving aside, upgrading) happen under the file's cross-process lock
    (`storage.locking`); `SettingsStore` holds the same lock around each change.

    A file that cannot be read, is not JSON, has the wrong shape, comes from a newer schema
    or fails to migrate is renamed `settings.json.corrupt-YYYYmmdd-HHMMSS`, a warning is
    passed to `warn`, and reading continues as if there were no settings.
    """

    def __init__(self, path: Path, *, warn: Callable[[str], None]) -> None:
        self.path = Path(path)
        self._warn = warn
        self._cache: tuple[tuple[int, int, int], Tables] | None = None
        self._memory: Tables | None = None  # set when the file could not even be moved aside

    def read(self) -> Tables | None:
        if self._memory is not None:
            return copy.deepcopy(self._memory)
        try:
            return self._read(repair=False)
        except _NeedsRepair:
            pass
        # Moving a damaged file aside or upgrading it writes: under the cross-process lock,
        # reading the file again first (another process may have repaired it already).
        with locked(self.path):
            return self._read(repair=True)

    def _fix(self, reason: str, *, repair: bool) -> Tables | None:
        if not repair:
            raise _NeedsRepair
        return self._recover(reason)

    def _read(self, *, repair: bool) -> Tables | None:
        if self._memory is not None:
            return copy.deepcopy(self._memory)
        try:
            st = os.stat(self.path)
            key = (st.st_ino, st.st_mtime_ns, st.st_size)
            if self._cache is not None and self._cache[0] == key:
                return copy.deepcopy(self._cache[1])
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            return self._fix(f"cannot be read ({exc.strerror or exc})", repair=repair)
        try:
            parsed = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return self._fix("is not valid JSON (truncated or damaged)", repair=repair)
        problem = _shape_problem(parsed)
        if problem:
            return self._fix(problem, repair=repair)
        data: Tables = parsed
        version = _schema_version(data)
        if version is None:
            return self._fix("has an unreadable schema version", repair=repair)
        if version > SCHEMA_VERSION:
            return self._fix(
                f"was written by a newer Bulk Mailer (schema {version})", repair=repair
            )
        if version < SCHEMA_VERSION:
            if not repair:
                raise _NeedsRepair
            try:
                data = _migrate(data, version)
            except Exception as exc:
                return self._recover(f"could not be upgraded from schema {version} ({exc})")
            log.info("settings upgraded from schema %d to %d", version, SCHEMA_VERSION)
            try:
                self.write(data)
            except SettingsError as exc:
                self._warn(str(exc))
            return copy.deepcopy(data)
        self._cache = (key, data)
        return copy.deepcopy(data)

    def write(self, data: Tables) -> None:
        tables = {name: docs for name, docs in data.items() if name != _META}
        tables[_META] = {_SINGLE_DOC: {"schema_version": SCHEMA_VERSION}}
        if self._memory is not None:
            self._memory = copy.deepcopy(tables)
            return
        payload = json.dumps(tables, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        try:
            atomic_write_bytes(self.path, payload.encode("utf-8"))
            st = os.stat(self.path)
        except OSError as exc:
            raise SettingsError(
                f"could not save settings to {self.path}: {exc.strerror or exc}"
            ) from exc
        self._cache = ((st.st_ino, st.st_mtime_ns, st.st_size), copy.deepcopy(tables))

    def _recover(self, reason: str) -> Tables | None:
        self._cache = None
        try:
            aside = move_aside(self.path, "corrupt")
        except OSError:
            self._memory = {}
            message = (
                f"The settings file {self.path} {reason} and could not be moved aside: "
                "starting with default settings, and changes will not be saved this session."
            )
        else:
            message = (
                f"The settings file {reason}; it was kept as {aside.name} and Bulk Mailer "
                "started with default settings."
            )
        log.warning("%s", message)
        self._warn(message)
        return self._memory


def _shape_problem(data: object) -> str | None:
    if not isinstance(data, dict):
        return "does not hold a settings object"
    for table, docs in data.items():
        if not isinstance(docs, dict):
            return f"has a damaged table {table!r}"
        for doc_id, doc in docs.items():
            if not (isinstance(doc_id, str) and doc_id.isdigit() and isinstance(doc, dict)):
                return f"has a damaged record in table {table!r}"
    return None


def _schema_version(data: Tables) -> int | None:
    meta = data.get(_META)
    if not meta:
        return 0  # written before settings were versioned
    version = meta.get(_SINGLE_DOC, {}).get("schema_version")
    return version if type(version) is int and version >= 0 else None


def _migrate(data: Tables, version: int) -> Tables:
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise ValueError(f"no migration from schema {version}")
        data = step(copy.deepcopy(data))
        version += 1
    return data
