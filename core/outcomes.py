"""What an attempt's result means for its recipient: the journal record, the event, the verdict."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from core.classify import Action, Classification, FailureKind, classify
from core.errors import InputError, SMTPError
from core.events import (
    CampaignStatus,
    EventSink,
    MessageDeferred,
    MessageFailed,
    MessageSent,
    MessageUnknown,
)
from core.models import RecipientStatus, SendSettings
from core.pacing import Throttle, backoff
from core.ports import CampaignJournal, Clock, Outcome, SuppressionListLike, WorkItem
from core.suppression import is_no_such_user

__all__ = ["Outcomes", "Stop"]


@dataclass(frozen=True, slots=True)
class Stop:
    """Why the campaign stops (for every connection)."""

    status: CampaignStatus
    reason: str = ""
    hint: str = ""
    journal: bool = False  # stopped because the journal could not be written


class Outcomes:
    """Records results in the journal and tells the sink; failures classified (RELIABILITY 1).

    `judge` returns what the campaign must do beyond the recipient: a `Stop`, a session
    verdict (reconnect, pause for a rate limit) for the connection to act on, or None.
    """

    def __init__(
        self,
        *,
        journal: CampaignJournal,
        clock: Clock,
        sink: EventSink,
        settings: SendSettings,
        throttle: Throttle,
        rng: random.Random,
        host: str,
        on_streak: Callable[[int], None],
        suppression: SuppressionListLike | None = None,
    ) -> None:
        self._journal = journal
        self._clock = clock
        self._sink = sink
        self._settings = settings
        self._throttle = throttle
        self._rng = rng
        self._host = host
        self._on_streak = on_streak  # K permanent failures in a row
        self.consecutive_permanent = 0
        self._suppression = suppression
        self._bounces: list[tuple[str, str]] = []  # "no such user" in the current failure run

    def suppress_bounces(self) -> None:
        """The failure run ended without pausing the campaign: its bad addresses are real."""
        bounces, self._bounces = self._bounces, []
        if self._suppression is not None:
            for email, text in bounces:
                self._suppression.add_bounce(email, note=text)

    def sent(self, item: WorkItem, code: int, text: str, message_id: str, elapsed: float) -> None:
        """The server accepted the message."""
        done = self._clock.now()
        self._journal.result(item, Outcome(RecipientStatus.SENT, done, code=code, text=text))
        self._sink(
            MessageSent(item.seq, item.recipient.email, done, elapsed, f"{code} {text}", message_id)
        )
        self.consecutive_permanent = 0
        self.suppress_bounces()
        self._throttle.recover()

    def unbuildable(self, item: WorkItem, exc: InputError) -> None:
        """The message could not be built for this recipient."""
        now = self._clock.now()
        self._journal.result(item, Outcome(RecipientStatus.FAILED, now, text=str(exc)))
        self._sink(
            MessageFailed(
                item.seq,
                item.recipient.email,
                now,
                None,
                None,
                str(exc),
                "the message could not be built",
            )
        )

    def judge(self, item: WorkItem, exc: SMTPError) -> Stop | Classification | None:
        """Record what a failure means for the recipient; a session verdict is returned."""
        verdict = classify(exc, host=self._host)
        now = self._clock.now()
        email, text = item.recipient.email, exc.reply or str(exc)
        if verdict.action is Action.HOLD:
            self._journal.result(
                item, Outcome(RecipientStatus.UNKNOWN, now, exc.code, exc.enhanced, text)
            )
            self._sink(MessageUnknown(item.seq, email, now, text))
            return None
        if verdict.action is Action.FAIL:
            self._fail(item, exc, verdict.reason, now)
            return None
        if verdict.action is Action.DEFER:
            self._defer(item, exc, now)
            return None
        if verdict.kind is FailureKind.PERMANENT_CAMPAIGN:
            self._fail(item, exc, verdict.reason, now, count=False)
            return Stop(CampaignStatus.ABORTED, f"{verdict.reason}: {text}", verdict.hint)
        # Back to pending: not the recipient's fault.
        self._journal.result(
            item, Outcome(RecipientStatus.PENDING, now, exc.code, exc.enhanced, text, counted=False)
        )
        if verdict.action is Action.RECONNECT:
            self._throttle.slow_down()
        if verdict.action is Action.ABORT:
            return Stop(CampaignStatus.ABORTED, f"{verdict.reason}: {text}", verdict.hint)
        return verdict

    def _fail(
        self, item: WorkItem, exc: SMTPError, reason: str, now: float, *, count: bool = True
    ) -> None:
        text = exc.reply or str(exc)
        self._journal.result(
            item, Outcome(RecipientStatus.FAILED, now, exc.code, exc.enhanced, text)
        )
        self._sink(
            MessageFailed(item.seq, item.recipient.email, now, exc.code, exc.enhanced, text, reason)
        )
        if count:
            if is_no_such_user(exc):
                self._bounces.append((item.recipient.email, text))
            self.consecutive_permanent += 1
            limit = self._settings.max_consecutive_permanent
            if limit and self.consecutive_permanent >= limit:
                self._bounces.clear()  # a run of failures smells of configuration, not addresses
                self._on_streak(self.consecutive_permanent)

    def _defer(self, item: WorkItem, exc: SMTPError, now: float) -> None:
        policy = self._settings.retry
        attempts = item.attempts + 1
        first = item.first_failure_at if item.first_failure_at is not None else now
        if attempts >= policy.max_attempts or now - first >= policy.give_up_after:
            self._fail(item, exc, f"gave up after {attempts} attempts", now, count=False)
            return
        wait = backoff(
            attempts,
            base=policy.defer_backoff_base,
            cap=policy.defer_backoff_max,
            jitter=policy.jitter,
            rng=self._rng,
        )
        text = exc.reply or str(exc)
        self._journal.result(
            item,
            Outcome(
                RecipientStatus.DEFERRED, now, exc.code, exc.enhanced, text, retry_at=now + wait
            ),
        )
        self._sink(
            MessageDeferred(
                item.seq,
                item.recipient.email,
                now,
                exc.code,
                exc.enhanced,
                text,
                attempts,
                now + wait,
            )
        )
        self._throttle.slow_down()
