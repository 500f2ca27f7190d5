"""The journal's fast path: records that ride on other commits, read-ahead, the kept wake time."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from core.models import Account, Recipient, RecipientStatus, SendSettings, Template
from core.ports import Outcome
from storage.journal import JournalStore
from storage.journal.history import attempts, retry_failed

ACCOUNT = Account(host="smtp.example.com", port=587, sender="me@example.com", username="me")
TEMPLATE = Template(subject="Hi", body="Hello")
SENT = Outcome(RecipientStatus.SENT, 10.0, 250, None, "ok")


def _store(tmp_path: Path, n: int = 3) -> tuple[JournalStore, str]:
    store = JournalStore(tmp_path / "journal.sqlite3")
    people = [Recipient(email=f"p{i}@example.com", line=i + 2) for i in range(n)]
    campaign_id = store.create_campaign(
        name="t", account=ACCOUNT, template=TEMPLATE, settings=SendSettings(), recipients=people
    )
    return store, campaign_id


def _status_on_disk(path: Path, seq: int) -> str:
    """What another process (or a restart after a crash) would read."""
    with sqlite3.connect(path) as conn:
        (status,) = conn.execute("SELECT status FROM recipients WHERE seq=?", (seq,)).fetchone()
    return str(status)


async def test_accepted_result_is_written_at_the_next_idle_moment(tmp_path: Path) -> None:
    store, campaign_id = _store(tmp_path)
    journal = store.open_campaign(campaign_id)
    item = journal.next_due(0)
    assert item is not None
    journal.intent(item, "<id@x>", 1.0)
    assert _status_on_disk(store.path, item.seq) == "pending"  # the intent is only noted
    journal.data_started(item, 2.0)
    assert _status_on_disk(store.path, item.seq) == "data"  # durable before the final dot
    journal.result(item, SENT)
    assert _status_on_disk(store.path, item.seq) == "data"  # a crash now: UNKNOWN, as before
    await asyncio.sleep(0)  # the loop's next idle moment
    assert _status_on_disk(store.path, item.seq) == "sent"
    assert [a.event for a in attempts(store, campaign_id, item.seq)] == ["intent", "data", "sent"]
    journal.close()


async def test_reads_and_close_write_what_is_noted(tmp_path: Path) -> None:
    store, campaign_id = _store(tmp_path)
    journal = store.open_campaign(campaign_id)
    item = journal.next_due(0)
    assert item is not None
    journal.intent(item, "<id@x>", 1.0)
    journal.data_started(item, 2.0)
    journal.result(item, SENT)
    assert journal.counts().sent == 1  # counted without waiting for the loop
    assert journal.sends_in_window(0) == (1, 10.0)
    following = journal.next_due(0)
    assert following is not None and following.seq != item.seq
    journal.intent(following, "<id2@x>", 11.0)
    journal.close()  # the intent is written before the lock goes
    assert _status_on_disk(store.path, following.seq) == "sending"


async def test_crash_right_after_an_accepted_reply_costs_one_unknown(tmp_path: Path) -> None:
    store, campaign_id = _store(tmp_path)
    journal = store.open_campaign(campaign_id)
    item = journal.next_due(0)
    assert item is not None
    journal.intent(item, "<id@x>", 1.0)
    journal.data_started(item, 2.0)
    journal.result(item, SENT)
    journal._lock.release()  # the process dies: no idle moment, no close
    reopened = JournalStore(store.path).open_campaign(campaign_id)
    counts = reopened.counts()
    assert (counts.unknown, counts.sent, counts.pending) == (1, 0, 2)
    reopened.close()


def test_next_and_peek_come_from_the_read_ahead(tmp_path: Path) -> None:
    store, campaign_id = _store(tmp_path, 5)
    journal = store.open_campaign(campaign_id)
    first = journal.next_due(0)
    assert first is not None
    assert journal.next_due(0) == first  # not taken until its result is recorded
    following = journal.peek_pending(first.seq)
    assert following is not None and following.seq > first.seq
    journal.result(first, Outcome(RecipientStatus.FAILED, 1.0, 550, "5.1.1", "no"))
    assert journal.next_due(0) == following
    back = Outcome(RecipientStatus.PENDING, 2.0, 421, None, "closing", counted=False)
    journal.result(following, back)  # back to pending: it comes first again
    again = journal.next_due(0)
    assert again is not None and again.seq == following.seq
    journal.close()


def test_recipients_put_back_elsewhere_are_still_sent(tmp_path: Path) -> None:
    store, campaign_id = _store(tmp_path, 3)
    journal = store.open_campaign(campaign_id)
    item = journal.next_due(0)
    assert item is not None
    journal.result(item, Outcome(RecipientStatus.FAILED, 1.0, 550, "5.1.1", "no"))
    assert retry_failed(JournalStore(store.path), campaign_id) == 1  # another window
    seen = []
    while (nxt := journal.next_due(0)) is not None:
        seen.append(nxt.seq)
        journal.result(nxt, Outcome(RecipientStatus.FAILED, 2.0, 550, "5.1.1", "no"))
    assert sorted(seen) == [1, 2, 3]
    journal.close()


def test_deferral_time_is_kept_and_renewed(tmp_path: Path) -> None:
    store, campaign_id = _store(tmp_path, 2)
    journal = store.open_campaign(campaign_id)
    assert journal.next_wake() is None
    item = journal.next_due(100.0)
    assert item is not None
    deferred = Outcome(RecipientStatus.DEFERRED, 100.0, 451, "4.3.0", "later", retry_at=160.0)
    journal.result(item, deferred)
    assert journal.next_wake() == 160.0
    other = journal.next_due(100.0)
    assert other is not None and other.seq != item.seq
    due = journal.next_due(160.0)  # the deferred one first, once its time has come
    assert due is not None and due.seq == item.seq and due.attempts == 1
    journal.result(due, Outcome(RecipientStatus.SENT, 161.0, 250))
    assert journal.next_wake() is None
    journal.close()


async def test_recipients_in_flight_are_never_handed_out_twice(tmp_path: Path) -> None:
    store, campaign_id = _store(tmp_path, n=4)
    journal = store.open_campaign(campaign_id)
    first = journal.next_due(0)
    assert first is not None
    journal.intent(first, "<a@x>", 1.0)  # claimed by one connection
    second = journal.next_due(0)
    assert second is not None and second.seq != first.seq
    journal.intent(second, "<b@x>", 1.0)
    assert journal.peek_pending(-1) not in (first, second)
    journal.result(first, Outcome(RecipientStatus.PENDING, 2.0, counted=False))
    again = journal.next_due(0)
    assert again is not None and again.seq == first.seq  # back to pending: first in line again
    journal.close()


async def test_each_connection_keeps_its_own_message_in_flight(tmp_path: Path) -> None:
    """Two data-starts without results: each durable; both results ride on the next commit."""
    store, campaign_id = _store(tmp_path, n=3)
    journal = store.open_campaign(campaign_id)
    one = journal.next_due(0)
    assert one is not None
    journal.intent(one, "<1@x>", 1.0)
    two = journal.next_due(0)
    assert two is not None
    journal.intent(two, "<2@x>", 1.0)
    journal.data_started(one, 2.0)
    journal.data_started(two, 2.0)
    assert [_status_on_disk(store.path, i.seq) for i in (one, two)] == ["data", "data"]
    journal.result(two, SENT)
    journal.result(one, SENT)
    three = journal.next_due(0)
    assert three is not None
    journal.intent(three, "<3@x>", 3.0)
    journal.data_started(three, 4.0)  # the durable commit carries both riding results
    assert [_status_on_disk(store.path, i.seq) for i in (one, two, three)] == [
        "sent",
        "sent",
        "data",
    ]
    journal.close()


def test_durable_commits_run_with_synchronous_full_and_the_others_without(
    tmp_path: Path,
) -> None:
    """FULL (the commit fsyncs the WAL) for a durable transaction, NORMAL otherwise, in any
    order; the setting changes only when it must (a sending run commits durably each time)."""
    store = JournalStore(tmp_path / "journal.sqlite3")
    seen: list[tuple[bool, int]] = []
    for durable in (True, True, False, False, True, False):
        with store.transaction(durable=durable) as conn:
            seen.append((durable, conn.execute("PRAGMA synchronous").fetchone()[0]))
    assert seen == [(d, 2 if d else 1) for d in (True, True, False, False, True, False)]
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    for _ in range(3):
        with store.transaction(durable=True):
            pass
    assert statements == ["PRAGMA synchronous=FULL", *["BEGIN IMMEDIATE", "COMMIT"] * 3]
    store.close()
