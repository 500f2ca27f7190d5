"""The Recipients screen: paste or upload a list, fix its column or encoding, review it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from nicegui import events, ui

from core.models import Recipient
from core.recipients import Duplicate, ImportReport, Rejected, merge_reports
from ui.services.state import get_state
from ui.web.layout import screen_title
from ui.web.recipient_import import (
    ENCODINGS,
    MAX_UPLOAD_BYTES,
    Attempt,
    Loaded,
    import_loaded,
    import_pasted,
    load_sample,
    safe_display_name,
    with_choice,
)
from ui.web.widgets import PagedTable

__all__ = ["RecipientsScreen", "page"]

_ACCEPT = ".csv,.tsv,.txt,.xlsx,.xlsm"
_LIMIT_MB = MAX_UPLOAD_BYTES // (1024 * 1024)
_REJECTED_COLUMNS: list[dict[str, object]] = [
    {"name": "source", "label": "Source", "field": "source", "align": "left"},
    {"name": "line", "label": "Line", "field": "line", "align": "right"},
    {"name": "value", "label": "Value", "field": "value", "align": "left"},
    {"name": "reason", "label": "Reason", "field": "reason", "align": "left"},
]
_DUPLICATE_COLUMNS: list[dict[str, object]] = [
    {"name": "line", "label": "Line", "field": "line", "align": "right"},
    {"name": "email", "label": "Address", "field": "email", "align": "left"},
    {"name": "first", "label": "Kept from line", "field": "first", "align": "right"},
]


def _recipient_columns(report: ImportReport) -> tuple[list[dict[str, object]], list[str]]:
    """Table columns (generated keys, CSV names as labels) and the fields they show."""
    fields = list(report.merge_fields)
    columns: list[dict[str, object]] = [
        {"name": "line", "label": "Line", "field": "line", "align": "right"}
    ]
    columns += [
        {"name": f"f{i}", "label": name, "field": f"f{i}", "align": "left"}
        for i, name in enumerate(fields)
    ]
    if "name" not in fields:
        columns.append(
            {"name": "display", "label": "Display name", "field": "display", "align": "left"}
        )
    if report.smtputf8_count:
        columns.append({"name": "utf8", "label": "SMTPUTF8", "field": "utf8", "align": "left"})
    return columns, fields


@dataclass
class _ImportState:
    """What the screen is working on: the file last read, and whether it sets its choosers."""

    file: Loaded | None = None
    quiet: bool = False  # True while the screen itself sets the choosers


class RecipientsScreen:
    """Everything on /recipients: paste or upload, choose the column or encoding, review."""

    def __init__(self) -> None:
        self.state = get_state()
        self.current = _ImportState()
        screen_title("Recipients")
        ui.label(
            "Who receives the message: paste addresses or load a CSV, TXT or XLSX file."
        ).classes("text-grey-8")
        with ui.element("div").classes("w-full grid grid-cols-1 lg:grid-cols-2 gap-4 q-mt-md"):
            self._paste_card()
            self._upload_card()
        self._problem_card()
        self.busy = ui.row().classes("items-center q-mt-md")
        with self.busy:
            ui.spinner()
            ui.label("Reading the list …")
        self.busy.set_visibility(False)
        self._review()
        self.column_choice.set_visibility(False)
        self.encoding_choice.set_visibility(False)
        self.show(self.state.draft.recipients)

    # -- building -------------------------------------------------------------------------------

    def _paste_card(self) -> None:
        with ui.card():
            ui.label("Paste addresses").classes("text-h6")
            ui.label(
                "Separated by commas, semicolons, spaces or new lines. "
                "'Ann Lee <ann@example.com>' keeps the name."
            ).classes("text-caption")
            self.paste = ui.textarea(placeholder="ann@example.com, Bob <bob@example.org>")
            self.paste.classes("w-full").props(
                'outlined autogrow aria-label="Addresses to add"'
            ).mark("recipients-paste")
            ui.button(
                "Use these addresses", icon="playlist_add_check", on_click=self.import_text
            ).mark("recipients-paste-import")

    def _upload_card(self) -> None:
        with ui.card():
            ui.label("Upload a file").classes("text-h6")
            ui.label(
                "CSV or TSV with a header row (an 'email' column), TXT, or XLSX; "
                f"up to {_LIMIT_MB} MB."
            ).classes("text-caption")
            self.upload = (
                ui.upload(
                    auto_upload=True,
                    max_file_size=MAX_UPLOAD_BYTES,
                    on_upload=self.receive,
                    on_rejected=lambda: self.show_error(
                        f"That file was refused: use a CSV, TSV, TXT or XLSX file of at most "
                        f"{_LIMIT_MB} MB."
                    ),
                    label="Choose or drop a file",
                )
                .props(f"accept={_ACCEPT} flat bordered")
                .classes("w-full")
            )
            self.upload.mark("recipients-upload")
            ui.button(
                "Load the sample list",
                icon="science",
                on_click=lambda: self.import_file(load_sample()),
            ).props("outline").mark("recipients-sample")

    def _problem_card(self) -> None:
        with ui.card().classes("w-full q-mt-md") as self.problem_card:
            self.error = ui.label("").classes("text-negative break-all").mark("recipients-error")
            with ui.row().classes("items-center gap-4"):
                self.column_choice = (
                    ui.select(
                        [],
                        label="Column with the email addresses",
                        on_change=lambda e: self.rechoose(email_column=e.value),
                    )
                    .classes("w-72")
                    .mark("recipients-email-column")
                )
                self.encoding_choice = (
                    ui.select(
                        ENCODINGS,
                        label="The file's encoding",
                        on_change=lambda e: self.rechoose(encoding=e.value),
                    )
                    .classes("w-72")
                    .mark("recipients-encoding")
                )
        self.problem_card.set_visibility(False)

    def _review(self) -> None:
        with ui.column().classes("w-full q-mt-md gap-2") as self.review:
            with ui.row().classes("w-full items-center"):
                self.summary = ui.label("").classes("text-h6").mark("recipients-summary")
                ui.space()
                ui.button("Clear the list", icon="clear_all", on_click=self.clear).props(
                    "flat color=negative"
                ).mark("recipients-clear")
            self.source = ui.label("").classes("text-grey-8").mark("recipients-source")
            self.duplicates = ui.label("").mark("recipients-duplicates")
            self.smtputf8 = ui.label("").mark("recipients-smtputf8")
            self.valid: PagedTable[Recipient] = PagedTable(
                marker="recipients-table", empty="No valid recipients.", searchable=True
            )
            self.rejected_title = ui.label("").classes("text-h6 q-mt-md")
            self.rejected_title.mark("recipients-rejected-title")
            self.rejected: PagedTable[Rejected] = PagedTable(
                marker="recipients-rejected", empty="Nothing was rejected."
            )
            with ui.expansion("Duplicates dropped").classes("w-full") as self.duplicate_box:
                self.dupes: PagedTable[Duplicate] = PagedTable(
                    marker="recipients-duplicate-rows", empty="No duplicates."
                )
        self.empty = ui.label("No list yet: paste addresses, upload a file or load the sample.")
        self.empty.classes("text-grey-7 q-mt-md").mark("recipients-empty")

    # -- showing --------------------------------------------------------------------------------

    def show_error(self, message: str) -> None:
        self.error.text = message
        self.problem_card.set_visibility(True)

    def show(self, report: ImportReport | None) -> None:
        self.review.set_visibility(report is not None)
        self.empty.set_visibility(report is None)
        if report is None:
            return
        self.summary.text = report.summary()
        self.source.text = f"From {report.source}" + (
            f" · addresses in column '{report.email_column}'" if report.email_column else ""
        )
        self.duplicates.text = f"Duplicates dropped: {report.duplicate_count:,}"
        self.smtputf8.text = (
            f"Addresses that need a server with SMTPUTF8 (non-ASCII before the @): "
            f"{report.smtputf8_count:,}"
        )
        self.smtputf8.set_visibility(report.smtputf8_count > 0)
        columns, fields = _recipient_columns(report)
        self.valid.set_items(
            columns, report.recipients, lambda r: _recipient_row(r, fields), _matches
        )
        self.rejected_title.text = (
            f"Rejected rows ({len(report.rejected):,})"
            if report.rejected
            else "Nothing was rejected."
        )
        self.rejected.table.set_visibility(bool(report.rejected))
        self.rejected.set_items(_REJECTED_COLUMNS, report.rejected, _rejected_row)
        self.duplicate_box.set_visibility(report.duplicate_count > 0)
        self.dupes.set_items(
            _DUPLICATE_COLUMNS,
            report.duplicates,
            lambda d: {"line": d.line, "email": d.email, "first": d.first_line},
        )

    async def _keep_or_merge(self, report: ImportReport) -> ImportReport | None:
        """With a list already loaded, ask: add the new rows to it, or replace it (None: keep
        the current list as it is)."""
        current = self.state.draft.recipients
        if current is None or not current.recipients:
            return report
        with ui.dialog() as dialog, ui.card().classes("w-[32rem] max-w-full"):
            dialog.mark("recipients-merge")
            ui.label("You already have a list").classes("text-h6")
            ui.label(
                f"The list has {len(current.recipients):,} recipients from {current.source}. "
                f"The new one has {len(report.recipients):,} from {report.source}. Add them to "
                "the list (duplicates dropped, columns joined) or replace the list?"
            )
            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=lambda: dialog.submit(None)).props("flat").mark(
                    "recipients-merge-cancel"
                )
                ui.button("Replace the list", on_click=lambda: dialog.submit("replace")).props(
                    "outline color=warning"
                ).mark("recipients-merge-replace").props("data-testid=recipients-merge-replace")
                ui.button("Add to the list", on_click=lambda: dialog.submit("add")).mark(
                    "recipients-merge-add"
                )
        answer = await dialog
        dialog.delete()
        if answer == "add":
            return merge_reports(current, report)
        return report if answer == "replace" else None

    async def apply(self, attempt: Attempt, *, ask: bool = True) -> None:
        self.current.file = attempt.loaded
        self.problem_card.set_visibility(bool(attempt.error or attempt.columns))
        self.error.text = attempt.error
        self.error.set_visibility(bool(attempt.error))
        chosen = attempt.loaded.email_column if attempt.loaded else None
        if attempt.report is not None:
            chosen = attempt.report.email_column
        self.current.quiet = True
        try:
            self.column_choice.set_options(list(attempt.columns))
            self.column_choice.set_value(chosen if chosen in attempt.columns else None)
        finally:
            self.current.quiet = False
        self.column_choice.set_visibility(bool(attempt.columns))
        self.encoding_choice.set_visibility(
            attempt.bad_encoding or bool(attempt.loaded and attempt.loaded.encoding)
        )
        if attempt.report is None:
            return
        report = await self._keep_or_merge(attempt.report) if ask else attempt.report
        if report is None:
            ui.notify("The list was kept as it was.")
            return
        self.state.draft.recipients = report
        self.show(report)
        ui.notify(f"{report.summary()} from {report.source}.")

    # -- actions --------------------------------------------------------------------------------

    async def run_import(self, work: Callable[[], Attempt], *, ask: bool = True) -> None:
        self.busy.set_visibility(True)
        try:
            attempt = await asyncio.to_thread(work)
        finally:
            self.busy.set_visibility(False)
        await self.apply(attempt, ask=ask)

    async def import_text(self) -> None:
        text = str(self.paste.value or "")
        if not text.strip():
            self.show_error("Paste at least one address first.")
            return
        await self.run_import(lambda: import_pasted(text))

    async def import_file(self, loaded: Loaded) -> None:
        self.current.quiet = True
        try:
            self.encoding_choice.set_value(None)
        finally:
            self.current.quiet = False
        await self.run_import(lambda: import_loaded(loaded))

    async def receive(self, event: events.UploadEventArguments) -> None:
        file = event.file
        name = safe_display_name(file.name)
        if file.size() > MAX_UPLOAD_BYTES:
            self.show_error(f"{name} is over {_LIMIT_MB} MB: split it.")
        else:
            await self.import_file(Loaded(name, await file.read()))
        self.upload.reset()

    async def rechoose(
        self, *, email_column: str | None = None, encoding: str | None = None
    ) -> None:
        loaded = self.current.file
        if self.current.quiet or loaded is None or (email_column or encoding) is None:
            return
        changed = with_choice(loaded, email_column=email_column, encoding=encoding)
        if changed != loaded:  # the same file read again: it replaces what it gave before
            await self.run_import(lambda: import_loaded(changed), ask=False)

    def clear(self) -> None:
        self.state.draft.recipients = None
        self.current.file = None
        self.problem_card.set_visibility(False)
        self.show(None)


def _recipient_row(r: Recipient, fields: list[str]) -> dict[str, object]:
    row: dict[str, object] = {"line": r.line or "", "display": r.name}
    row.update({f"f{i}": r.fields.get(name, "") for i, name in enumerate(fields)})
    row["utf8"] = "needed" if r.needs_smtputf8 else ""
    return row


def _matches(r: Recipient, query: str) -> bool:
    return (
        query in r.email.casefold()
        or any(query in value.casefold() for value in r.fields.values())
        or query in r.name.casefold()
    )


def _rejected_row(r: Rejected) -> dict[str, object]:
    return {
        "source": r.source,
        "line": r.line,
        "value": r.value,
        "reason": r.reason + (f" (column {r.field})" if r.field else ""),
    }


def page() -> None:
    """Build the Recipients screen."""
    RecipientsScreen()
