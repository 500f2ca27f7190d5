"""The Compose screen: subject and body with merge fields, options, attachments, checks."""

from __future__ import annotations

import contextlib
import keyword
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from nicegui import events, ui

from core.errors import InputError
from core.mailmerge import parse_mailmerge
from core.models import BodyFormat, Template
from core.recipients.report import ImportReport
from storage.errors import StorageError
from ui.services.state import DraftState, get_state
from ui.web.attachments import AttachmentsPanel
from ui.web.compose_preview import PreflightPanel, PreviewPanel, preview_account
from ui.web.deliverability_view import SpamCheckPanel, first_message_of_state
from ui.web.layout import screen_title
from ui.web.recipient_import import safe_display_name
from ui.web.widgets import slug

__all__ = [
    "AUTO_PREFLIGHT_LIMIT",
    "SAMPLE_TEMPLATE",
    "field_token",
    "insert_at",
    "load_template_text",
    "page",
    "usable_field",
]

SAMPLE_TEMPLATE = Path(__file__).resolve().parents[2] / "assets" / "sample-template.md"
SAMPLE_SUBJECT = "News for {{ company }}, {{ first_name }}"
AUTO_PREFLIGHT_LIMIT = 5_000  # above this many recipients the check runs on request only
DEBOUNCE_SECONDS = 0.6
_TICK_SECONDS = 0.2
_MAX_TEMPLATE_BYTES = 1024 * 1024
_FORMATS = {
    BodyFormat.TEXT.value: "Plain text",
    BodyFormat.MARKDOWN.value: "Markdown",
    BodyFormat.HTML.value: "HTML",
}
_CURSOR_JS = "(e) => emit({start: e.target.selectionStart, end: e.target.selectionEnd})"
_HEADER_LINE = re.compile(r"^[!-9;-~]+:")  # mailmerge's "NAME:" at the start of a line
_JINJA_CONSTANTS = frozenset({"true", "false", "none", "True", "False", "None"})


def usable_field(name: str) -> bool:
    """Whether `{{ name }}` works in a template (a column named `first name` does not)."""
    return name.isidentifier() and not keyword.iskeyword(name) and name not in _JINJA_CONSTANTS


def field_token(name: str) -> str:
    return "{{ " + name + " }}"


def insert_at(text: str, token: str, start: int | None, end: int | None) -> tuple[str, int]:
    """`text` with `token` replacing the selection (or appended); returns the new cursor."""
    if start is None or not 0 <= start <= len(text):
        glue = "" if not text or text.endswith((" ", "\n")) else " "
        joined = text + glue + token
        return joined, len(joined)
    stop = end if end is not None and start <= end <= len(text) else start
    return text[:start] + token + text[stop:], start + len(token)


def load_template_text(text: str, *, source: str) -> Template:
    """A mailmerge template file (headers, blank line, body); no headers: a Markdown body."""
    first = text.removeprefix("\ufeff").lstrip("\r\n").partition("\n")[0]
    if not _HEADER_LINE.match(first):
        text = f"SUBJECT: {SAMPLE_SUBJECT}\nCONTENT-TYPE: text/markdown\n\n{text}"
    return parse_mailmerge(text, source=source).template


def _fields(report: ImportReport | None) -> tuple[str, ...]:
    return report.merge_fields if report is not None else ("email", "name")


def page() -> None:
    """Build the Compose screen."""
    state = get_state()
    state.restore_draft_account()
    screen_title("Compose")
    ui.label("The subject and body, with merge fields from your recipient list.").classes(
        "text-grey-8"
    )
    _ComposeScreen(state.draft)


class _ComposeScreen:
    """The inputs write the draft's template at once; preview and checks follow, debounced."""

    def __init__(self, draft: DraftState) -> None:
        self.draft = draft
        self.dirty, self.changed_at, self.busy = True, 0.0, False
        self.cursor: dict[str, Any] = {"target": None, "start": None, "end": None}
        grid = "w-full grid grid-cols-1 xl:grid-cols-2 gap-4 items-start q-mt-md"
        with ui.element("div").classes(grid):
            with ui.column().classes("w-full gap-4"):
                with ui.card().classes("w-full"):
                    self._editor()
                with ui.card().classes("w-full"):
                    self._list_options()
                with ui.card().classes("w-full"):
                    self.attachments = AttachmentsPanel(
                        draft, max_bytes=draft.settings.max_attachment_bytes, on_change=self.touch
                    )
            with ui.column().classes("w-full gap-4"):
                with ui.card().classes("w-full"):
                    self.preview = PreviewPanel(draft)
                with ui.card().classes("w-full"):
                    self.checks = PreflightPanel(draft)
                    SpamCheckPanel(
                        lambda: first_message_of_state(draft, preview_account()),
                        marker="compose-spam",
                    )
        ui.timer(_TICK_SECONDS, self.tick)

    # -- building --------------------------------------------------------------------------

    def _editor(self) -> None:
        template = self.draft.template
        with ui.row().classes("w-full items-center gap-2"):
            ui.button("Load the sample template", icon="article", on_click=self.load_sample)
            ui.upload(
                auto_upload=True,
                max_file_size=_MAX_TEMPLATE_BYTES,
                on_upload=self.load_file,
                label="Open a template file",
            ).props("accept=.md,.txt,.html,.htm flat bordered").classes("w-64").mark(
                "compose-template-upload"
            )
        self.subject = (
            ui.input(
                "Subject", value=template.subject, on_change=lambda e: self.update(subject=e.value)
            )
            .classes("w-full")
            .mark("compose-subject")
        )
        self.format = ui.toggle(
            _FORMATS, value=template.format.value, on_change=lambda e: self.format_changed(e.value)
        ).mark("compose-format")
        with ui.row().classes("items-center gap-1").mark("compose-fields"):
            ui.label("Insert a merge field:").classes("text-caption")
            for name in _fields(self.draft.recipients):
                chip = ui.chip(name, icon="add", on_click=lambda n=name: self.insert_field(n))
                chip.props("clickable dense outline")
                chip.mark(f"compose-field compose-field-{slug(name)}")
                if not usable_field(name):
                    chip.disable()
                    chip.tooltip("Rename this column (letters, digits and _) to use it.")
        self.body = (
            ui.textarea("Body", value=template.body, on_change=lambda e: self.update(body=e.value))
            .classes("w-full font-mono")
            .props("outlined autogrow input-style='min-height: 16rem'")
        )
        self.body.mark("compose-body")
        with ui.expansion("Plain-text version (optional)").classes(
            "w-full"
        ) as self.alternative_box:
            self.alternative = (
                ui.textarea(
                    value=template.text_alternative or "",
                    on_change=lambda e: self.update(text_alternative=e.value or None),
                )
                .classes("w-full font-mono")
                .props("outlined autogrow")
            )
            self.alternative.mark("compose-text-alternative")
        self.alternative_box.set_visibility(template.format is BodyFormat.HTML)
        for target in (self.subject, self.body):
            target.on("blur", lambda e, t=target: self.remember_cursor(t, e), js_handler=_CURSOR_JS)

    def _list_options(self) -> None:
        template = self.draft.template
        ui.label("Replies and unsubscribe").classes("text-h6")

        def optional(label: str, key: str, value: str | None, marker: str, hint: str) -> ui.input:
            return (
                ui.input(
                    label,
                    placeholder=hint,
                    value=value or "",
                    on_change=lambda e: self.update(**{key: str(e.value or "").strip() or None}),
                )
                .classes("w-full")
                .mark(marker)
            )

        self.reply_to = optional(
            "Reply-To (optional)", "reply_to", template.reply_to, "compose-reply-to", ""
        )
        self.unsubscribe_mailto = optional(
            "Unsubscribe by email (optional)",
            "list_unsubscribe_mailto",
            template.list_unsubscribe_mailto,
            "compose-unsubscribe-mailto",
            "unsubscribe@example.com",
        )
        self.unsubscribe_url = optional(
            "Unsubscribe link (optional, https://)",
            "list_unsubscribe_url",
            template.list_unsubscribe_url,
            "compose-unsubscribe-url",
            "https://example.com/unsubscribe?u={{ email | urlencode }}",
        )
        ui.label(
            "These become the List-Unsubscribe header; with a link, mail apps offer one-click "
            "unsubscribe (RFC 8058). Large senders such as Gmail expect it for bulk mail."
        ).classes("text-caption text-grey-8")

    # -- reactions -------------------------------------------------------------------------

    def touch(self) -> None:
        """Something changed: preview and check again once the typing pauses."""
        self.dirty, self.changed_at = True, time.monotonic()

    def update(self, **changes: Any) -> None:
        for key in ("subject", "body"):
            if key in changes:
                changes[key] = str(changes[key] or "")
        self.draft.template = replace(self.draft.template, **changes)
        self.touch()

    def remember_cursor(self, target: ui.input, event: events.GenericEventArguments) -> None:
        args = event.args if isinstance(event.args, dict) else {}
        start, end = args.get("start"), args.get("end")
        self.cursor.update(
            target=target,
            start=start if isinstance(start, int) else None,
            end=end if isinstance(end, int) else None,
        )

    def insert_field(self, name: str) -> None:
        target = self.cursor["target"] or self.body
        start, end = self.cursor["start"], self.cursor["end"]
        text, position = insert_at(str(target.value or ""), field_token(name), start, end)
        target.value = text
        self.cursor.update(target=target, start=position, end=position)

    def format_changed(self, value: object) -> None:
        self.update(format=BodyFormat(str(value)))
        self.alternative_box.set_visibility(value == BodyFormat.HTML.value)

    def use_template(self, template: Template, ref: str | None) -> None:
        """Replace the draft's template and show it."""
        self.draft.template = template
        self.subject.value = template.subject
        self.body.value = template.body
        self.format.value = template.format.value
        self.alternative.value = template.text_alternative or ""
        self.reply_to.value = template.reply_to or ""
        self.unsubscribe_mailto.value = template.list_unsubscribe_mailto or ""
        self.unsubscribe_url.value = template.list_unsubscribe_url or ""
        self.draft.template = template  # the inputs' change events rebuilt it from these values
        self.attachments.load()
        self.dirty, self.changed_at = True, 0.0
        if ref is not None:
            with contextlib.suppress(StorageError):  # only a convenience list
                get_state().settings.add_recent_template(ref)
        ui.notify("Template loaded: check the preview.")

    async def load_sample(self) -> None:
        if not await self._may_replace("the sample template"):
            return
        text = SAMPLE_TEMPLATE.read_text(encoding="utf-8")
        template = load_template_text(text, source=SAMPLE_TEMPLATE.name)
        self.use_template(template, str(SAMPLE_TEMPLATE))

    async def _may_replace(self, what: str) -> bool:
        """Ask before a loaded template replaces a message the person has written."""
        template = self.draft.template
        if not (template.subject.strip() or template.body.strip()):
            return True
        with ui.dialog() as dialog, ui.card():
            dialog.mark("compose-replace")
            ui.label(f"Replace your message with {what}? What you wrote is lost.")
            with ui.row().classes("w-full justify-end"):
                ui.button("Keep mine", on_click=lambda: dialog.submit(False)).props("flat").mark(
                    "compose-replace-cancel"
                )
                ui.button("Replace", on_click=lambda: dialog.submit(True)).props(
                    "color=warning"
                ).mark("compose-replace-ok").props("data-testid=compose-replace-ok")
        answer = await dialog
        dialog.delete()
        return answer is True

    async def load_file(self, event: events.UploadEventArguments) -> None:
        name = safe_display_name(event.file.name, default="template")
        data = await event.file.read()
        try:
            template = load_template_text(data.decode("utf-8-sig"), source=name)
        except UnicodeDecodeError:
            ui.notify(f"{name} is not UTF-8 text: save it as UTF-8.", type="warning")
            return
        except InputError as exc:
            ui.notify(str(exc), type="warning", multi_line=True)
            return
        if await self._may_replace(name):
            self.use_template(template, None)

    async def tick(self) -> None:
        if not self.dirty or self.busy or time.monotonic() - self.changed_at < DEBOUNCE_SECONDS:
            return
        self.dirty, self.busy = False, True
        try:
            await self.preview.refresh()
            report = self.draft.recipients
            if report is None or len(report.recipients) <= AUTO_PREFLIGHT_LIMIT:
                await self.checks.run()
            else:
                self.checks.status.text = "Large list: press Check again to check every message."
        finally:
            self.busy = False
