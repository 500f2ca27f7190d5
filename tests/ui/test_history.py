"""The History screen: the list, one campaign, CSV export, retry failed, resolve unknown, resume."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User

from core.events import CampaignStatus
from core.models import Account, Credentials, Security, SendSettings, Template
from core.recipients import parse_bytes
from storage.outbox import OutboxStore
from tests.smtpd import PASSWORD, USER, ServerHandle, start_server
from tests.ui.campaign_kit import (
    HOSTILE,
    element,
    fill_draft,
    fresh_state,  # noqa: F401 - the fixture, used by name
    plain_account,
    wait_until,
    wait_until_idle,
)
from ui.services.campaigns import CampaignSession, Draft, create_campaign, prepare
from ui.services.sandbox import SandboxServer
from ui.services.state import AppState, get_state, reset_state

pytestmark = pytest.mark.usefixtures("fresh_state")

FORMULA = '=HYPERLINK("http://evil.example/x","click me")'
FORMULA_QUOTED = FORMULA.replace('"', '""')  # as a spreadsheet writes it in a CSV cell
PEOPLE = (
    "email,name\n"
    "ann@example.com,Ann\n"
    "bob@example.org,Bob\n"
    f'eve@example.net,"{FORMULA_QUOTED}"\n'
    f'dan@example.com,"{HOSTILE}"\n'
)


def _create(state: AppState, account: Account, csv_text: str = PEOPLE, name: str = "News") -> str:
    report = parse_bytes(csv_text.encode(), filename="people.csv")
    draft = Draft(
        account=account,
        template=Template(subject="Hello {{ name }}", body="Hi {{ name }}"),
        recipients=report.recipients,
        settings=SendSettings(delay_ms=0),
        base_dir=Path.cwd(),
        name=name,
        source=report.source,
    )
    return create_campaign(state.journal, prepare(state.journal, draft))


async def _run(state: AppState, account: Account, csv_text: str = PEOPLE) -> str:
    """A whole campaign, run directly (as an earlier app session would have)."""
    campaign_id = _create(state, account, csv_text)
    await CampaignSession(state.journal, campaign_id, Credentials()).run()
    return campaign_id


def _rows(user: User, marker: str) -> list[dict[str, object]]:
    table = element(user, marker)
    assert isinstance(table, ui.table)
    return list(table.rows)


def _status_of(user: User, email: str) -> object:
    return next(row["status"] for row in _rows(user, "history-recipients") if row["email"] == email)


async def test_list_shows_every_campaign_with_status_and_counts(
    user: User, plain_server: ServerHandle
) -> None:
    state = get_state()
    plain_server.recorder.rcpt_replies["bob@example.org"] = ["550 5.1.1 no such user"]
    first = await _run(state, plain_account(plain_server.host, plain_server.port))
    second = _create(state, plain_account(plain_server.host, plain_server.port), name="Later")
    await user.open("/history")
    await user.should_see(marker="history-table")
    rows = _rows(user, "history-table")
    assert [row["id"] for row in rows] == [second, first]  # newest first
    assert rows[1]["status"] == "Finished"
    assert (rows[1]["sent"], rows[1]["failed"], rows[1]["unknown"]) == (3, 1, 0)
    assert rows[0]["status"] == "Not started"
    assert rows[0]["remaining"] == 4


async def test_detail_shows_recipients_filter_and_attempts(
    user: User, plain_server: ServerHandle
) -> None:
    state = get_state()
    plain_server.recorder.rcpt_replies["bob@example.org"] = ["550 5.1.1 no such user"]
    campaign_id = await _run(state, plain_account(plain_server.host, plain_server.port))
    await user.open(f"/history/{campaign_id}")
    await user.should_see("News", marker="history-title")
    await user.should_see("3 accepted by the server, 1 failed", marker="history-counts")
    await user.should_see("Finished", marker="history-status")
    rows = _rows(user, "history-recipients")
    assert len(rows) == 4
    bob = next(row for row in rows if row["email"] == "bob@example.org")
    assert bob["status"] == "failed"
    assert bob["code"] == "550 5.1.1"
    assert "no such user" in str(bob["reply"])
    assert next(row for row in rows if row["email"] == "dan@example.com")["name"] == HOSTILE
    select = element(user, "history-recipients-filter")
    assert isinstance(select, ui.select)
    select.value = "failed"
    await user.should_see("1–1 of 1", marker="history-recipients-summary")
    assert [row["email"] for row in _rows(user, "history-recipients")] == ["bob@example.org"]
    user.find(marker="history-recipients").trigger("rowClick", [{}, bob, 0])
    await user.should_see("Attempts for bob@example.org", marker="attempts-title")
    attempts = _rows(user, "attempts-table")
    assert [row["event"] for row in attempts] == ["intent", "failed"]


async def test_recipients_are_paged_on_the_server(user: User, plain_server: ServerHandle) -> None:
    state = get_state()
    many = "email\n" + "".join(f"p{i:03d}@example.com\n" for i in range(60))
    campaign_id = _create(state, plain_account(plain_server.host, plain_server.port), many)
    await user.open(f"/history/{campaign_id}")
    await user.should_see("1–25 of 60", marker="history-recipients-summary")
    assert len(_rows(user, "history-recipients")) == 25
    pages = element(user, "history-recipients-pages")
    assert isinstance(pages, ui.pagination)
    assert pages.max == 3
    pages.value = 3
    await user.should_see("51–60 of 60", marker="history-recipients-summary")
    assert _rows(user, "history-recipients")[0]["email"] == "p050@example.com"


async def test_export_csv_all_and_failed_with_formula_cells_defused(
    user: User, plain_server: ServerHandle
) -> None:
    state = get_state()
    plain_server.recorder.rcpt_replies["bob@example.org"] = ["550 5.1.1 no such user"]
    campaign_id = await _run(state, plain_account(plain_server.host, plain_server.port))
    await user.open(f"/history/{campaign_id}")
    user.find(marker="history-export-all").click()
    response = await user.download.next(timeout=5)
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [row["email"] for row in rows] == [
        "ann@example.com",
        "bob@example.org",
        "eve@example.net",
        "dan@example.com",
    ]
    eve = rows[2]
    assert eve["name"] == "'" + FORMULA  # a spreadsheet shows it as text, never runs it
    assert rows[3]["name"] == HOSTILE
    assert rows[1]["status"] == "failed" and rows[1]["code"] == "550"
    await user.should_see("Exported 4 recipients", marker="history-message")
    user.find(marker="history-export-failed").click()
    response = await user.download.next(timeout=5)
    failed = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [row["email"] for row in failed] == ["bob@example.org"]


async def test_retry_failed_puts_them_back_and_resumes(
    user: User, plain_server: ServerHandle
) -> None:
    state = get_state()
    recorder = plain_server.recorder
    # Once, then 250. Not 5.1.1: "no such user" would put bob on the suppression list.
    recorder.rcpt_replies["bob@example.org"] = ["550 5.7.1 not now"]
    campaign_id = await _run(state, plain_account(plain_server.host, plain_server.port))
    assert "bob@example.org" not in recorder.recipients()
    await user.open(f"/history/{campaign_id}")
    await user.should_see("Retry failed (1)", marker="history-retry")
    user.find(marker="history-retry").click()
    await user.should_see("Send again to the 1 failed recipients?", marker="history-retry-text")
    user.find(marker="history-retry-confirm").click()
    await wait_until(lambda: state.active is not None)
    await wait_until_idle(state)
    assert recorder.recipients().count("bob@example.org") == 1
    await user.should_see("4 accepted by the server, 0 failed", marker="history-counts", retries=30)
    assert _status_of(user, "bob@example.org") == "accepted by server"


async def test_unknown_mark_selected_as_sent_sends_nothing(
    user: User, plain_server: ServerHandle
) -> None:
    state = get_state()
    recorder = plain_server.recorder
    recorder.drop_after_data = {"bob@example.org", "dan@example.com"}
    campaign_id = await _run(state, plain_account(plain_server.host, plain_server.port))
    assert state.journal.counts(campaign_id).unknown == 2
    stored = len(recorder.messages)
    await user.open(f"/history/{campaign_id}")
    await user.should_see("2 unknown", marker="history-counts")
    table = element(user, "history-recipients")
    assert isinstance(table, ui.table)
    table.selected = [row for row in table.rows if row["email"] == "bob@example.org"]
    user.find(marker="history-mark-sent").click()
    await user.should_see("Mark the 1 selected recipients as sent?", marker="history-mark-text")
    user.find(marker="history-mark-confirm").click()
    await user.should_see("1 recipients marked as sent", marker="history-message", retries=20)
    assert _status_of(user, "bob@example.org") == "accepted by server"
    assert _status_of(user, "dan@example.com") == "unknown"
    assert len(recorder.messages) == stored
    assert state.active is None  # marking never sends


async def test_unknown_resend_asks_about_duplicates_then_sends_again(
    user: User, plain_server: ServerHandle
) -> None:
    state = get_state()
    recorder = plain_server.recorder
    recorder.drop_after_data = {"bob@example.org"}
    campaign_id = await _run(state, plain_account(plain_server.host, plain_server.port))
    recorder.drop_after_data = set()
    await user.open(f"/history/{campaign_id}")
    user.find(marker="history-resend").click()
    await user.should_see("may get the message twice", marker="history-resend-text")
    await user.should_see("Resend (may duplicate)", marker="history-resend-confirm")
    user.find(marker="history-resend-cancel").click()
    assert state.journal.counts(campaign_id).unknown == 1
    user.find(marker="history-resend").click()
    user.find(marker="history-resend-confirm").click()
    await wait_until(lambda: state.active is not None)
    await wait_until_idle(state)
    assert recorder.recipients().count("bob@example.org") == 2  # the person chose this
    assert state.journal.counts(campaign_id).sent == 4


async def test_resume_after_a_restart_sends_the_rest(
    user: User, plain_server: ServerHandle
) -> None:
    state = get_state()
    campaign_id = _create(state, plain_account(plain_server.host, plain_server.port))
    reset_state()  # the app restarted before it ever ran
    await user.open(f"/history/{campaign_id}")
    await user.should_see("4 not sent yet", marker="history-counts")
    user.find(marker="history-resume").click()
    state = get_state()
    await wait_until(lambda: state.active is not None)
    await wait_until_idle(state)
    assert sorted(plain_server.recorder.recipients()) == sorted(
        ["ann@example.com", "bob@example.org", "eve@example.net", "dan@example.com"]
    )
    await user.should_see("Finished", marker="history-status", retries=30)


async def test_resume_a_sandbox_campaign_goes_to_the_sandbox_running_now(
    user: User, running_sandbox: SandboxServer, outbox: OutboxStore
) -> None:
    state = get_state()
    stale = replace(running_sandbox.account(), port=9)  # an earlier launch's sandbox port
    campaign_id = _create(state, stale)
    await user.open(f"/history/{campaign_id}")
    await user.should_see("sandbox running now", retries=10)
    user.find(marker="history-resume").click()
    await wait_until(lambda: state.active is not None)
    await wait_until_idle(state)
    assert outbox.count() == 4
    assert state.active is not None and state.active.result is not None
    assert state.active.result.status is CampaignStatus.FINISHED


async def test_resume_asks_the_password_when_no_saved_account_matches(user: User) -> None:
    server = await start_server("plain", auth=True)
    try:
        state = get_state()
        account = Account(
            host=server.host,
            port=server.port,
            sender=USER,
            security=Security.NONE,
            username=USER,
            local_hostname="client.test",
        )
        campaign_id = _create(state, account)
        await user.open(f"/history/{campaign_id}")
        user.find(marker="history-resume").click()
        await user.should_see(marker="credentials-password", retries=20)
        user.find(marker="credentials-password").type(PASSWORD)
        user.find(marker="credentials-ok").click()
        await wait_until(lambda: state.active is not None)
        await wait_until_idle(state)
        assert len(server.recorder.messages) == 4
        assert server.recorder.auth_attempts[0][0] == USER
    finally:
        await server.close()


async def test_one_campaign_at_a_time_from_history(
    user: User, running_sandbox: SandboxServer, plain_server: ServerHandle
) -> None:
    state = get_state()
    other = _create(state, plain_account(plain_server.host, plain_server.port))
    fill_draft(state, delay_ms=300)
    await user.open("/send")
    await user.should_see(marker="send-preflight-ok", retries=50)
    user.find(marker="send-start").click()
    await user.should_see(marker="send-confirm-ok", retries=50)
    user.find(marker="send-confirm-ok").click()
    await wait_until(lambda: state.active is not None and state.active.running)
    await user.open(f"/history/{other}")
    resume = element(user, "history-resume")
    assert isinstance(resume, ui.button) and not resume.enabled
    user.find(marker="history-resume").trigger("click")  # a forged click on it
    await user.should_see("One campaign at a time", marker="history-message", retries=20)
    assert plain_server.recorder.messages == []
    assert state.active is not None
    state.active.session.cancel()
    await wait_until_idle(state)


async def test_unknown_campaign_id_says_not_found(user: User) -> None:
    await user.open("/history/20000101-000000-abcdef")
    await user.should_see(marker="history-missing")
