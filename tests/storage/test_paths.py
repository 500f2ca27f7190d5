"""The data folder: where it is, who may read it, and writes that survive a crash."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import platformdirs
import pytest

from storage import paths
from storage.paths import (
    atomic_write_bytes,
    data_dir,
    move_aside,
    private_subdir,
    remove_stale_temp_files,
)

ROOT = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_dir_honours_bulkmailer_home(data_home: Path) -> None:
    assert data_dir() == data_home
    assert data_home.is_dir()
    assert mode(data_home) == 0o700


def test_data_dir_defaults_to_the_platform_user_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BULKMAILER_HOME")
    seen: list[str] = []

    def fake_user_data_dir(appname: str, appauthor: object = None) -> str:
        seen.append(appname)
        return str(tmp_path / "platform" / appname)

    monkeypatch.setattr(platformdirs, "user_data_dir", fake_user_data_dir)
    assert data_dir() == tmp_path / "platform" / "BulkMailer"
    assert seen == ["BulkMailer"]
    assert mode(data_dir()) == 0o700


def test_data_dir_tightens_an_existing_open_folder(data_home: Path) -> None:
    data_home.mkdir(mode=0o755)
    os.chmod(data_home, 0o755)  # noqa: S103 - the loose folder this test tightens
    data_dir()
    assert mode(data_home) == 0o700


def test_private_subdir_is_0700_and_refuses_paths(data_home: Path) -> None:
    logs = private_subdir("logs")
    assert logs == data_home / "logs"
    assert mode(logs) == 0o700
    for bad in ("", "..", "a/b", "."):
        with pytest.raises(ValueError, match="plain folder name"):
            private_subdir(bad)


def test_atomic_write_creates_a_0600_file(data_home: Path) -> None:
    target = data_dir() / "x.json"
    old_umask = os.umask(0)  # even a permissive umask must not loosen it
    try:
        atomic_write_bytes(target, b"one")
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == b"one"
    assert mode(target) == 0o600
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert mode(target) == 0o600
    assert sorted(p.name for p in data_home.iterdir()) == ["x.json"]


def test_failed_rename_leaves_the_old_file_and_no_temp(
    data_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = data_dir() / "settings.json"
    atomic_write_bytes(target, b"old")

    def crash(src: object, dst: object) -> None:
        raise OSError(5, "simulated crash before rename")

    monkeypatch.setattr(paths.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in data_home.iterdir()] == ["settings.json"]


def test_process_killed_between_write_and_rename_keeps_the_old_file(data_home: Path) -> None:
    target = data_dir() / "settings.json"
    atomic_write_bytes(target, b'{"old": {}}')
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from storage import paths
        paths.os.replace = lambda src, dst: os._exit(9)  # the power goes out here
        paths.atomic_write_bytes(Path({str(target)!r}), b'{{"new": {{}}}}')
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=False)
    assert result.returncode == 9
    assert target.read_bytes() == b'{"old": {}}'
    leftovers = [p for p in data_home.iterdir() if p.name != "settings.json"]
    assert len(leftovers) == 1  # the temporary file, complete but never renamed
    assert mode(leftovers[0]) == 0o600
    assert remove_stale_temp_files(target) == leftovers
    assert [p.name for p in data_home.iterdir()] == ["settings.json"]


def test_move_aside_never_overwrites(data_home: Path) -> None:
    target = data_dir() / "settings.json"
    names = set()
    for content in (b"a", b"b", b"c"):
        target.write_bytes(content)
        aside = move_aside(target, "corrupt")
        names.add(aside.name)
        assert aside.read_bytes() == content
        assert mode(aside) == 0o600
        assert not target.exists()
    assert len(names) == 3
    assert all(name.startswith("settings.json.corrupt-") for name in names)
