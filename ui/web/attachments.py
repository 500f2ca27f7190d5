"""Shared attachments: uploads kept under the draft's folder, in a folder name we generate.

The client's file name never chooses where a file goes: each upload lands in
`uploads/<random>/` under the draft's attachments folder, with a sanitized copy of the
name (letters, digits, `. _ -` and spaces). The message builder names an attachment after
its file, so that sanitized name is also what recipients see; the original name is kept
in the draft for display.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import unicodedata
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path, PurePath, PurePosixPath

from nicegui import events, ui

from storage.paths import ensure_private_dir
from ui.services.state import DraftState
from ui.web.outbox import human_size
from ui.web.recipient_import import safe_display_name

__all__ = [
    "UPLOADS_DIR",
    "AttachmentsPanel",
    "remove_stored",
    "safe_filename",
    "store_upload",
]

UPLOADS_DIR = "uploads"
_MAX_NAME = 100
_TOKEN_BYTES = 8
_FILE_MODE = 0o600


def safe_filename(name: str) -> str:
    """A file name built from `name` that is safe on any file system: never a path."""
    base = PurePath(unicodedata.normalize("NFC", name).replace("\\", "/")).name
    kept = "".join(ch if ch.isalnum() or ch in "._- " else "_" for ch in base)
    kept = kept.strip(" .") or "attachment"
    if len(kept) > _MAX_NAME:
        suffix = PurePath(kept).suffix[:20]
        kept = kept[: _MAX_NAME - len(suffix)] + suffix
    return kept


def store_upload(base_dir: Path, client_name: str, data: bytes) -> str:
    """Write an uploaded file under `base_dir`; returns its path relative to `base_dir`."""
    token = secrets.token_hex(_TOKEN_BYTES)
    folder = ensure_private_dir(base_dir / UPLOADS_DIR) / token
    folder.mkdir(mode=0o700)
    path = folder / safe_filename(client_name)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    return PurePosixPath(UPLOADS_DIR, token, path.name).as_posix()


def remove_stored(base_dir: Path, relative: str) -> None:
    """Delete an upload written by `store_upload` (and its generated folder); else nothing."""
    parts = PurePosixPath(relative).parts
    if len(parts) != 3 or parts[0] != UPLOADS_DIR or ".." in parts:
        return
    folder = (base_dir / parts[0] / parts[1]).resolve()
    if folder.parent == (base_dir / UPLOADS_DIR).resolve() and folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)


class AttachmentsPanel:
    """Upload shared files, list them, and set the per-recipient file pattern."""

    def __init__(self, draft: DraftState, *, max_bytes: int, on_change: Callable[[], None]):
        self.draft = draft
        self.max_bytes = max_bytes
        self.on_change = on_change
        ui.label("Attachments").classes("text-h6")
        ui.label(
            f"Files sent to everyone, up to {human_size(max_bytes)} per message in total."
        ).classes("text-caption")
        self.upload = (
            ui.upload(
                multiple=True,
                auto_upload=True,
                max_file_size=max_bytes,
                on_upload=self._receive,
                on_rejected=lambda: ui.notify(
                    f"A file was refused: the limit is {human_size(max_bytes)}.", type="warning"
                ),
                label="Add files",
            )
            .props("flat bordered")
            .classes("w-full")
            .mark("compose-attachments-upload")
        )
        self.listing = ui.column().classes("w-full gap-1").mark("compose-attachments")
        self.pattern = (
            ui.input(
                "Per-recipient file (optional)",
                placeholder="invoices/{{ id }}.pdf",
                value=draft.template.recipient_attachment or "",
                on_change=lambda e: self._pattern_changed(str(e.value or "")),
            )
            .classes("w-full")
            .mark("compose-recipient-attachment")
        )
        folder = draft.base_dir()
        ui.label(
            f"Relative to {folder}: put the files there. Merge fields pick each "
            "recipient's file; paths may not leave that folder."
        ).classes("text-caption text-grey-8 break-all").mark("compose-attachments-folder")
        self.refresh()

    def refresh(self) -> None:
        self.listing.clear()
        names = self.draft.attachment_names
        with self.listing:
            for relative in self.draft.template.attachments:
                with ui.row().classes("items-center gap-2").mark("compose-attachment"):
                    ui.icon("attach_file")
                    shown = names.get(relative, relative)
                    size = _size(self.draft.base_dir() / relative)
                    sent_as = PurePosixPath(relative).name
                    extra = f" · sent as {sent_as}" if sent_as != shown else ""
                    ui.label(f"{shown} · {size}{extra}")
                    ui.button(icon="close", on_click=lambda r=relative: self._remove(r)).props(
                        'flat dense round aria-label="Remove"'
                    ).mark("compose-attachment-remove")

    async def _receive(self, event: events.UploadEventArguments) -> None:
        file = event.file
        shown = safe_display_name(file.name, default="attachment")
        if file.size() > self.max_bytes:
            ui.notify(f"{shown} is over {human_size(self.max_bytes)}.", type="warning")
            return
        data = await file.read()
        base = self.draft.base_dir()
        try:
            relative = await asyncio.to_thread(store_upload, base, file.name, data)
        except OSError as exc:
            ui.notify(f"{shown} could not be stored: {exc.strerror or exc}", type="negative")
            return
        self.draft.attachment_names[relative] = shown
        template = self.draft.template
        self.draft.template = replace(template, attachments=(*template.attachments, relative))
        self.refresh()
        self.on_change()

    def _remove(self, relative: str) -> None:
        template = self.draft.template
        kept = tuple(name for name in template.attachments if name != relative)
        self.draft.template = replace(template, attachments=kept)
        self.draft.attachment_names.pop(relative, None)
        remove_stored(self.draft.base_dir(), relative)
        self.refresh()
        self.on_change()

    def _pattern_changed(self, value: str) -> None:
        pattern = value.strip() or None
        self.draft.template = replace(self.draft.template, recipient_attachment=pattern)
        self.on_change()

    def load(self) -> None:
        """Show the draft's attachments again (after the template was replaced)."""
        self.pattern.value = self.draft.template.recipient_attachment or ""
        self.refresh()


def _size(path: Path) -> str:
    try:
        return human_size(path.stat().st_size)
    except OSError:
        return "missing"
