"""A campaign's recipients from the journal: one page at a time, a status filter, attempts."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from nicegui import ui

from core.models import RecipientStatus
from core.ports import Counts
from core.reasons import ReasonGroup
from storage.journal import JournalError, JournalStore, history
from storage.journal.durations import durations, format_seconds
from storage.journal.reasons import reason_rows

__all__ = [
    "FILTERS",
    "PAGE_SIZE",
    "RecipientTable",
    "count_for",
    "format_time",
    "recipient_row",
    "show_attempts",
]

PAGE_SIZE = 25
_S = RecipientStatus
# filter key -> (label, statuses; empty means all)
FILTERS: dict[str, tuple[str, tuple[RecipientStatus, ...]]] = {
    "all": ("All", ()),
    "problems": ("Problems (failed, unknown, deferred)", (_S.FAILED, _S.UNKNOWN, _S.DEFERRED)),
    "sent": ("Accepted by server", (_S.SENT,)),
    "failed": ("Failed", (_S.FAILED,)),
    "unknown": ("Unknown (need your decision)", (_S.UNKNOWN,)),
    "deferred": ("Deferred (will retry)", (_S.DEFERRED,)),
    "pending": ("Not sent yet", (_S.PENDING,)),
    "skipped": ("Skipped (suppression list)", (_S.SKIPPED,)),
}
STATUS_LABELS = {
    _S.PENDING: "not sent yet",
    _S.DEFERRED: "deferred",
    _S.SENT: "accepted by server",
    _S.FAILED: "failed",
    _S.UNKNOWN: "unknown",
    _S.SKIPPED: "skipped",
}
_COLUMNS = [
    {"name": "line", "label": "Line", "field": "line", "align": "right"},
    {"name": "email", "label": "Email", "field": "email", "align": "left"},
    {"name": "name", "label": "Name", "field": "name", "align": "left"},
    {"name": "status", "label": "Status", "field": "status", "align": "left"},
    {"name": "attempts", "label": "Tries", "field": "attempts", "align": "right"},
    {"name": "code", "label": "Code", "field": "code", "align": "left"},
    {"name": "reply", "label": "Server reply", "field": "reply", "align": "left"},
    {"name": "took", "label": "Took", "field": "took", "align": "right"},
    {"name": "time", "label": "Time", "field": "time", "align": "left"},
]
# The address as a button: the attempts dialog opens from the keyboard too (Tab, Enter), not
# only by clicking the row. Text reaches the DOM through Vue's escaped `label` binding.
_EMAIL_CELL = r"""
<q-td :props="props">
  <q-btn flat dense no-caps class="text-left" :label="props.value"
         :aria-label="'Attempts for ' + props.value"
         @click.stop="() => $parent.$emit('attempts', props.row)" />
</q-td>
"""
_ATTEMPT_COLUMNS = [
    {"name": "time", "label": "Time", "field": "time", "align": "left"},
    {"name": "event", "label": "What", "field": "event", "align": "left"},
    {"name": "code", "label": "Code", "field": "code", "align": "left"},
    {"name": "text", "label": "Text", "field": "text", "align": "left"},
]


def format_time(at: float | None) -> str:
    """A journal timestamp as local time, or '' when there is none."""
    if not at:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def count_for(counts: Counts, statuses: Sequence[RecipientStatus]) -> int:
    """How many recipients have one of `statuses` (all when empty)."""
    if not statuses:
        return counts.total
    per = {
        _S.PENDING: counts.pending,
        _S.DEFERRED: counts.deferred,
        _S.SENT: counts.sent,
        _S.FAILED: counts.failed,
        _S.UNKNOWN: counts.unknown,
    }
    return sum(per[status] for status in set(statuses))


def _code(code: int | None, enhanced: str | None) -> str:
    return " ".join(part for part in (str(code) if code else "", enhanced or "") if part)


def recipient_row(row: history.RecipientRow, seconds: float | None = None) -> dict[str, Any]:
    """A table row: every value a plain string or number (cells render as text)."""
    return {
        "seq": row.seq,
        "line": row.line or "",
        "email": row.email,
        "name": row.name,
        "status": STATUS_LABELS.get(row.status, row.status.value),
        "attempts": row.attempts,
        "code": _code(row.code, row.enhanced),
        "reply": row.text,
        "took": format_seconds(seconds),
        "time": format_time(row.updated),
    }


class RecipientTable:
    """The journal's recipients of one campaign, paged on the server, newest data on refresh."""

    def __init__(
        self,
        store: JournalStore,
        campaign_id: str,
        *,
        marker: str,
        selectable: bool = False,
        initial_filter: str = "all",
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.store = store
        self.campaign_id = campaign_id
        self.page_size = page_size
        self.total = 0
        self.reason: ReasonGroup | None = None  # only this reason group's rows (a click chose)
        with ui.row().classes("w-full items-center gap-4"):
            self.filter = ui.select(
                {key: label for key, (label, _) in FILTERS.items()},
                value=initial_filter,
                label="Show",
                on_change=self._filter_changed,
            ).classes("min-w-[16rem]")
            self.filter.mark(f"{marker}-filter")
            self.summary = ui.label().classes("text-grey-8").mark(f"{marker}-summary")
        self.table = ui.table(
            columns=_COLUMNS,
            rows=[],
            row_key="seq",
            selection="multiple" if selectable else None,
        ).classes("w-full")
        self.table.props("flat bordered dense wrap-cells no-data-label='No recipients here.'")
        self.table.mark(marker)
        self.table.on("rowClick", self._row_clicked)
        self.table.add_slot("body-cell-email", _EMAIL_CELL)
        self.table.on("attempts", self._email_chosen)
        with ui.row().classes("w-full justify-center"):
            self.pages = ui.pagination(1, 1, direction_links=True, on_change=self.refresh)
            self.pages.props("max-pages=7 boundary-links").mark(f"{marker}-pages")
        self.refresh()

    @property
    def statuses(self) -> tuple[RecipientStatus, ...]:
        return FILTERS.get(str(self.filter.value), FILTERS["all"])[1]

    @property
    def selected_seqs(self) -> list[int]:
        return [int(row["seq"]) for row in self.table.selected]

    def show_reason(self, group: ReasonGroup | None) -> None:
        """Only the rows of one reason group (None: back to the status filter)."""
        self.reason = group
        self.pages.value = 1
        self.table.selected = []
        self.refresh()

    def _filter_changed(self) -> None:
        self.reason = None
        self.pages.value = 1
        self.table.selected = []
        self.refresh()

    def refresh(self) -> None:
        """Read the current page from the journal (one small query) and show it."""
        if self.table.is_deleted:
            return
        try:
            reason = self.reason
            if reason is not None:
                self.total = reason.count
            else:
                self.total = count_for(self.store.counts(self.campaign_id), self.statuses)
            last_page = max(1, -(-self.total // self.page_size))
            page = min(max(1, int(self.pages.value or 1)), last_page)
            offset, limit = (page - 1) * self.page_size, self.page_size
            if reason is not None:
                rows = reason_rows(self.store, self.campaign_id, reason, offset=offset, limit=limit)
            else:
                rows = history.recipients(
                    self.store,
                    self.campaign_id,
                    statuses=self.statuses or None,
                    offset=offset,
                    limit=limit,
                )
        except JournalError as exc:
            self.summary.text = f"Cannot read the journal: {exc}"
            return
        if self.pages.max != last_page:
            self.pages.max = last_page
            self.pages.update()
        if self.pages.value != page:
            self.pages.set_value(page)
            return  # the change handler refreshes again
        took = durations(self.store, self.campaign_id, seqs=[row.seq for row in rows])
        self.table.rows = [recipient_row(row, took.get(row.seq)) for row in rows]
        first = (page - 1) * self.page_size + 1
        self.summary.text = (
            f"{first:,}–{first + len(rows) - 1:,} of {self.total:,}" if rows else "None."
        ) + (f" ({self.reason.cause})" if self.reason is not None else "")

    def _email_chosen(self, event: Any) -> None:
        row = event.args
        if isinstance(row, dict) and "seq" in row:
            show_attempts(self.store, self.campaign_id, int(row["seq"]), str(row.get("email")))

    def _row_clicked(self, event: Any) -> None:
        args = event.args
        row = args[1] if isinstance(args, list) and len(args) > 1 else None
        if isinstance(row, dict) and "seq" in row:
            show_attempts(self.store, self.campaign_id, int(row["seq"]), str(row.get("email")))


def show_attempts(
    store: JournalStore,
    campaign_id: str,
    seq: int,
    email: str,
    *,
    on_close: Callable[[], None] | None = None,
) -> ui.dialog:
    """A dialog with everything the journal recorded for one recipient, oldest first."""
    rows = [
        {
            "id": index,
            "time": format_time(attempt.at),
            "event": attempt.event,
            "code": _code(attempt.code, attempt.enhanced),
            "text": attempt.text,
        }
        for index, attempt in enumerate(history.attempts(store, campaign_id, seq))
    ]
    with ui.dialog() as dialog, ui.card().classes("w-full max-w-3xl"):
        ui.label(f"Attempts for {email}").classes("text-h6 break-all").mark("attempts-title")
        table = ui.table(columns=_ATTEMPT_COLUMNS, rows=rows, row_key="id").classes("w-full")
        table.props("flat bordered dense wrap-cells no-data-label='Nothing recorded yet.'")
        table.mark("attempts-table")
        ui.button("Close", on_click=dialog.close).props("flat").mark("attempts-close")

    def closed() -> None:
        dialog.delete()
        if on_close is not None:
            on_close()

    dialog.on("hide", closed)
    dialog.open()
    return dialog
