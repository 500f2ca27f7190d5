"""Progress events a campaign emits; a sink is any plain callable that takes one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "CampaignFinished",
    "CampaignStarted",
    "CampaignStatus",
    "Event",
    "EventSink",
    "MessageDeferred",
    "MessageFailed",
    "MessageSending",
    "MessageSent",
    "MessageSkipped",
    "MessageUnknown",
    "Paused",
    "Reconnecting",
    "Resumed",
    "Waiting",
]


class CampaignStatus(StrEnum):
    """Where a campaign stands as a whole."""

    DRAFT = "draft"  # created, never started
    SCHEDULED = "scheduled"  # created and checked; starts by itself at its start time
    RUNNING = "running"
    PAUSED = "paused"  # waits for a person (or, with `until`, for a time)
    FINISHED = "finished"  # every recipient sent, failed or unknown
    CANCELLED = "cancelled"  # a person stopped it; pending recipients stay pending
    ABORTED = "aborted"  # a config or campaign-wide error stopped it
    INTERRUPTED = "interrupted"  # the process stopped (crash, Ctrl-C) while it ran


@dataclass(frozen=True, slots=True)
class CampaignStarted:
    campaign_id: str
    at: float
    total: int
    remaining: int
    plan: str


@dataclass(frozen=True, slots=True)
class MessageSending:
    seq: int
    email: str
    attempt: int
    at: float


@dataclass(frozen=True, slots=True)
class MessageSent:
    seq: int
    email: str
    at: float
    seconds: float
    reply: str
    message_id: str


@dataclass(frozen=True, slots=True)
class MessageDeferred:
    seq: int
    email: str
    at: float
    code: int | None
    enhanced: str | None
    text: str
    attempt: int
    retry_at: float


@dataclass(frozen=True, slots=True)
class MessageFailed:
    seq: int
    email: str
    at: float
    code: int | None
    enhanced: str | None
    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class MessageUnknown:
    seq: int
    email: str
    at: float
    text: str


@dataclass(frozen=True, slots=True)
class MessageSkipped:
    """Not sent: the address is on the suppression list (`reason`: bounced, unsubscribed ...)."""

    seq: int
    email: str
    at: float
    reason: str


@dataclass(frozen=True, slots=True)
class Reconnecting:
    at: float
    attempt: int
    wait: float
    reason: str


@dataclass(frozen=True, slots=True)
class Waiting:
    """Nothing is due yet (deferred retries later): the engine sleeps until `until`."""

    at: float
    until: float
    reason: str


@dataclass(frozen=True, slots=True)
class Paused:
    """Paused by a person, a rate limit, the daily cap, or repeated failures.

    `until` is set when the engine resumes by itself at that time; otherwise a person resumes.
    """

    at: float
    reason: str
    until: float | None = None
    hint: str = ""


@dataclass(frozen=True, slots=True)
class Resumed:
    at: float


@dataclass(frozen=True, slots=True)
class CampaignFinished:
    campaign_id: str
    at: float
    status: CampaignStatus
    sent: int
    failed: int
    unknown: int
    pending: int
    reason: str = ""
    hint: str = ""
    skipped: int = 0  # on the suppression list


Event = (
    CampaignStarted
    | MessageSending
    | MessageSent
    | MessageDeferred
    | MessageFailed
    | MessageUnknown
    | MessageSkipped
    | Reconnecting
    | Waiting
    | Paused
    | Resumed
    | CampaignFinished
)

EventSink = Callable[[Event], None]
