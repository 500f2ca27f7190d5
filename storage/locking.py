"""Cross-process locks: one read-modify-write of a settings or vault file at a time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from storage.paths import FILE_MODE

__all__ = ["LOCK_SUFFIX", "LOCK_TIMEOUT", "FileLocked", "locked"]

LOCK_SUFFIX = ".lock"  # settings.json -> settings.json.lock, beside the file it guards
LOCK_TIMEOUT = 30.0  # seconds to wait for another process before giving up


class FileLocked(OSError):
    """Another process kept the file locked for longer than LOCK_TIMEOUT."""


_LOCKS: dict[Path, FileLock] = {}


def _lock_for(path: Path) -> FileLock:
    lock_path = path.with_name(path.name + LOCK_SUFFIX)
    lock = _LOCKS.get(lock_path)
    if lock is None:
        # One FileLock per file and process: it is re-entrant in a thread, and two
        # threads (or two processes) exclude each other through the OS lock.
        lock = _LOCKS[lock_path] = FileLock(lock_path, timeout=LOCK_TIMEOUT, mode=FILE_MODE)
    return lock


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the lock on `path` (GUI, CLI and any other process alike) while the body runs.

    The body must read the file again inside the lock, change it and write it: that is
    the only way two processes saving at once keep both changes. Re-entrant, so a
    locked method may call another. Raises `FileLocked` after LOCK_TIMEOUT seconds.
    """
    lock = _lock_for(path)
    try:
        lock.acquire()
    except Timeout as exc:
        raise FileLocked(
            f"{path.name} is kept locked by another Bulk Mailer process; try again"
        ) from exc
    try:
        yield
    finally:
        lock.release()
