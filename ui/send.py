"""The Send screen (placeholder until the real one lands)."""

from __future__ import annotations

from nicegui import ui

from ui.layout import screen_title

__all__ = ["page"]


def page() -> None:
    """Build the Send screen."""
    screen_title("Send")
    ui.label("Start a campaign and watch it progress.").classes("text-grey-8")
    ui.label("Coming soon.").mark("coming-soon")
