"""Group commit of the journal's fsync: one at a time, each answering what came before it."""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from pathlib import Path

import pytest

from storage.errors import JournalWriteFailedError
from storage.journal.durability import LogSync


class Gate:
    """`os.fsync` that waits for `open_` before each call; counts the calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.entered = threading.Semaphore(0)
        self.open_ = threading.Semaphore(0)
        self.fail = False

    def __call__(self, fd: int) -> None:
        self.calls += 1
        self.entered.release()
        self.open_.acquire(timeout=10)
        if self.fail:
            raise OSError(errno.EIO, "Input/output error")
        os.fsync(fd)


async def _entered(gate: Gate) -> None:
    await asyncio.to_thread(gate.entered.acquire, True, 10)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "journal.sqlite3"
    Path(f"{path}-wal").write_bytes(b"frames")
    return path


async def test_requests_made_during_an_fsync_wait_for_the_next_one_and_share_it(
    log: Path,
) -> None:
    gate = Gate()
    sync = LogSync(log, wal=True, fsync=gate)
    first = sync.soon()
    assert first is not None
    await _entered(gate)  # fsync 1 is running
    second, third = sync.soon(), sync.soon()  # committed after fsync 1 began
    assert second is not None and third is not None
    gate.open_.release()  # fsync 1 ends
    await asyncio.wait_for(first, 5)
    await _entered(gate)  # fsync 2 started by itself, for both
    assert not second.done() and not third.done()  # fsync 1 did not answer for them
    gate.open_.release()
    await asyncio.wait_for(asyncio.gather(second, third), 5)
    assert gate.calls == 2 and sync.fsyncs == 2
    sync.close()


async def test_a_failed_fsync_fails_each_request_it_answers_and_the_next_one_runs(
    log: Path,
) -> None:
    gate = Gate()
    sync = LogSync(log, wal=True, fsync=gate)
    first = sync.soon()
    assert first is not None
    await _entered(gate)
    second = sync.soon()
    assert second is not None
    gate.fail = True
    gate.open_.release()
    with pytest.raises(JournalWriteFailedError, match="could not be made durable"):
        await asyncio.wait_for(first, 5)
    await _entered(gate)
    gate.fail = False
    gate.open_.release()
    await asyncio.wait_for(second, 5)  # the next fsync worked: that request is durable
    sync.close()


def test_outside_an_event_loop_soon_is_now(log: Path) -> None:
    gate = Gate()
    gate.open_.release()
    sync = LogSync(log, wal=True, fsync=gate)
    assert sync.soon() is None
    assert gate.calls == 1
