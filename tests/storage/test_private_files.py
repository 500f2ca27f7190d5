"""Folders the app creates are 0700, parents included; an old 0644 settings file is tightened."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from storage.paths import ensure_private_dir
from storage.settings import SettingsStore
from ui.web.attachments import UPLOADS_DIR, store_upload

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_missing_parents_are_created_0700_and_existing_ones_kept(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o750)  # noqa: S103 - a parent made by someone else, left as it is
    leaf = ensure_private_dir(tmp_path / "a" / "b" / "c")
    assert [mode(p) for p in (leaf.parent.parent, leaf.parent, leaf)] == [0o700] * 3
    assert mode(tmp_path) == 0o750


def test_upload_folders_are_private(tmp_path: Path) -> None:
    base = ensure_private_dir(tmp_path / "attachments")
    stored = store_upload(base, "report.pdf", b"%PDF")
    uploads = base / UPLOADS_DIR
    assert mode(uploads) == 0o700
    assert mode((base / stored).parent) == 0o700
    assert mode(base / stored) == 0o600


def test_an_existing_world_readable_settings_file_is_tightened_on_open(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    current = '{"accounts": {}, "meta": {"1": {"schema_version": 1}}}\n'  # nothing to upgrade
    path.write_text(current, encoding="utf-8")
    os.chmod(path, 0o644)
    store = SettingsStore(path)
    store.close()
    assert mode(path) == 0o600
