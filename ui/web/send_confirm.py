"""What the Send screen shows before a campaign starts: earlier campaigns it would repeat,
and the confirmation of what it will do (account, recipients, first subject, duration)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import ui

from storage.journal import JournalError, JournalStore
from ui.services.campaigns import Prepared, first_subject
from ui.services.starting import Choice

__all__ = ["confirm_dialog", "show_twins"]


def _unfinished_line(store: JournalStore, twin: str) -> str:
    try:
        counts = store.counts(twin)
        record = store.campaign(twin)
    except JournalError:
        return f"{twin}, state unknown"
    return (
        f"{twin}, {record.status.value}: {counts.done:,} of {counts.total:,} done, "
        f"{counts.remaining:,} not sent yet"
    )


def show_twins(
    store: JournalStore,
    prepared: Prepared,
    *,
    start: Callable[[Choice], Any],
    resume: Callable[[str], Any],
) -> None:
    """A warning with the choices when this draft would repeat earlier campaigns."""
    if not (prepared.unfinished or prepared.repeats):
        return
    total = len(prepared.draft.recipients)
    with ui.card().classes("w-full bg-orange-1").mark("send-twin-warning"):
        if prepared.repeats:
            names = ", ".join(f"{twin.id} ({twin.status.value})" for twin in prepared.twins)
            ui.label(
                f"{prepared.repeats:,} of these {total:,} recipients already got this message "
                f"from an earlier campaign ({names}). Sending again needs your choice."
            ).classes("text-body2").mark("send-twin-repeats")
        if prepared.unfinished:
            twin = prepared.unfinished[-1]
            ui.label(
                "These recipients and this message already have an unfinished campaign "
                f"({_unfinished_line(store, twin)}). Resume it to reach only the people not sent "
                "to yet; a new campaign sends to everyone again."
            ).classes("text-body2")
        with ui.row():
            if prepared.unfinished:
                twin = prepared.unfinished[-1]
                ui.button("Resume that one", icon="play_arrow", on_click=lambda: resume(twin)).mark(
                    "send-twin-resume"
                )
            if prepared.repeats:
                fresh = total - prepared.repeats
                ui.button(
                    f"Send only to the {fresh:,} not reached yet",
                    icon="person_add",
                    on_click=lambda: start(Choice.NOT_YET_ACCEPTED),
                ).mark("send-twin-only-new").set_enabled(fresh > 0)
            label = f"Send to all {total:,} again" if prepared.repeats else "Start a new campaign"
            ui.button(
                label + (" anyway" if not prepared.repeats else ""),
                on_click=lambda: start(Choice.EVERYONE_AGAIN),
            ).props("outline color=warning").mark("send-twin-new")


async def confirm_dialog(prepared: Prepared, *, account_name: str, host: ui.element) -> bool:
    """Ask before anything goes out, showing exactly what will happen.

    `host` is an element of the page that outlives the click (the button that started this
    may be gone by now: the check redraws the twin warning).
    """
    draft = prepared.draft
    count = len(draft.recipients)
    with host, ui.dialog().props("persistent") as dialog, ui.card().classes("w-[36rem]"):
        dialog.mark("send-confirm")
        ui.label("Send this campaign?").classes("text-h6")
        account = draft.account
        who = account_name or "the sandbox (nothing leaves this computer)"
        with ui.column().classes("gap-1").mark("send-confirm-summary"):
            ui.label(f"Account: {who}, as {account.sender} via {account.host}:{account.port}")
            ui.label(f"Recipients: {count:,}")
            ui.label(f"First subject: {first_subject(prepared) or '(empty)'}")
            ui.label(f"Plan: {prepared.plan.text}")
            report = prepared.preflight
            for extra in report.extra_recipients:
                ui.label(
                    f"Every message also goes to {extra.address} (written in the template's "
                    f"{extra.part})"
                ).classes("text-weight-bold").mark("send-confirm-extra")
            for outside in report.outside_attachments:
                ui.label(
                    f"Attached to every message from outside the template's folder: {outside.path}"
                ).classes("text-weight-bold").mark("send-confirm-outside")
        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=lambda: dialog.submit(False)).props(
                "flat data-testid=send-confirm-cancel"
            ).mark("send-confirm-cancel")
            ui.button(
                f"Send {count:,} message{'s' if count != 1 else ''}",
                icon="send",
                on_click=lambda: dialog.submit(True),
            ).mark("send-confirm-ok").props("data-testid=send-confirm-ok")
    answer = await dialog
    dialog.delete()
    return answer is True
