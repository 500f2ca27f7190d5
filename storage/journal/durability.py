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


class LogSync:
    """Fsync the journal's write-ahead log (or the database) now, or on a thread of its own.

    Group commit: one fsync at a time. A request made while one runs waits for the next,
    which starts when the running one ends and answers every request made meanwhile (their
    commits all came before it started). With several connections whose data-start records
    come close together, one fsync then makes several durable.
    """

    def __init__(self, path: Path, *, wal: bool, fsync: Callable[[int], None] = os.fsync) -> None:
        self._path = Path(f"{path}-wal") if wal else path
        self._fsync = fsync
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False
        self._waiting: list[asyncio.Future[None]] = []  # for the next fsync
        self.fsyncs = 0  # fsyncs started from `soon` (for tests and the curious)

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
        """A future done once everything committed so far is on disk (fsynced on a thread);
        outside an event loop, fsync now and return None."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.now()
            return None
        if loop is not self._loop:  # a new loop (a new run): nothing of the old one carries
            self._loop, self._running, self._waiting = loop, False, []
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiting.append(waiter)
        if not self._running:
            self._start(loop)
        return waiter

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._waiting = self._waiting, []
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="journal-fsync")
        self._running = True
        self.fsyncs += 1
        done = loop.run_in_executor(self._executor, self.now)
        done.add_done_callback(lambda future: self._answer(loop, future, batch))

    def _answer(
        self,
        loop: asyncio.AbstractEventLoop,
        done: asyncio.Future[None],
        batch: list[asyncio.Future[None]],
    ) -> None:
        if loop is not self._loop:
            return
        self._running = False
        error = None if done.cancelled() else done.exception()
        for waiter in batch:
            if waiter.done():
                continue
            if done.cancelled():
                waiter.cancel()
            elif error is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(None)
        if self._waiting and not loop.is_closed():
            self._start(loop)

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
