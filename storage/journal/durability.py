"""Making committed journal records durable without stopping the event loop.

The data-start record must be on disk before a message's final dot is written. SQLite's
`synchronous=FULL` does that by fsyncing the write-ahead log inside COMMIT, on the thread that
commits: the event loop's, which then serves no other connection, renders nothing and reads
no reply for the length of the fsync (0.3 ms on a quiet disk, several on a busy one).

Here the commit is SQLite's `synchronous=NORMAL` one (the frames are written to the log, not
fsynced) and the same fsync, of the same log file, runs on a thread of its own; the final dot
waits for it. What is on disk when the dot leaves is what FULL would have put there: every
frame committed before the fsync started (fsync flushes the whole file, whoever wrote it).
A checkpoint under NORMAL still syncs the log before it and the database after it. Outside an
event loop (tests, tools) the fsync simply runs before `sync` returns.

If the journal is not in WAL mode (a file system without shared memory), the database file
itself is fsynced: that is where the commit went.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from storage.errors import JournalWriteFailedError

__all__ = ["LogSync"]

_THREADS = 4  # a campaign runs up to this many fsyncs at once comfortably (one per connection)


class LogSync:
    """Fsync the journal's write-ahead log (or the database) now, or on a thread."""

    def __init__(self, path: Path, *, wal: bool, fsync: Callable[[int], None] = os.fsync) -> None:
        self._path = Path(f"{path}-wal") if wal else path
        self._fsync = fsync
        self._executor: ThreadPoolExecutor | None = None

    def now(self) -> None:
        """Everything committed so far is on disk when this returns."""
        try:
            fd = os.open(self._path, os.O_RDWR | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            return  # no log (yet): nothing was committed into one
        except OSError as exc:
            raise self._failed(exc) from exc
        try:
            self._fsync(fd)
        except OSError as exc:
            raise self._failed(exc) from exc
        finally:
            os.close(fd)

    def soon(self) -> asyncio.Future[None] | None:
        """`now` on a thread when an event loop runs (the future completes with it); else now."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.now()
            return None
        if self._executor is None:
            self._executor = ThreadPoolExecutor(_THREADS, thread_name_prefix="journal-fsync")
        return loop.run_in_executor(self._executor, self.now)

    def close(self) -> None:
        """Wait for the fsyncs under way, then let the threads go."""
        executor, self._executor = self._executor, None
        if executor is not None:
            with contextlib.suppress(RuntimeError):
                executor.shutdown(wait=True)

    def _failed(self, exc: OSError) -> JournalWriteFailedError:
        return JournalWriteFailedError(
            f"the journal {self._path.name} could not be made durable ({exc})"
        )
