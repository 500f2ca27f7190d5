"""The Compose screen (placeholder until the real one lands)."""

from __future__ import annotations

from nicegui import ui

from ui.layout import screen_title

__all__ = ["page"]


def page() -> None:
    """Build the Compose screen."""
    screen_title("Compose")
    ui.label("The subject and body, with merge fields from your recipient list.").classes(
        "text-grey-8"
    )
    ui.label("Coming soon.").mark("coming-soon")
