"""Shared by the Send and History tests (no tests here): a draft, a fresh state, waiting."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import pytest
from nicegui import ui
from nicegui.testing import User

from core.models import Account, SendSettings, Template
from core.recipients import parse_bytes
from ui.services.state import SANDBOX_KEY, AppState, get_state, reset_state

__all__ = [
    "HOSTILE",
    "SAMPLE_CSV",
    "element",
    "fill_draft",
    "fresh_state",
    "plain_account",
    "wait_until",
    "wait_until_idle",
]

HOSTILE = "<img src=x onerror=alert(1)>"
SAMPLE_CSV = (
    "email,first_name\n"
    "ann@example.com,Ann\n"
    "bob@example.org,Bob\n"
    f'eve@example.net,"{HOSTILE}"\n'
    "dan@example.com,Dan\n"
)


@pytest.fixture
async def fresh_state(data_home: object) -> AsyncIterator[AppState]:
    """A new AppState; at the end, any campaign still running is cancelled and awaited."""
    reset_state()
    state = get_state()
    yield state
    active = state.active
    if active is not None and active.running and active.task is not None:
        active.session.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(active.task), 10)
    reset_state()


def fill_draft(
    state: AppState,
    csv_text: str = SAMPLE_CSV,
    *,
    subject: str = "Hello {{ first_name }}",
    body: str = "Hi {{ first_name }},\nsee you.",
    delay_ms: int = 0,
    account_name: str = SANDBOX_KEY,
) -> None:
    """Recipients from CSV text, a template, the sandbox (by default), no delay."""
    state.draft.recipients = parse_bytes(csv_text.encode(), filename="people.csv")
    state.draft.template = Template(subject=subject, body=body)
    state.draft.account_name = account_name
    state.draft.settings = SendSettings(delay_ms=delay_ms)


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def wait_until_idle(state: AppState, timeout: float = 15.0) -> None:
    """Until the active campaign's background task has ended."""
    await wait_until(lambda: state.active is not None and not state.active.running, timeout)


def element(user: User, marker: str) -> ui.element:
    """The one element with this marker."""
    found = list(user.find(marker=marker).elements)
    assert len(found) == 1, f"{len(found)} elements marked {marker!r}"
    return found[0]


def plain_account(host: str, port: int) -> Account:
    """An account for a plaintext test server without login."""
    from core.models import AuthMethod, Security

    return Account(
        host=host,
        port=port,
        sender="alice@example.com",
        security=Security.NONE,
        auth=AuthMethod.NONE,
        local_hostname="client.test",
    )
