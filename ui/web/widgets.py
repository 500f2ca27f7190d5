"""Small building blocks the screens share: a server-paged table and the diagnosis report."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from nicegui import ui

from core.diagnose import Diagnosis

__all__ = ["PagedTable", "show_diagnosis", "slug"]

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 25


def slug(text: str) -> str:
    """A marker-safe word for `text`: `Work Gmail` -> `work-gmail`."""
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-") or "x"


class PagedTable(Generic[T]):
    """A `ui.table` that holds one page at a time; rows are built only for the page shown.

    Cells are plain values: Quasar renders them as text, so data from a file never
    becomes markup. An optional filter searches every item on the server.
    """

    def __init__(
        self,
        *,
        marker: str,
        empty: str,
        page_size: int = DEFAULT_PAGE_SIZE,
        searchable: bool = False,
    ) -> None:
        self.page_size = page_size
        self.page = 0
        self._items: Sequence[T] = ()
        self._shown: Sequence[int] = ()
        self._to_row: Callable[[T], dict[str, object]] = lambda _item: {}
        self._matches: Callable[[T, str], bool] | None = None
        with ui.column().classes("w-full gap-1"):
            self.search = (
                ui.input("Search", on_change=lambda e: self._filter(str(e.value or "")))
                .props("dense clearable")
                .classes("w-64")
                .mark(f"{marker}-search")
            )
            self.search.set_visibility(searchable)
            self.table = ui.table(columns=[], rows=[], row_key="_key", pagination=0)
            self.table.props("flat bordered dense wrap-cells hide-bottom")
            self.table.props["no-data-label"] = empty
            self.table.classes("w-full").mark(marker)
            with ui.row().classes("items-center gap-2") as self.pager:
                self.previous = ui.button(icon="chevron_left", on_click=lambda: self.go(-1))
                self.previous.props('flat dense round aria-label="Previous page"')
                self.previous.mark(f"{marker}-prev")
                self.info = ui.label("").classes("text-caption").mark(f"{marker}-page")
                self.following = ui.button(icon="chevron_right", on_click=lambda: self.go(1))
                self.following.props('flat dense round aria-label="Next page"')
                self.following.mark(f"{marker}-next")

    def set_items(
        self,
        columns: list[dict[str, object]],
        items: Sequence[T],
        to_row: Callable[[T], dict[str, object]],
        matches: Callable[[T, str], bool] | None = None,
    ) -> None:
        """Show `items` (first page); `to_row` makes one row, `matches` filters by a query."""
        self.table.columns = columns
        self._items = items
        self._to_row = to_row
        self._matches = matches
        self.search.value = ""
        self._shown = range(len(items))
        self.page = 0
        self._render()

    def _filter(self, query: str) -> None:
        query = query.strip().casefold()
        matches = self._matches
        if not query or matches is None:
            self._shown = range(len(self._items))
        else:
            self._shown = [i for i, item in enumerate(self._items) if matches(item, query)]
        self.page = 0
        self._render()

    @property
    def pages(self) -> int:
        return max(1, -(-len(self._shown) // self.page_size))

    def go(self, step: int) -> None:
        self.page = min(max(self.page + step, 0), self.pages - 1)
        self._render()

    def _render(self) -> None:
        start = self.page * self.page_size
        indexes = self._shown[start : start + self.page_size]
        self.table.rows = [{"_key": i, **self._to_row(self._items[i])} for i in indexes]
        total = len(self._shown)
        shown = f"{start + 1:,}-{start + len(indexes):,} of {total:,}" if total else "none"
        self.info.text = f"Page {self.page + 1} of {self.pages} ({shown})"
        self.previous.set_enabled(self.page > 0)
        self.following.set_enabled(self.page < self.pages - 1)
        self.pager.set_visibility(total > self.page_size)


def show_diagnosis(container: ui.element, diagnosis: Diagnosis) -> None:
    """Each step with a tick or a cross, its duration and detail; the failing step's hint."""
    container.clear()
    with container:
        if diagnosis.ok:
            summary = "Every check passed: this account is ready to send."
        else:
            failed = next((step for step in diagnosis.steps if not step.ok), None)
            summary = f"Stopped at {failed.name}." if failed else "The check did not finish."
        ui.label(summary).classes(
            "text-weight-medium " + ("text-positive" if diagnosis.ok else "text-negative")
        ).mark("diagnosis-summary")
        for step in diagnosis.steps:
            with ui.row().classes("items-start no-wrap gap-2").mark("diagnosis-step"):
                ui.icon(
                    "check_circle" if step.ok else "cancel",
                    color="positive" if step.ok else "negative",
                ).mark("diagnosis-ok" if step.ok else "diagnosis-fail")
                with ui.column().classes("gap-0"):
                    ui.label(f"{step.name} · {step.seconds * 1000:.0f} ms").classes(
                        "text-weight-medium"
                    )
                    if step.detail:
                        ui.label(step.detail).classes("text-caption text-grey-8 break-all")
                    if step.hint:
                        ui.label(f"What to do: {step.hint}").classes("text-body2").mark(
                            "diagnosis-hint"
                        )
