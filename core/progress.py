"""Counters, fraction, rate and ETA derived from a campaign's events (for any face)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from core.events import (
    CampaignFinished,
    CampaignStarted,
    CampaignStatus,
    Event,
    MessageDeferred,
    MessageFailed,
    MessageSending,
    MessageSent,
    MessageSkipped,
    MessageUnknown,
    Paused,
    Resumed,
    Waiting,
)

__all__ = ["ProgressTracker"]

_RATE_WINDOW = 50  # messages the rate is averaged over


@dataclass
class ProgressTracker:
    """Feed it every event; read counts, fraction, rate (messages/s) and ETA (seconds)."""

    total: int = 0
    sent: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: int = 0  # on the suppression list
    deferred: int = 0  # recipients waiting for a retry right now
    done_before: int = 0  # already settled when this run started (a resume)
    status: CampaignStatus = CampaignStatus.DRAFT
    current: str = ""  # the address being sent to
    note: str = ""  # the latest pause/wait reason
    paused_until: float | None = None
    waiting_until: float | None = None  # waiting for a retry, a window or the daily cap
    _stamps: deque[float] = field(default_factory=lambda: deque(maxlen=_RATE_WINDOW))
    _deferred_seqs: set[int] = field(default_factory=set)

    def apply(self, event: Event) -> None:
        if isinstance(event, CampaignStarted):
            self.total = event.total
            self.done_before = event.total - event.remaining
            self.status = CampaignStatus.RUNNING
        elif isinstance(event, MessageSending):
            self.current = event.email
            self.waiting_until = None
        elif isinstance(event, MessageSent):
            self._settle(event.seq, event.email)
            self.sent += 1
            self._stamps.append(event.at)
        elif isinstance(event, MessageFailed):
            self._settle(event.seq, event.email)
            self.failed += 1
        elif isinstance(event, MessageUnknown):
            self._settle(event.seq, event.email)
            self.unknown += 1
        elif isinstance(event, MessageSkipped):
            self._settle(event.seq, event.email)
            self.skipped += 1
        elif isinstance(event, MessageDeferred):
            self._deferred_seqs.add(event.seq)
            self.deferred = len(self._deferred_seqs)
            self._no_longer_current(event.email)
        elif isinstance(event, Paused):
            self.status = CampaignStatus.PAUSED
            self.note = event.reason
            self.paused_until = event.until
        elif isinstance(event, Resumed):
            self.status = CampaignStatus.RUNNING
            self.note = ""
            self.paused_until = None
        elif isinstance(event, Waiting):
            self.note = event.reason
            self.waiting_until = event.until
        elif isinstance(event, CampaignFinished):
            self.status = event.status
            self.current = ""
            self.note = event.reason

    def _settle(self, seq: int, email: str) -> None:
        if seq in self._deferred_seqs:
            self._deferred_seqs.discard(seq)
            self.deferred = len(self._deferred_seqs)
        self._no_longer_current(email)

    def _no_longer_current(self, email: str) -> None:
        if self.current == email:
            self.current = ""

    @property
    def done(self) -> int:
        """Recipients settled (sent, failed, unknown, skipped), including those before a resume."""
        return self.done_before + self.sent + self.failed + self.unknown + self.skipped

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    @property
    def rate(self) -> float:
        """Accepted messages per second over the last few dozen sends."""
        if len(self._stamps) < 2:
            return 0.0
        span = self._stamps[-1] - self._stamps[0]
        return (len(self._stamps) - 1) / span if span > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the recent rate; None while measuring, paused or waiting (a rate
        measured before a long wait says nothing about it)."""
        if self.paused_until is not None or self.waiting_until is not None:
            return None
        rate = self.rate
        remaining = self.total - self.done
        if remaining <= 0:
            return 0.0
        return remaining / rate if rate > 0 else None
