"""*Copy report* beside *Test connection*: the last check as redacted Markdown, copied and shown."""

from __future__ import annotations

from nicegui import ui

from core.diagnose import Diagnosis
from core.diagnose_report import report_markdown

__all__ = ["ReportButton"]


class ReportButton:
    """A button, enabled once a check has run, that copies its report to the clipboard.

    The report also opens in a dialog as plain text (never rendered as Markdown or HTML), so a
    person sees exactly what they paste, and can select it by hand where the browser refuses
    clipboard access.
    """

    def __init__(self) -> None:
        self.text = ""
        self.button = ui.button("Copy report", icon="content_copy", on_click=self.copy)
        self.button.props("outline").mark("account-copy-report")
        self.button.disable()
        with ui.dialog() as self.dialog, ui.card().classes("w-[48rem] max-w-full"):
            ui.label("Connection report (copied)").classes("text-h6")
            ui.label(
                "Passwords, tokens and your user name's local part are replaced: paste it into "
                "a support request as it is."
            ).classes("text-caption text-grey-8")
            self.area = ui.textarea().props("readonly autogrow outlined").classes("w-full")
            self.area.classes("font-mono text-caption").mark("diagnosis-report")
            ui.button("Close", on_click=self.dialog.close).props("flat")

    def show_for(self, diagnosis: Diagnosis) -> None:
        """Make the report of `diagnosis` the one to copy."""
        self.text = report_markdown(diagnosis)
        self.button.enable()

    def copy(self) -> None:
        if not self.text:
            return
        ui.clipboard.write(self.text)
        self.area.value = self.text
        self.dialog.open()
        ui.notify("Report copied: secrets and your user name are left out.", type="positive")
