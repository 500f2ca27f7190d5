"""The Recipients screen (placeholder until the real one lands)."""

from __future__ import annotations

from nicegui import ui

from ui.layout import screen_title

__all__ = ["page"]


def page() -> None:
    """Build the Recipients screen."""
    screen_title("Recipients")
    ui.label("Who receives the message: paste addresses or load a CSV, TXT or XLSX file.").classes(
        "text-grey-8"
    )
    ui.label("Coming soon.").mark("coming-soon")
