"""Why recipients failed, grouped by reason: each group a button that filters the table to it."""

from __future__ import annotations

from nicegui import ui

from core.reasons import ReasonGroup, SuggestedAction
from storage.journal import JournalError, JournalStore
from storage.journal.reasons import reason_groups
from ui.web.recipient_table import RecipientTable

__all__ = ["ACTION_HINTS", "ReasonList"]

ACTION_HINTS: dict[SuggestedAction, str] = {
    SuggestedAction.RETRY: "retry them (History > Retry failed)",
    SuggestedAction.WAIT: "nothing: the campaign retries them by itself",
    SuggestedAction.FIX_ADDRESS: "fix the address in the list",
    SuggestedAction.SUPPRESS: "suppress: the address does not take mail",
    SuggestedAction.FIX_MESSAGE: "fix the message (size or content), then retry",
    SuggestedAction.FIX_SETTINGS: "fix the account, sender or DNS settings, then retry",
    SuggestedAction.RESOLVE: "resend or mark as sent (History)",
}
_STATUS_COLOURS = {"failed": "negative", "unknown": "deep-orange-10", "deferred": "blue-grey-9"}


class ReasonList:
    """Failed, unknown and deferred recipients by reason; a click shows that group's rows."""

    def __init__(
        self, store: JournalStore, campaign_id: str, table: RecipientTable, *, marker: str
    ):
        self.store = store
        self.campaign_id = campaign_id
        self.table = table
        self.marker = marker
        self.groups: list[ReasonGroup] = []
        self.box = ui.column().classes("w-full gap-1").mark(marker)
        self.refresh()

    def refresh(self) -> None:
        """Read the groups again (one GROUP BY query) and redraw them if they changed."""
        try:
            groups = reason_groups(self.store, self.campaign_id)
        except JournalError as exc:
            groups = []
            self.box.clear()
            with self.box:
                ui.label(f"Cannot read the journal: {exc}").classes("text-negative")
            return
        chosen = self.table.reason
        if chosen is not None:  # the table shows one group: keep its count current
            current = next((g for g in groups if g.key == chosen.key), None)
            if current is not None and current != chosen:
                self.table.reason = current
        if groups == self.groups and self.box.default_slot.children:
            return
        self.groups = groups
        self.box.clear()
        with self.box:
            if not groups:
                ui.label("No failures, unknowns or deferrals.").classes("text-grey-8").mark(
                    f"{self.marker}-none"
                )
                return
            ui.label("Why, grouped by reason (click one to see its recipients):").classes(
                "text-subtitle2"
            )
            for group in groups:
                with ui.row().classes("items-center gap-2 no-wrap"):
                    button = ui.button(
                        group.label, on_click=lambda _, g=group: self.table.show_reason(g)
                    ).props(f"flat dense no-caps color={_STATUS_COLOURS.get(group.status, 'grey')}")
                    button.mark(f"{self.marker}-group")
                    ui.label(
                        f"{group.status.value}; suggested: {ACTION_HINTS[group.action]}"
                    ).classes("text-caption text-grey-8")
            ui.button("Show every recipient", on_click=lambda: self.table.show_reason(None)).props(
                "flat dense no-caps"
            ).mark(f"{self.marker}-clear")
