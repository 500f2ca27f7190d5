"""The plan as a timeline: how many messages go out in each time slot, up to the end."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from core.pacing import DAY
from core.schedule import BatchPlan

__all__ = ["PLAN_SLOT_CHOICES", "PlanSlot", "PlanTimeline", "batches_timeline", "plan_timeline"]

MAX_PLAN_SLOTS = 48
PLAN_SLOT_CHOICES = (1, 5, 10, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, DAY)
_SEND_SECONDS = 0.2  # as `core.pacing.describe_plan` assumes per message


@dataclass(frozen=True, slots=True)
class PlanSlot:
    start: float  # seconds since the epoch
    messages: int


@dataclass(frozen=True, slots=True)
class PlanTimeline:
    """Messages per slot of `slot_seconds`, from the start to the last message."""

    slot_seconds: float
    slots: tuple[PlanSlot, ...]

    @property
    def total(self) -> int:
        return sum(slot.messages for slot in self.slots)


@dataclass(frozen=True, slots=True)
class _Run:
    """`count` messages, one every `interval` seconds from `start`."""

    start: float
    count: int
    interval: float

    def within(self, begin: float, end: float) -> int:
        """How many of the run's messages start in [begin, end)."""
        first = max(0, math.ceil((begin - self.start) / self.interval))
        last = min(self.count - 1, math.ceil((end - self.start) / self.interval) - 1)
        return max(0, last - first + 1)


def _runs(
    messages: int, interval: float, daily_cap: int | None, sent_in_window: int, start: float
) -> list[_Run]:
    """The campaign as runs of evenly spaced messages (one a day when a daily cap applies)."""
    if not daily_cap or messages <= max(0, daily_cap - sent_in_window):
        return [_Run(start, messages, interval)]
    runs = []
    today = max(0, daily_cap - sent_in_window)
    if today:
        runs.append(_Run(start, today, interval))
    left, day = messages - today, 1
    while left > 0:
        count = min(daily_cap, left)
        runs.append(_Run(start + day * DAY, count, interval))
        left -= count
        day += 1
    return runs


def plan_timeline(
    messages: int,
    *,
    delay_ms: int,
    daily_cap: int | None = None,
    sent_in_window: int = 0,
    start: float,
    send_seconds: float = _SEND_SECONDS,
    max_slots: int = MAX_PLAN_SLOTS,
) -> PlanTimeline:
    """The same plan `describe_plan` states in words, as messages per time slot.

    The slots' messages add up to `messages`. A daily cap sends the rest of today's allowance
    now, then the cap each following day (the window is rolling 24 hours).
    """
    if messages <= 0:
        return PlanTimeline(float(PLAN_SLOT_CHOICES[0]), ())
    interval = max(delay_ms / 1000.0, send_seconds)
    runs = _runs(messages, interval, daily_cap, sent_in_window, start)
    return _timeline(runs, start, max_slots)


def batches_timeline(
    batches: Sequence[BatchPlan], *, start: float, max_slots: int = MAX_PLAN_SLOTS
) -> PlanTimeline:
    """The plan of a campaign sent later or in batches (`core.schedule.plan_batches`), as
    messages per time slot from `start` (now) to its last message."""
    runs = [
        _Run(
            b.starts, b.messages, (b.ends - b.starts) / (b.messages - 1) if b.messages > 1 else 1.0
        )
        for b in batches
        if b.messages > 0
    ]
    if not runs:
        return PlanTimeline(float(PLAN_SLOT_CHOICES[0]), ())
    return _timeline(runs, min(start, runs[0].start), max_slots)


def _timeline(runs: list[_Run], start: float, max_slots: int) -> PlanTimeline:
    end = max(run.start + run.count * run.interval for run in runs)
    span = max(end - start, 1.0)
    width = next(
        (float(w) for w in PLAN_SLOT_CHOICES if span / w <= max_slots),
        float(DAY * math.ceil(span / DAY / max_slots)),
    )
    count = max(1, math.ceil(span / width))
    slots = tuple(
        PlanSlot(
            start + index * width,
            sum(run.within(start + index * width, start + (index + 1) * width) for run in runs),
        )
        for index in range(count)
    )
    return PlanTimeline(width, slots)
