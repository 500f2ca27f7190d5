"""One connection of a campaign: its loop, the message in flight on it, and its failures.

Each connection takes the next due recipient from the journal, waits for its turn from the
campaign's one pacer, and sends; the campaign (`core.engine.CampaignRunner`) holds what all
of them share: the journal, the pacer, the schedule, the holds, the controls and the stop.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.classify import Action, Classification, classify
from core.errors import InputError, SMTPError
from core.events import CampaignStatus, MessageSending, MessageSkipped, Reconnecting
from core.models import RecipientStatus
from core.outcomes import Stop
from core.pacing import DAY, backoff
from core.ports import (
    BuiltMessageLike,
    Envelope,
    Outcome,
    PendingReply,
    TransportLike,
    WorkItem,
)

if TYPE_CHECKING:
    from core.engine import CampaignRunner

__all__ = ["Connection"]

_PENDING = RecipientStatus.PENDING
_IDLE_POLL = 0.05  # seconds a connection with nothing to take waits for the others


@dataclass(slots=True)
class _Flight:
    """A message whose final dot is written; its reply comes through `reply`."""

    item: WorkItem
    message_id: str
    started: float  # monotonic
    reply: PendingReply
    recorded: bool = False


@dataclass(slots=True)
class _Next:
    """A message about to go: built, its intent noted, its envelope worked out."""

    item: WorkItem
    built: BuiltMessageLike
    started: float  # monotonic
    envelope: Envelope


class _Abandoned(Exception):
    """The campaign stopped between this message's 354 and its first byte: do not send it."""


class Connection:
    """One SMTP connection of a campaign and what is in flight on it."""

    def __init__(self, campaign: CampaignRunner, transport: TransportLike) -> None:
        self.campaign = campaign
        self.transport = transport
        self.flight: _Flight | None = None
        self.session_failures = 0
        self.on_connection = 0  # messages sent over the current connection
        # The recipient this connection takes next, reserved and built while the current
        # message's replies are on the way (`_prepare_next`); a head start only.
        self.reserved: WorkItem | None = None
        self.prebuilt: tuple[int, BuiltMessageLike] | None = None  # (seq, message)
        self.next: _Next | None = None  # chosen while the last data went: its envelope too
        self.followups: list[tuple[SMTPError, Classification]] = []
        self.done = False  # `work` returned: nothing more is reserved

    async def work(self) -> Stop:
        """Take the next due recipient, pace, send; until the campaign is done or stops."""
        try:
            return await self._work()
        finally:
            self.done = True
            self._release()

    async def _work(self) -> Stop:
        campaign, journal = self.campaign, self.campaign.journal
        while True:
            stop = await campaign.honor_controls(self)
            if stop is not None:
                await self.settle()
                return campaign.stopped or stop
            now = campaign.clock.now()
            if self.reserved is None and journal.next_due(now) is None:
                await self.settle()
                if campaign.stopped is not None:
                    continue
                wake = journal.next_wake()
                if wake is None:
                    if journal.next_due(campaign.clock.now()) is None:
                        return Stop(CampaignStatus.FINISHED)
                    continue
                if wake <= now:  # the one due is in flight on another connection
                    await campaign.sleep(_IDLE_POLL)
                    continue
                journal.flush()
                campaign.announce_waiting(now, wake)
                await campaign.sleep(wake - now)
                continue
            if (
                await campaign.wait_out_hold(self)
                or await campaign.daily_cap_reached(self, now)
                or campaign.outside_schedule()  # (before connecting for nothing)
            ):
                continue
            limit = campaign.settings.messages_per_connection
            if limit and self.on_connection >= limit and self.transport.connected:
                await self.close()  # the server's per-connection limit: start afresh
            await self._ensure_session()
            if campaign.stopped is not None or not self.transport.connected:
                continue
            if not await self._pace():
                continue
            if campaign.outside_schedule():  # the window may have closed during the delay
                continue
            self._release()  # this connection's own reservation comes first, if still due
            item = journal.next_due(campaign.clock.now())  # taken now: no await until claimed
            if item is not None and not self._skip_suppressed(item):
                await self._attempt(item)

    async def settle(self) -> None:
        """Read and record the reply of the message in flight, if any."""
        flight, self.flight = self.flight, None
        if flight is None:
            return
        await self.transport.settle()
        self._record(flight)
        await self._followups()

    async def close(self) -> None:
        """Record what is in flight, then close the connection (QUIT if it still stands); what
        it reserved is given back (it may wait a while: the others may send it)."""
        self._release()
        await self.settle()
        with contextlib.suppress(SMTPError):
            await self.transport.close()

    async def hang_up(self, *, polite: bool = True) -> None:
        """Close without reading: a message still in flight keeps its durable data-start
        record and no result (UNKNOWN on resume, as after a crash)."""
        flight, self.flight = self.flight, None
        with contextlib.suppress(SMTPError):
            await self.transport.close(polite=polite)
        if flight is not None and flight.reply.done():
            flight.reply.exception()  # seen: the journal keeps it in flight

    # -- before a message ---------------------------------------------------------------------

    def _skip_suppressed(self, item: WorkItem) -> bool:
        """Journal a recipient on the suppression list as skipped, with the reason."""
        campaign = self.campaign
        if campaign.suppression is None:
            return False
        reason = campaign.suppression.reason_for(item.recipient.email)
        if reason is None:
            return False
        now = campaign.clock.now()
        text = f"on the suppression list ({reason})"
        campaign.journal.result(item, Outcome(RecipientStatus.SKIPPED, now, text=text))
        campaign.emit(MessageSkipped(item.seq, item.recipient.email, now, reason))
        return True

    async def _pace(self) -> bool:
        """Take this connection's send start from the pacer and wait for it; False if disturbed."""
        campaign, pacer, clock = self.campaign, self.campaign.pacer, self.campaign.clock
        if not pacer.free:
            await self.settle()  # its result may change the interval; none waits unread
        start = pacer.reserve(clock.monotonic())
        if start <= clock.monotonic():
            return True
        campaign.journal.flush()  # idle anyway: make the last result durable now
        return await campaign.sleep(start - clock.monotonic())  # the flush took some of it

    async def _ensure_session(self) -> None:
        if self.transport.connected:
            return
        await self.settle()  # a message in flight on the lost connection: its reply
        self.on_connection = 0
        try:
            await self.transport.connect()
        except SMTPError as exc:
            await self._session_failure(exc)

    # -- one message --------------------------------------------------------------------------

    async def _attempt(self, item: WorkItem) -> None:
        campaign = self.campaign
        prebuilt, self.prebuilt = self.prebuilt, None
        try:
            if prebuilt is not None and prebuilt[0] == item.seq:
                built = prebuilt[1]
            else:
                built = campaign.builder.build(item.recipient)
        except InputError as exc:
            campaign.outcomes.unbuildable(item, exc)
            return
        await self._send(_Next(item, built, self._begin(item, built), self._envelope(item, built)))
        # The next messages whose envelopes rode behind a final dot, one after another.
        while (following := self.next) is not None:
            self.next = None
            if not self.transport.connected:  # the dot's write failed: it never went out
                now = campaign.clock.now()
                campaign.journal.result(following.item, Outcome(_PENDING, now, counted=False))
                return
            await self._send(following)

    def _begin(self, item: WorkItem, built: BuiltMessageLike) -> float:
        """Note the intent (the send starts now) and say so; the monotonic start."""
        campaign = self.campaign
        now = campaign.clock.now()
        campaign.journal.intent(item, built.message_id, now)
        campaign.emit(MessageSending(item.seq, item.recipient.email, item.attempts + 1, now))
        return campaign.clock.monotonic()

    def _envelope(self, item: WorkItem, built: BuiltMessageLike) -> Envelope:
        # The envelope is what the message was built for (a mailmerge TO may differ from the
        # recipient's column); the recipient's own address leads when it is part of it.
        recipient = item.recipient
        envelope = built.envelope_recipients or (recipient.email,)
        primary = recipient.email if recipient.email in envelope else envelope[0]
        return Envelope(
            self.campaign.sender,
            primary,
            built.smtputf8 or recipient.needs_smtputf8,
            tuple(address for address in envelope if address != primary),
        )

    async def _send(self, message: _Next) -> None:
        campaign = self.campaign
        clock, journal = campaign.clock, campaign.journal
        item, envelope = message.item, message.envelope
        previous = self.flight
        self.flight = None

        def data_started() -> None:
            # The previous message's reply was read before this one's 354: its result rides on
            # this durable commit, so a crash leaves at most one unknown per connection.
            if previous is not None:
                self._record(previous)
            rate_limited = any(v.action is Action.PAUSE for _, v in self.followups)
            if rate_limited or not campaign.running():  # the previous reply (or a person)
                raise _Abandoned  # stopped or held the campaign: not one message more
            if campaign.outside_schedule():  # the batch is full, or the window closed
                raise _Abandoned
            at = clock.now()
            journal.data_started(item, at)
            campaign.schedule.record_send(at)  # counted as its bytes go: no batch overshoots
            campaign.outside_schedule()  # the batch's last one: hold the others' envelopes now

        def ahead() -> Envelope | None:
            self.next = self._choose_next()
            return None if self.next is None else self.next.envelope

        free = campaign.pacer.free
        if free:
            asyncio.get_running_loop().call_soon(self._prepare_next)
        try:
            reply = await self.transport.submit(
                envelope.sender,
                envelope.recipient,
                message.built.payload,
                smtputf8=envelope.smtputf8,
                on_data_start=data_started,
                extra_recipients=envelope.extra_recipients,
                ahead=ahead if free else None,
            )
        except SMTPError as exc:
            if previous is not None:
                self._record(previous)
            self._failure(item, exc)
        except _Abandoned:  # the connection was dropped before any byte of the message
            journal.result(item, Outcome(_PENDING, clock.now(), counted=False))
        else:
            self.flight = _Flight(item, message.built.message_id, message.started, reply)
            self.on_connection += 1
        await self._followups()

    def _choose_next(self) -> _Next | None:
        """Once this message's data-start is durable: the next one, built ahead, when nothing
        would hold it, so that its envelope goes with this final dot (one write, not two).

        Only what the loop would do anyway, without waiting: no delay or rate (the pacer is
        free), no daily cap to count, the campaign running, no failure to follow up, the
        per-connection limit not reached, and the recipient reserved is still the next due.
        """
        campaign, prebuilt = self.campaign, self.prebuilt
        limit = campaign.settings.messages_per_connection
        if (
            prebuilt is None
            or self.followups
            or not campaign.pacer.free
            or campaign.settings.daily_cap
            or not campaign.running()
            or (limit and self.on_connection + 2 > limit)  # this message is on_connection + 1
        ):
            return None
        self._release()
        item = campaign.journal.next_due(campaign.clock.now())
        if item is None or item.seq != prebuilt[0]:
            return None
        self.prebuilt = None
        built = prebuilt[1]
        started = self._begin(item, built)
        campaign.pacer.reserve(campaign.clock.monotonic())
        return _Next(item, built, started, self._envelope(item, built))

    def _record(self, flight: _Flight) -> None:
        """Record a flight whose reply is in (sent or not); async consequences wait in line."""
        if flight.recorded:
            return
        flight.recorded = True
        future = flight.reply
        if not future.done():  # pragma: no cover - the transport resolves it first
            raise RuntimeError("a message's reply was recorded before it came")
        exc = future.exception()
        if exc is not None:
            if not isinstance(exc, SMTPError):
                raise exc
            self._failure(flight.item, exc)
            return
        reply = future.result()
        elapsed = self.campaign.clock.monotonic() - flight.started
        self.campaign.outcomes.sent(flight.item, reply.code, reply.text, flight.message_id, elapsed)
        self.session_failures = 0

    def _prepare_next(self) -> None:
        """Reserve and build the next message while this one's replies are on the way.

        Reserved, so that with several connections the one built ahead is the one this
        connection sends next (another would take it otherwise, and every message would be
        built between a final dot and the next envelope). A head start only: the reservation
        is given back when the connection takes its next recipient or stops.
        """
        campaign = self.campaign
        if self.done or self.reserved is not None or not campaign.running():
            return
        following = campaign.journal.next_due(campaign.clock.now())
        if following is None:
            return
        campaign.journal.reserve(following)
        self.reserved = following
        suppression = campaign.suppression
        if suppression is not None and suppression.reason_for(following.recipient.email):
            return  # the loop skips it, with its reason; nothing to build
        try:
            self.prebuilt = (following.seq, campaign.builder.build(following.recipient))
        except InputError:
            self.prebuilt = None

    def _release(self) -> None:
        reserved, self.reserved = self.reserved, None
        if reserved is not None:
            self.campaign.journal.release(reserved)

    # -- failures -----------------------------------------------------------------------------

    def _failure(self, item: WorkItem, exc: SMTPError) -> None:
        """Record what a failure means for the recipient; a stop or a session verdict waits."""
        judged = self.campaign.outcomes.judge(item, exc)
        if isinstance(judged, Stop):
            self.campaign.stop_with(judged)
        elif judged is not None:
            self.followups.append((exc, judged))

    async def _followups(self) -> None:
        """The waiting part of failures (reconnect backoff, rate pause): once per round."""
        followups, self.followups = self.followups, []
        if followups:
            exc, verdict = followups[-1]
            await self._session_failure(exc, verdict)

    async def _session_failure(self, exc: SMTPError, verdict: Classification | None = None) -> None:
        campaign = self.campaign
        verdict = verdict or classify(exc, host=campaign.host)
        await self.close()
        text = exc.reply or str(exc)
        if verdict.action is Action.ABORT:
            campaign.stop_with(
                Stop(CampaignStatus.ABORTED, f"{verdict.reason}: {text}", verdict.hint)
            )
            return
        if verdict.action is Action.PAUSE:
            now = campaign.clock.now()
            until = now + max(campaign.settings.rate_limit_pause, verdict.retry_after or 0.0)
            if verdict.until_daily_window:  # a daily quota: until its oldest send leaves 24 h
                _, oldest = campaign.journal.sends_in_window(now - DAY)
                until = max(until, (oldest if oldest is not None else now) + DAY)
            campaign.hold(
                until,
                f"the provider's rate limit: {text}",
                f"rate limited: {text}",
                verdict.hint,
            )
            await campaign.wait_out_hold(self)
            return
        self.session_failures += 1
        policy = campaign.settings.retry
        if self.session_failures > policy.max_reconnects:
            campaign.pause(
                f"cannot keep a connection to the server ({text})",
                "Check the network and the server, then resume.",
            )
            return
        wait = backoff(
            self.session_failures,
            base=policy.session_backoff_base,
            cap=policy.session_backoff_max,
            jitter=policy.jitter,
            rng=campaign.rng,
        )
        campaign.emit(Reconnecting(campaign.clock.now(), self.session_failures, wait, text))
        await campaign.sleep(wait)
