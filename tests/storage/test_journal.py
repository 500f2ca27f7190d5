"""The campaign journal: crash recovery, lock, corruption, history, export, resolve."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from core.events import CampaignStatus
from core.models import Account, Recipient, RecipientStatus, SendSettings, Template
from core.ports import Outcome
from storage.codec import to_plain
from storage.journal import (
    CampaignLockedError,
    CampaignNotFoundError,
    JournalCorruptError,
    JournalError,
    JournalStore,
    input_hash,
)
from storage.journal.history import (
    Resolution,
    attempts,
    export_csv,
    list_campaigns,
    recipients,
    resolve_unknown,
    retry_failed,
    safe_cell,
)
from storage.journal.schema import SCHEMA_VERSION

ACCOUNT = Account(host="smtp.example.com", port=587, sender="me@example.com", username="me")
TEMPLATE = Template(subject="Hi {{ name }}", body="Hello")


def people(n: int) -> list[Recipient]:
    return [
        Recipient(email=f"p{i}@example.com", fields={"name": f"P{i}"}, line=i + 2) for i in range(n)
    ]


@pytest.fixture
def store(tmp_path: Path) -> JournalStore:
    return JournalStore(tmp_path / "journal.sqlite3")


def new(store: JournalStore, n: int = 3) -> str:
    return store.create_campaign(
        name="t", account=ACCOUNT, template=TEMPLATE, settings=SendSettings(), recipients=people(n)
    )


def test_snapshot_round_trips(store: JournalStore) -> None:
    campaign_id = new(store)
    record = store.campaign(campaign_id)
    assert (record.account, record.template, record.settings) == (ACCOUNT, TEMPLATE, SendSettings())
    assert record.status is CampaignStatus.DRAFT
    assert record.total == 3
    assert store.counts(campaign_id).pending == 3


def test_files_are_private(tmp_path: Path, store: JournalStore) -> None:
    new(store)
    for path in tmp_path.glob("journal.sqlite3*"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_crash_after_intent_is_safe_to_resend(tmp_path: Path) -> None:
    store = JournalStore(tmp_path / "j.sqlite3")
    campaign_id = new(store)
    journal = store.open_campaign(campaign_id)
    item = journal.next_due(0)
    assert item is not None
    journal.intent(item, "<id@x>", 1.0)
    journal.close()  # the process "dies" here: no data-start, no result
    store.close()
    again = JournalStore(tmp_path / "j.sqlite3").open_campaign(campaign_id)
    first = again.next_due(0)
    assert first is not None and first.seq == item.seq
    assert again.counts().pending == 3


def test_crash_after_data_start_becomes_unknown(tmp_path: Path) -> None:
    store = JournalStore(tmp_path / "j.sqlite3")
    campaign_id = new(store)
    journal = store.open_campaign(campaign_id)
    item = journal.next_due(0)
    assert item is not None
    journal.intent(item, "<id@x>", 1.0)
    journal.data_started(item, 2.0)
    journal.close()
    store.close()
    reopened = JournalStore(tmp_path / "j.sqlite3")
    journal = reopened.open_campaign(campaign_id)
    assert journal.counts().unknown == 1
    nxt = journal.next_due(0)
    assert nxt is not None and nxt.seq != item.seq  # never picked again by itself
    assert [a.event for a in attempts(reopened, campaign_id, item.seq)] == [
        "intent",
        "data",
        "unknown",
    ]


def test_one_process_per_campaign(store: JournalStore) -> None:
    campaign_id = new(store)
    journal = store.open_campaign(campaign_id)
    with pytest.raises(CampaignLockedError):
        store.open_campaign(campaign_id)
    journal.close()
    store.open_campaign(campaign_id).close()


def test_unknown_campaign_is_named(store: JournalStore) -> None:
    with pytest.raises(CampaignNotFoundError, match="nope"):
        store.campaign("nope")


def test_corrupt_file_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(JournalCorruptError, match="damaged"):
        JournalStore(path)


# The tables as schema 1 created them: campaigns had no attachments_digest yet.
V1_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE campaigns(
    id TEXT PRIMARY KEY, name TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL,
    status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', account_key TEXT NOT NULL,
    account_json TEXT NOT NULL, template_json TEXT NOT NULL, settings_json TEXT NOT NULL,
    base_dir TEXT NOT NULL, source TEXT NOT NULL, input_hash TEXT NOT NULL,
    total INTEGER NOT NULL);
CREATE TABLE recipients(
    campaign_id TEXT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, email TEXT NOT NULL, name TEXT NOT NULL, fields_json TEXT NOT NULL,
    line INTEGER NOT NULL, source TEXT NOT NULL, smtputf8 INTEGER NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, first_failure REAL,
    next_attempt REAL, code INTEGER, enhanced TEXT, text TEXT NOT NULL DEFAULT '',
    message_id TEXT, updated REAL, PRIMARY KEY(campaign_id, seq));
CREATE TABLE attempts(
    id INTEGER PRIMARY KEY, campaign_id TEXT NOT NULL, seq INTEGER NOT NULL, at REAL NOT NULL,
    event TEXT NOT NULL, code INTEGER, enhanced TEXT, text TEXT NOT NULL DEFAULT '',
    message_id TEXT);
CREATE TABLE sends(account_key TEXT NOT NULL, at REAL NOT NULL);
INSERT INTO meta(key, value) VALUES('schema_version', '1');
"""


def _stored_schema_version(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        (value,) = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return str(value)


def test_new_journal_records_the_current_schema_version(tmp_path: Path) -> None:
    JournalStore(tmp_path / "journal.sqlite3").close()
    assert _stored_schema_version(tmp_path / "journal.sqlite3") == str(SCHEMA_VERSION)


def test_journal_from_schema_1_is_migrated_and_keeps_its_campaign(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(V1_SCHEMA)
        conn.execute(
            "INSERT INTO campaigns(id, name, created, updated, status, account_key, account_json,"
            " template_json, settings_json, base_dir, source, input_hash, total) "
            "VALUES('old', 'before', 1.0, 1.0, 'draft', 'me@smtp.example.com', ?, ?, ?, '.', "
            "'list.csv', 'abc', 1)",
            (
                json.dumps(to_plain(ACCOUNT)),
                json.dumps(to_plain(TEMPLATE)),
                json.dumps(to_plain(SendSettings())),
            ),
        )
        conn.execute(
            "INSERT INTO recipients(campaign_id, seq, email, name, fields_json, line, source, "
            "smtputf8, status) VALUES('old', 1, 'p0@example.com', '', '{}', 2, '', 0, 'pending')"
        )
        conn.commit()

    store = JournalStore(path)
    record = store.campaign("old")
    assert record.attachments_digest == ""
    assert (record.name, record.account, record.template) == ("before", ACCOUNT, TEMPLATE)
    assert store.counts("old").pending == 1
    assert _stored_schema_version(path) == str(SCHEMA_VERSION)
    newer = store.create_campaign(
        name="after",
        account=ACCOUNT,
        template=TEMPLATE,
        settings=SendSettings(),
        recipients=people(1),
        attachments_digest="d1",
    )
    assert store.campaign(newer).attachments_digest == "d1"
    store.close()
    assert JournalStore(path).campaign("old").attachments_digest == ""  # opens again as is


def test_journal_from_a_newer_version_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    JournalStore(path).close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
        conn.commit()
    with pytest.raises(JournalError, match="made by a newer Bulk Mailer") as caught:
        JournalStore(path)
    assert not isinstance(caught.value, JournalCorruptError)
    assert "schema 99" in str(caught.value)
    assert _stored_schema_version(path) == "99"


def test_deferred_recipient_is_due_only_at_its_time(store: JournalStore) -> None:
    campaign_id = new(store, 1)
    journal = store.open_campaign(campaign_id)
    item = journal.next_due(100.0)
    assert item is not None
    journal.result(
        item, Outcome(RecipientStatus.DEFERRED, 100.0, 451, "4.3.0", "later", retry_at=160.0)
    )
    assert journal.next_due(159.0) is None
    assert journal.next_wake() == 160.0
    due = journal.next_due(160.0)
    assert due is not None and due.attempts == 1 and due.first_failure_at == 100.0


def test_sends_window_counts_across_campaigns(store: JournalStore) -> None:
    for _ in range(2):
        journal = store.open_campaign(new(store, 1))
        item = journal.next_due(0)
        assert item is not None
        journal.result(item, Outcome(RecipientStatus.SENT, 1000.0, 250, None, "ok"))
        journal.close()
    other = Account(host="smtp.example.com", port=587, sender="x@example.com", username="x")
    campaign_id = store.create_campaign(
        name="o", account=other, template=TEMPLATE, settings=SendSettings(), recipients=people(1)
    )
    journal = store.open_campaign(campaign_id)
    assert journal.sends_in_window(0) == (0, None)
    journal.close()
    assert store.sends_in_window("me@smtp.example.com", 0) == (2, 1000.0)
    assert store.sends_in_window("me@smtp.example.com", 1000.0) == (0, None)


def _settle(store: JournalStore, campaign_id: str, outcomes: list[Outcome]) -> None:
    journal = store.open_campaign(campaign_id)
    for outcome in outcomes:
        item = journal.next_due(0)
        assert item is not None
        journal.result(item, outcome)
    journal.close()


def test_retry_failed_puts_them_back(store: JournalStore) -> None:
    campaign_id = new(store)
    _settle(
        store,
        campaign_id,
        [
            Outcome(RecipientStatus.FAILED, 1.0, 550, "5.1.1", "no such user"),
            Outcome(RecipientStatus.SENT, 2.0, 250),
        ],
    )
    assert retry_failed(store, campaign_id) == 1
    counts = store.counts(campaign_id)
    assert (counts.failed, counts.pending, counts.sent) == (0, 2, 1)


def test_resolve_unknown_resend_or_mark_sent(store: JournalStore) -> None:
    campaign_id = new(store)
    _settle(store, campaign_id, [Outcome(RecipientStatus.UNKNOWN, 1.0, text="lost")] * 2)
    rows = recipients(store, campaign_id, statuses=[RecipientStatus.UNKNOWN])
    assert len(rows) == 2
    assert resolve_unknown(store, campaign_id, Resolution.RESEND, seqs=[rows[0].seq]) == 1
    assert resolve_unknown(store, campaign_id, Resolution.MARK_SENT) == 1
    counts = store.counts(campaign_id)
    assert (counts.unknown, counts.pending, counts.sent) == (0, 2, 1)
    with pytest.raises(JournalError, match="nothing was changed"):
        resolve_unknown(store, campaign_id, Resolution.MARK_SENT, seqs=[rows[0].seq])


def test_export_is_safe_from_formula_injection(store: JournalStore) -> None:
    hostile = Recipient(email="evil@example.com", name='=HYPERLINK("http://x","y")', line=2)
    campaign_id = store.create_campaign(
        name="t", account=ACCOUNT, template=TEMPLATE, settings=SendSettings(), recipients=[hostile]
    )
    out = io.StringIO()
    assert export_csv(store, campaign_id, out) == 1
    assert "'=HYPERLINK" in out.getvalue()
    for cell in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx"):
        assert safe_cell(cell).startswith("'")
    assert safe_cell("plain") == "plain"


def test_listing_and_unfinished_twins(store: JournalStore) -> None:
    first = new(store)
    _settle(store, first, [Outcome(RecipientStatus.SENT, 1.0, 250)] * 3)
    second = new(store)
    listed = list_campaigns(store)
    assert {c.id for c in listed} == {first, second}
    assert store.find_unfinished(input_hash(TEMPLATE, people(3))) == [second]


def test_journal_survives_reopening_with_wal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    store = JournalStore(path)
    campaign_id = new(store)
    _settle(store, campaign_id, [Outcome(RecipientStatus.SENT, 1.0, 250)])
    # no close(): the WAL holds the last commits, as after a kill
    os.sync()
    assert JournalStore(path).counts(campaign_id).sent == 1
