"""Helpers for driving screens with NiceGUI's simulated `user`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from nicegui import ui
from nicegui.elements.upload_files import SmallFileUpload
from nicegui.testing import User

__all__ = ["element", "set_value", "texts", "until", "upload"]


def element(user: User, marker: str) -> Any:
    """The one element carrying `marker`, shown or hidden."""
    found = [e for e in user.client.elements.values() if marker in e._markers]
    assert len(found) == 1, f"{len(found)} elements marked {marker!r}"
    return found[0]


def set_value(user: User, marker: str, value: Any) -> None:
    """Choose a value the way a person does (change events fire as in the browser)."""
    target = element(user, marker)
    with user.client:
        target.value = value


def texts(user: User, marker: str) -> list[str]:
    """The texts of every label carrying `marker`."""
    return [e.text for e in user.find(marker=marker).elements if isinstance(e, ui.label)]


async def upload(user: User, marker: str, name: str, data: bytes, content_type: str) -> None:
    """Simulate a finished browser upload into the `ui.upload` marked `marker`."""
    target = element(user, marker)
    assert isinstance(target, ui.upload)
    await target.handle_uploads([SmallFileUpload(name, content_type, data)])


async def until(condition: Callable[[], bool], *, timeout: float = 10.0) -> None:
    """Wait for background work (a click's async handler) to make `condition` true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out waiting for the condition"
        await asyncio.sleep(0.02)
