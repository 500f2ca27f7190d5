"""A full disk under the journal: the campaign stops cleanly, aborted, resumable, consistent."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from core.engine import CampaignRunner
from core.events import CampaignFinished, CampaignStatus
from core.models import Security, SendSettings
from core.transport import SMTPTransport
from storage.journal import JournalStore
from tests.conftest import account_for
from tests.core.engine_kit import FakeClock, TinyBuilder, make_campaign, people
from tests.smtpd import ServerHandle

FAST = SendSettings(delay_ms=0)
COUNT = 80
DISK_FULL = "database or disk is full"


def fill_up(conn: sqlite3.Connection, spare_pages: int) -> None:
    """Let the journal grow by only a few pages: SQLite then answers SQLITE_FULL."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + spare_pages}")


async def test_full_journal_aborts_cleanly_and_resumes_without_duplicates(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    loop_errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: loop_errors.append(ctx))
    account = account_for(plain_server, Security.NONE)
    emails = [f"r{n}@example.com" for n in range(COUNT)]
    h = make_campaign(tmp_path, account, people(*emails), FAST)
    fill_up(h.store.conn, spare_pages=2)

    finished = await h.runner.run()  # no exception escapes
    h.journal.close()
    h.store.close()
    await asyncio.sleep(0)  # any callback left on the loop runs now

    assert loop_errors == []
    assert finished.status is CampaignStatus.ABORTED
    assert DISK_FULL in finished.reason
    assert "resume" in finished.hint
    assert 0 < finished.sent < COUNT

    store = JournalStore(tmp_path / "journal.sqlite3")  # the disk has room again
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    record = store.campaign(h.journal.campaign_id)
    assert record.status is CampaignStatus.ABORTED
    assert DISK_FULL in record.reason
    journal = store.open_campaign(record.id)
    runner = CampaignRunner(
        journal=journal,
        transport=SMTPTransport(account),
        builder=TinyBuilder(),
        sender=account.sender,
        settings=FAST,
        clock=FakeClock(),
    )
    resumed: CampaignFinished = await runner.run()
    journal.close()
    counts = store.counts(record.id)
    store.close()

    assert resumed.status is CampaignStatus.FINISHED
    assert counts.sent + counts.unknown == COUNT
    assert counts.unknown <= 1  # at most the message whose result could not be written
    delivered = Counter(plain_server.recorder.recipients())
    assert set(delivered) == set(emails)
    assert all(copies == 1 for copies in delivered.values())
    assert loop_errors == []
