"""Scheduled campaigns in the journal: schedule, due, edit, cancel, claim (one winner)."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from core.events import CampaignStatus
from core.models import Account, Recipient, SendSettings, Template
from storage.journal import JournalStore
from storage.journal.scheduling import (
    Claim,
    cancel_scheduled,
    claim,
    due_campaigns,
    pending_recipients,
    reschedule,
    schedule,
    scheduled_campaigns,
    start_time,
)

ACCOUNT = Account(host="smtp.example.com", port=587, sender="alice@example.com")


def _create(store: JournalStore, name: str = "news", count: int = 2) -> str:
    return store.create_campaign(
        name=name,
        account=ACCOUNT,
        template=Template(subject="hi", body="Hello {{ name }}"),
        settings=SendSettings(),
        recipients=[
            Recipient(email=f"r{n}@example.com", fields={"name": f"R{n}"}, line=n + 2)
            for n in range(count)
        ],
    )


def test_a_scheduled_campaign_is_listed_and_due_at_its_time(tmp_path: Path) -> None:
    store = JournalStore(tmp_path / "j.sqlite3")
    later, sooner = _create(store, "later"), _create(store, "sooner")
    schedule(store, later, start_at=2000.0, zone="Europe/Berlin")
    schedule(store, sooner, start_at=1000.0, zone="UTC")
    assert [c.name for c in scheduled_campaigns(store)] == ["sooner", "later"]
    assert store.campaign(later).status is CampaignStatus.SCHEDULED
    assert due_campaigns(store, 999.0) == []
    assert [c.id for c in due_campaigns(store, 1500.0)] == [sooner]
    assert start_time(store, later) == (2000.0, "Europe/Berlin")
    assert [r.email for r in pending_recipients(store, later)] == [
        "r0@example.com",
        "r1@example.com",
    ]


def test_edit_the_time_and_cancel_only_while_scheduled(tmp_path: Path) -> None:
    store = JournalStore(tmp_path / "j.sqlite3")
    campaign = _create(store)
    schedule(store, campaign, start_at=1000.0, zone="UTC")
    assert reschedule(store, campaign, start_at=5000.0)
    assert due_campaigns(store, 4000.0) == []
    assert cancel_scheduled(store, campaign)
    record = store.campaign(campaign)
    assert record.status is CampaignStatus.CANCELLED and "before its start" in record.reason
    assert not reschedule(store, campaign, start_at=1.0)
    assert not cancel_scheduled(store, campaign)
    assert claim(store, campaign) is Claim.NOT_SCHEDULED
    with pytest.raises(ValueError, match="cannot be scheduled"):
        schedule(store, campaign, start_at=1.0, zone="UTC")


def test_the_second_claim_hears_already_running(tmp_path: Path) -> None:
    store = JournalStore(tmp_path / "j.sqlite3")
    campaign = _create(store)
    schedule(store, campaign, start_at=1000.0, zone="UTC")
    assert claim(store, campaign) is Claim.WON
    assert claim(store, campaign) is Claim.ALREADY_RUNNING
    assert store.campaign(campaign).status is CampaignStatus.RUNNING
    assert scheduled_campaigns(store) == []


def _claim_in_process(path: str, campaign_id: str, start: object, results: object) -> None:
    store = JournalStore(Path(path))
    start.wait()  # type: ignore[attr-defined]
    results.put(claim(store, campaign_id).value)  # type: ignore[attr-defined]
    store.close()


def test_of_processes_racing_for_a_due_campaign_exactly_one_wins(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    store = JournalStore(path)
    campaign = _create(store)
    schedule(store, campaign, start_at=1000.0, zone="UTC")
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    racers = [
        ctx.Process(target=_claim_in_process, args=(str(path), campaign, start, results))
        for _ in range(4)
    ]
    for racer in racers:
        racer.start()
    start.set()
    outcomes = sorted(results.get(timeout=60) for _ in racers)
    for racer in racers:
        racer.join(timeout=30)
    assert outcomes == ["already-running"] * 3 + ["won"]


def test_a_schema_2_journal_is_migrated_with_no_start_times(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    store = JournalStore(path)
    campaign = _create(store)
    store.close()
    with sqlite3.connect(path) as conn:  # make it look like schema 2
        conn.execute("ALTER TABLE campaigns DROP COLUMN start_at")
        conn.execute("ALTER TABLE campaigns DROP COLUMN start_zone")
        conn.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    store = JournalStore(path)
    assert start_time(store, campaign) is None
    schedule(store, campaign, start_at=10.0, zone="UTC")
    assert [c.id for c in due_campaigns(store, 10.0)] == [campaign]
