"""A reader of a journal that is being created sees "no campaigns yet", never an error."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from core.models import RecipientStatus
from storage.journal import JournalReader, JournalStore
from tests.storage.test_journal import new


def test_reader_of_a_missing_journal_sees_no_campaigns(tmp_path: Path) -> None:
    assert JournalReader(tmp_path / "journal.sqlite3").campaign_ids() == []
    assert not (tmp_path / "journal.sqlite3").exists()


def test_reader_of_a_journal_whose_file_exists_without_tables_sees_no_campaigns(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")  # what a creator does before its tables
    reader = JournalReader(path)
    assert reader.campaign_ids() == []
    assert reader.statuses("anything") == {}


def test_reader_while_the_creator_holds_its_schema_transaction_sees_no_campaigns(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite3"
    creator = sqlite3.connect(path, isolation_level=None)
    try:
        creator.execute("PRAGMA journal_mode=WAL")
        creator.execute("BEGIN IMMEDIATE")
        creator.execute("CREATE TABLE campaigns(id TEXT)")  # not committed yet
        assert JournalReader(path).campaign_ids() == []
    finally:
        creator.execute("ROLLBACK")
        creator.close()


def test_reader_sees_campaigns_and_recovered_statuses(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    store = JournalStore(path)
    try:
        campaign_id = new(store)
        with store.transaction() as conn:
            first = "SELECT MIN(seq) FROM recipients"
            conn.execute(f"UPDATE recipients SET status='data' WHERE seq=({first})")  # noqa: S608
    finally:
        store.close()
    reader = JournalReader(path)
    assert reader.campaign_ids() == [campaign_id]
    statuses = reader.statuses(campaign_id)
    assert sorted(statuses.values()) == [
        RecipientStatus.PENDING,
        RecipientStatus.PENDING,
        RecipientStatus.UNKNOWN,
    ]
