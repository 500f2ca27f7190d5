"""Deliverability in the app: the spam Check button, the sender-domain lines, plan notes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from nicegui import ui

from core.domain_check import Level
from core.message import MessageBuilder
from core.models import Account
from core.recipients.source import first_recipient
from storage.dkim_keys import DkimKey
from ui.services.campaigns import Draft, dry_run
from ui.services.deliverability import plan_notes, sender_domain_report, spam_reports
from ui.services.state import DraftState

__all__ = [
    "SpamCheckPanel",
    "first_message_of_draft",
    "first_message_of_state",
    "show_domain_check",
    "show_plan_notes",
]

_LEVEL_CLASSES = {
    Level.OK: "text-positive",
    Level.INFO: "text-grey-8",
    Level.WARN: "text-warning",
    Level.FAIL: "text-negative",
}
FirstMessage = Callable[[], tuple[bytes, int] | None]  # (payload, recipients) or None


def first_message_of_draft(draft: Draft | None) -> tuple[bytes, int] | None:
    """The Send screen's first message exactly as it would go out, and the list's size."""
    person = first_recipient(draft.recipients) if draft is not None else None
    if draft is None or person is None:
        return None
    first = dry_run(replace(draft, recipients=(person,))).first
    return None if first is None else (first.payload, len(draft.recipients))


def first_message_of_state(state: DraftState, account: Account) -> tuple[bytes, int] | None:
    """The Compose screen's first message (attachments left out: they do not change a score)."""
    report = state.recipients
    if report is None or not report.recipients:
        return None
    template = replace(state.template, attachments=(), recipient_attachment=None)
    builder = MessageBuilder(account, template, "spam-check", base_dir=Path("."))
    return builder.build(report.recipients[0]).payload, len(report.recipients)


class SpamCheckPanel:
    """A *Check* button: SpamAssassin's (or the built-in) verdict on the first message."""

    def __init__(self, first_message: FirstMessage, *, marker: str = "spam") -> None:
        self.first_message = first_message
        self.button = ui.button("Check for spam", icon="policy", on_click=self.check)
        self.button.props("flat").mark(f"{marker}-check")
        self.result = ui.column().classes("w-full gap-0").mark(f"{marker}-result")

    async def check(self) -> None:
        self.result.clear()
        with self.result:
            ui.label("Scoring the first message…").classes("text-grey-8")
        self.button.disable()
        try:
            found = self.first_message()  # one message: quick, and it may touch the page
            reports = (
                []
                if found is None
                else await asyncio.to_thread(spam_reports, [found[0]], recipients=found[1])
            )
        except Exception as exc:  # a draft that cannot be built: say why, send nothing
            reports, found = [], None
            message = f"No spam check: {exc}"
        else:
            message = "" if found else "No spam check: there is no message to score yet."
        finally:
            self.button.enable()
        if self.result.is_deleted:
            return
        self.result.clear()
        with self.result:
            if message:
                ui.label(message).classes("text-grey-8")
            for report in reports:
                head, *rules = report.lines()
                bad = report.score >= report.threshold
                ui.label(head).classes("text-negative" if bad else "text-body1")
                for line in rules:
                    ui.label(line.strip()).classes("text-caption")
                ui.label("Only a warning: sending is not blocked.").classes("text-caption")


async def show_domain_check(
    container: ui.element, account: Account, key: DkimKey | None = None
) -> None:
    """Append the sender-domain lines (SPF, DMARC, alignment, DKIM) to `container`."""
    with container:
        waiting = ui.label(f"Checking the DNS of {account.sender.rpartition('@')[2]}…")
    report = await asyncio.to_thread(sender_domain_report, account, key)
    if container.is_deleted or waiting.is_deleted:
        return  # the page, or a newer check, redrew the container meanwhile
    waiting.delete()
    with container, ui.column().classes("gap-0 q-mt-sm").mark("domain-check"):
        ui.label(f"Sender domain {report.domain}").classes("text-weight-medium")
        for finding in report.findings:
            ui.label(finding.line()).classes(
                f"text-body2 break-all {_LEVEL_CLASSES[finding.level]}"
            ).mark(f"domain-{finding.topic.lower()}")


async def show_plan_notes(container: ui.element, draft: Draft, dkim_domain: str | None) -> None:
    """The plan's notes: suppressed recipients and the bulk-sender checklist."""
    notes = await asyncio.to_thread(plan_notes, draft, dkim_domain=dkim_domain)
    if container.is_deleted:
        return
    container.clear()
    with container:
        for note in notes:
            warn = note.strip().startswith("warning")
            ui.label(note.strip()).classes("text-warning" if warn else "text-body2").mark(
                "plan-note"
            )
