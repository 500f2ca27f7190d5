"""What the engine needs from the outside world: journal, transport, builder, clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from core.events import CampaignStatus
from core.models import Recipient, RecipientStatus

__all__ = [
    "BuiltMessageLike",
    "CampaignJournal",
    "Clock",
    "Counts",
    "Envelope",
    "MessageBuilderLike",
    "Outcome",
    "PendingReply",
    "ReplyLike",
    "SuppressionListLike",
    "SystemClock",
    "TransportLike",
    "WorkItem",
]


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One recipient the engine should try now, with what is known of earlier tries."""

    seq: int
    recipient: Recipient
    attempts: int = 0  # counted attempts so far (deferrals)
    first_failure_at: float | None = None


@dataclass(frozen=True, slots=True)
class Envelope:
    """Who a message goes from and to, as its SMTP envelope says."""

    sender: str
    recipient: str
    smtputf8: bool = False
    extra_recipients: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one attempt, as the journal records it."""

    status: RecipientStatus
    at: float
    code: int | None = None
    enhanced: str | None = None
    text: str = ""
    retry_at: float | None = None  # DEFERRED: when to try again
    counted: bool = True  # False: a session problem, the attempt does not count


@dataclass(frozen=True, slots=True)
class Counts:
    """How many recipients are in each state."""

    total: int = 0
    pending: int = 0
    deferred: int = 0
    sent: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: int = 0  # on the suppression list when their turn came

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.unknown + self.skipped

    @property
    def remaining(self) -> int:
        return self.pending + self.deferred


class CampaignJournal(Protocol):
    """The crash-safe record of one campaign (implemented in `storage.journal`)."""

    campaign_id: str

    def next_due(self, now: float) -> WorkItem | None:
        """The next recipient to try: a deferred one whose time has come, else a pending one."""

    def reserve(self, item: WorkItem) -> None:
        """Keep `item` (a due one) from `next_due` while a connection prepares it ahead."""

    def release(self, item: WorkItem) -> None:
        """Give a reservation back: `next_due` may hand the recipient out again."""

    def next_wake(self) -> float | None:
        """When the earliest deferred recipient is due, or None if none is deferred."""

    def counts(self) -> Counts: ...

    def intent(self, item: WorkItem, message_id: str, at: float) -> None:
        """About to start the SMTP transaction (need not be durable: resending is safe)."""

    def data_started(self, item: WorkItem, at: float) -> None:
        """The server said 354: durable on disk before the first byte of the message."""

    def result(self, item: WorkItem, outcome: Outcome) -> None:
        """The attempt's result; may ride on the next durable commit."""

    def flush(self) -> None:
        """Make every recorded result durable now."""

    def set_status(self, status: CampaignStatus, reason: str = "") -> None: ...

    def sends_in_window(self, since: float) -> tuple[int, float | None]:
        """Messages this account sent since `since` (all campaigns) and the oldest one's time."""


class ReplyLike(Protocol):
    @property
    def code(self) -> int: ...

    @property
    def text(self) -> str: ...


class PendingReply(Protocol):
    """The reply to a final dot, to come (an `asyncio.Future` of it)."""

    def done(self) -> bool: ...

    def exception(self) -> BaseException | None: ...

    def result(self) -> ReplyLike: ...


class TransportLike(Protocol):
    """The part of `core.transport.SMTPTransport` the engine uses."""

    @property
    def connected(self) -> bool: ...

    async def connect(self) -> object: ...

    async def send(
        self,
        sender: str,
        recipient: str,
        payload: bytes,
        *,
        smtputf8: bool = False,
        on_data_start: Callable[[], Awaitable[None] | None] | None = None,
        extra_recipients: Sequence[str] = (),
    ) -> ReplyLike:
        """One whole transaction: `submit`, then the reply to the final dot."""

    async def submit(
        self,
        sender: str,
        recipient: str,
        payload: bytes,
        *,
        smtputf8: bool = False,
        on_data_start: Callable[[], Awaitable[None] | None] | None = None,
        extra_recipients: Sequence[str] = (),
        ahead: Callable[[], Envelope | None] | None = None,
    ) -> PendingReply:
        """Send up to the final dot; the reply comes through the future (read by the next
        `submit`, whose envelope is pipelined behind that dot, or by `settle`). `ahead`, asked
        once the data-start hook passed, may name the next message: a transport that can
        writes its envelope with this final dot, and the next `submit` must be for it."""

    async def settle(self) -> None:
        """Read the reply to the last final dot, if it is still to come."""

    async def close(self, *, polite: bool = True) -> None: ...


class BuiltMessageLike(Protocol):
    @property
    def payload(self) -> bytes: ...

    @property
    def message_id(self) -> str: ...

    @property
    def envelope_recipients(self) -> tuple[str, ...]: ...

    @property
    def smtputf8(self) -> bool: ...


class MessageBuilderLike(Protocol):
    def build(self, recipient: Recipient) -> BuiltMessageLike: ...


class SuppressionListLike(Protocol):
    """Addresses never to mail again (implemented in `storage.suppression`)."""

    def reason_for(self, email: str) -> str | None:
        """Why `email` is suppressed, or None to send to it."""

    def add_bounce(self, email: str, *, note: str) -> None:
        """A permanent "no such user" reply: never mail `email` again."""


class Clock(Protocol):
    """Wall time for records, monotonic time for pacing, and sleeping (fake in tests)."""

    def now(self) -> float: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))
