"""The campaign runner: one message per recipient, sequential, paced, retried, journaled."""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass
from enum import StrEnum

from core.classify import Action, Classification, FailureKind, classify
from core.errors import InputError, JournalWriteError, SMTPError
from core.events import (
    CampaignFinished,
    CampaignStarted,
    CampaignStatus,
    Event,
    EventSink,
    MessageDeferred,
    MessageFailed,
    MessageSending,
    MessageSent,
    MessageSkipped,
    MessageUnknown,
    Paused,
    Reconnecting,
    Resumed,
    Waiting,
)
from core.models import RecipientStatus, SendSettings
from core.pacing import DAY, Throttle, backoff
from core.ports import (
    BuiltMessageLike,
    CampaignJournal,
    Clock,
    MessageBuilderLike,
    Outcome,
    SuppressionListLike,
    SystemClock,
    TransportLike,
    WorkItem,
)
from core.schedule import BatchSchedule
from core.suppression import is_no_such_user

__all__ = ["WALL_CHECK_SECONDS", "CampaignRunner", "Control"]

# Long waits (a batch pause, a closed sending window) sleep in slices this long and look at
# the wall clock after each: a computer that slept through the deadline sends on waking.
WALL_CHECK_SECONDS = 30.0


class Control(StrEnum):
    """What a person (or the engine itself) asked for."""

    RUN = "run"
    PAUSE = "pause"
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class _Stop:
    status: CampaignStatus
    reason: str = ""
    hint: str = ""
    journal: bool = False  # stopped because the journal could not be written


def _journal_stop(exc: JournalWriteError) -> _Stop:
    """Aborted, resumable: nothing is sent that the journal cannot record."""
    return _Stop(
        CampaignStatus.ABORTED,
        str(exc),
        "free some disk space, then resume the campaign: every recipient not yet "
        "recorded as sent is still to send",
        journal=True,
    )


def _ignore(_: Event) -> None:
    return None


class CampaignRunner:
    """Runs one campaign to the end, a pause, a cancel or an abort.

    Everything with side effects is injected: the journal (crash-safe state), the transport
    (one SMTP connection), the message builder, the clock and the event sink. The runner keeps
    no list of recipients: it asks the journal for the next one due, so memory stays flat.
    """

    def __init__(
        self,
        *,
        journal: CampaignJournal,
        transport: TransportLike,
        builder: MessageBuilderLike,
        sender: str,
        settings: SendSettings,
        clock: Clock | None = None,
        sink: EventSink | None = None,
        host: str = "",
        plan: str = "",
        stop_on_pause: bool = False,
        rng: random.Random | None = None,
        suppression: SuppressionListLike | None = None,
        schedule: BatchSchedule | None = None,
    ) -> None:
        self.journal = journal
        self.transport = transport
        self.builder = builder
        self.sender = sender
        self.settings = settings
        self.clock = clock or SystemClock()
        self.sink = sink or _ignore
        self.host = host
        self.plan = plan
        self.stop_on_pause = stop_on_pause  # the CLI exits on a pause that needs a person
        self.rng = rng or random.Random()
        self.suppression = suppression  # checked as each recipient's turn comes
        self._bounces: list[tuple[str, str]] = []  # "no such user" in the current failure run
        self.throttle = Throttle(
            settings.delay_ms, factor=settings.throttle_factor, max_ms=settings.throttle_max_ms
        )
        self.control = Control.RUN
        self.status = CampaignStatus.DRAFT
        self._pause_reason = ""
        self._pause_hint = ""
        self._wakeup = asyncio.Event()
        self._resumed = asyncio.Event()
        self._last_start: float | None = None
        self._session_failures = 0
        self._consecutive_permanent = 0
        self._prebuilt: tuple[int, BuiltMessageLike] | None = None  # (seq, message) built ahead
        self.schedule = schedule or BatchSchedule(
            size=settings.batch_size, pause=settings.batch_pause, window=settings.window
        )

    # -- controls -----------------------------------------------------------------------------

    def pause(self, reason: str = "paused by you", hint: str = "") -> None:
        """Pause after the current message."""
        if self.control is Control.RUN:
            self.control = Control.PAUSE
            self._pause_reason, self._pause_hint = reason, hint
            self._resumed.clear()
            self._wakeup.set()

    def resume(self) -> None:
        if self.control is Control.PAUSE:
            self.control = Control.RUN
            self._resumed.set()
            self._wakeup.set()

    def cancel(self) -> None:
        """Stop after the current message; pending recipients stay pending (resumable)."""
        self.control = Control.CANCEL
        self._resumed.set()
        self._wakeup.set()

    # -- the run ------------------------------------------------------------------------------

    async def run(self) -> CampaignFinished:
        counts = self.journal.counts()
        try:
            self._set_status(CampaignStatus.RUNNING)
            self._emit(
                CampaignStarted(
                    self.journal.campaign_id,
                    self.clock.now(),
                    counts.total,
                    counts.remaining,
                    self.plan,
                )
            )
            stop = await self._loop()
        except JournalWriteError as exc:
            stop = _journal_stop(exc)
        except BaseException:
            with contextlib.suppress(JournalWriteError):
                self.journal.flush()
                self._set_status(CampaignStatus.INTERRUPTED, "stopped while sending")
            await self._close_quietly()
            raise
        await self._close_quietly()
        self._suppress_bounces()
        try:
            self.journal.flush()
            self._set_status(stop.status, stop.reason)
        except JournalWriteError as exc:
            if not stop.journal:
                stop = _journal_stop(exc)
            with contextlib.suppress(JournalWriteError):  # best effort: a resume works anyway
                self._set_status(stop.status, stop.reason)
        counts = self.journal.counts()
        finished = CampaignFinished(
            self.journal.campaign_id,
            self.clock.now(),
            stop.status,
            counts.sent,
            counts.failed,
            counts.unknown,
            counts.remaining,
            stop.reason,
            stop.hint,
            counts.skipped,
        )
        self._emit(finished)
        return finished

    async def _loop(self) -> _Stop:
        while True:
            stop = await self._honor_controls()
            if stop is not None:
                return stop
            now = self.clock.now()
            item = self.journal.next_due(now)
            if item is None:
                wake = self.journal.next_wake()
                if wake is None:
                    return _Stop(CampaignStatus.FINISHED)
                self.journal.flush()
                self._emit(Waiting(now, wake, "waiting to retry deferred recipients"))
                await self._sleep(wake - now)
                continue
            if self._skip_suppressed(item, now):
                continue
            if await self._daily_cap_reached(now):
                continue
            if not await self._pace():
                continue
            if await self._outside_schedule(self.clock.now()):
                continue
            stop = await self._ensure_session()
            if stop is not None:
                return stop
            if not self.transport.connected:
                continue
            stop = await self._attempt(item)
            if stop is not None:
                return stop

    async def _honor_controls(self) -> _Stop | None:
        if self.control is Control.CANCEL:
            return _Stop(CampaignStatus.CANCELLED, "cancelled by you")
        if self.control is Control.PAUSE:
            self.journal.flush()
            self._set_status(CampaignStatus.PAUSED, self._pause_reason)
            self._emit(Paused(self.clock.now(), self._pause_reason, None, self._pause_hint))
            await self._close_quietly()
            if self.stop_on_pause:
                return _Stop(CampaignStatus.PAUSED, self._pause_reason, self._pause_hint)
            await self._resumed.wait()
            if self._cancelled():
                return _Stop(CampaignStatus.CANCELLED, "cancelled by you")
            self._session_failures = 0
            self._consecutive_permanent = 0
            self._set_status(CampaignStatus.RUNNING)
            self._emit(Resumed(self.clock.now()))
        return None

    def _skip_suppressed(self, item: WorkItem, now: float) -> bool:
        """Journal a recipient on the suppression list as skipped, with the reason."""
        if self.suppression is None:
            return False
        reason = self.suppression.reason_for(item.recipient.email)
        if reason is None:
            return False
        text = f"on the suppression list ({reason})"
        self.journal.result(item, Outcome(RecipientStatus.SKIPPED, now, text=text))
        self._emit(MessageSkipped(item.seq, item.recipient.email, now, reason))
        return True

    def _suppress_bounces(self) -> None:
        """The failure run ended without pausing the campaign: its bad addresses are real."""
        bounces, self._bounces = self._bounces, []
        if self.suppression is not None:
            for email, text in bounces:
                self.suppression.add_bounce(email, note=text)

    async def _daily_cap_reached(self, now: float) -> bool:
        cap = self.settings.daily_cap
        if not cap:
            return False
        sent, oldest = self.journal.sends_in_window(now - DAY)
        if sent < cap:
            return False
        until = max((oldest or now) + DAY, now + 1.0)
        self.journal.flush()
        await self._close_quietly()
        self._emit(
            Paused(
                now,
                f"daily cap of {cap:,} messages reached",
                until,
                "It resumes by itself when the 24-hour window allows.",
            )
        )
        self._set_status(CampaignStatus.PAUSED, f"daily cap reached; resumes at {until:.0f}")
        await self._sleep(until - now)
        if self.control is Control.RUN:
            self._set_status(CampaignStatus.RUNNING)
            self._emit(Resumed(self.clock.now()))
        return True

    async def _outside_schedule(self, now: float) -> bool:
        """Between batches or outside the sending window: wait (wall clock) and say so."""
        until = self.schedule.next_send_at(now)
        if until <= now:
            return False
        reason = self.schedule.why_waiting(now)
        self.journal.flush()
        await self._close_quietly()
        self._emit(Paused(now, reason, until, "It goes on by itself at that time."))
        self._set_status(CampaignStatus.PAUSED, f"{reason}; goes on at {until:.0f}")
        await self._sleep_until(until)
        if self.control is Control.RUN:
            self._set_status(CampaignStatus.RUNNING)
            self._emit(Resumed(self.clock.now()))
        return True

    async def _sleep_until(self, deadline: float) -> bool:
        """Sleep until the wall clock reaches `deadline` (slices: sleep and clock changes)."""
        while (left := deadline - self.clock.now()) > 0:
            if not await self._sleep(min(left, WALL_CHECK_SECONDS)):
                return False
        return self.control is Control.RUN

    async def _pace(self) -> bool:
        """Wait until the interval since the last send's start has passed; False if disturbed."""
        if self._last_start is None:
            return True
        interval = self.throttle.current_ms
        if self.settings.jitter_ms:
            interval += self.rng.uniform(0, self.settings.jitter_ms)
        due = self._last_start + interval / 1000.0
        if due <= self.clock.monotonic():
            return True
        self.journal.flush()  # idle anyway: make the last result durable now
        return await self._sleep(due - self.clock.monotonic())  # the flush took some of it

    async def _ensure_session(self) -> _Stop | None:
        if self.transport.connected:
            return None
        try:
            await self.transport.connect()
        except SMTPError as exc:
            return await self._session_failure(exc)
        return None

    async def _attempt(self, item: WorkItem) -> _Stop | None:
        recipient = item.recipient
        now = self.clock.now()
        prebuilt, self._prebuilt = self._prebuilt, None
        try:
            if prebuilt is not None and prebuilt[0] == item.seq:
                built = prebuilt[1]
            else:
                built = self.builder.build(recipient)
        except InputError as exc:
            self.journal.result(item, Outcome(RecipientStatus.FAILED, now, text=str(exc)))
            self._emit(
                MessageFailed(
                    item.seq,
                    recipient.email,
                    now,
                    None,
                    None,
                    str(exc),
                    "the message could not be built",
                )
            )
            return None
        self.journal.intent(item, built.message_id, self.clock.now())  # the send starts now
        self._emit(MessageSending(item.seq, recipient.email, item.attempts + 1, now))
        self._last_start = self.clock.monotonic()
        self.schedule.record_send(now)  # a send started: it counts in its batch
        # The envelope is what the message was built for (a mailmerge TO may differ from the
        # recipient's column); the recipient's own address leads when it is part of it.
        envelope = built.envelope_recipients or (recipient.email,)
        primary = recipient.email if recipient.email in envelope else envelope[0]
        extra = tuple(address for address in envelope if address != primary)

        def data_started() -> None:
            self.journal.data_started(item, self.clock.now())
            self._build_ahead(item)

        try:
            reply = await self.transport.send(
                self.sender,
                primary,
                built.payload,
                smtputf8=built.smtputf8 or recipient.needs_smtputf8,
                on_data_start=data_started,
                extra_recipients=extra,
            )
        except SMTPError as exc:
            return await self._failure(item, exc)
        done = self.clock.now()
        self.journal.result(
            item, Outcome(RecipientStatus.SENT, done, code=reply.code, text=reply.text)
        )
        self._emit(
            MessageSent(
                item.seq,
                recipient.email,
                done,
                self.clock.monotonic() - self._last_start,
                f"{reply.code} {reply.text}",
                built.message_id,
            )
        )
        self._session_failures = 0
        self._consecutive_permanent = 0
        self._suppress_bounces()
        self.throttle.recover()
        return None

    def _build_ahead(self, item: WorkItem) -> None:
        """With no pause between sends, build the next message while this one is on the wire.

        Runs at the loop's next idle moment (waiting for this message's final reply). Only a
        head start: the next message is still chosen as always, and built again if it is
        another one; a message that cannot be built is left for its turn to report.
        """
        if self.throttle.current_ms > 0 or self.settings.jitter_ms:
            return
        asyncio.get_running_loop().call_soon(self._prebuild, item.seq)

    def _prebuild(self, after_seq: int) -> None:
        if self.control is not Control.RUN:
            return
        following = self.journal.peek_pending(after_seq)
        if following is None:
            return
        try:
            self._prebuilt = (following.seq, self.builder.build(following.recipient))
        except InputError:
            self._prebuilt = None

    async def _failure(self, item: WorkItem, exc: SMTPError) -> _Stop | None:
        verdict = classify(exc, host=self.host)
        now = self.clock.now()
        email, text = item.recipient.email, exc.reply or str(exc)
        base = Outcome(RecipientStatus.PENDING, now, exc.code, exc.enhanced, text, counted=False)
        if verdict.action is Action.HOLD:
            self.journal.result(
                item, Outcome(RecipientStatus.UNKNOWN, now, exc.code, exc.enhanced, text)
            )
            self._emit(MessageUnknown(item.seq, email, now, text))
            return None
        if verdict.action is Action.FAIL:
            return self._fail(item, exc, verdict.reason, now)
        if verdict.action is Action.DEFER:
            self._defer(item, exc, now)
            return None
        if verdict.kind is FailureKind.PERMANENT_CAMPAIGN:
            self._fail(item, exc, verdict.reason, now, count=False)
            return _Stop(CampaignStatus.ABORTED, f"{verdict.reason}: {text}", verdict.hint)
        self.journal.result(item, base)  # back to pending: not the recipient's fault
        if verdict.action is Action.RECONNECT:
            self.throttle.slow_down()
        return await self._session_failure(exc, verdict)

    def _fail(
        self, item: WorkItem, exc: SMTPError, reason: str, now: float, *, count: bool = True
    ) -> _Stop | None:
        text = exc.reply or str(exc)
        self.journal.result(
            item, Outcome(RecipientStatus.FAILED, now, exc.code, exc.enhanced, text)
        )
        self._emit(
            MessageFailed(item.seq, item.recipient.email, now, exc.code, exc.enhanced, text, reason)
        )
        if count:
            if is_no_such_user(exc):
                self._bounces.append((item.recipient.email, text))
            self._consecutive_permanent += 1
            limit = self.settings.max_consecutive_permanent
            if limit and self._consecutive_permanent >= limit:
                self._bounces.clear()  # a run of failures smells of configuration, not addresses
                self.pause(
                    f"{self._consecutive_permanent} permanent failures in a row",
                    "Something may be wrong for everyone (sender, content, reputation): "
                    "check the failures before resuming.",
                )
        return None

    def _defer(self, item: WorkItem, exc: SMTPError, now: float) -> None:
        policy = self.settings.retry
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
            rng=self.rng,
        )
        text = exc.reply or str(exc)
        self.journal.result(
            item,
            Outcome(
                RecipientStatus.DEFERRED, now, exc.code, exc.enhanced, text, retry_at=now + wait
            ),
        )
        self._emit(
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
        self.throttle.slow_down()

    async def _session_failure(
        self, exc: SMTPError, verdict: Classification | None = None
    ) -> _Stop | None:
        verdict = verdict or classify(exc, host=self.host)
        await self._close_quietly()
        text = exc.reply or str(exc)
        if verdict.action is Action.ABORT:
            return _Stop(CampaignStatus.ABORTED, f"{verdict.reason}: {text}", verdict.hint)
        if verdict.action is Action.PAUSE:
            await self._rate_pause(text, verdict.hint, daily=verdict.until_daily_window)
            return None
        self._session_failures += 1
        policy = self.settings.retry
        if self._session_failures > policy.max_reconnects:
            self.pause(
                f"cannot keep a connection to the server ({text})",
                "Check the network and the server, then resume.",
            )
            return None
        wait = backoff(
            self._session_failures,
            base=policy.session_backoff_base,
            cap=policy.session_backoff_max,
            jitter=policy.jitter,
            rng=self.rng,
        )
        self._emit(Reconnecting(self.clock.now(), self._session_failures, wait, text))
        await self._sleep(wait)
        return None

    async def _rate_pause(self, text: str, hint: str, *, daily: bool = False) -> None:
        now = self.clock.now()
        until = now + self.settings.rate_limit_pause
        if daily:  # a daily quota: wait until the oldest send of the last 24 h leaves the window
            _, oldest = self.journal.sends_in_window(now - DAY)
            until = max(until, (oldest if oldest is not None else now) + DAY)
        self.journal.flush()
        self._set_status(CampaignStatus.PAUSED, f"rate limited: {text}")
        self._emit(Paused(now, f"the provider's rate limit: {text}", until, hint))
        await self._sleep(until - now)
        if self.control is Control.RUN:
            self._set_status(CampaignStatus.RUNNING)
            self._emit(Resumed(self.clock.now()))

    # -- helpers ------------------------------------------------------------------------------

    def _cancelled(self) -> bool:
        return self.control is Control.CANCEL

    async def _sleep(self, seconds: float) -> bool:
        """Sleep, waking early on pause/cancel. True if the whole time passed undisturbed."""
        if seconds <= 0:
            return self.control is Control.RUN
        self._wakeup.clear()
        if self.control is not Control.RUN:
            return False
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wakeup.wait())
        try:
            done, _ = await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                if not task.done():
                    task.cancel()
        return sleeper in done and self.control is Control.RUN

    async def _close_quietly(self) -> None:
        with contextlib.suppress(SMTPError):
            await self.transport.close()

    def _set_status(self, status: CampaignStatus, reason: str = "") -> None:
        self.status = status
        self.journal.set_status(status, reason)

    def _emit(self, event: Event) -> None:
        self.sink(event)
