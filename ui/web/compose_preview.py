"""Compose's lower half: a per-recipient preview and the pre-flight report, both off-loop.

The preview builds the real message (without attachments, which are listed by name) and
shows its headers and text as labels; the HTML part only inside `<iframe sandbox="">`
with the Outbox's fetch-blocking `srcdoc`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path

from nicegui import ui

from core.errors import InputError, IssueKind
from core.message import MessageBuilder
from core.models import Account, Recipient, Template
from core.preflight import PreflightIssue, PreflightReport, preflight
from core.templating import CompiledTemplate
from storage.errors import StorageError
from ui.services import sandbox
from ui.services.state import DraftState
from ui.web.credentials import draft_account
from ui.web.outbox import MessageView, build_srcdoc, human_size, parse_message

__all__ = [
    "PreflightPanel",
    "PreviewPanel",
    "Rendered",
    "describe_issue",
    "preview_account",
    "render_preview",
]

_PREVIEW_ID = "preview"


def preview_account() -> Account:
    """The draft's account, or the sandbox's shape when it cannot be had right now."""
    try:
        return draft_account()
    except (RuntimeError, StorageError):
        return Account(
            host=sandbox.SANDBOX_HOST,
            port=25,
            sender=sandbox.SANDBOX_SENDER,
            sender_name="You (sandbox)",
        )


@dataclass(frozen=True, slots=True)
class Rendered:
    """One recipient's message as it would be sent, or why it cannot be built."""

    view: MessageView | None
    error: str = ""
    own_attachment: str | None = None  # the per-recipient file this recipient gets


def render_preview(template: Template, recipient: Recipient, account: Account) -> Rendered:
    """Build one message without its attachments and take it apart (runs in a thread)."""
    try:
        compiled = CompiledTemplate(template)
        rendered = compiled.render(recipient)
        builder = MessageBuilder(
            account,
            replace(template, attachments=()),
            _PREVIEW_ID,
            base_dir=Path("."),
            compiled=compiled,
        )
        built = builder.build_rendered(recipient, replace(rendered, attachment=None))
    except (InputError, ValueError) as exc:
        return Rendered(None, str(exc))
    return Rendered(parse_message(built.payload), own_attachment=rendered.attachment)


def describe_issue(issue: PreflightIssue) -> str:
    """One pre-flight problem as a sentence that says where it is."""
    where: list[str] = []
    if issue.line is not None:
        where.append(f"line {issue.line}")
    if issue.email:
        where.append(issue.email)
    if issue.template_line is not None:
        where.append(f"template line {issue.template_line}")
    if issue.part:
        where.append(issue.part)
    return f"{', '.join(where)}: {issue.message}" if where else issue.message


class PreviewPanel:
    """Step through the recipients and see each one's message."""

    def __init__(self, draft: DraftState) -> None:
        self.draft = draft
        self.index = 0
        with ui.row().classes("w-full items-center"):
            ui.label("Preview").classes("text-h6")
            ui.space()
            self.previous = ui.button(icon="chevron_left", on_click=lambda: self.step(-1))
            self.previous.props('flat round aria-label="Previous recipient"')
            self.previous.mark("compose-preview-prev")
            self.position = ui.label("").mark("compose-preview-position")
            self.following = ui.button(icon="chevron_right", on_click=lambda: self.step(1))
            self.following.props('flat round aria-label="Next recipient"')
            self.following.mark("compose-preview-next")
        self.hint = ui.label("").classes("text-grey-8").mark("compose-preview-hint")
        self.error = ui.label("").classes("text-negative break-all").mark("compose-preview-error")
        with ui.grid(columns="auto 1fr").classes("gap-x-4 gap-y-1") as self.headers:
            self.fields: dict[str, ui.label] = {}
            for name in ("From", "To", "Subject", "Reply-To"):
                ui.label(f"{name}:").classes("text-weight-medium text-grey-8")
                self.fields[name] = ui.label("").classes("break-all")
                self.fields[name].mark(f"compose-preview-{name.lower()}")
        self.attached = ui.label("").classes("text-caption").mark("compose-preview-attachment")
        self.text_caption = ui.label("Plain-text part").classes("text-caption text-grey-7 q-mt-sm")
        self.text = ui.label("").classes("whitespace-pre-wrap font-mono text-body2")
        self.text.mark("compose-preview-text")
        self.html_caption = ui.label("HTML part (remote images and fonts are not loaded)")
        self.html_caption.classes("text-caption text-grey-7 q-mt-sm")
        # A new iframe for each HTML part: one created hidden and shown later stayed blank in
        # Chromium after switching from plain text to Markdown.
        self.frame_box = ui.element("div").classes("w-full")
        self.frame: ui.element | None = None
        self._show_html("")

    def _show_html(self, srcdoc: str) -> None:
        """The HTML part in a fresh sandboxed iframe (none when the message has no HTML)."""
        if self.frame is not None and self.frame.props.get("srcdoc", "") == srcdoc:
            return
        self.frame_box.clear()
        with self.frame_box:
            frame = ui.element("iframe").classes("w-full bg-white").mark("compose-preview-html")
            frame.props["sandbox"] = ""  # before srcdoc: no scripts, forms or same origin
            frame.props["referrerpolicy"] = "no-referrer"
            frame.props["title"] = "HTML preview of the message"
            frame.props["data-testid"] = "compose-preview-html"
            if srcdoc:
                frame.props["srcdoc"] = srcdoc
            frame.style("height: 50vh; border: 1px solid #ddd")
        frame.set_visibility(bool(srcdoc))  # never shown later: the next HTML gets a new one
        self.frame = frame

    @property
    def recipients(self) -> tuple[Recipient, ...]:
        report = self.draft.recipients
        return report.recipients if report is not None else ()

    async def step(self, by: int) -> None:
        self.index += by
        await self.refresh()

    async def refresh(self) -> None:
        people = self.recipients
        self.index = min(max(self.index, 0), max(len(people) - 1, 0))
        self.previous.set_enabled(self.index > 0)
        self.following.set_enabled(self.index < len(people) - 1)
        self.hint.text = "" if people else "Add recipients to see each one's message here."
        if not people:
            self.position.text = "No recipients yet"
            self._show(None, "")
            return
        person = people[self.index]
        line = f", line {person.line}" if person.line else ""
        self.position.text = f"Recipient {self.index + 1} of {len(people)}{line}"
        template, account = self.draft.template, preview_account()
        rendered = await asyncio.to_thread(render_preview, template, person, account)
        self._show(rendered, rendered.error)

    def _show(self, rendered: Rendered | None, error: str) -> None:
        view = rendered.view if rendered is not None else None
        self.error.text = error
        self.error.set_visibility(bool(error))
        self.headers.set_visibility(view is not None)
        self.text.set_visibility(view is not None)
        self.text_caption.set_visibility(view is not None)
        for name, label in self.fields.items():
            label.text = view.header(name) if view is not None else ""
        self.fields["Reply-To"].text = self.fields["Reply-To"].text or "(none)"
        self.text.text = (view.text or "(no plain-text part)") if view is not None else ""
        html = view.html if view is not None else None
        self._show_html(build_srcdoc(html, view.inline_images) if html and view else "")
        self.html_caption.set_visibility(bool(html))
        names = [self.draft.attachment_names.get(a, a) for a in self.draft.template.attachments]
        if rendered is not None and rendered.own_attachment:
            names.append(f"{rendered.own_attachment} (this recipient's file)")
        self.attached.text = f"Attached: {', '.join(names)}" if names else ""


class PreflightPanel:
    """Pre-flight over every recipient: what would stop a message, the largest size, SMTPUTF8."""

    def __init__(self, draft: DraftState) -> None:
        self.draft = draft
        with ui.row().classes("w-full items-center"):
            ui.label("Pre-flight check").classes("text-h6")
            ui.space()
            self.button = ui.button("Check again", icon="fact_check", on_click=self.run)
            self.button.props("outline").mark("compose-preflight-run")
        self.status = ui.label("").classes("text-weight-medium").mark("compose-preflight-status")
        self.body = ui.column().classes("w-full gap-1").mark("compose-preflight")

    async def run(self) -> None:
        draft = self.draft
        report = draft.recipients
        people = report.recipients if report is not None else ()
        template, account = draft.template, preview_account()
        self.button.disable()
        self.status.text = f"Checking {len(people):,} message(s) …"
        try:
            result = await asyncio.to_thread(
                preflight,
                template,
                people,
                base_dir=draft.base_dir(),
                max_attachment_bytes=draft.settings.max_attachment_bytes,
                account=account,
            )
        finally:
            self.button.enable()
        self.show(result, template)

    def show(self, report: PreflightReport, template: Template) -> None:
        if report.ok and report.recipients:
            self.status.text = f"Ready: {report.recipients:,} message(s), no problems found."
        elif report.ok:
            self.status.text = "The template is fine. Add recipients to check every message."
        else:
            self.status.text = (
                f"{report.recipients_with_errors:,} of {report.recipients:,} recipient(s) "
                "have problems: fix them before sending."
                if report.recipients
                else "The template has problems: fix them before adding recipients."
            )
        self.status.classes(
            replace="text-weight-medium " + ("text-positive" if report.ok else "text-negative")
        )
        self.body.clear()
        with self.body:
            for issue in report.of_kind(IssueKind.EMPTY_PART):
                ui.label(f"The {issue.part} is empty: write it before sending.").classes(
                    "text-negative"
                ).mark("compose-preflight-warning")
            grouped = set()
            for problem in report.field_problems:  # one line per field, not per recipient
                ui.label(problem.text).classes(
                    "break-all " + ("text-negative" if problem.blocking else "text-warning")
                ).mark(
                    "compose-preflight-missing" if problem.blocking else "compose-preflight-empty"
                )
                if problem.blocking:
                    grouped.add(problem.name)
            for field_name, count in report.missing_fields.items():
                if field_name in grouped:
                    continue
                lines = [
                    describe_issue(issue)
                    for issue in report.of_kind(IssueKind.MISSING_FIELD)
                    if field_name in issue.fields
                ]
                ui.label(
                    f"Missing merge field {field_name!r} for {count:,} recipient(s)"
                    + (f": {'; '.join(lines[:5])}" if lines else "")
                ).classes("break-all").mark("compose-preflight-missing")
            for issue in report.issues:
                if issue.kind is IssueKind.MISSING_FIELD:
                    continue
                mark = {
                    IssueKind.SYNTAX_ERROR: "compose-preflight-syntax",
                    IssueKind.MISSING_ATTACHMENT: "compose-preflight-attachment",
                }.get(issue.kind, "compose-preflight-issue")
                ui.label(describe_issue(issue)).classes("break-all").mark(mark)
            hidden = sum(
                n for kind, n in report.issue_counts.items() if kind is not IssueKind.MISSING_FIELD
            ) - sum(1 for issue in report.issues if issue.kind is not IssueKind.MISSING_FIELD)
            if hidden > 0:
                ui.label(f"… and {hidden:,} more of the same kinds.").classes("text-grey-8")
            if report.largest_message_bytes:
                where = (
                    f" (line {report.largest_message_line}, {report.largest_message_email})"
                    if report.largest_message_line
                    else ""
                )
                ui.label(
                    f"Largest message: {human_size(report.largest_message_bytes)}{where}, "
                    f"limit {human_size(report.max_message_bytes)}."
                ).mark("compose-preflight-size")
            if report.smtputf8_recipients:
                examples = ", ".join(report.smtputf8_examples[:5])
                ui.label(
                    f"{report.smtputf8_recipients:,} recipient(s) need a server that offers "
                    f"SMTPUTF8: {examples}"
                ).classes("break-all").mark("compose-preflight-smtputf8")
