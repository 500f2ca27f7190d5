"""Scheduled campaigns in the journal: schedule, list, find the due ones, edit, cancel, claim."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

from core.events import CampaignStatus
from core.models import Recipient, SendSettings
from core.schedule import BatchSchedule
from storage.errors import CampaignNotFoundError
from storage.journal.campaign import _recipient
from storage.journal.store import JournalStore

__all__ = [
    "Claim",
    "ScheduledCampaign",
    "batch_schedule",
    "cancel_scheduled",
    "claim",
    "due_campaigns",
    "pending_recipients",
    "reschedule",
    "schedule",
    "scheduled_campaigns",
    "start_time",
]

_SCHEDULED = CampaignStatus.SCHEDULED.value
_STARTED_ELSEWHERE = frozenset({CampaignStatus.RUNNING, CampaignStatus.PAUSED})


class Claim(StrEnum):
    """Who gets to start a due campaign when several try at once."""

    WON = "won"  # this caller starts it
    ALREADY_RUNNING = "already-running"  # another one (the app, a CLI, run-due) started it
    NOT_SCHEDULED = "not-scheduled"  # cancelled, finished or never scheduled


@dataclass(frozen=True, slots=True)
class ScheduledCampaign:
    """A campaign waiting for its start time."""

    id: str
    name: str
    created: float
    start_at: float
    zone: str  # the time zone the start time was chosen in (for showing it back)
    total: int


def _row(row: tuple[object, ...]) -> ScheduledCampaign:
    campaign_id, name, created, start_at, zone, total = row
    return ScheduledCampaign(
        str(campaign_id),
        str(name),
        float(created),  # type: ignore[arg-type]
        float(start_at),  # type: ignore[arg-type]
        str(zone),
        int(total),  # type: ignore[call-overload]
    )


_SELECT = "SELECT id, name, created, start_at, start_zone, total FROM campaigns "


def schedule(store: JournalStore, campaign_id: str, *, start_at: float, zone: str) -> None:
    """Turn a just-created campaign (a draft) into a scheduled one."""
    with store.transaction(durable=True) as conn:
        changed = conn.execute(
            "UPDATE campaigns SET status=?, reason='', start_at=?, start_zone=?, updated=? "
            "WHERE id=? AND status=?",
            (_SCHEDULED, start_at, zone, time.time(), campaign_id, CampaignStatus.DRAFT.value),
        ).rowcount
    if not changed:
        store.campaign(campaign_id)  # raises CampaignNotFoundError
        raise ValueError(f"campaign {campaign_id} has started already: it cannot be scheduled")


def scheduled_campaigns(store: JournalStore) -> list[ScheduledCampaign]:
    """Every scheduled campaign, soonest first."""
    rows = store.conn.execute(
        _SELECT + "WHERE status=? ORDER BY start_at, created", (_SCHEDULED,)
    ).fetchall()
    return [_row(row) for row in rows]


def due_campaigns(store: JournalStore, now: float) -> list[ScheduledCampaign]:
    """Scheduled campaigns whose start time has come (overdue ones too), soonest first."""
    rows = store.conn.execute(
        _SELECT + "WHERE status=? AND start_at<=? ORDER BY start_at, created", (_SCHEDULED, now)
    ).fetchall()
    return [_row(row) for row in rows]


def start_time(store: JournalStore, campaign_id: str) -> tuple[float, str] | None:
    """When a campaign was scheduled to start and in which zone (None: never scheduled)."""
    row = store.conn.execute(
        "SELECT start_at, start_zone FROM campaigns WHERE id=?", (campaign_id,)
    ).fetchone()
    if row is None:
        raise CampaignNotFoundError(campaign_id)
    return None if row[0] is None else (float(row[0]), str(row[1]))


def reschedule(
    store: JournalStore, campaign_id: str, *, start_at: float, zone: str | None = None
) -> bool:
    """Move a scheduled campaign's start time; False when it is no longer scheduled."""
    with store.transaction(durable=True) as conn:
        changed = conn.execute(
            "UPDATE campaigns SET start_at=?, start_zone=coalesce(?, start_zone), updated=? "
            "WHERE id=? AND status=?",
            (start_at, zone, time.time(), campaign_id, _SCHEDULED),
        ).rowcount
    return bool(changed)


def cancel_scheduled(store: JournalStore, campaign_id: str) -> bool:
    """Cancel a campaign before it starts (it stays in History, resumable); False when it is
    no longer scheduled."""
    with store.transaction(durable=True) as conn:
        changed = conn.execute(
            "UPDATE campaigns SET status=?, reason='cancelled before its start time', updated=? "
            "WHERE id=? AND status=?",
            (CampaignStatus.CANCELLED.value, time.time(), campaign_id, _SCHEDULED),
        ).rowcount
    return bool(changed)


def claim(store: JournalStore, campaign_id: str) -> Claim:
    """Take a scheduled campaign to start it, atomically: of several processes (the app, a
    waiting `send --at`, `run-due`) exactly one wins; the campaign then reads as running."""
    with store.transaction(durable=True) as conn:
        changed = conn.execute(
            "UPDATE campaigns SET status=?, reason='starting at its scheduled time', updated=? "
            "WHERE id=? AND status=?",
            (CampaignStatus.RUNNING.value, time.time(), campaign_id, _SCHEDULED),
        ).rowcount
        status = conn.execute("SELECT status FROM campaigns WHERE id=?", (campaign_id,)).fetchone()
    if status is None:
        raise CampaignNotFoundError(campaign_id)
    if changed:
        return Claim.WON
    if CampaignStatus(status[0]) in _STARTED_ELSEWHERE:
        return Claim.ALREADY_RUNNING
    return Claim.NOT_SCHEDULED


def batch_schedule(store: JournalStore, campaign_id: str, settings: SendSettings) -> BatchSchedule:
    """The campaign's batches as far as earlier runs went: a campaign stopped in a batch pause
    (the app closed, a crash) waits for the rest of the pause when resumed."""
    schedule = BatchSchedule(
        size=settings.batch_size, pause=settings.batch_pause, window=settings.window
    )
    if settings.batch_size:
        count, last = store.conn.execute(
            "SELECT count(*), max(at) FROM attempts WHERE campaign_id=? AND event='data'",
            (campaign_id,),
        ).fetchone()
        schedule.resume(handed_over=int(count), last_at=last)
    return schedule


def pending_recipients(store: JournalStore, campaign_id: str) -> tuple[Recipient, ...]:
    """The recipients a campaign has still to send to, in order (to check them again)."""
    rows = store.conn.execute(
        "SELECT email, name, fields_json, line, source, smtputf8 FROM recipients "
        "WHERE campaign_id=? AND status IN ('pending', 'deferred', 'sending') ORDER BY seq",
        (campaign_id,),
    ).fetchall()
    return tuple(_recipient(row) for row in rows)
