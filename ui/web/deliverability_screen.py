"""The Deliverability screen: the suppression list, and each account's DKIM key and record."""

from __future__ import annotations

import io

from nicegui import events, ui

from core.errors import InputError
from core.suppression import SuppressionReason
from storage.dkim_keys import DkimKey, generate_key, has_key, load_key, save_key
from storage.errors import StorageError
from storage.suppression import ImportResult, SuppressionList
from ui.services.state import AppState, get_state
from ui.web.credentials import unlock_vault
from ui.web.layout import screen_title
from ui.web.recipient_import import MAX_UPLOAD_BYTES, safe_display_name

__all__ = ["DkimSection", "SuppressionSection", "page"]

_COLUMNS = [
    {"name": "email", "label": "Address", "field": "email", "align": "left"},
    {"name": "reason", "label": "Reason", "field": "reason", "align": "left"},
    {"name": "date", "label": "Since", "field": "date", "align": "left"},
    {"name": "note", "label": "Note", "field": "note", "align": "left"},
]
_SHOWN_ROWS = 1_000  # rows the table shows; export for all
_SHOW_REJECTED = 10
_CSV_MEDIA_TYPE = "text/csv"
_REASONS = {reason.value: reason.value.capitalize() for reason in SuppressionReason}


def page() -> None:
    """Build the Deliverability screen."""
    state = get_state()
    screen_title("Deliverability")
    with ui.card().classes("w-full"):
        SuppressionSection()
    with ui.card().classes("w-full q-mt-md"):
        DkimSection(state)


class SuppressionSection:
    """Add, paste, upload, remove and export the addresses no campaign will mail."""

    def __init__(self) -> None:
        self.listed = SuppressionList()
        ui.context.client.on_disconnect(self.listed.close)
        ui.label("Suppression list").classes("text-h6")
        ui.label(
            "No campaign mails these addresses: each is skipped, and the history says why. "
            "A 'no such user' reply adds an address by itself. Relays and submission servers "
            "bounce most mail later, by email: those bounces reach this list only when you "
            "import them here."
        ).classes("text-grey-8")
        with ui.row().classes("items-end gap-2 w-full"):
            self.email = ui.input("Address").classes("min-w-64").mark("suppress-email")
            self.reason = ui.select(_REASONS, value=SuppressionReason.MANUAL.value, label="Reason")
            self.reason.mark("suppress-reason")
            ui.button("Add", icon="block", on_click=self.add).mark("suppress-add")
        self.paste = ui.textarea("Paste addresses (one per line, or separated by commas)")
        self.paste.classes("w-full").mark("suppress-paste")
        with ui.row().classes("items-center gap-2"):
            ui.button("Import pasted", icon="playlist_add", on_click=self.import_paste).mark(
                "suppress-import"
            )
            upload = ui.upload(
                auto_upload=True,
                max_file_size=MAX_UPLOAD_BYTES,
                on_upload=self.import_upload,
                label="Import a CSV (email, reason, date)",
            ).props("accept=.csv,.tsv,.txt,.xlsx flat bordered")
            upload.mark("suppress-upload")
            ui.button("Export CSV", icon="download", on_click=self.export).props("flat").mark(
                "suppress-export"
            )
        self.message = ui.label().classes("whitespace-pre-wrap").mark("suppress-message")
        with ui.row().classes("items-center gap-2"):
            self.count = ui.label().mark("suppress-count")
            ui.button("Remove selected", icon="delete", on_click=self.remove).props(
                "flat color=negative"
            ).mark("suppress-remove")
        self.table = ui.table(columns=_COLUMNS, rows=[], row_key="email", selection="multiple")
        self.table.classes("w-full").mark("suppress-table")
        self.refresh()

    def refresh(self) -> None:
        entries = self.listed.entries()
        self.count.text = f"{len(entries):,} addresses on the list"
        self.table.rows = [
            {"email": e.email, "reason": e.reason.value, "date": e.date, "note": e.note}
            for e in entries[:_SHOWN_ROWS]
        ]
        self.table.selected = []
        self.table.update()

    def _say(self, text: str, *, problem: bool = False) -> None:
        self.message.text = text
        self.message.classes(replace="whitespace-pre-wrap " + ("text-negative" if problem else ""))

    def add(self) -> None:
        reason = SuppressionReason(self.reason.value)
        try:
            added = self.listed.add(self.email.value or "", reason)
        except InputError as exc:
            self._say(f"Not added: {exc.message}", problem=True)
            return
        self._say(f"{self.email.value}: {'added' if added else 'already on the list'}.")
        self.email.value = ""
        self.refresh()

    def _report(self, result: ImportResult) -> None:
        lines = [
            f"Imported: {result.added:,} added, {result.already:,} already on the list, "
            f"{len(result.rejected):,} rejected."
        ]
        lines += [str(rejected) for rejected in result.rejected[:_SHOW_REJECTED]]
        self._say("\n".join(lines), problem=bool(result.rejected))
        self.refresh()

    def import_paste(self) -> None:
        reason = SuppressionReason(self.reason.value)
        self._report(self.listed.import_text(self.paste.value or "", reason=reason))
        self.paste.value = ""

    async def import_upload(self, event: events.UploadEventArguments) -> None:
        name = safe_display_name(event.file.name)
        try:
            result = self.listed.import_file(
                await event.file.read(), filename=name, reason=SuppressionReason(self.reason.value)
            )
        except InputError as exc:
            self._say(f"{name}: {exc}", problem=True)
            return
        self._report(result)

    def remove(self) -> None:
        chosen = [row["email"] for row in self.table.selected]
        removed = sum(self.listed.remove(email) for email in chosen)
        self._say(f"Removed {removed:,} addresses." if chosen else "Select addresses first.")
        self.refresh()

    def export(self) -> None:
        out = io.StringIO()
        count = self.listed.export_csv(out)
        ui.download.content(out.getvalue().encode("utf-8"), "suppression.csv", _CSV_MEDIA_TYPE)
        self._say(f"Exported {count:,} addresses.")


class DkimSection:
    """Generate a DKIM key for a saved account and show the DNS record to publish."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        ui.label("DKIM signing").classes("text-h6")
        ui.label(
            "An account with a key signs every message it sends. The private key stays in the "
            "vault; publish the record below in your domain's DNS, then use Test connection."
        ).classes("text-grey-8")
        try:
            names = [saved.name for saved in state.accounts.accounts()]
        except StorageError:
            names = []
        with ui.row().classes("items-end gap-2 w-full"):
            self.account = ui.select(names, label="Account", on_change=self.show).mark(
                "dkim-account"
            )
            self.domain = ui.input("Domain (default: the From address's)").mark("dkim-domain")
            self.selector = ui.input("Selector", value="bulkmailer").mark("dkim-selector")
            self.ed25519 = ui.checkbox("Ed25519 (newer; RSA-2048 otherwise)").mark("dkim-ed25519")
            ui.button("Generate key", icon="key", on_click=self.generate).mark("dkim-generate")
        self.record = ui.column().classes("w-full gap-1").mark("dkim-record")

    async def _key(self, name: str) -> DkimKey | None:
        vault = self.state.vault
        if not has_key(vault, name) or not await unlock_vault():
            return None
        return load_key(vault, name)

    async def show(self) -> None:
        self.record.clear()
        name = self.account.value
        if not name:
            return
        try:
            key = await self._key(name)
        except (StorageError, InputError) as exc:
            self._show_text(f"The key cannot be read: {exc}", problem=True)
            return
        if key is None:
            self._show_text(f"{name} has no DKIM key: its messages go out unsigned.")
            return
        self._show_key(key)

    async def generate(self) -> None:
        name = self.account.value
        if not name:
            self._show_text("Choose an account first.", problem=True)
            return
        try:
            saved = self.state.settings.get_saved_account(name)
            domain = self.domain.value or saved.account.sender.rpartition("@")[2]
            if has_key(self.state.vault, name):
                self._show_text(
                    f"{name} has a key already; replace it with the CLI (`dkim generate "
                    "--replace`) so the change is deliberate.",
                    problem=True,
                )
                return
            key = generate_key(domain, self.selector.value or "", ed25519_key=self.ed25519.value)
            if not await unlock_vault():
                self._show_text("The vault is locked: the key was not saved.", problem=True)
                return
            save_key(self.state.vault, name, key)
        except (StorageError, InputError) as exc:
            self._show_text(f"No key made: {exc}", problem=True)
            return
        self._show_key(key)

    def _show_text(self, text: str, *, problem: bool = False) -> None:
        self.record.clear()
        with self.record:
            ui.label(text).classes("text-negative" if problem else "text-grey-8").mark(
                "dkim-message"
            )

    def _show_key(self, key: DkimKey) -> None:
        self.record.clear()
        with self.record:
            ui.label(
                f"Signs with {key.algorithm.value}, d={key.domain}, s={key.selector}. "
                "Publish this TXT record:"
            )
            ui.label(f"Name: {key.record_name}").classes("font-mono").mark("dkim-record-name")
            ui.label(f"Value: {key.record_value}").classes("font-mono break-all").mark(
                "dkim-record-value"
            )
