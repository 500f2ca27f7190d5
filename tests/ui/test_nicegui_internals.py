"""What `ui.web.nicegui_internals` relies on in NiceGUI: fails when a release changes it."""

from __future__ import annotations

import inspect

from nicegui import ui
from nicegui.server import Server
from nicegui.testing import User

from ui.web.nicegui_internals import DeleteHook


def test_nicegui_still_has_the_private_hooks_we_use() -> None:
    assert callable(getattr(ui.element, "_handle_delete", None))
    assert "instance" in inspect.get_annotations(Server)  # the singleton `ui.run` sets
    assert callable(getattr(Server, "create_singleton", None))


async def test_delete_hook_calls_back_when_its_container_is_cleared(user: User) -> None:
    deleted: list[str] = []

    @ui.page("/hook")
    def page() -> None:
        with ui.column() as box:
            DeleteHook(lambda: deleted.append("gone"))
        ui.button("clear", on_click=box.clear).mark("clear")

    await user.open("/hook")
    assert deleted == []
    user.find(marker="clear").click()
    assert deleted == ["gone"]
