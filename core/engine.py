"""The campaign runner: one message per recipient over K connections, paced, retried, journaled."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from enum import StrEnum

from core.connection import Connection
from core.errors import JournalWriteError
from core.events import (
    CampaignFinished,
    CampaignStarted,
    CampaignStatus,
    Event,
    EventSink,
    Paused,
    Resumed,
    Waiting,
)
from core.models import SendSettings
from core.outcomes import Outcomes, Stop
from core.pacing import DAY, Pacer, Throttle
from core.ports import (
    CampaignJournal,
    Clock,
    MessageBuilderLike,
    SuppressionListLike,
    SystemClock,
    TransportLike,
)
from core.schedule import BatchSchedule

__all__ = ["WALL_CHECK_SECONDS", "CampaignRunner", "Control"]

# Long holds (a batch pause, a closed sending window, the daily cap, a rate pause) sleep in
# slices this long and look at the wall clock after each: a computer that slept through the
# deadline sends on waking (monotonic time stops while it sleeps).
WALL_CHECK_SECONDS = 30.0


class Control(StrEnum):
    """What a person (or the engine itself) asked for."""

    RUN = "run"
    PAUSE = "pause"
    CANCEL = "cancel"


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
            sink=self.emit,
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
        self.connections = [Connection(self, transport)] + [
            Connection(self, connect()) for _ in range(1, count) if connect is not None
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
            self.emit(
                CampaignStarted(
                    self.journal.campaign_id,
                    self.clock.now(),
                    counts.total,
                    counts.remaining,
                    self.plan,
                )
            )
            stops = await self._run_connections()
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
        self.emit(finished)
        return finished

    async def _run_connections(self) -> list[Stop]:
        if len(self.connections) == 1:
            return [await self.connections[0].work()]
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(each.work()) for each in self.connections]
        except BaseExceptionGroup as grouped:  # one connection's error stops all: raise it
            raise grouped.exceptions[0] from None
        return [task.result() for task in tasks]

    # -- what the connections share -----------------------------------------------------------

    @property
    def stopped(self) -> Stop | None:
        """Why the campaign stops, once something (a reply, the journal) decided it."""
        return self._stop

    def stop_with(self, stop: Stop) -> None:
        """Stop every connection (the first reason stands)."""
        self._stop = self._stop or stop
        self._wakeup.set()

    def announce_waiting(self, now: float, wake: float) -> None:
        """Say once, whichever connection waits, until when deferred recipients wait."""
        if wake != self._waiting_for:
            self._waiting_for = wake
            self.emit(Waiting(now, wake, "waiting to retry deferred recipients"))

    async def honor_controls(self, connection: Connection) -> Stop | None:
        """A person's pause or cancel, for this connection: the stop, or None to go on."""
        if self._stop is not None:
            return self._stop
        if self.control is Control.CANCEL:
            return Stop(CampaignStatus.CANCELLED, "cancelled by you")
        if self.control is Control.PAUSE:
            await connection.close()
            if not self._paused_announced:
                self._paused_announced = True
                self.journal.flush()
                self._set_status(CampaignStatus.PAUSED, self._pause_reason)
                self.emit(Paused(self.clock.now(), self._pause_reason, None, self._pause_hint))
            if self.stop_on_pause:
                return Stop(CampaignStatus.PAUSED, self._pause_reason, self._pause_hint)
            await self._resumed.wait()
            if self._cancelled():
                return Stop(CampaignStatus.CANCELLED, "cancelled by you")
            connection.session_failures = 0
            if self._paused_announced:
                self._paused_announced = False
                self.outcomes.consecutive_permanent = 0
                self._set_status(CampaignStatus.RUNNING)
                self.emit(Resumed(self.clock.now()))
        return None

    async def wait_out_hold(self, connection: Connection) -> bool:
        """Wait out a hold another connection set (rate pause, daily cap); True if there was one."""
        until = self._held_until
        if until is None:
            return False
        now = self.clock.now()
        if now >= until:
            self._held_until = None
            if self.control is Control.RUN:
                self._set_status(CampaignStatus.RUNNING)
                self.emit(Resumed(now))
            return True
        await connection.close()
        await self.sleep(min(until - now, WALL_CHECK_SECONDS))  # then look at the wall clock
        return True

    def hold(self, until: float, reason: str, status: str, hint: str) -> None:
        """Hold every connection until `until` (announced once)."""
        if self._held_until is not None and self._held_until >= until:
            return
        self._held_until = until
        self.journal.flush()
        self._set_status(CampaignStatus.PAUSED, status)
        self.emit(Paused(self.clock.now(), reason, until, hint))
        self._wakeup.set()

    def outside_schedule(self) -> bool:
        """Between batches or outside the sending window: hold every connection until then."""
        now = self.clock.now()
        until = self.schedule.next_send_at(now)
        if until <= now:
            return False
        reason = self.schedule.why_waiting(now)
        self.hold(until, reason, f"{reason}; goes on at {until:.0f}", "It goes on by itself.")
        return True

    async def daily_cap_reached(self, connection: Connection, now: float) -> bool:
        """At the daily cap (messages in flight included): hold every connection until the
        24-hour window allows; True if it held."""
        cap = self.settings.daily_cap
        if not cap:
            return False
        in_flight = sum(1 for each in self.connections if each.flight is not None)
        sent, oldest = self.journal.sends_in_window(now - DAY)
        if sent + in_flight < cap:
            return False
        await connection.settle()  # count its last message as what it became
        in_flight = sum(1 for each in self.connections if each.flight is not None)
        sent, oldest = self.journal.sends_in_window(now - DAY)
        if sent + in_flight < cap:
            return False
        until = max((oldest or now) + DAY, now + 1.0)
        self.hold(
            until,
            f"daily cap of {cap:,} messages reached",
            f"daily cap reached; resumes at {until:.0f}",
            "It resumes by itself when the 24-hour window allows.",
        )
        await self.wait_out_hold(connection)
        return True

    # -- helpers ------------------------------------------------------------------------------

    def running(self) -> bool:
        """Sending: no pause, cancel, stop or hold."""
        return self.control is Control.RUN and self._stop is None and self._held_until is None

    def _cancelled(self) -> bool:
        return self.control is Control.CANCEL

    async def sleep(self, seconds: float) -> bool:
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

    async def _close_all(self, *, polite: bool = True) -> None:
        """Close every connection. Each settled its flight before it returned; when the run
        was interrupted, a message still in flight keeps its durable data-start record and no
        result: UNKNOWN on resume, as after a crash."""
        for connection in self.connections:
            await connection.hang_up(polite=polite)

    def _set_status(self, status: CampaignStatus, reason: str = "") -> None:
        self.status = status
        self.journal.set_status(status, reason)

    def emit(self, event: Event) -> None:
        self.sink(event)
