"""Backoff with jitter, the adaptive throttle, and the plan a campaign states before it starts."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["DAY", "Plan", "Throttle", "backoff", "describe_plan", "format_duration"]

DAY = 24 * 3600.0
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


def describe_plan(
    messages: int,
    *,
    delay_ms: int,
    daily_cap: int | None = None,
    sent_in_window: int = 0,
    send_seconds: float = 0.2,
) -> Plan:
    """State the plan, e.g. '1,200 recipients at 500 per day: finishes in 3 days'."""
    interval = max(delay_ms / 1000.0, send_seconds)
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
    pace = f"one every {format_duration(interval)}" if delay_ms else "as fast as the server takes"
    text = f"{messages:,} messages, {pace}: about {format_duration(seconds)}."
    return Plan(messages, seconds, 1, text)
