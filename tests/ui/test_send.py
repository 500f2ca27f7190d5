"""The Send screen: plan, pre-flight, test message, a campaign to the sandbox, live and after."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User

from core.events import CampaignStatus
from storage.outbox import OutboxStore
from tests.smtpd import ServerHandle
from tests.ui.campaign_kit import (
    HOSTILE,
    SAMPLE_CSV,
    element,
    fill_draft,
    fresh_state,  # noqa: F401 - the fixture, used by name
    plain_account,
    wait_until,
    wait_until_idle,
)
from ui.services.sandbox import SandboxServer
from ui.services.state import get_state

pytestmark = pytest.mark.usefixtures("fresh_state")

DONE_RETRIES = 100  # should_see retries (~0.1 s each) while a campaign runs


def _rows(user: User, marker: str) -> list[dict[str, object]]:
    table = element(user, marker)
    assert isinstance(table, ui.table)
    return list(table.rows)


def _log_text(user: User) -> list[str]:
    log = element(user, "send-log")
    return [child.text for child in log.default_slot.children if isinstance(child, ui.label)]


async def _confirm(user: User) -> None:
    await user.should_see(marker="send-confirm-ok", retries=50)
    user.find(marker="send-confirm-ok").click()


async def _start(user: User) -> None:
    await user.should_see(marker="send-preflight-ok", retries=50)
    user.find(marker="send-start").click()
    await _confirm(user)


async def test_campaign_to_the_sandbox_reaches_done_total_with_log_and_table(
    user: User, running_sandbox: SandboxServer, outbox: OutboxStore
) -> None:
    state = get_state()
    fill_draft(state)
    await user.open("/send")
    await user.should_see("Plan: 4 messages", marker="send-plan", retries=50)
    await _start(user)
    await user.should_see("4/4", marker="send-done", retries=DONE_RETRIES)
    await wait_until_idle(state)
    await user.should_see("Finished", marker="send-status", retries=20)
    bar = element(user, "send-progress")
    assert isinstance(bar, ui.linear_progress)
    assert bar.value == 1.0
    await user.should_see("Accepted 4", marker="send-counts")
    lines = _log_text(user)
    assert any("started" in line for line in lines)
    assert sum("accepted by server" in line for line in lines) == 4
    assert outbox.count() == 4
    subjects = sorted(entry.subject for entry in outbox.entries())
    assert subjects == sorted(f"Hello {n}" for n in ("Ann", "Bob", HOSTILE, "Dan"))
    rows = _rows(user, "send-table")
    assert [row["status"] for row in rows] == ["accepted by server"] * 4
    assert all(str(row["code"]).startswith("250") for row in rows)
    assert rows[2]["email"] == "eve@example.net"
    # nothing from the list or the server is rendered as HTML anywhere
    kinds = (ui.html, ui.markdown)
    assert not [e for e in user.client.elements.values() if isinstance(e, kinds)]


async def test_reopening_send_shows_where_the_campaign_stands(
    user: User, running_sandbox: SandboxServer
) -> None:
    state = get_state()
    fill_draft(state)
    await user.open("/send")
    await _start(user)
    await wait_until_idle(state)
    await user.open("/history")
    await user.open("/send")  # a new page built from state.active, its monitor and the journal
    await user.should_see("4/4", marker="send-done", retries=20)
    await user.should_see("Finished", marker="send-status")
    assert sum("accepted by server" in line for line in _log_text(user)) == 4


async def test_pause_resume_and_cancel(user: User, running_sandbox: SandboxServer) -> None:
    state = get_state()
    fill_draft(state, delay_ms=300)
    await user.open("/send")
    await _start(user)
    await wait_until(lambda: state.active is not None and state.active.monitor.tracker.sent >= 1)
    user.find(marker="send-pause").click()
    await user.should_see("Paused", marker="send-status", retries=50)
    sent = state.active.monitor.tracker.sent if state.active else 0
    assert state.journal.campaign(state.active.campaign_id).status is CampaignStatus.PAUSED  # type: ignore[union-attr]
    user.find(marker="send-resume").click()
    await user.should_see("Sending", marker="send-status", retries=50)
    await wait_until(lambda: state.active is not None and state.active.monitor.tracker.sent > sent)
    user.find(marker="send-cancel").click()
    await wait_until_idle(state)
    await user.should_see("Cancelled", marker="send-status", retries=20)
    await user.should_see("not sent yet: resume it from History", marker="send-reason")
    active = state.active
    assert active is not None and active.result is not None
    assert active.result.status is CampaignStatus.CANCELLED
    assert active.result.pending > 0


async def test_preflight_errors_block_start_and_name_the_fix(
    user: User, running_sandbox: SandboxServer
) -> None:
    state = get_state()
    fill_draft(state, subject="Hello {{ nickname }}")
    await user.open("/send")
    await user.should_see(marker="send-preflight-errors", retries=50)
    await user.should_see(
        "merge field `nickname` (used in subject) is not a column of the list",
        marker="send-field-problem",
    )
    await user.should_not_see("Missing merge fields")
    await user.should_see(marker="send-fix-compose")
    await user.should_see(marker="send-fix-recipients")
    start = element(user, "send-start")
    assert isinstance(start, ui.button)
    assert not start.enabled
    user.find(marker="send-start").trigger("click")  # a forged click on the disabled button
    await user.should_see("Not started", marker="send-error", retries=50)
    assert state.active is None
    assert state.journal.conn.execute("SELECT count(*) FROM campaigns").fetchone()[0] == 0


async def test_no_recipients_points_to_the_recipients_screen(
    user: User, running_sandbox: SandboxServer
) -> None:
    await user.open("/send")
    await user.should_see("Nothing to send yet", marker="send-missing", retries=50)
    await user.should_see(marker="send-fix-recipients")


async def test_unfinished_twin_offers_resume_or_a_new_campaign(
    user: User, running_sandbox: SandboxServer, outbox: OutboxStore
) -> None:
    state = get_state()
    fill_draft(state, delay_ms=400)
    await user.open("/send")
    await _start(user)
    await wait_until(lambda: state.active is not None and state.active.monitor.tracker.sent >= 1)
    user.find(marker="send-cancel").click()
    await wait_until_idle(state)
    first = state.active.campaign_id if state.active else ""
    sent_before = outbox.count()
    assert 1 <= sent_before < 4
    await user.open("/send")
    await user.should_see(marker="send-twin-warning", retries=50)
    await user.should_see(first, marker="send-twin-warning")
    user.find(marker="send-start").click()  # refused: the person must choose
    await user.should_see("unfinished campaign has the same recipients", marker="send-error")
    cancelled = state.active
    user.find(marker="send-twin-resume").click()
    await wait_until(lambda: state.active is not cancelled)
    assert state.active is not None and state.active.campaign_id == first
    await wait_until_idle(state)
    assert outbox.count() == 4  # only the ones not sent before
    await user.should_see("4/4", marker="send-done", retries=DONE_RETRIES)
    count = state.journal.conn.execute("SELECT count(*) FROM campaigns").fetchone()[0]
    assert count == 1


async def test_start_a_new_campaign_anyway(user: User, running_sandbox: SandboxServer) -> None:
    state = get_state()
    fill_draft(state, delay_ms=400)
    await user.open("/send")
    await _start(user)
    await wait_until(lambda: state.active is not None and state.active.monitor.tracker.sent >= 1)
    user.find(marker="send-cancel").click()
    await wait_until_idle(state)
    first = state.active.campaign_id if state.active else ""
    await user.open("/send")
    await user.should_see(marker="send-twin-warning", retries=50)
    user.find(marker="send-twin-new").click()
    await _confirm(user)
    await wait_until(lambda: state.active is not None and state.active.campaign_id != first)
    await wait_until_idle(state, timeout=20)
    assert state.active is not None and state.active.result is not None
    assert state.active.result.status is CampaignStatus.FINISHED


async def test_one_campaign_at_a_time(user: User, running_sandbox: SandboxServer) -> None:
    state = get_state()
    fill_draft(state, delay_ms=300)
    await user.open("/send")
    await _start(user)
    await wait_until(lambda: state.active is not None and state.active.running)
    running = state.active
    await user.should_see("is running. One campaign at a time", marker="send-busy", retries=20)
    start = element(user, "send-start")
    assert isinstance(start, ui.button) and not start.enabled
    user.find(marker="send-start").trigger("click")  # a forged click on the disabled button
    await user.should_see("One campaign at a time", marker="send-error", retries=20)
    assert state.active is running
    user.find(marker="send-cancel").click()
    await wait_until_idle(state)


async def test_send_a_test_to_me_shows_the_server_reply(
    user: User, running_sandbox: SandboxServer, outbox: OutboxStore
) -> None:
    fill_draft(get_state())
    await user.open("/send")
    await user.should_see(marker="send-preflight-ok", retries=50)
    user.find(marker="send-test-address").type("me@example.com")
    user.find(marker="send-test-button").click()
    await user.should_see("Test accepted by the server for me@example.com: 250", retries=50)
    assert outbox.count() == 1
    entry = outbox.entries()[0]
    assert list(entry.rcpt_tos) == ["me@example.com"]
    assert entry.subject == "[Test] Hello Ann"
    assert get_state().journal.conn.execute("SELECT count(*) FROM campaigns").fetchone()[0] == 0


async def test_send_a_test_reports_a_bad_address_as_the_next_step(
    user: User, running_sandbox: SandboxServer
) -> None:
    fill_draft(get_state())
    await user.open("/send")
    await user.should_see(marker="send-preflight-ok", retries=50)
    user.find(marker="send-test-address").type("not an address")
    user.find(marker="send-test-button").click()
    await user.should_see("Test not sent:", marker="send-test-result", retries=50)


async def test_pacing_numbers_are_validated_and_change_the_plan(
    user: User, running_sandbox: SandboxServer
) -> None:
    state = get_state()
    fill_draft(state, delay_ms=1000)
    await user.open("/send")
    await user.should_see("one every 1 s", marker="send-plan", retries=50)
    delay = element(user, "send-delay-ms")
    assert isinstance(delay, ui.number)
    delay.value = -5
    await user.should_see("Fix the pacing numbers", marker="send-plan")
    start = element(user, "send-start")
    assert isinstance(start, ui.button) and not start.enabled
    delay.value = 60_000
    await user.should_see("one every 60 s", marker="send-plan")
    assert state.draft.settings.delay_ms == 60_000
    cap = element(user, "send-daily-cap")
    assert isinstance(cap, ui.number)
    cap.value = 2
    await user.should_see("4 recipients at 2 per day: finishes in 2 days", marker="send-plan")
    assert state.draft.settings.daily_cap == 2


async def test_connections_and_rate_change_the_settings_and_the_plan(
    user: User, running_sandbox: SandboxServer
) -> None:
    state = get_state()
    fill_draft(state, delay_ms=0)
    await user.open("/send")
    await user.should_see(marker="send-plan", retries=50)
    connections = element(user, "send-connections")
    rate = element(user, "send-rate-per-minute")
    assert isinstance(connections, ui.number) and isinstance(rate, ui.number)
    connections.value = 4
    rate.value = 120
    await user.should_see("over 4 connections, 120 a minute", marker="send-plan")
    assert (state.draft.settings.connections, state.draft.settings.rate_per_minute) == (4, 120.0)
    connections.value = 0
    await user.should_see("Fix the pacing numbers", marker="send-plan")


async def test_leaving_the_page_unsubscribes_its_listener(
    user: User, running_sandbox: SandboxServer
) -> None:
    state = get_state()
    fill_draft(state, delay_ms=200)
    await user.open("/send")
    await _start(user)
    await wait_until(lambda: state.active is not None and state.active.running)
    active = state.active
    assert active is not None
    await user.should_see(marker="send-log", retries=20)
    assert active.monitor.listener_count == 1
    router = user.client.sub_pages_router
    with user.client:  # a link click: routing inside the same page, the old screen is deleted
        await router._handle_open("/outbox")
    assert active.monitor.listener_count == 0
    with user.client:
        await router._handle_open("/send")
    await user.should_see(marker="send-log", retries=20)
    assert active.monitor.listener_count == 1
    for handler in list(user.client.disconnect_handlers):
        handler()  # what a lost websocket does
    assert active.monitor.listener_count == 0
    for handler in list(user.client.connect_handlers):
        handler()  # and a reconnect: subscribed again (once), the page redrawn from the monitor
    assert active.monitor.listener_count == 1
    user.find(marker="send-cancel").click()
    await wait_until_idle(state)


async def test_aborted_campaign_shows_the_reason_and_the_next_step(
    user: User, plain_server: ServerHandle
) -> None:
    state = get_state()
    plain_server.recorder.mail_reply = "550 5.7.1 Sender address rejected: not owned by user"
    state.settings.save_account("Work", plain_account(plain_server.host, plain_server.port))
    fill_draft(state, account_name="Work")
    await user.open("/send")
    await _start(user)
    await wait_until(lambda: state.active is not None)
    await wait_until_idle(state)
    await user.should_see("Stopped (aborted)", marker="send-status", retries=20)
    await user.should_see("Sender address rejected", marker="send-reason")
    await user.should_see("What to do: Use the account's own address", marker="send-reason")
    await user.should_see("4 not sent yet: resume it from History", marker="send-reason")
    assert plain_server.recorder.messages == []


async def test_log_filter_shows_problems_only(user: User, plain_server: ServerHandle) -> None:
    state = get_state()
    plain_server.recorder.rcpt_replies["bob@example.org"] = ["550 5.1.1 no such user"]
    state.settings.save_account("Work", plain_account(plain_server.host, plain_server.port))
    fill_draft(state, account_name="Work")
    await user.open("/send")
    await _start(user)
    await wait_until(lambda: state.active is not None)
    await wait_until_idle(state)
    await user.should_see("Accepted 3 · Failed 1", marker="send-counts", retries=20)
    assert sum("accepted by server" in line for line in _log_text(user)) == 3
    toggle = element(user, "send-log-filter")
    assert isinstance(toggle, ui.toggle)
    toggle.value = "problems"
    lines = _log_text(user)
    assert any("bob@example.org: failed 550" in line for line in lines)
    assert not any("accepted by server" in line for line in lines)
    toggle.value = "all"
    assert sum("accepted by server" in line for line in _log_text(user)) == 3
    rows = _rows(user, "send-table")
    bob = next(row for row in rows if row["email"] == "bob@example.org")
    assert (bob["status"], bob["code"]) == ("failed", "550 5.1.1")


async def test_provider_preset_cap_is_named_and_applied(
    user: User, plain_server: ServerHandle
) -> None:
    state = get_state()
    account = replace(plain_account(plain_server.host, plain_server.port), preset="gmail")
    state.settings.save_account("Gmail", account)
    fill_draft(state, account_name="Gmail", csv_text=SAMPLE_CSV)
    await user.open("/send")
    await user.should_see("Gmail allows about 500 messages per day", retries=50)
    cap = element(user, "send-daily-cap")
    assert isinstance(cap, ui.number)
    cap.value = 3
    await user.should_see("4 recipients at 3 per day: finishes in 2 days", marker="send-plan")


def test_screen_modules_never_render_html_or_run_javascript() -> None:
    import ui.services.runs
    import ui.web.history
    import ui.web.live
    import ui.web.progress_view
    import ui.web.recipient_table
    import ui.web.send
    import ui.web.send_draft

    modules = (
        ui.web.history,
        ui.web.live,
        ui.web.progress_view,
        ui.web.recipient_table,
        ui.services.runs,
        ui.web.send,
        ui.web.send_draft,
    )
    for module in modules:
        text = Path(module.__file__ or "").read_text(encoding="utf-8")
        for forbidden in ("ui.html(", "ui.markdown(", "run_javascript(", "add_head_html", "v-html"):
            assert forbidden not in text, f"{module.__name__} uses {forbidden}"
