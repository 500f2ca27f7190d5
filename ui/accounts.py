"""The Accounts screen (placeholder until the real one lands)."""

from __future__ import annotations

from nicegui import ui

from ui.layout import screen_title

__all__ = ["page"]


def page() -> None:
    """Build the Accounts screen."""
    screen_title("Accounts")
    ui.label("Your SMTP accounts and their connection checks.").classes("text-grey-8")
    ui.label("Coming soon.").mark("coming-soon")
