"""A campaign's outcomes over time: recipients by their final status, per time slot."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import RecipientStatus
from storage.journal.store import JournalStore

__all__ = ["MAX_SLOTS", "SLOT_CHOICES", "OutcomeSlot", "Timeline", "outcome_timeline", "slot_for"]

MAX_SLOTS = 60  # bars in a chart: enough to see the course, few enough to read
# Slot widths a person reads without thinking (seconds).
SLOT_CHOICES = (1, 5, 10, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86400)
_SHOWN = (
    RecipientStatus.SENT,
    RecipientStatus.FAILED,
    RecipientStatus.UNKNOWN,
    RecipientStatus.DEFERRED,
)


@dataclass(frozen=True, slots=True)
class OutcomeSlot:
    """Recipients whose latest result came in one slot, by status."""

    start: float
    sent: int = 0
    failed: int = 0
    unknown: int = 0
    deferred: int = 0

    @property
    def answered(self) -> int:
        """Messages that got a final answer (accepted, failed or unknown) in this slot."""
        return self.sent + self.failed + self.unknown


@dataclass(frozen=True, slots=True)
class Timeline:
    """Slots of equal width from the first result to the last."""

    slot_seconds: float
    slots: tuple[OutcomeSlot, ...]


def slot_for(span: float, *, max_slots: int = MAX_SLOTS) -> float:
    """The smallest readable slot width that shows `span` seconds in at most `max_slots`."""
    for width in SLOT_CHOICES:
        if span / width < max_slots:
            return float(width)
    days = span / SLOT_CHOICES[-1] / max_slots
    return float(SLOT_CHOICES[-1] * (int(days) + 1))


def outcome_timeline(
    store: JournalStore, campaign_id: str, *, max_slots: int = MAX_SLOTS
) -> Timeline:
    """Each accepted, failed, unknown and deferred recipient counted once, at its latest result.

    The totals per status equal the campaign's counts. Two small queries: the time range,
    then one GROUP BY over the slots.
    """
    store.campaign(campaign_id)
    statuses = tuple(status.value for status in _SHOWN)
    first, last = store.conn.execute(
        "SELECT min(updated), max(updated) FROM recipients WHERE campaign_id=? AND "
        "status IN (?, ?, ?, ?) AND updated IS NOT NULL",
        (campaign_id, *statuses),
    ).fetchone()
    if first is None:
        return Timeline(slot_for(0.0, max_slots=max_slots), ())
    width = slot_for(float(last) - float(first), max_slots=max_slots)
    origin = float(first) - float(first) % width  # slots start on round times
    rows = store.conn.execute(
        "SELECT CAST((updated - ?) / ? AS INTEGER) AS slot, status, count(*) FROM recipients "
        "WHERE campaign_id=? AND status IN (?, ?, ?, ?) AND updated IS NOT NULL "
        "GROUP BY slot, status",
        (origin, width, campaign_id, *statuses),
    ).fetchall()
    per: dict[int, dict[str, int]] = {}
    for slot, status, count in rows:
        per.setdefault(int(slot), {})[str(status)] = int(count)
    last_slot = max(per)
    slots = tuple(
        OutcomeSlot(
            origin + index * width,
            **{status: per.get(index, {}).get(status, 0) for status in statuses},
        )
        for index in range(last_slot + 1)
    )
    return Timeline(width, slots)
