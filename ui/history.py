"""The History screen (placeholder until the real one lands)."""

from __future__ import annotations

from nicegui import ui

from ui.layout import screen_title

__all__ = ["page"]


def page() -> None:
    """Build the History screen."""
    screen_title("History")
    ui.label("Past campaigns and what happened to each recipient.").classes("text-grey-8")
    ui.label("Coming soon.").mark("coming-soon")
