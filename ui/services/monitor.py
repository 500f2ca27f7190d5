"""Turns a running campaign's events into plain UI state: counts, fraction, ETA, a bounded log."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from core.events import (
    CampaignFinished,
    CampaignStarted,
    Event,
    MessageDeferred,
    MessageFailed,
    MessageSent,
    MessageSkipped,
    MessageUnknown,
    Paused,
    Reconnecting,
    Resumed,
    Waiting,
)
from core.pacing import format_duration
from core.progress import ProgressTracker
from storage.journal.durations import format_seconds

__all__ = ["DEFAULT_MAX_LINES", "CampaignMonitor", "LogLine", "describe"]

DEFAULT_MAX_LINES = 2000


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line of the live log. `text` is plain text: show it as text, never as HTML."""

    at: float
    level: str  # "info", "ok", "warn" or "error"
    text: str
    email: str | None = None


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def describe(event: Event) -> LogLine | None:
    """The log line for an event (None for events that do not deserve one)."""
    line = _describe_message(event)
    return line if line is not None else _describe_campaign(event)


def _describe_message(event: Event) -> LogLine | None:
    """What happened to one recipient."""
    if isinstance(event, MessageSent):
        took = format_seconds(event.seconds)
        return LogLine(
            event.at,
            "ok",
            f"{event.email}: accepted by server in {took} ({event.reply})",
            event.email,
        )
    if isinstance(event, MessageFailed):
        code = f" {event.code}" if event.code else ""
        return LogLine(
            event.at,
            "error",
            f"{event.email}: failed{code}: {event.text} ({event.reason})",
            event.email,
        )
    if isinstance(event, MessageDeferred):
        wait = format_duration(event.retry_at - event.at)
        return LogLine(
            event.at,
            "warn",
            f"{event.email}: deferred ({event.text}); attempt {event.attempt}, retry in {wait}",
            event.email,
        )
    if isinstance(event, MessageUnknown):
        return LogLine(
            event.at,
            "warn",
            f"{event.email}: UNKNOWN, the reply was lost after "
            "sending; resolve it in History (resend or mark as sent)",
            event.email,
        )
    if isinstance(event, MessageSkipped):
        text = f"{event.email}: skipped, on the suppression list ({event.reason})"
        return LogLine(event.at, "info", text, event.email)
    return None


def _describe_campaign(event: Event) -> LogLine | None:
    """What happened to the campaign as a whole."""
    if isinstance(event, CampaignStarted):
        return LogLine(event.at, "info", f"Campaign {event.campaign_id} started: {event.plan}")
    if isinstance(event, Reconnecting):
        return LogLine(
            event.at,
            "warn",
            f"Connection problem ({event.reason}); reconnecting in "
            f"{format_duration(event.wait)} (try {event.attempt})",
        )
    if isinstance(event, Waiting):
        return LogLine(event.at, "info", f"{event.reason}: next at {_clock(event.until)}")
    if isinstance(event, Paused):
        until = f"; resumes by itself at {_clock(event.until)}" if event.until else ""
        hint = f" {event.hint}" if event.hint else ""
        return LogLine(event.at, "warn", f"Paused: {event.reason}{until}.{hint}")
    if isinstance(event, Resumed):
        return LogLine(event.at, "info", "Resumed")
    if isinstance(event, CampaignFinished):
        level = "ok" if event.status.value == "finished" and not event.failed else "warn"
        text = (
            f"Campaign {event.status.value}: {event.sent} accepted, {event.failed} failed, "
            f"{event.unknown} unknown, {event.pending} not sent"
        )
        if event.skipped:
            text += f", {event.skipped} skipped (suppression list)"
        if event.reason:
            text += f". {event.reason}"
        if event.hint:
            text += f" {event.hint}"
        return LogLine(event.at, level, text)
    return None


class CampaignMonitor:
    """The sink a UI gives the engine: keeps counts and a bounded log, tells listeners."""

    def __init__(self, *, max_lines: int = DEFAULT_MAX_LINES) -> None:
        self.tracker = ProgressTracker()
        self.log: deque[LogLine] = deque(maxlen=max_lines)
        self.last_event: Event | None = None
        self._listeners: list[Callable[[Event, LogLine | None], None]] = []

    def __call__(self, event: Event) -> None:
        self.tracker.apply(event)
        self.last_event = event
        line = describe(event)
        if line is not None:
            self.log.append(line)
        for listener in list(self._listeners):
            listener(event, line)

    @property
    def listener_count(self) -> int:
        """How many listeners are subscribed (pages must unsubscribe when they go away)."""
        return len(self._listeners)

    def subscribe(self, listener: Callable[[Event, LogLine | None], None]) -> Callable[[], None]:
        """Call `listener` on every event; returns the function that unsubscribes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe
