"""The History screen: past campaigns, one campaign's recipients, export, retry, resolve, resume."""

from __future__ import annotations

import io
import time
from collections.abc import Sequence

from nicegui import ui

from core.events import CampaignStatus
from core.models import RecipientStatus
from core.pacing import describe_pacing
from core.ports import Counts
from storage.journal import CampaignNotFoundError, CampaignRecord, JournalError, history
from ui.services import runs
from ui.services.durations import slowest_lines
from ui.services.monitor import LogLine
from ui.services.state import AppState, get_state
from ui.web.charts import CampaignChart, segments, strip_text
from ui.web.credentials import resolve_credentials
from ui.web.layout import screen_title
from ui.web.live import CampaignWatch
from ui.web.progress_view import status_text
from ui.web.reason_view import ReasonList
from ui.web.recipient_table import RecipientTable, format_time
from ui.web.scheduled import ScheduledList

__all__ = ["EXPORTS", "CampaignDetail", "counts_text", "detail_page", "export_bytes", "page"]

# export key -> (button label, statuses; empty means all)
EXPORTS: dict[str, tuple[str, tuple[RecipientStatus, ...]]] = {
    "all": ("Export all", ()),
    "failed": ("Export failed", (RecipientStatus.FAILED,)),
    "unknown": ("Export unknown", (RecipientStatus.UNKNOWN,)),
}
_COLUMNS = [
    {"name": "created", "label": "Started", "field": "created", "align": "left"},
    {"name": "name", "label": "Campaign", "field": "name", "align": "left"},
    {"name": "status", "label": "Status", "field": "status", "align": "left"},
    {"name": "total", "label": "Recipients", "field": "total", "align": "right"},
    {"name": "sent", "label": "Accepted", "field": "sent", "align": "right"},
    {"name": "failed", "label": "Failed", "field": "failed", "align": "right"},
    {"name": "unknown", "label": "Unknown", "field": "unknown", "align": "right"},
    {"name": "remaining", "label": "Not sent yet", "field": "remaining", "align": "right"},
    {"name": "outcome", "label": "Outcome", "field": "outcome", "align": "left"},
]
# A Vue template: values reach the DOM through {{ }} text interpolation only (escaped).
_NAME_CELL = r"""
<q-td :props="props">
  <a :href="'/history/' + props.row.id" class="text-primary">{{ props.value || props.row.id }}</a>
  <div class="text-caption text-grey-7">{{ props.row.id }}</div>
</q-td>
"""
# The outcome as a stacked bar: widths and colours are numbers and constants made here.
_OUTCOME_CELL = r"""
<q-td :props="props">
  <div role="img" :aria-label="props.row.outcome" class="row no-wrap rounded-borders
       overflow-hidden" style="height: 10px; background: #eeeeee; min-width: 8rem">
    <div v-for="seg in props.row.segments" :key="seg.key" :title="seg.title"
         :style="{width: seg.width + '%', background: seg.colour, height: '100%'}"></div>
  </div>
</q-td>
"""
_CSV_MEDIA_TYPE = "text/csv"
LIST_REFRESH_SECONDS = 3.0  # the list reads every campaign's counts: not on every event


def counts_text(counts: Counts) -> str:
    return (
        f"{counts.total:,} recipients: {counts.sent:,} accepted by the server, "
        f"{counts.failed:,} failed, {counts.unknown:,} unknown, {counts.deferred:,} deferred, "
        f"{counts.pending:,} not sent yet"
        + (f", {counts.skipped:,} skipped (suppression list)" if counts.skipped else "")
    )


def export_bytes(
    state: AppState, campaign_id: str, statuses: Sequence[RecipientStatus] = ()
) -> tuple[bytes, int]:
    """The CSV (UTF-8 with a BOM, for spreadsheets) and its number of rows."""
    buffer = io.StringIO(newline="")
    rows = history.export_csv(state.journal, campaign_id, buffer, statuses=statuses or None)
    return buffer.getvalue().encode("utf-8-sig"), rows


def _status_of(state: AppState, campaign_id: str, status: CampaignStatus, reason: str) -> str:
    active = state.active
    if active is not None and active.campaign_id == campaign_id and active.running:
        return "Running now in this app"
    text = status_text(status)
    if status is CampaignStatus.RUNNING:
        text = "Stopped while running (the app or computer stopped); resume it"
    return f"{text}: {reason}" if reason else text


def page() -> None:
    """Every campaign in the journal, newest first."""
    state = get_state()
    screen_title("History")
    ScheduledList(state)
    ui.label("Every campaign sent from this computer, newest first.").classes("text-grey-8")
    message = ui.label().classes("text-negative").mark("history-error")
    table = ui.table(columns=_COLUMNS, rows=[], row_key="id").classes("w-full")
    table.props("flat bordered wrap-cells no-data-label='No campaigns yet.'")
    table.add_slot("body-cell-name", _NAME_CELL)
    table.add_slot("body-cell-outcome", _OUTCOME_CELL)
    table.mark("history-table")

    last = [0.0]

    def refresh() -> None:
        last[0] = time.monotonic()
        try:
            summaries = history.list_campaigns(state.journal)
        except JournalError as exc:
            message.text = f"Cannot read the journal: {exc}"
            return
        table.rows = [
            {
                "id": summary.id,
                "created": format_time(summary.created),
                "name": summary.name,
                "status": _status_of(state, summary.id, summary.status, ""),
                "total": summary.counts.total,
                "sent": summary.counts.sent,
                "failed": summary.counts.failed,
                "unknown": summary.counts.unknown,
                "remaining": summary.counts.remaining,
                "outcome": strip_text(summary.counts),
                "segments": segments(summary.counts),
            }
            for summary in summaries
        ]

    def on_update(full: bool, lines: list[LogLine]) -> None:
        if full or time.monotonic() - last[0] >= LIST_REFRESH_SECONDS:
            refresh()

    CampaignWatch(state, on_update)
    refresh()


def detail_page(campaign_id: str) -> None:
    """One campaign: what happened to each recipient, and what can be done about it."""
    ui.link("← History", "/history").mark("history-back")
    state = get_state()
    try:
        record = state.journal.campaign(campaign_id)
    except CampaignNotFoundError:
        screen_title("Campaign not found")
        ui.label("There is no campaign with this id in the journal.").mark("history-missing")
        return
    except JournalError as exc:
        screen_title("Campaign")
        ui.label(f"Cannot read the journal: {exc}").mark("history-missing")
        return
    CampaignDetail(state, record)


class CampaignDetail:
    """The page of one campaign."""

    def __init__(self, state: AppState, record: CampaignRecord) -> None:
        self.state = state
        self.store = state.journal
        self.record = record
        self.id = record.id
        screen_title(record.name or record.id).classes("break-all").mark("history-title")
        account = record.account
        ui.label(
            f"Campaign {record.id}, started {format_time(record.created)}; sent as "
            f"{account.sender} through {account.host}:{account.port}; "
            f"{describe_pacing(record.settings)}"
        ).classes("text-grey-8 break-all").mark("history-info")
        if runs.is_sandbox(account):
            ui.label(
                "A sandbox campaign: resuming sends to the sandbox running now (its port "
                "changes with every launch of the app)."
            ).classes("text-caption text-grey-7")
        self.status = ui.label().classes("text-subtitle1").mark("history-status")
        self.counts = ui.label().mark("history-counts")
        self.slowest = (
            ui.label().classes("whitespace-pre-wrap text-caption").mark("history-slowest")
        )
        self.live = ui.row().classes("items-center")
        self.chart = CampaignChart(self.store, self.id, marker="history-chart")
        with ui.row().classes("items-center gap-2 q-my-sm"):
            self.resume_button = ui.button("Resume", icon="play_arrow", on_click=self.resume)
            self.resume_button.mark("history-resume")
            self.retry_button = ui.button("Retry failed", icon="replay", on_click=self.ask_retry)
            self.retry_button.props("outline").mark("history-retry")
            self.resend_button = ui.button(
                "Resend unknown…", icon="forward_to_inbox", on_click=self.ask_resend
            )
            self.resend_button.props("outline color=warning").mark("history-resend")
            self.mark_button = ui.button(
                "Mark unknown as sent", icon="done_all", on_click=self.ask_mark_sent
            )
            self.mark_button.props("outline").mark("history-mark-sent")
        with ui.row().classes("items-center gap-2"):
            for key, (label, statuses) in EXPORTS.items():
                ui.button(
                    label,
                    icon="download",
                    on_click=lambda _, key=key, statuses=statuses: self.export(key, statuses),
                ).props("flat dense").mark(f"history-export-{key}")
        self.message = ui.label().classes("whitespace-pre-wrap").mark("history-message")
        self.accept_changes = ui.row()
        reasons_box = ui.column().classes("w-full")
        ui.label("Recipients").classes("text-h6 q-mt-md")
        ui.label(
            "Click a row to see every attempt. Select unknown rows to resolve only those."
        ).classes("text-caption text-grey-7")
        self.table = RecipientTable(
            self.store, self.id, marker="history-recipients", selectable=True
        )
        with reasons_box:
            self.reasons = ReasonList(self.store, self.id, self.table, marker="history-reasons")
        self.watch = CampaignWatch(state, self._on_update)
        self.refresh()

    # -- state ------------------------------------------------------------------------------

    @property
    def running_here(self) -> bool:
        active = self.state.active
        return active is not None and active.campaign_id == self.id and active.running

    def refresh(self) -> None:
        try:
            record = self.store.campaign(self.id)
            counts = self.store.counts(self.id)
        except JournalError as exc:
            self.status.text = f"Cannot read the journal: {exc}"
            return
        self.record = record
        self.status.text = _status_of(self.state, self.id, record.status, record.reason)
        self.counts.text = counts_text(counts)
        running = self.running_here
        if not running:  # reads every attempt: not twice a second during a run
            slow = slowest_lines(self.store, self.id)
            self.slowest.text = "Slowest replies:\n" + "\n".join(slow) if slow else ""
        busy = runs.busy_reason(self.state) is not None
        self.live.clear()
        if running:
            with self.live:
                ui.label("Sending now:").classes("text-positive")
                ui.link("watch it on Send", "/send").mark("history-watch")
        self.resume_button.set_enabled(not busy and counts.remaining > 0)
        self.retry_button.set_enabled(not busy and counts.failed > 0)
        self.retry_button.text = f"Retry failed ({counts.failed:,})"
        self.resend_button.set_enabled(not running and counts.unknown > 0)
        self.mark_button.set_enabled(not running and counts.unknown > 0)
        self.reasons.refresh()  # first: a group the table shows keeps its count
        self.table.refresh()
        self.chart.refresh(force=not running)

    def _on_update(self, full: bool, lines: list[LogLine]) -> None:
        active = self.state.active
        if full or (active is not None and active.campaign_id == self.id):
            self.refresh()

    def _say(self, text: str, *, problem: bool = False) -> None:
        self.message.text = text
        self.message.classes(
            add="text-negative" if problem else "text-positive",
            remove="text-positive" if problem else "text-negative",
        )

    # -- export -----------------------------------------------------------------------------

    def export(self, key: str, statuses: Sequence[RecipientStatus]) -> None:
        try:
            data, rows = export_bytes(self.state, self.id, statuses)
        except JournalError as exc:
            self._say(f"Export failed: {exc}", problem=True)
            return
        ui.download.content(data, f"campaign-{self.id}-{key}.csv", _CSV_MEDIA_TYPE)
        self._say(f"Exported {rows:,} recipients ({key}).")

    # -- resume, retry, resolve --------------------------------------------------------------

    async def resume(self, *, accept_changes: bool = False) -> bool:
        """Continue the campaign where it stopped (after an app restart too)."""
        self.accept_changes.clear()
        busy = runs.busy_reason(self.state)
        if busy:
            self._say(busy, problem=True)
            return False
        try:
            record = self.store.campaign(self.id)
            credentials = await runs.campaign_credentials(record, resolve_credentials)
            if credentials is None:
                self._say("Not resumed: no password given.", problem=True)
                return False
            runs.launch(self.state, self.id, credentials, accept_changes=accept_changes)
        except runs.LaunchError as exc:
            self._say(f"Not resumed: {exc}", problem=True)
            if exc.inputs_changed:
                with self.accept_changes:
                    ui.button(
                        "Resume with the new files",
                        on_click=lambda: self.resume(accept_changes=True),
                    ).props("outline color=warning").mark("history-accept-changes")
            return False
        except JournalError as exc:
            self._say(f"Not resumed: {exc}", problem=True)
            return False
        self._say("Resumed: it sends in the background; watch it here or on Send.")
        self.watch.tick()
        self.refresh()
        return True

    async def _confirm(self, text: str, button: str, marker: str, *, warn: bool) -> bool:
        """Ask before acting; True when the person confirmed."""
        with ui.dialog() as dialog, ui.card().classes("w-96"):
            ui.label(text).classes("text-body1").mark(f"{marker}-text")
            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=lambda: dialog.submit(False)).props("flat").mark(
                    f"{marker}-cancel"
                )
                ui.button(button, on_click=lambda: dialog.submit(True)).props(
                    "color=warning" if warn else "color=primary"
                ).mark(f"{marker}-confirm")
        confirmed = await dialog
        dialog.delete()
        return confirmed is True

    async def ask_retry(self) -> None:
        failed = self.store.counts(self.id).failed
        if await self._confirm(
            f"Send again to the {failed:,} failed recipients? They go back to the queue and "
            "the campaign resumes.",
            "Retry them",
            "history-retry",
            warn=False,
        ):
            await self.retry()

    async def retry(self) -> None:
        busy = runs.busy_reason(self.state)
        if busy:
            self._say(busy, problem=True)
            return
        try:
            changed = history.retry_failed(self.store, self.id)
        except JournalError as exc:
            self._say(f"Nothing changed: {exc}", problem=True)
            return
        self.refresh()
        if await self.resume():
            self._say(f"{changed:,} failed recipients queued again; the campaign resumed.")

    def _chosen_unknown(self) -> list[int] | None:
        """The selected rows if any (all must be unknown), else None for "all unknown"."""
        return self.table.selected_seqs or None

    def _scope(self, seqs: list[int] | None) -> str:
        if seqs is None:
            return f"all {self.store.counts(self.id).unknown:,} unknown recipients"
        return f"the {len(seqs):,} selected recipients"

    async def ask_resend(self) -> None:
        seqs = self._chosen_unknown()
        if await self._confirm(
            f"Resend to {self._scope(seqs)}? The server may already have taken these "
            "messages: some people may get the message twice.",
            "Resend (may duplicate)",
            "history-resend",
            warn=True,
        ):
            await self.resolve(history.Resolution.RESEND, seqs)

    async def ask_mark_sent(self) -> None:
        seqs = self._chosen_unknown()
        if await self._confirm(
            f"Mark {self._scope(seqs)} as sent? Choose this when you know they got it; they "
            "will not be sent again.",
            "Mark as sent",
            "history-mark",
            warn=False,
        ):
            await self.resolve(history.Resolution.MARK_SENT, seqs)

    async def resolve(self, resolution: history.Resolution, seqs: list[int] | None) -> None:
        if self.running_here:
            self._say("Wait until the campaign stops before resolving.", problem=True)
            return
        if resolution is history.Resolution.RESEND and runs.busy_reason(self.state):
            self._say(str(runs.busy_reason(self.state)), problem=True)
            return
        try:
            changed = history.resolve_unknown(self.store, self.id, resolution, seqs=seqs)
        except JournalError as exc:
            self._say(f"Nothing changed: {exc}", problem=True)
            return
        self.table.table.selected = []
        self.refresh()
        if resolution is history.Resolution.MARK_SENT:
            self._say(f"{changed:,} recipients marked as sent.")
            return
        if await self.resume():
            self._say(f"{changed:,} recipients queued to be sent again; the campaign resumed.")
