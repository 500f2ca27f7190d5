"""Every screen in one place: the root page builds the shared frame and routes to the screens."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nicegui import background_tasks, ui

from ui.services.state import get_state
from ui.web import accounts, compose, deliverability_screen, history, outbox, recipients, send
from ui.web import home as home_screen
from ui.web.layout import NavItem, frame
from ui.web.scheduled import ask_about_late

__all__ = ["SCREENS", "Screen", "home", "root", "routes"]


@dataclass(frozen=True, slots=True)
class Screen:
    """A screen in the navigation drawer and the function that builds it."""

    nav: NavItem
    build: Callable[[], Any]


SCREENS: tuple[Screen, ...] = (
    Screen(NavItem("/accounts", "Accounts", "manage_accounts"), accounts.page),
    Screen(NavItem("/recipients", "Recipients", "group"), recipients.page),
    Screen(NavItem("/compose", "Compose", "edit_note"), compose.page),
    Screen(NavItem("/send", "Send", "send"), send.page),
    Screen(NavItem("/history", "History", "history"), history.page),
    Screen(NavItem("/outbox", "Outbox", "inbox"), outbox.page),
    Screen(
        NavItem("/deliverability", "Deliverability", "verified_user"), deliverability_screen.page
    ),
)


def home() -> None:
    """The start screen: a dashboard of where things stand."""
    home_screen.page()


def routes() -> dict[str, Callable[..., Any]]:
    """Path pattern -> builder, as `ui.sub_pages` takes them."""
    return {
        "/": home,
        **{screen.nav.path: screen.build for screen in SCREENS},
        "/outbox/{message_id}": outbox.message_page,
        "/history/{campaign_id}": history.detail_page,
    }


def root() -> None:
    """The one page: frame plus client-side routing (`ui.run(root=root)`)."""
    get_state().spawn = background_tasks.create  # campaigns outlive the tab; awaited at exit
    frame([screen.nav for screen in SCREENS])
    ui.sub_pages(routes()).classes("w-full")
    ask_about_late(get_state())  # and starts the watcher of scheduled campaigns
