"""On the Send screen: a start time in the person's zone, batches and a sending window."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta

from nicegui import ui

from core.errors import InputError
from core.models import Account, SendSettings
from core.plan_timeline import batches_timeline
from core.schedule import LocalTime, SendingWindow, local_zone, parse_duration, parse_start
from storage.errors import StorageError
from ui.services import runs
from ui.services.campaigns import Prepared
from ui.services.scheduling import (
    google_token_warning,
    plan_lines,
    schedule_batches,
    schedule_campaign,
    unattended_problem,
)
from ui.services.starting import NotStartedError
from ui.services.state import AppState
from ui.web.charts import PlanChart
from ui.web.credentials import ask_credentials

__all__ = ["SendLaterPanel", "schedule_confirm_dialog"]

_DEFAULT_HOUR = 9  # a new start time: tomorrow at 09:00


def _zone_text(zone: str) -> str:
    now = datetime.now(local_zone())
    offset = now.strftime("%z")
    return f"Time zone: {zone} ({now.tzname()}, {offset[:3]}:{offset[3:]})"


class SendLaterPanel:
    """Inputs for a start time (date and time, local zone shown) and for batches and windows.

    `checked` returns the checked draft with the effective settings (None: not ready, the
    screen shows why).
    """

    def __init__(self, state: AppState, checked: Callable[[], Awaitable[Prepared | None]]) -> None:
        self.state = state
        self.checked = checked
        self.zone = local_zone().key
        tomorrow = datetime.now(local_zone()).date() + timedelta(days=1)
        with (
            ui.expansion("Send later, or in batches", icon="schedule")
            .classes("w-full")
            .mark("later-panel")
        ):
            with ui.row().classes("items-end gap-4"):
                self.date = ui.input("Date", value=tomorrow.isoformat()).props("type=date")
                self.date.mark("later-date")
                self.time = ui.input("Time", value=f"{_DEFAULT_HOUR:02d}:00").props("type=time")
                self.time.mark("later-time")
                ui.label(_zone_text(self.zone)).classes("text-caption").mark("later-zone")
            with ui.row().classes("items-end gap-4"):
                self.batch_size = ui.number("Batch size", min=0, format="%d").mark("later-batch")
                self.batch_pause = ui.input("Pause between batches", value="30m").mark(
                    "later-pause"
                )
                self.window = ui.input("Sending window", placeholder="09:00-17:00").mark(
                    "later-window"
                )
                self.days = ui.input("Days", placeholder="mon-fri").mark("later-days")
            ui.label(
                "A batch pause and the window apply to Start sending too. Scheduling needs a "
                "saved account whose password is remembered (OS keyring) or a sign-in."
            ).classes("text-caption text-grey-7")
            self.plan = ui.column().classes("gap-0 text-caption").mark("later-plan")
            self.chart = PlanChart(marker="later-plan-chart")  # the same plan, as a picture
            for field in (self.date, self.time, self.batch_size, self.batch_pause):
                field.on_value_change(self.show_plan)
            for field in (self.window, self.days):
                field.on_value_change(self.show_plan)
            with ui.row().classes("items-center gap-2"):
                self.button = ui.button("Schedule", icon="schedule", on_click=self.schedule)
                self.button.mark("later-schedule")
            self.message = ui.label().classes("whitespace-pre-wrap").mark("later-message")
        self.show_plan()

    def apply(self, settings: SendSettings) -> SendSettings:
        """The settings with the batches and the window entered here (`InputError` if bad)."""
        size = int(self.batch_size.value or 0)
        if size:
            pause = parse_duration(self.batch_pause.value or "30m", field="Pause between batches")
            settings = replace(settings, batch_size=size, batch_pause=pause)
        window_text = (self.window.value or "").strip()
        days = (self.days.value or "").strip()
        if window_text or days:
            window = SendingWindow.parse(
                window_text or "00:00-24:00",
                days=days,
                zone=self.zone,
                window_field="Sending window",
                days_field="Days",
            )
            settings = replace(settings, window=window)
        return settings

    def show_plan(self) -> None:
        """The plan with this start time, batches and window (or what is wrong with them)."""
        self.plan.clear()
        recipients = self.state.draft.recipients
        count = len(recipients.recipients) if recipients else 0
        with self.plan:
            try:
                settings = self.apply(self.state.draft.settings)
                start = self.start_time()
            except InputError as exc:
                ui.label(str(exc)).classes("text-negative")
                return
            if count:
                for line in plan_lines(count, settings, start):
                    ui.label(line)
        if count:
            batches = schedule_batches(count, settings, start.at)
            self.chart.show_timeline(batches_timeline(batches, start=time.time()))

    def start_time(self) -> LocalTime:
        text = f"{self.date.value or ''} {self.time.value or ''}".strip()
        return parse_start(text, zone=local_zone(), field="Date and time")

    def _unattended(self, account: Account) -> str | None:
        saved = runs.matching_saved_account(self.state, account)
        try:
            vault = self.state.vault
        except StorageError as exc:
            return str(exc)
        return unattended_problem(account, saved, vault)

    async def schedule(self) -> None:
        self.message.text = ""
        self.message.classes(remove="text-negative text-positive")
        try:
            start = self.start_time()
        except InputError as exc:
            self._fail(str(exc))
            return
        prepared = await self.checked()
        if prepared is None:
            self._fail("Not scheduled: the draft is not ready (see above).")
            return
        try:
            draft = replace(prepared.draft, settings=self.apply(prepared.draft.settings))
        except InputError as exc:
            self._fail(str(exc))
            return
        host = ui.context.client.content  # outlives this click, as the Send dialogs do
        self.button.disable()
        try:
            started = await schedule_campaign(
                self.state.journal,
                draft,
                start,
                unattended=self._unattended,
                confirm=lambda checked: schedule_confirm_dialog(checked, start, host=host),
                secrets=lambda _: ask_credentials(self.state.draft.account_name),
                prepared=replace(prepared, draft=draft),
            )
        except NotStartedError as exc:
            self._fail(f"Not scheduled: {exc}.")
            return
        finally:
            self.button.enable()
        text = f"Campaign {started.campaign_id} scheduled for {start.text()}. See History."
        warning = google_token_warning(draft.account, start.at, datetime.now().timestamp())
        self.message.text = f"{text}\nWarning: {warning}." if warning else text
        self.message.classes("text-positive")

    def _fail(self, text: str) -> None:
        self.message.text = text
        self.message.classes("text-negative")


async def schedule_confirm_dialog(
    prepared: Prepared, start: LocalTime, *, host: ui.element
) -> bool:
    """Ask before scheduling, with the plan: when it starts, each batch, when it ends."""
    count = len(prepared.draft.recipients)
    with host, ui.dialog().props("persistent") as dialog, ui.card().classes("w-[36rem]"):
        dialog.mark("later-confirm")
        ui.label("Schedule this campaign?").classes("text-h6")
        account = prepared.draft.account
        with ui.column().classes("gap-1").mark("later-confirm-plan"):
            ui.label(f"Account: {account.sender} via {account.host}:{account.port}")
            ui.label(f"Recipients: {count:,}")
            for line in plan_lines(count, prepared.draft.settings, start):
                ui.label(line)
        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=lambda: dialog.submit(False)).props("flat").mark(
                "later-confirm-cancel"
            )
            ui.button(
                f"Schedule {count:,} message{'s' if count != 1 else ''}",
                icon="schedule",
                on_click=lambda: dialog.submit(True),
            ).mark("later-confirm-ok")
    answer = await dialog
    dialog.delete()
    return answer is True
