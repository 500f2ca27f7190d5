"""Nothing goes out by surprise on the Send screen: a confirmation before every campaign, and
an explicit choice before the same message goes to people who already got it."""

from __future__ import annotations

import pytest
from nicegui.testing import User

from core.events import CampaignStatus
from storage.outbox import OutboxStore
from tests.ui.campaign_kit import (
    SAMPLE_CSV,
    element,
    fill_draft,
    fresh_state,  # noqa: F401 - the fixture, used by name
    wait_until,
    wait_until_idle,
)
from ui.services.sandbox import SandboxServer
from ui.services.state import get_state

pytestmark = pytest.mark.usefixtures("fresh_state")

DONE_RETRIES = 100


async def _confirm_shows(user: User, text: str) -> None:
    await user.should_see(marker="send-confirm-ok", retries=50)
    with user.scope(marker="send-confirm-summary"):
        await user.should_see(text)


async def _finish_one_campaign(user: User, outbox: OutboxStore) -> str:
    state = get_state()
    fill_draft(state)
    await user.open("/send")
    await user.should_see(marker="send-preflight-ok", retries=50)
    user.find(marker="send-start").click()
    await _confirm_shows(user, "Recipients: 4")
    await _confirm_shows(user, "First subject: Hello Ann")
    user.find(marker="send-confirm-ok").click()
    await wait_until(lambda: state.active is not None)
    await wait_until_idle(state)
    assert state.active is not None and state.active.result is not None
    assert state.active.result.status is CampaignStatus.FINISHED
    assert outbox.count() == 4
    await user.should_see("Slowest replies:", marker="send-slowest", retries=50)  # the summary
    return state.active.campaign_id


async def test_cancelling_the_confirmation_creates_nothing(
    user: User, running_sandbox: SandboxServer, outbox: OutboxStore
) -> None:
    state = get_state()
    fill_draft(state)
    await user.open("/send")
    await user.should_see(marker="send-preflight-ok", retries=50)
    user.find(marker="send-start").click()
    await user.should_see(marker="send-confirm-cancel", retries=50)
    user.find(marker="send-confirm-cancel").click()
    await user.should_see("Not started: nothing sent", marker="send-error", retries=50)
    assert state.active is None
    assert state.journal.conn.execute("SELECT count(*) FROM campaigns").fetchone() == (0,)
    assert outbox.count() == 0


async def test_a_finished_campaign_needs_a_choice_before_it_goes_out_again(
    user: User, running_sandbox: SandboxServer, outbox: OutboxStore
) -> None:
    state = get_state()
    first = await _finish_one_campaign(user, outbox)

    # One more click on Start: refused, nothing created, the choice is offered.
    await user.open("/send")
    await user.should_see("4 of these 4 recipients already got this message", retries=50)
    await user.should_see(first, marker="send-twin-repeats")
    user.find(marker="send-start").click()
    await user.should_see("already got this message", marker="send-error", retries=50)
    await user.should_not_see(marker="send-confirm-ok")
    assert outbox.count() == 4
    assert element(user, "send-twin-only-new").enabled is False  # nobody new on the list

    # The list grows by one, with Bob's address in capitals: only the new person is sent to.
    grown = SAMPLE_CSV.replace("bob@example.org", "BOB@Example.ORG") + "fay@example.com,Fay\n"
    fill_draft(state, grown)
    await user.open("/send")
    await user.should_see("4 of these 5 recipients already got this message", retries=50)
    user.find(marker="send-twin-only-new").click()
    await _confirm_shows(user, "Recipients: 1")
    user.find(marker="send-confirm-ok").click()
    await wait_until(lambda: state.active is not None and state.active.campaign_id != first)
    await wait_until_idle(state)
    assert outbox.count() == 5

    # Everyone again is a choice a person makes, and confirms.
    await user.should_see("5 of these 5 recipients already got this message", retries=50)
    user.find(marker="send-twin-new").click()
    await _confirm_shows(user, "Recipients: 5")
    user.find(marker="send-confirm-ok").click()
    await wait_until(lambda: outbox.count() == 10, timeout=20)


async def test_the_confirmation_names_archive_copies_and_outside_files(
    user: User, running_sandbox: SandboxServer, tmp_path: object
) -> None:
    from dataclasses import replace
    from pathlib import Path

    state = get_state()
    fill_draft(state)
    outside = Path(str(tmp_path)) / "outside.pdf"
    outside.write_bytes(b"%PDF-1.4")
    state.draft.template = replace(
        state.draft.template, bcc=("archive@example.com",), attachments=(str(outside),)
    )
    await user.open("/send")
    await user.should_see(marker="send-preflight-ok", retries=50)
    user.find(marker="send-start").click()
    await user.should_see(marker="send-confirm-ok", retries=50)
    await user.should_see("archive@example.com", marker="send-confirm-extra")
    await user.should_see(str(outside), marker="send-confirm-outside")
    assert "text-weight-bold" in element(user, "send-confirm-extra").classes
    user.find(marker="send-confirm-cancel").click()
