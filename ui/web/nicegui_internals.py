"""The only module that touches NiceGUI's private API; `tests/ui/test_nicegui_internals.py`
fails when a NiceGUI release changes what it relies on (pyproject bounds nicegui below 4).

- `DeleteHook`: an invisible element that calls back when NiceGUI deletes it (with its page
  or its client), through the element's `_handle_delete`.
- `server_started()`: whether uvicorn accepts connections yet, through NiceGUI's `Server`
  singleton (`Server.instance`, set when `ui.run` creates it).
"""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui
from nicegui.server import Server

__all__ = ["DeleteHook", "server_started"]


class DeleteHook(ui.element):
    """Calls `callback` once when NiceGUI deletes this element."""

    def __init__(self, callback: Callable[[], None]) -> None:
        super().__init__()
        self._on_delete_callback = callback

    def _handle_delete(self) -> None:
        self._on_delete_callback()
        super()._handle_delete()


def server_started() -> bool | None:
    """True once uvicorn serves, False before; None when no NiceGUI server was created."""
    server = getattr(Server, "instance", None)
    return None if server is None else bool(server.started)
