"""Scheduled campaigns in the app: picked up when due, asked about when late, listed in History."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from nicegui import background_tasks, ui

from core.errors import InputError
from core.pacing import format_duration
from core.ports import SystemClock
from core.schedule import format_local, local_zone, parse_start, zone_named
from storage.journal import JournalError
from storage.journal.scheduling import cancel_scheduled, reschedule, scheduled_campaigns
from ui.services.due import DUE_CHECK_SECONDS, PickUp, pick_up_due
from ui.services.scheduling import LATE_AFTER, Due, due_now, is_late
from ui.services.state import AppState, get_state

__all__ = ["DueWatcher", "ScheduledList", "ask_about_late", "due_watcher", "watch_scheduled"]

log = logging.getLogger(__name__)


class DueWatcher:
    """Looks for due campaigns every few seconds while the app runs (and at once on start).

    Wall-clock times are compared each look, so a computer that slept past a start time
    starts the campaign on waking. One campaign at a time: a due one waits behind the
    running one. Late ones (more than an hour) wait until a person says to start them.
    """

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.late_ok: set[str] = set()
        self.asked: set[str] = set()  # late campaigns the person was asked about
        self.last = PickUp()
        self._poke = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = background_tasks.create(self._loop(), name="due campaigns")

    def poke(self) -> None:
        """Look now (a person chose Start now, or moved a start time)."""
        self._poke.set()

    async def look(self) -> PickUp:
        try:
            self.last = await pick_up_due(self.state, late_ok=frozenset(self.late_ok))
        except JournalError as exc:
            log.warning("cannot look for due campaigns: %s", exc)
        for problem in self.last.problems:
            log.warning("%s", problem)
        return self.last

    async def _loop(self) -> None:
        while get_state() is self.state:  # a new app state (tests) gets its own watcher
            await self.look()
            self._poke.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), DUE_CHECK_SECONDS)


_WATCHERS: dict[int, DueWatcher] = {}


def due_watcher(state: AppState) -> DueWatcher:
    """The app's one watcher (per app state), started on first use."""
    watcher = _WATCHERS.get(id(state))
    if watcher is None or watcher.state is not state:
        watcher = _WATCHERS[id(state)] = DueWatcher(state)
    watcher.ensure_running()
    return watcher


def watch_scheduled() -> None:
    """At app start: look for due campaigns now and every few seconds (no page needed)."""
    state = get_state()
    state.spawn = background_tasks.create  # campaigns outlive any tab; awaited at exit
    due_watcher(state)


def _late_text(due: Due) -> str:
    campaign = due.campaign
    when = format_local(campaign.start_at, campaign.zone or local_zone().key)
    return (
        f"{campaign.name} ({campaign.total:,} recipients) was due {when}, "
        f"{format_duration(due.late_by)} ago"
    )


def ask_about_late(state: AppState) -> None:
    """On opening the app: ask before starting a campaign more than an hour late."""
    watcher = due_watcher(state)
    try:
        late = [
            due
            for due in due_now(state.journal, SystemClock().now())
            if is_late(due) and due.campaign.id not in watcher.asked
        ]
    except JournalError:
        return
    if not late:
        return
    with ui.dialog().props("persistent") as dialog, ui.card().classes("w-[36rem]"):
        dialog.mark("late-dialog")
        ui.label("Scheduled campaigns are late").classes("text-h6")
        ui.label(
            f"These were due more than {format_duration(LATE_AFTER)} ago (the app or the "
            "computer was off). Start them now?"
        )
        for due in late:
            watcher.asked.add(due.campaign.id)
            campaign_id = due.campaign.id
            with ui.row().classes("items-center gap-2"):
                ui.label(_late_text(due)).mark(f"late-{campaign_id}")

                def start(campaign_id: str = campaign_id) -> None:
                    watcher.late_ok.add(campaign_id)
                    watcher.poke()

                ui.button("Start now", on_click=start).props("dense").mark(
                    f"late-start-{campaign_id}"
                )
        with ui.row().classes("w-full justify-end"):
            ui.button("Leave them scheduled", on_click=dialog.close).props("flat").mark(
                "late-leave"
            )
    dialog.open()


class ScheduledList:
    """History's list of scheduled campaigns: their time; edit it, start now, cancel."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.watcher = due_watcher(state)
        self.box = ui.column().classes("w-full gap-1").mark("scheduled-list")
        self.message = ui.label().classes("whitespace-pre-wrap").mark("scheduled-message")
        self.refresh()

    def refresh(self) -> None:
        self.box.clear()
        try:
            campaigns = scheduled_campaigns(self.state.journal)
        except JournalError as exc:
            self.message.text = f"Cannot read the journal: {exc}"
            return
        if not campaigns:
            return
        now = SystemClock().now()
        with self.box:
            ui.label("Scheduled").classes("text-h6")
            for campaign in campaigns:
                when = format_local(campaign.start_at, campaign.zone or local_zone().key)
                state = "due now" if campaign.start_at <= now else ""
                if now - campaign.start_at > LATE_AFTER:
                    state = "late: waits for you to start it"
                elif state and self.state.active is not None and self.state.active.running:
                    state = "due: waits for the running campaign"
                with ui.row().classes("items-center gap-2").mark(f"scheduled-{campaign.id}"):
                    ui.label(f"{when} — {campaign.name} ({campaign.total:,} recipients)")
                    if state:
                        ui.label(state).classes("text-warning")
                    ui.button(
                        "Edit time", icon="edit", on_click=lambda c=campaign.id: self.edit(c)
                    ).props("flat dense").mark(f"scheduled-edit-{campaign.id}")
                    ui.button(
                        "Start now", icon="play_arrow", on_click=lambda c=campaign.id: self.start(c)
                    ).props("flat dense").mark(f"scheduled-start-{campaign.id}")
                    ui.button(
                        "Cancel", icon="cancel", on_click=lambda c=campaign.id: self.cancel(c)
                    ).props("flat dense color=negative").mark(f"scheduled-cancel-{campaign.id}")

    def start(self, campaign_id: str) -> None:
        """Start now: due at once; it waits behind a running campaign."""
        reschedule(self.state.journal, campaign_id, start_at=SystemClock().now())
        self.watcher.late_ok.add(campaign_id)
        self.watcher.poke()
        busy = self.state.active is not None and self.state.active.running
        self.message.text = (
            "It starts when the running campaign ends." if busy else "Starting it now."
        )
        self.refresh()

    def cancel(self, campaign_id: str) -> None:
        if cancel_scheduled(self.state.journal, campaign_id):
            self.message.text = f"Campaign {campaign_id} cancelled (it stays in History)."
        self.refresh()

    async def edit(self, campaign_id: str) -> None:
        zone = local_zone()
        current = next(
            (c for c in scheduled_campaigns(self.state.journal) if c.id == campaign_id), None
        )
        if current is None:
            self.refresh()
            return
        moment = datetime.fromtimestamp(current.start_at, zone_named(zone.key))
        with ui.dialog() as dialog, ui.card():
            dialog.mark("scheduled-edit-dialog")
            ui.label("When should it start?").classes("text-h6")
            date = ui.input("Date", value=moment.date().isoformat()).props("type=date")
            date.mark("scheduled-edit-date")
            time = ui.input("Time", value=moment.strftime("%H:%M")).props("type=time")
            time.mark("scheduled-edit-time")
            ui.label(f"Time zone: {zone.key}").classes("text-caption")
            error = ui.label().classes("text-negative").mark("scheduled-edit-error")

            def save() -> None:
                try:
                    start = parse_start(f"{date.value} {time.value}", zone=zone, field="time")
                except InputError as exc:
                    error.text = str(exc)
                    return
                if start.at <= SystemClock().now():
                    error.text = "That time has passed: use Start now instead."
                    return
                reschedule(self.state.journal, campaign_id, start_at=start.at, zone=start.zone)
                self.message.text = f"Campaign {campaign_id} now starts {start.text()}."
                dialog.close()
                self.refresh()

            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=dialog.close).props("flat")
                ui.button("Save", on_click=save).mark("scheduled-edit-save")
        dialog.open()
