"""The data folder (0700) and the one way files get into it: atomically, fsynced, mode 0600."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
from pathlib import Path

import platformdirs

__all__ = [
    "APP_NAME",
    "DATA_DIR_ENV",
    "DIR_MODE",
    "FILE_MODE",
    "TEMP_SUFFIX",
    "atomic_write_bytes",
    "data_dir",
    "ensure_private_dir",
    "move_aside",
    "private_subdir",
    "remove_stale_temp_files",
    "secure_file",
]

DATA_DIR_ENV = "BULKMAILER_HOME"
APP_NAME = "BulkMailer"
DIR_MODE = 0o700
FILE_MODE = 0o600
TEMP_SUFFIX = ".tmp"
_POSIX = os.name == "posix"


def data_dir() -> Path:
    """The folder for everything the app writes: `$BULKMAILER_HOME`, else the user data dir.

    Created if missing and (on POSIX) tightened to 0700 if anyone else could read it.
    """
    override = os.environ.get(DATA_DIR_ENV, "").strip()
    if override:
        path = Path(override).expanduser().absolute()
    else:
        path = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    return ensure_private_dir(path)


def ensure_private_dir(path: Path) -> Path:
    """Create `path` and any missing parents, each 0700, and make `path` 0700; returns it.

    `Path.mkdir(parents=True, mode=...)` gives missing parents the default mode (0755 with
    the usual umask): every folder created here is made private instead. Parents that
    already exist are left as they are.
    """
    missing: list[Path] = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            created.mkdir(mode=DIR_MODE)
        if _POSIX and created != path and stat.S_IMODE(created.stat().st_mode) != DIR_MODE:
            os.chmod(created, DIR_MODE)
    if not path.is_dir():
        path.mkdir(mode=DIR_MODE)  # raises the usual error (a file is in the way)
    if _POSIX and stat.S_IMODE(path.stat().st_mode) != DIR_MODE:
        os.chmod(path, DIR_MODE)
    return path


def private_subdir(name: str) -> Path:
    """A 0700 folder inside the data folder (journal, outbox, logs)."""
    if not name or Path(name).name != name or name in {".", ".."}:
        raise ValueError(f"not a plain folder name: {name!r}")
    return ensure_private_dir(data_dir() / name)


def secure_file(path: Path) -> None:
    """Make an existing file readable and writable by its owner only (0600)."""
    if _POSIX:
        os.chmod(path, FILE_MODE)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so a crash leaves either the old file or the new one.

    The bytes go to a 0600 temporary file in the same folder, are fsynced, renamed over the
    target with `os.replace`, and the folder is fsynced so the rename itself is durable.
    """
    directory = path.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        secure_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(directory)


def remove_stale_temp_files(path: Path) -> list[Path]:
    """Delete temporary files a crash left beside `path`; returns what was removed."""
    removed = []
    for leftover in path.parent.glob(f".{path.name}.*{TEMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            leftover.unlink()
            removed.append(leftover)
    return removed


def move_aside(path: Path, label: str) -> Path:
    """Rename `path` to `<name>.<label>-YYYYmmdd-HHMMSS` (never overwriting); return that."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.{label}-{stamp}")
    counter = 1
    while target.exists():
        target = path.with_name(f"{path.name}.{label}-{stamp}-{counter}")
        counter += 1
    os.rename(path, target)
    if target.is_file():
        secure_file(target)
    return target


def _fsync_dir(directory: Path) -> None:
    if not _POSIX:
        return  # Windows cannot open a directory for fsync; os.replace is already atomic there
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
