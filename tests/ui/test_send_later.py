"""Send later in the app: schedule on Send, listed in History, picked up when due or restarted."""

from __future__ import annotations

import time

import pytest
from nicegui.testing import User

from core.events import CampaignStatus
from core.models import Account, Credentials, SendSettings
from core.schedule import LocalTime
from storage.journal.scheduling import reschedule, scheduled_campaigns, start_time
from storage.outbox import OutboxStore
from tests.ui.campaign_kit import (
    fill_draft,
    fresh_state,  # noqa: F401 - the fixture, used by name
    wait_until,
    wait_until_idle,
)
from tests.ui.screen import element, until
from ui.services.campaigns import Draft, Prepared, prepare
from ui.services.sandbox import SandboxServer
from ui.services.scheduling import schedule_campaign
from ui.services.starting import Choice
from ui.services.state import AppState, get_state, reset_state
from ui.web.credentials import draft_account
from ui.web.scheduled import due_watcher

pytestmark = pytest.mark.usefixtures("fresh_state")


async def _schedule(state: AppState, start_at: float, *, delay_ms: int = 0) -> str:
    """A campaign to the sandbox, scheduled (as Send does) for `start_at`."""
    fill_draft(state)
    recipients = state.draft.recipients
    assert recipients is not None
    draft = Draft(
        account=draft_account(),
        template=state.draft.template,
        recipients=recipients.recipients,
        settings=SendSettings(delay_ms=delay_ms),
        base_dir=state.draft.base_dir(),
    )

    async def yes(_: Prepared) -> bool:
        return True

    async def no_secrets(_: Account) -> Credentials:
        return Credentials()

    started = await schedule_campaign(
        state.journal,
        draft,
        LocalTime(time.time() + 3600, "UTC"),
        unattended=lambda _: None,
        confirm=yes,
        secrets=no_secrets,
        prepared=prepare(state.journal, draft),
        choice=Choice.EVERYONE_AGAIN,  # tests schedule the same list more than once
    )
    assert reschedule(state.journal, started.campaign_id, start_at=start_at)
    return started.campaign_id


async def test_schedule_on_send_shows_the_zone_and_lists_it_in_history(
    user: User, running_sandbox: SandboxServer, outbox: OutboxStore
) -> None:
    state = get_state()
    fill_draft(state)
    await user.open("/send")
    await user.should_see("Time zone:", marker="later-zone", retries=50)
    await user.should_see(marker="send-preflight-ok", retries=50)
    user.find(marker="later-window").type("9-17")
    await user.should_see("field 'Sending window': '9' is not a time of day like 09:00")
    user.find(marker="later-window").clear().type("00:00-23:59")
    user.find(marker="later-batch").type("2")
    await user.should_see("batch 2: 2 messages", retries=20)
    chart = element(user, "later-plan-chart")  # the same plan as a picture, batch by batch
    await until(lambda: chart.visible)
    (series,) = chart.options["series"]
    assert sum(series["data"]) == 4
    user.find(marker="later-schedule").click()
    await user.should_see(marker="later-confirm-ok", retries=50)
    await user.should_see("batch 2: 2 messages", retries=20)
    user.find(marker="later-confirm-ok").click()
    await user.should_see("scheduled for", marker="later-message", retries=50)
    (campaign,) = scheduled_campaigns(state.journal)
    assert state.journal.campaign(campaign.id).settings.batch_size == 2
    assert campaign.start_at > time.time()
    assert outbox.count() == 0
    await user.open("/history")
    await user.should_see(marker=f"scheduled-{campaign.id}", retries=20)
    user.find(marker=f"scheduled-cancel-{campaign.id}").click()
    await user.should_see("cancelled", marker="scheduled-message", retries=20)
    assert state.journal.campaign(campaign.id).status is CampaignStatus.CANCELLED


async def test_a_campaign_scheduled_before_a_restart_starts_when_due(
    user: User, running_sandbox: SandboxServer, outbox: OutboxStore
) -> None:
    state = get_state()
    campaign_id = await _schedule(state, time.time() + 2)
    reset_state()  # the app was closed and opened again
    state = get_state()
    await user.open("/")
    assert outbox.count() == 0  # not before its time
    await wait_until(lambda: state.active is not None, timeout=30)
    await wait_until_idle(state)
    assert outbox.count() == 4
    assert state.journal.campaign(campaign_id).status is CampaignStatus.FINISHED
    assert start_time(state.journal, campaign_id) is not None


async def test_a_campaign_more_than_an_hour_late_waits_for_the_person(
    user: User, running_sandbox: SandboxServer, outbox: OutboxStore
) -> None:
    state = get_state()
    campaign_id = await _schedule(state, time.time() + 60)
    reset_state()
    state = get_state()
    reschedule(state.journal, campaign_id, start_at=time.time() - 3 * 3600)
    await user.open("/")
    await user.should_see(marker="late-dialog", retries=30)
    await user.should_see(marker=f"late-{campaign_id}")
    watcher = due_watcher(state)
    await watcher.look()
    assert state.active is None and outbox.count() == 0
    assert [d.campaign.id for d in watcher.last.late] == [campaign_id]
    user.find(marker=f"late-start-{campaign_id}").click()
    await wait_until(lambda: state.active is not None, timeout=30)
    await wait_until_idle(state)
    assert outbox.count() == 4


async def test_history_start_now_and_edit_the_time(
    user: User, running_sandbox: SandboxServer, outbox: OutboxStore
) -> None:
    state = get_state()
    later = await _schedule(state, time.time() + 7200)
    await user.open("/history")
    await user.should_see(marker=f"scheduled-{later}", retries=20)
    user.find(marker=f"scheduled-edit-{later}").click()
    await user.should_see(marker="scheduled-edit-dialog", retries=20)
    user.find(marker="scheduled-edit-date").clear().type("2031-01-02")
    user.find(marker="scheduled-edit-time").clear().type("08:15")
    user.find(marker="scheduled-edit-save").click()
    await user.should_see("now starts 2031-01-02 08:15", marker="scheduled-message", retries=20)
    user.find(marker=f"scheduled-start-{later}").click()
    await wait_until(lambda: state.active is not None, timeout=30)
    await wait_until_idle(state)
    assert outbox.count() == 4
    assert scheduled_campaigns(state.journal) == []


async def test_a_due_campaign_waits_behind_the_running_one(
    user: User, running_sandbox: SandboxServer, outbox: OutboxStore
) -> None:
    state = get_state()
    first = await _schedule(state, time.time() - 1, delay_ms=1000)
    second = await _schedule(state, time.time() - 1)
    await user.open("/")
    watcher = due_watcher(state)
    await wait_until(lambda: state.active is not None, timeout=30)
    assert state.active is not None and state.active.campaign_id == first
    assert state.active.running  # four messages a second apart
    picked = await watcher.look()
    assert [d.campaign.id for d in picked.waiting] == [second]
    assert picked.started is None
    await wait_until_idle(state)
    await watcher.look()
    await wait_until(lambda: state.active is not None and state.active.campaign_id == second)
    await wait_until_idle(state)
    assert outbox.count() == 8
    assert state.journal.campaign(first).status is CampaignStatus.FINISHED
    assert state.journal.campaign(second).status is CampaignStatus.FINISHED
