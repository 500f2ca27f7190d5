"""The frame every screen shares: a header with the app's name and a navigation drawer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nicegui import context, ui

from ui.web import accessibility

__all__ = ["APP_NAME", "NavItem", "frame", "screen_title"]

APP_NAME = "Bulk Mailer"
_ACTIVE_CLASSES = "bg-blue-1 text-primary"


@dataclass(frozen=True, slots=True)
class NavItem:
    """One entry of the navigation drawer."""

    path: str  # e.g. "/accounts"
    title: str
    icon: str  # a Material icon name

    @property
    def marker(self) -> str:
        """The test marker of its link: `nav-accounts` for `/accounts`."""
        return "nav-" + self.path.strip("/").replace("/", "-")


# Quasar's brand colours, darkened so text on them and them as text on white reach WCAG AA
# contrast (4.5:1); NiceGUI's defaults (primary #5898d4, warning #f2c037) do not.
BRAND_COLOURS = {
    "primary": "#1565c0",
    "secondary": "#00695c",
    "accent": "#6a1b9a",
    "positive": "#2e7d32",
    "negative": "#c62828",
    "info": "#01579b",
    "warning": "#8a5300",
}


def frame(items: Sequence[NavItem]) -> None:
    """Build the header and the left drawer; the caller adds the content after it."""
    ui.colors(**BRAND_COLOURS)
    accessibility.install()
    with ui.header(elevated=True).classes("items-center q-px-md q-py-sm").mark("app-header"):
        drawer_button = ui.button(icon="menu").props("flat round dense color=white")
        drawer_button.props('aria-label="Show or hide navigation"').mark("nav-toggle")
        ui.link(APP_NAME, "/").classes("text-h6 text-white no-underline").mark("app-title")
    with (
        ui.left_drawer(value=True, bordered=True).classes("q-pa-none").mark("nav-drawer") as drawer
    ):
        links: dict[str, ui.row] = {}
        for item in items:
            with (
                ui.link(target=item.path).classes("w-full no-underline text-grey-9") as link,
                ui.row().classes("items-center q-px-md q-py-sm no-wrap") as row,
            ):
                ui.icon(item.icon, size="sm")
                ui.label(item.title)
            link.mark(item.marker)
            links[item.path] = row
    drawer_button.on_click(drawer.toggle)

    def highlight(path: str) -> None:
        clean = path.split("?", 1)[0].split("#", 1)[0].rstrip("/") or "/"
        for prefix, row in links.items():
            if clean == prefix or clean.startswith(prefix + "/"):
                row.classes(add=_ACTIVE_CLASSES)
            else:
                row.classes(remove=_ACTIVE_CLASSES)

    router = context.client.sub_pages_router
    router.on_path_changed(highlight)
    highlight(router.current_path)


def screen_title(text: str) -> ui.label:
    """The heading at the top of a screen."""
    title = ui.label(text).classes("text-h5 q-mb-md").mark("screen-title")
    return title.props('role="heading" aria-level="1"')  # each screen's one level-one heading
