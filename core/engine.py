"""The campaign runner: one message per recipient over K connections, paced, retried, journaled."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from core.classify import Action, Classification, classify
from core.errors import InputError, JournalWriteError, SMTPError
from core.events import (
    CampaignFinished,
    CampaignStarted,
    CampaignStatus,
    Event,
    EventSink,
    MessageSending,
    MessageSkipped,
    Paused,
    Reconnecting,
    Resumed,
    Waiting,
)
from core.models import RecipientStatus, SendSettings
from core.outcomes import Outcomes, Stop
from core.pacing import DAY, Pacer, Throttle, backoff
from core.ports import (
    BuiltMessageLike,
    CampaignJournal,
    Clock,
    MessageBuilderLike,
    Outcome,
    PendingReply,
    SuppressionListLike,
    SystemClock,
    TransportLike,
    WorkItem,
)
from core.schedule import BatchSchedule

__all__ = ["WALL_CHECK_SECONDS", "CampaignRunner", "Control"]

# Long holds (a batch pause, a closed sending window, the daily cap, a rate pause) sleep in
# slices this long and look at the wall clock after each: a computer that slept through the
# deadline sends on waking (monotonic time stops while it sleeps).
WALL_CHECK_SECONDS = 30.0

_IDLE_POLL = 0.05  # seconds a connection with nothing to take waits for the others


class Control(StrEnum):
    """What a person (or the engine itself) asked for."""

    RUN = "run"
    PAUSE = "pause"
    CANCEL = "cancel"


@dataclass(slots=True)
class _Flight:
    """A message whose final dot is written; its reply comes through `reply`."""

    item: WorkItem
    message_id: str
    started: float  # monotonic
    reply: PendingReply
    recorded: bool = False


@dataclass(slots=True)
class _Worker:
    """One connection and what is in flight on it."""

    number: int
    transport: TransportLike
    flight: _Flight | None = None
    session_failures: int = 0
    on_connection: int = 0  # messages sent over the current connection
    prebuilt: tuple[int, BuiltMessageLike] | None = None  # (seq, message) built ahead
    followups: list[tuple[SMTPError, Classification]] = field(default_factory=list)


class _Abandoned(Exception):
    """The campaign stopped between this message's 354 and its first byte: do not send it."""


def _journal_stop(exc: JournalWriteError) -> Stop:
    """Aborted, resumable: nothing is sent that the journal cannot record."""
    return Stop(
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
    (one SMTP connection; `connect` makes the others when `settings.connections` > 1), the
    message builder, the clock and the event sink. The runner keeps no list of recipients:
    each connection asks the journal for the next one due, so memory stays flat. One `Pacer`
    spaces the send starts of all connections; a rate reply or a daily cap on one holds all
    of them; a configuration error (a refused login) stops all of them.
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
        connect: Callable[[], TransportLike] | None = None,
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
        self.throttle = Throttle(
            settings.delay_ms, factor=settings.throttle_factor, max_ms=settings.throttle_max_ms
        )
        self.outcomes = Outcomes(
            journal=journal,
            clock=self.clock,
            sink=self._emit,
            settings=settings,
            throttle=self.throttle,
            rng=self.rng,
            host=host,
            on_streak=self._permanent_streak,
            suppression=suppression,
        )
        self.suppression = suppression  # checked as each recipient's turn comes
        self.pacer = Pacer(
            self.throttle,
            jitter_ms=settings.jitter_ms,
            rate_per_minute=settings.rate_per_minute,
            rng=self.rng,
        )
        # Batches and the sending window: one schedule for all connections, like the pacer.
        self.schedule = schedule or BatchSchedule(
            size=settings.batch_size, pause=settings.batch_pause, window=settings.window
        )
        count = max(1, settings.connections) if connect is not None else 1
        self.workers = [_Worker(0, transport)] + [
            _Worker(n, connect()) for n in range(1, count) if connect is not None
        ]
        self.control = Control.RUN
        self.status = CampaignStatus.DRAFT
        self._pause_reason = ""
        self._pause_hint = ""
        self._paused_announced = False
        self._wakeup = asyncio.Event()
        self._resumed = asyncio.Event()
        self._stop: Stop | None = None
        self._held_until: float | None = None  # wall time: a rate pause or the daily cap
        self._waiting_for: float | None = None  # the deferred retry time last announced

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

    def _permanent_streak(self, count: int) -> None:
        self.pause(
            f"{count} permanent failures in a row",
            "Something may be wrong for everyone (sender, content, reputation): "
            "check the failures before resuming.",
        )

    # -- the run ------------------------------------------------------------------------------

    async def run(self) -> CampaignFinished:
        counts = self.journal.counts()
        stops: list[Stop] = []
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
            stops = await self._run_workers()
        except JournalWriteError as exc:
            self._stop = self._stop or _journal_stop(exc)
        except BaseException:
            with contextlib.suppress(JournalWriteError):
                self.journal.flush()
                self._set_status(CampaignStatus.INTERRUPTED, "stopped while sending")
            await self._close_all(polite=False)
            raise
        await self._close_all()
        self.outcomes.suppress_bounces()
        stop = self._stop or next(
            (stop for stop in stops if stop.status is not CampaignStatus.FINISHED),
            Stop(CampaignStatus.FINISHED),
        )
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

    async def _run_workers(self) -> list[Stop]:
        if len(self.workers) == 1:
            return [await self._work(self.workers[0])]
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._work(worker)) for worker in self.workers]
        except BaseExceptionGroup as grouped:  # one connection's error stops all: raise it
            raise grouped.exceptions[0] from None
        return [task.result() for task in tasks]

    async def _work(self, worker: _Worker) -> Stop:
        """One connection's loop: take the next due recipient, pace, send; until done."""
        while True:
            stop = await self._honor_controls(worker)
            if stop is not None:
                await self._settle(worker)
                return self._stop or stop
            now = self.clock.now()
            if self.journal.next_due(now) is None:
                await self._settle(worker)
                if self._stop is not None:
                    continue
                wake = self.journal.next_wake()
                if wake is None:
                    if self.journal.next_due(self.clock.now()) is None:
                        return Stop(CampaignStatus.FINISHED)
                    continue
                if wake <= now:  # the one due is in flight on another connection
                    await self._sleep(_IDLE_POLL)
                    continue
                self.journal.flush()
                if wake != self._waiting_for:  # said once, whichever connection waits
                    self._waiting_for = wake
                    self._emit(Waiting(now, wake, "waiting to retry deferred recipients"))
                await self._sleep(wake - now)
                continue
            if (
                await self._held(worker)
                or await self._daily_cap_reached(worker, now)
                or self._outside_schedule()  # (before connecting for nothing)
            ):
                continue
            limit = self.settings.messages_per_connection
            if limit and worker.on_connection >= limit and worker.transport.connected:
                await self._close(worker)  # the server's per-connection limit: start afresh
            await self._ensure_session(worker)
            if self._stop is not None or not worker.transport.connected:
                continue
            if not await self._pace(worker):
                continue
            if self._outside_schedule():  # the window may have closed during the delay
                continue
            item = self.journal.next_due(self.clock.now())  # taken now: no await until claimed
            if item is not None and not self._skip_suppressed(item):
                await self._attempt(worker, item)

    async def _honor_controls(self, worker: _Worker) -> Stop | None:
        if self._stop is not None:
            return self._stop
        if self.control is Control.CANCEL:
            return Stop(CampaignStatus.CANCELLED, "cancelled by you")
        if self.control is Control.PAUSE:
            await self._close(worker)
            if not self._paused_announced:
                self._paused_announced = True
                self.journal.flush()
                self._set_status(CampaignStatus.PAUSED, self._pause_reason)
                self._emit(Paused(self.clock.now(), self._pause_reason, None, self._pause_hint))
            if self.stop_on_pause:
                return Stop(CampaignStatus.PAUSED, self._pause_reason, self._pause_hint)
            await self._resumed.wait()
            if self._cancelled():
                return Stop(CampaignStatus.CANCELLED, "cancelled by you")
            worker.session_failures = 0
            if self._paused_announced:
                self._paused_announced = False
                self.outcomes.consecutive_permanent = 0
                self._set_status(CampaignStatus.RUNNING)
                self._emit(Resumed(self.clock.now()))
        return None

    def _skip_suppressed(self, item: WorkItem) -> bool:
        """Journal a recipient on the suppression list as skipped, with the reason."""
        if self.suppression is None:
            return False
        reason = self.suppression.reason_for(item.recipient.email)
        if reason is None:
            return False
        now = self.clock.now()
        text = f"on the suppression list ({reason})"
        self.journal.result(item, Outcome(RecipientStatus.SKIPPED, now, text=text))
        self._emit(MessageSkipped(item.seq, item.recipient.email, now, reason))
        return True

    async def _held(self, worker: _Worker) -> bool:
        """Wait out a hold another connection set (rate pause, daily cap); True if there was one."""
        until = self._held_until
        if until is None:
            return False
        now = self.clock.now()
        if now >= until:
            self._held_until = None
            if self.control is Control.RUN:
                self._set_status(CampaignStatus.RUNNING)
                self._emit(Resumed(now))
            return True
        await self._close(worker)
        await self._sleep(min(until - now, WALL_CHECK_SECONDS))  # then look at the wall clock
        return True

    def _hold(self, until: float, reason: str, status: str, hint: str) -> None:
        """Hold every connection until `until` (announced once)."""
        if self._held_until is not None and self._held_until >= until:
            return
        self._held_until = until
        self.journal.flush()
        self._set_status(CampaignStatus.PAUSED, status)
        self._emit(Paused(self.clock.now(), reason, until, hint))
        self._wakeup.set()

    def _outside_schedule(self) -> bool:
        """Between batches or outside the sending window: hold every connection until then."""
        now = self.clock.now()
        until = self.schedule.next_send_at(now)
        if until <= now:
            return False
        reason = self.schedule.why_waiting(now)
        self._hold(until, reason, f"{reason}; goes on at {until:.0f}", "It goes on by itself.")
        return True

    async def _daily_cap_reached(self, worker: _Worker, now: float) -> bool:
        cap = self.settings.daily_cap
        if not cap:
            return False
        in_flight = sum(1 for w in self.workers if w.flight is not None)
        sent, oldest = self.journal.sends_in_window(now - DAY)
        if sent + in_flight < cap:
            return False
        await self._settle(worker)  # count its last message as what it became
        in_flight = sum(1 for w in self.workers if w.flight is not None)
        sent, oldest = self.journal.sends_in_window(now - DAY)
        if sent + in_flight < cap:
            return False
        until = max((oldest or now) + DAY, now + 1.0)
        self._hold(
            until,
            f"daily cap of {cap:,} messages reached",
            f"daily cap reached; resumes at {until:.0f}",
            "It resumes by itself when the 24-hour window allows.",
        )
        await self._held(worker)
        return True

    async def _pace(self, worker: _Worker) -> bool:
        """Take this connection's send start from the pacer and wait for it; False if disturbed."""
        if not self.pacer.free:
            await self._settle(worker)  # its result may change the interval; none waits unread
        start = self.pacer.reserve(self.clock.monotonic())
        if start <= self.clock.monotonic():
            return True
        self.journal.flush()  # idle anyway: make the last result durable now
        return await self._sleep(start - self.clock.monotonic())  # the flush took some of it

    async def _ensure_session(self, worker: _Worker) -> None:
        if worker.transport.connected:
            return
        await self._settle(worker)  # a message in flight on the lost connection: its reply
        worker.on_connection = 0
        try:
            await worker.transport.connect()
        except SMTPError as exc:
            await self._session_failure(worker, exc)

    # -- one message --------------------------------------------------------------------------

    async def _attempt(self, worker: _Worker, item: WorkItem) -> None:
        recipient = item.recipient
        now = self.clock.now()
        prebuilt, worker.prebuilt = worker.prebuilt, None
        try:
            if prebuilt is not None and prebuilt[0] == item.seq:
                built = prebuilt[1]
            else:
                built = self.builder.build(recipient)
        except InputError as exc:
            self.outcomes.unbuildable(item, exc)
            return
        self.journal.intent(item, built.message_id, self.clock.now())  # the send starts now
        self._emit(MessageSending(item.seq, recipient.email, item.attempts + 1, now))
        started = self.clock.monotonic()
        # The envelope is what the message was built for (a mailmerge TO may differ from the
        # recipient's column); the recipient's own address leads when it is part of it.
        envelope = built.envelope_recipients or (recipient.email,)
        primary = recipient.email if recipient.email in envelope else envelope[0]
        extra = tuple(address for address in envelope if address != primary)
        previous = worker.flight
        worker.flight = None

        def data_started() -> None:
            # The previous message's reply was read before this one's 354: its result rides on
            # this durable commit, so a crash leaves at most one unknown per connection.
            if previous is not None:
                self._record(worker, previous)
            rate_limited = any(v.action is Action.PAUSE for _, v in worker.followups)
            if rate_limited or not self._running():  # the previous reply (or a person)
                raise _Abandoned  # stopped or held the campaign: not one message more
            if self._outside_schedule():  # the batch is full, or the window closed
                raise _Abandoned
            at = self.clock.now()
            self.journal.data_started(item, at)
            self.schedule.record_send(at)  # counted as its bytes go: no batch overshoots
            self._outside_schedule()  # the batch's last one: hold the others' envelopes now

        if self.pacer.free:
            asyncio.get_running_loop().call_soon(self._prebuild, worker, item.seq)
        try:
            reply = await worker.transport.submit(
                self.sender,
                primary,
                built.payload,
                smtputf8=built.smtputf8 or recipient.needs_smtputf8,
                on_data_start=data_started,
                extra_recipients=extra,
            )
        except SMTPError as exc:
            if previous is not None:
                self._record(worker, previous)
            await self._failure(worker, item, exc)
        except _Abandoned:  # the connection was dropped before any byte of the message
            self.journal.result(
                item, Outcome(RecipientStatus.PENDING, self.clock.now(), counted=False)
            )
        else:
            worker.flight = _Flight(item, built.message_id, started, reply)
            worker.on_connection += 1
        await self._followups(worker)

    def _record(self, worker: _Worker, flight: _Flight) -> None:
        """Record a flight whose reply is in (sent or not); async consequences wait in line."""
        if flight.recorded:
            return
        flight.recorded = True
        future = flight.reply
        if not future.done():  # pragma: no cover - the transport resolves it first
            raise RuntimeError("a message's reply was recorded before it came")
        exc = future.exception()
        item = flight.item
        if exc is not None:
            if not isinstance(exc, SMTPError):
                raise exc
            judged = self.outcomes.judge(item, exc)
            if isinstance(judged, Stop):
                self._stop = self._stop or judged
                self._wakeup.set()
            elif judged is not None:
                worker.followups.append((exc, judged))
            return
        reply = future.result()
        elapsed = self.clock.monotonic() - flight.started
        self.outcomes.sent(item, reply.code, reply.text, flight.message_id, elapsed)
        worker.session_failures = 0

    async def _settle(self, worker: _Worker) -> None:
        """Read and record the reply of this connection's message in flight, if any."""
        flight, worker.flight = worker.flight, None
        if flight is None:
            return
        await worker.transport.settle()
        self._record(worker, flight)
        await self._followups(worker)

    async def _followups(self, worker: _Worker) -> None:
        """The waiting part of failures (reconnect backoff, rate pause): once per round."""
        followups, worker.followups = worker.followups, []
        if followups:
            exc, verdict = followups[-1]
            await self._session_failure(worker, exc, verdict)

    def _prebuild(self, worker: _Worker, after_seq: int) -> None:
        """Build the next message while this one's replies are on the way (a head start only)."""
        if self.control is not Control.RUN or self._stop is not None:
            return
        following = self.journal.peek_pending(after_seq)
        if following is None:
            return
        try:
            worker.prebuilt = (following.seq, self.builder.build(following.recipient))
        except InputError:
            worker.prebuilt = None

    # -- failures -----------------------------------------------------------------------------

    async def _failure(self, worker: _Worker, item: WorkItem, exc: SMTPError) -> None:
        judged = self.outcomes.judge(item, exc)
        if isinstance(judged, Stop):
            self._stop = self._stop or judged
            self._wakeup.set()
        elif judged is not None:
            worker.followups.append((exc, judged))

    async def _session_failure(
        self, worker: _Worker, exc: SMTPError, verdict: Classification | None = None
    ) -> None:
        verdict = verdict or classify(exc, host=self.host)
        await self._close(worker)
        text = exc.reply or str(exc)
        if verdict.action is Action.ABORT:
            self._stop = self._stop or Stop(
                CampaignStatus.ABORTED, f"{verdict.reason}: {text}", verdict.hint
            )
            self._wakeup.set()
            return
        if verdict.action is Action.PAUSE:
            now = self.clock.now()
            until = now + max(self.settings.rate_limit_pause, verdict.retry_after or 0.0)
            if verdict.until_daily_window:  # a daily quota: until its oldest send leaves 24 h
                _, oldest = self.journal.sends_in_window(now - DAY)
                until = max(until, (oldest if oldest is not None else now) + DAY)
            self._hold(
                until,
                f"the provider's rate limit: {text}",
                f"rate limited: {text}",
                verdict.hint,
            )
            await self._held(worker)
            return
        worker.session_failures += 1
        policy = self.settings.retry
        if worker.session_failures > policy.max_reconnects:
            self.pause(
                f"cannot keep a connection to the server ({text})",
                "Check the network and the server, then resume.",
            )
            return
        wait = backoff(
            worker.session_failures,
            base=policy.session_backoff_base,
            cap=policy.session_backoff_max,
            jitter=policy.jitter,
            rng=self.rng,
        )
        self._emit(Reconnecting(self.clock.now(), worker.session_failures, wait, text))
        await self._sleep(wait)

    # -- helpers ------------------------------------------------------------------------------

    def _running(self) -> bool:
        return self.control is Control.RUN and self._stop is None and self._held_until is None

    def _cancelled(self) -> bool:
        return self.control is Control.CANCEL

    async def _sleep(self, seconds: float) -> bool:
        """Sleep, waking early on pause/cancel/stop. True if the whole time passed undisturbed."""
        if seconds <= 0:
            return self.control is Control.RUN and self._stop is None
        if self.control is not Control.RUN or self._stop is not None:
            return False
        self._wakeup.clear()
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wakeup.wait())
        try:
            done, _ = await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                if not task.done():
                    task.cancel()
        return sleeper in done and self.control is Control.RUN and self._stop is None

    async def _close(self, worker: _Worker) -> None:
        """Record what is in flight, then close this connection (QUIT if it still stands)."""
        await self._settle(worker)
        with contextlib.suppress(SMTPError):
            await worker.transport.close()

    async def _close_all(self, *, polite: bool = True) -> None:
        """Close every connection. Each worker settled its flight before it returned; when
        the run was interrupted, a message still in flight keeps its durable data-start
        record and no result: UNKNOWN on resume, as after a crash."""
        for worker in self.workers:
            flight, worker.flight = worker.flight, None
            with contextlib.suppress(SMTPError):
                await worker.transport.close(polite=polite)
            if flight is not None and flight.reply.done():
                flight.reply.exception()  # seen: the journal keeps it in flight

    def _set_status(self, status: CampaignStatus, reason: str = "") -> None:
        self.status = status
        self.journal.set_status(status, reason)

    def _emit(self, event: Event) -> None:
        self.sink(event)
