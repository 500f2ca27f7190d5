"""The final dot waits for the journal's fsync, which runs off the event loop.

The data-start record is committed before the first byte of the message and fsynced (the
write-ahead log) on a thread; the message text may go out meanwhile, its final dot may not.
The fsync is the real `os.fsync` of the real log file, wrapped to be held or to fail.
"""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
import threading
from pathlib import Path

from core.events import CampaignStatus
from core.models import Account, Recipient, Security, SendSettings, Template
from storage.journal import JournalStore
from tests.conftest import account_for
from tests.core.engine_kit import make_campaign, people
from tests.smtpd import Recorder, ServerHandle

FAST = SendSettings(delay_ms=0)


class HeldFsync:
    """`os.fsync`, held at its first call until `release`; notes which file each call synced."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()
        self.inodes: list[int] = []

    def __call__(self, fd: int) -> None:
        self.inodes.append(os.fstat(fd).st_ino)
        if len(self.inodes) == 1:
            self.entered.set()
            self.released.wait(10)
        os.fsync(fd)


def _status_on_disk(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT status FROM recipients ORDER BY seq")]


async def test_the_final_dot_waits_for_the_fsync_of_the_data_start_record(
    plain_server: ServerHandle, recorder: Recorder, tmp_path: Path
) -> None:
    held = HeldFsync()
    account = account_for(plain_server, Security.NONE)
    h = make_campaign(tmp_path, account, people("ann@example.com"), FAST, fsync=held)
    run = asyncio.create_task(h.runner.run())
    while not held.entered.is_set():
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # the loop goes on meanwhile: the text reaches the server

    assert recorder.messages == []  # no final dot yet: no message
    assert _status_on_disk(h.store.path) == ["data"]  # committed before any byte
    wal = Path(f"{h.store.path}-wal")
    assert held.inodes == [wal.stat().st_ino]  # the fsync is of the write-ahead log
    assert not run.done()

    held.released.set()
    finished = await asyncio.wait_for(run, 10)
    assert finished.status is CampaignStatus.FINISHED and finished.sent == 1
    assert [m.rcpt_tos for m in recorder.messages] == [["ann@example.com"]]
    h.journal.close()
    h.store.close()


async def test_a_failed_fsync_sends_nothing_and_stops_the_campaign_resumable(
    plain_server: ServerHandle, recorder: Recorder, tmp_path: Path
) -> None:
    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    account = account_for(plain_server, Security.NONE)
    h = make_campaign(
        tmp_path, account, people("ann@example.com", "bob@example.com"), FAST, fsync=broken
    )
    finished = await asyncio.wait_for(h.runner.run(), 10)
    await asyncio.sleep(0.2)

    assert recorder.messages == []  # the text went without its dot: the server kept nothing
    assert finished.status is CampaignStatus.ABORTED
    assert "could not be made durable" in finished.reason
    assert finished.sent == 0
    h.journal.close()
    h.store.close()


def test_outside_an_event_loop_the_record_is_durable_when_data_started_returns(
    tmp_path: Path,
) -> None:
    calls: list[int] = []

    def fsync(fd: int) -> None:
        calls.append(os.fstat(fd).st_ino)
        os.fsync(fd)

    store = JournalStore(tmp_path / "journal.sqlite3", fsync=fsync)
    campaign_id = store.create_campaign(
        name="t",
        account=Account(host="smtp.example.com", port=587, sender="me@example.com"),
        template=Template(subject="Hi", body="Hello"),
        settings=FAST,
        recipients=[Recipient(email="ann@example.com", line=2)],
    )
    journal = store.open_campaign(campaign_id)
    item = journal.next_due(0)
    assert item is not None
    journal.intent(item, "<id@x>", 1.0)
    assert journal.data_started(item, 2.0) is None
    assert calls == [Path(f"{store.path}-wal").stat().st_ino]
    assert _status_on_disk(store.path) == ["data"]
    journal.close()
    store.close()
