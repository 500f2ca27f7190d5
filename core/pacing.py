"""Backoff with jitter, the adaptive throttle, and the plan a campaign states before it starts."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from core.models import SendSettings
from core.presets import Preset

__all__ = [
    "DAY",
    "MINUTE",
    "Pacer",
    "Plan",
    "Throttle",
    "backoff",
    "describe_pacing",
    "describe_plan",
    "format_duration",
    "parse_rate",
    "suggested_settings",
    "with_preset_limits",
]

DAY = 24 * 3600.0
MINUTE = 60.0
_RATE_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "min": MINUTE, "minute": MINUTE, "h": 3600.0}
_RECOVERY = 0.8  # each success brings a slowed-down delay 20 % back toward the setting


def backoff(attempt: int, *, base: float, cap: float, jitter: float, rng: random.Random) -> float:
    """Exponential backoff: base, 2*base, 4*base ... up to cap, each +-jitter (a fraction)."""
    exponent = max(0, attempt - 1)
    delay = cap if exponent > 60 else min(cap, base * (2.0**exponent))
    return max(0.0, delay * (1.0 + rng.uniform(-jitter, jitter)))


class Throttle:
    """The interval between sends: grows after transient failures, recovers after successes."""

    def __init__(self, base_ms: int, *, factor: float, max_ms: int) -> None:
        self.base_ms = base_ms
        self.factor = factor
        self.max_ms = max(max_ms, base_ms)
        self.current_ms = float(base_ms)

    def slow_down(self) -> None:
        grown = max(self.current_ms * self.factor, 1000.0)
        self.current_ms = min(float(self.max_ms), grown)

    def recover(self) -> None:
        if self.current_ms > self.base_ms:
            self.current_ms = max(float(self.base_ms), self.current_ms * _RECOVERY)


class Pacer:
    """The one pacing authority of a campaign: every connection takes its send start here.

    Send starts are spaced by the larger of the throttle's delay (plus a random 0..jitter) and
    the rate limit's interval (`rate_per_minute`: 60/N s), across all connections together;
    `reserve` hands out the next start in turn, so K connections waiting at once get K
    consecutive slots, not the same one.
    """

    def __init__(
        self,
        throttle: Throttle,
        *,
        jitter_ms: int = 0,
        rate_per_minute: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.throttle = throttle
        self.jitter_ms = jitter_ms
        self.rate_per_minute = rate_per_minute
        self._rng = rng or random.Random()
        self._last: float | None = None

    @property
    def last_start(self) -> float | None:
        """The latest send start handed out."""
        return self._last

    @property
    def free(self) -> bool:
        """No interval at all: sends follow each other as fast as the server answers."""
        return self.throttle.current_ms <= 0 and not self.jitter_ms and not self.rate_per_minute

    def interval(self) -> float:
        """Seconds between two send starts (a new jitter each time)."""
        delay = self.throttle.current_ms
        if self.jitter_ms:
            delay += self._rng.uniform(0, self.jitter_ms)
        rate = MINUTE / self.rate_per_minute if self.rate_per_minute else 0.0
        return max(delay / 1000.0, rate)

    def reserve(self, now: float) -> float:
        """Take the next send start (monotonic seconds, never before `now`) and return it."""
        start = now if self._last is None else max(now, self._last + self.interval())
        self._last = start
        return start


def with_preset_limits(settings: SendSettings, preset: Preset) -> SendSettings:
    """The provider's documented limits on top of the person's settings (they only tighten).

    The daily cap applies when none is set; the per-minute cap is a rate for all connections
    together (the lower of it and the person's rate); connections stay within the preset's
    maximum (one for a personal mailbox).
    """
    if settings.daily_cap is None and preset.daily_cap:
        settings = replace(settings, daily_cap=preset.daily_cap)
    if preset.per_minute_cap:
        rate = settings.rate_per_minute
        cap = float(preset.per_minute_cap)
        settings = replace(settings, rate_per_minute=min(rate, cap) if rate else cap)
    if settings.connections > preset.max_connections:
        settings = replace(settings, connections=preset.max_connections)
    return settings


def suggested_settings(settings: SendSettings, preset: Preset) -> SendSettings:
    """What to fill in when a person picks this preset: its connections, delay and rate."""
    settings = replace(settings, connections=preset.connections)
    if preset.delay_ms is not None:
        settings = replace(settings, delay_ms=preset.delay_ms)
    if preset.rate_per_minute is not None:
        settings = replace(settings, rate_per_minute=preset.rate_per_minute)
    return settings


def parse_rate(text: str) -> float:
    """'10/s', '600/min', '3000/h' as sends per minute; ValueError says what is wrong."""
    count, _, unit = text.strip().lower().partition("/")
    seconds = _RATE_UNITS.get(unit.strip() or "min")
    try:
        number = float(count)
    except ValueError:
        number = 0.0
    if seconds is None or not number > 0:
        raise ValueError(f"a rate is N/s, N/min or N/h with N above 0, not {text!r}")
    return number * MINUTE / seconds


def format_duration(seconds: float) -> str:
    """'200 ms', '2.5 s', '45 s', '12 min', '3 h 20 min', '2 days' — how a person says it."""
    seconds = max(0.0, seconds)
    if 0 < seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 10:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * DAY:
        hours, rest = divmod(int(seconds), 3600)
        minutes = rest // 60
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{seconds / DAY:.1f} days".replace(".0 days", " days")


@dataclass(frozen=True, slots=True)
class Plan:
    """How long the campaign should take, in seconds and in words."""

    messages: int
    seconds: float
    days: int  # calendar days of sending the daily cap implies (1 when no cap)
    text: str


def describe_pacing(settings: SendSettings) -> str:
    """The campaign's pacing in a few words: connections, rate and delay."""
    parts = [f"{settings.connections} connection{'s' if settings.connections != 1 else ''}"]
    if settings.rate_per_minute:
        parts.append(f"at most {settings.rate_per_minute:,.0f} a minute")
    if settings.delay_ms:
        parts.append(f"at least {format_duration(settings.delay_ms / 1000)} apart")
    return ", ".join(parts)


def describe_plan(
    messages: int,
    *,
    delay_ms: int,
    daily_cap: int | None = None,
    sent_in_window: int = 0,
    send_seconds: float = 0.2,
    connections: int = 1,
    rate_per_minute: float | None = None,
) -> Plan:
    """State the plan, e.g. '1,200 recipients at 500 per day: finishes in 3 days'."""
    rate = MINUTE / rate_per_minute if rate_per_minute else 0.0
    interval = max(delay_ms / 1000.0, rate, send_seconds / max(1, connections))
    if messages <= 0:
        return Plan(0, 0.0, 0, "Nothing to send.")
    if daily_cap:
        today = max(0, daily_cap - sent_in_window)
        if messages > today:
            days = 1 + math.ceil((messages - today) / daily_cap)
            text = (
                f"{messages:,} recipients at {daily_cap:,} per day: finishes in {days} days "
                f"({today:,} today); the campaign pauses at the cap and resumes by itself "
                "while the app runs."
            )
            return Plan(messages, (days - 1) * DAY + today * interval, days, text)
    seconds = messages * interval
    if not (delay_ms or rate_per_minute):
        pace = "as fast as the server takes"
    elif interval < 1:
        pace = f"{MINUTE / interval:,.0f} a minute"
    else:
        pace = f"one every {format_duration(interval)}"
    over = f" over {connections} connections" if connections > 1 else ""
    text = f"{messages:,} messages{over}, {pace}: about {format_duration(seconds)}."
    return Plan(messages, seconds, 1, text)
