"""Send later and in batches: start times, durations, sending windows and the batch plan."""

from __future__ import annotations

import contextlib
import math
import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import InputError

__all__ = [
    "DAY_NAMES",
    "BatchPlan",
    "BatchSchedule",
    "LocalTime",
    "SendingWindow",
    "format_local",
    "local_zone",
    "parse_days",
    "parse_duration",
    "parse_start",
    "parse_window",
    "plan_batches",
    "resolve_local",
    "zone_named",
]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS = tuple(range(7))
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh])\s*$", re.IGNORECASE)
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_CLOCK_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
_LOCAL_RE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2})\s*$")
_MINUTES_A_DAY = 24 * 60
_SEARCH_DAYS = 9  # a window opens within a week and a day, whatever its days and DST


def zone_named(name: str, *, field: str = "zone") -> ZoneInfo:
    """The IANA time zone `name` (e.g. Europe/Berlin), or an `InputError` naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"unknown time zone {name!r} (e.g. Europe/Berlin)", field=field) from None


def local_zone() -> ZoneInfo:
    """This computer's time zone by its IANA name when it can be told, else UTC."""
    named = os.environ.get("TZ", "").lstrip(":")
    if named:
        with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
            return ZoneInfo(named)
    try:
        target = str(Path("/etc/localtime").resolve())
        if "zoneinfo/" in target:
            return ZoneInfo(target.split("zoneinfo/", 1)[1])
    except (OSError, ZoneInfoNotFoundError, ValueError):
        pass
    return ZoneInfo("UTC")


def parse_duration(text: str, *, field: str = "duration") -> float:
    """'30s', '30m', '2h' in seconds; anything else is an `InputError` naming the field."""
    match = _DURATION_RE.match(text or "")
    if match is None:
        raise InputError(f"{text!r} is not a duration like 30s, 30m or 2h", field=field)
    return float(match.group(1)) * _UNITS[match.group(2).lower()]


@dataclass(frozen=True, slots=True)
class LocalTime:
    """A moment chosen as a local time: when it is, and how to say it back."""

    at: float  # POSIX timestamp
    zone: str
    ambiguous: bool = False  # a clock change repeats this hour: the first occurrence is taken

    def text(self) -> str:
        return format_local(self.at, self.zone)


def format_local(at: float, zone: str) -> str:
    """'2026-12-24 09:00 CET (+01:00, Europe/Berlin)'."""
    moment = datetime.fromtimestamp(at, zone_named(zone))
    offset = moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M} {moment.tzname()} ({offset[:3]}:{offset[3:]}, {zone})"


def resolve_local(naive: datetime, zone: ZoneInfo, *, field: str = "time") -> LocalTime:
    """A wall-clock time in `zone`: refused in a DST gap, the first occurrence when repeated."""
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    back = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != naive:
        raise InputError(
            f"{naive:%Y-%m-%d %H:%M} does not exist in {zone.key} (the clocks "
            "jump over it); choose another time",
            field=field,
        )
    ambiguous = first.utcoffset() != second.utcoffset()
    return LocalTime(first.timestamp(), zone.key, ambiguous)


def parse_start(text: str, *, zone: ZoneInfo, field: str = "--at") -> LocalTime:
    """'YYYY-MM-DD HH:MM' in `zone`, or ISO 8601 with an offset ('2026-12-24T09:00+01:00')."""
    text = (text or "").strip()
    match = _LOCAL_RE.match(text)
    if match is not None:
        year, month, day, hour, minute = (int(part) for part in match.groups())
        try:
            naive = datetime(year, month, day, hour, minute)
        except ValueError as exc:
            raise InputError(f"{text!r} is not a date and time ({exc})", field=field) from None
        return resolve_local(naive, zone, field=field)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InputError(
            f"{text!r} is neither 'YYYY-MM-DD HH:MM' (local time) nor ISO 8601 with "
            "an offset (2026-12-24T09:00+01:00)",
            field=field,
        )
    return LocalTime(moment.timestamp(), zone.key)


def _clock(text: str, field: str) -> int:
    match = _CLOCK_RE.match(text)
    if match is None or int(match.group(1)) > 24 or int(match.group(2)) > 59:
        raise InputError(f"{text!r} is not a time of day like 09:00", field=field)
    minutes = int(match.group(1)) * 60 + int(match.group(2))
    if minutes > _MINUTES_A_DAY:
        raise InputError(f"{text!r} is after 24:00", field=field)
    return minutes


def parse_window(text: str, *, field: str = "--window") -> tuple[int, int]:
    """'09:00-17:00' as minutes after midnight (start, end); '22:00-06:00' spans midnight."""
    start, dash, end = (text or "").partition("-")
    if not dash:
        raise InputError(f"{text!r} is not a window like 09:00-17:00", field=field)
    first, last = _clock(start, field), _clock(end, field)
    if first % _MINUTES_A_DAY == last % _MINUTES_A_DAY:
        raise InputError(f"{text!r} starts and ends at the same time", field=field)
    return first % _MINUTES_A_DAY, last


def _day(name: str, field: str) -> int:
    key = name.strip().lower()[:3]
    if key not in DAY_NAMES or not name.strip():
        raise InputError(f"{name.strip()!r} is not a day (mon ... sun)", field=field)
    return DAY_NAMES.index(key)


def parse_days(text: str, *, field: str = "--days") -> tuple[int, ...]:
    """'mon-fri', 'sat,sun', 'fri-mon', 'daily' as weekday numbers (Monday is 0)."""
    if (text or "").strip().lower() in {"daily", "all", "every day"}:
        return ALL_DAYS
    days: set[int] = set()
    for part in (text or "").split(","):
        first, dash, last = part.partition("-")
        start = _day(first, field)
        end = _day(last, field) if dash else start
        days.update((start + step) % 7 for step in range((end - start) % 7 + 1))
    return tuple(sorted(days))


@dataclass(frozen=True, slots=True)
class SendingWindow:
    """Hours of the day (on some days) when a campaign may send, in a named time zone.

    `start`/`end` are minutes after midnight; when `end <= start` the window spans midnight
    and belongs to the day it opens on.
    """

    start: int
    end: int
    zone: str = "UTC"
    days: tuple[int, ...] = ALL_DAYS

    @classmethod
    def parse(
        cls,
        window: str,
        *,
        days: str = "",
        zone: str,
        window_field: str = "--window",
        days_field: str = "--days",
    ) -> SendingWindow:
        start, end = parse_window(window, field=window_field)
        zone_named(zone)
        return cls(start, end, zone, parse_days(days, field=days_field) if days else ALL_DAYS)

    @property
    def spans_midnight(self) -> bool:
        return self.end <= self.start

    def describe(self) -> str:
        def hhmm(minutes: int) -> str:
            return f"{minutes // 60:02d}:{minutes % 60:02d}"

        days = "every day" if self.days == ALL_DAYS else ",".join(DAY_NAMES[d] for d in self.days)
        return f"{hhmm(self.start)}-{hhmm(self.end)} {days} ({self.zone})"

    def _spans(self, around: float) -> list[tuple[float, float]]:
        """The open spans (start, end timestamps) of the windows near `around`, in order."""
        zone = zone_named(self.zone)
        today = datetime.fromtimestamp(around, zone).date()
        spans = []
        for offset in range(-1, _SEARCH_DAYS):
            day = today + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            opens = _wall(day, self.start, zone)
            closes_day = day + timedelta(days=1) if self.spans_midnight else day
            closes = _wall(closes_day, self.end, zone)
            if closes > opens:
                spans.append((opens, closes))
        return spans

    def open_span(self, at: float) -> tuple[float, float]:
        """The span the window is open in at `at`, or the next one: (opens, closes)."""
        for opens, closes in self._spans(at):
            if at < closes:
                return max(opens, at), closes
        raise InputError(f"the sending window {self.describe()} never opens")

    def next_open(self, at: float) -> float:
        """`at` when the window is open then, else when it next opens."""
        return self.open_span(at)[0]


def _wall(day: date, minutes: int, zone: ZoneInfo) -> float:
    """The moment `day` at `minutes` after midnight in `zone`; in a DST gap, just after it."""
    naive = datetime(day.year, day.month, day.day) + timedelta(minutes=minutes)
    return naive.replace(tzinfo=zone, fold=0).astimezone(UTC).timestamp()


class BatchSchedule:
    """When the next message may go: batches of `size`, `pause` seconds apart, inside a window.

    Deadlines are wall-clock timestamps, so a computer that slept through a pause or a window's
    night sends on waking, not a whole pause later. `sent` counts the current batch.
    """

    def __init__(
        self, *, size: int = 0, pause: float = 0.0, window: SendingWindow | None = None
    ) -> None:
        self.size = size
        self.pause = pause
        self.window = window
        self.sent = 0
        self.resume_at: float | None = None

    @property
    def active(self) -> bool:
        return bool(self.size and self.pause) or self.window is not None

    def next_send_at(self, now: float) -> float:
        """The first moment at or after `now` at which a message may go."""
        at = now
        if self.resume_at is not None and self.resume_at > at:
            at = self.resume_at
        if self.window is not None:
            at = self.window.next_open(at)
        return at

    def why_waiting(self, now: float) -> str:
        if self.resume_at is not None and self.resume_at > now:
            return f"batch of {self.size:,} sent: pausing before the next batch"
        return f"outside the sending window {self.window.describe() if self.window else ''}"

    def resume(self, *, handed_over: int, last_at: float | None) -> None:
        """Continue where an earlier run stopped: `handed_over` messages so far, the last at
        `last_at` (a campaign resumed in a batch pause waits for the rest of it)."""
        if not self.size or not handed_over:
            return
        self.sent = handed_over % self.size
        if self.sent == 0 and last_at is not None:
            self.resume_at = last_at + self.pause

    def record_send(self, at: float) -> None:
        """A message's bytes started going at `at` (a batch ends after `size` of them)."""
        if not self.size:
            return
        self.sent += 1
        if self.sent >= self.size:
            self.sent = 0
            self.resume_at = at + self.pause


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """One batch of the plan: how many messages, when it starts and ends (timestamps)."""

    number: int
    messages: int
    starts: float
    ends: float


def plan_batches(
    messages: int,
    *,
    start: float,
    interval: float,
    size: int = 0,
    pause: float = 0.0,
    window: SendingWindow | None = None,
) -> list[BatchPlan]:
    """When each batch starts and ends if nothing is deferred (one message every `interval`).

    Without batches the whole campaign is one batch; the window splits none of them in the
    plan but delays their messages while it is closed.
    """
    plans: list[BatchPlan] = []
    size = size or messages
    at = start
    left = messages
    number = 0
    while left > 0:
        number += 1
        count = min(size, left)
        first, last = _send_run(count, at, interval, window)
        plans.append(BatchPlan(number, count, first, last))
        left -= count
        at = last + max(pause, interval) if left else last
    return plans


def _send_run(
    count: int, at: float, interval: float, window: SendingWindow | None
) -> tuple[float, float]:
    """Send `count` messages from `at`: (first send's time, last send's time)."""
    if window is None:
        return at, at + (count - 1) * interval
    first: float | None = None
    while True:
        opens, closes = window.open_span(at)
        first = opens if first is None else first
        fits = count if interval <= 0 else max(1, math.ceil((closes - opens) / interval))
        if count <= fits:
            return first, opens + (count - 1) * interval
        count -= fits
        at = max(closes, opens + fits * interval)
