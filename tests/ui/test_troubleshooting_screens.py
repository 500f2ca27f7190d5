"""The GUI side of troubleshooting: Copy report, several CA files, reconnects, durations."""

from __future__ import annotations

from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User

from core.models import Credentials, SendSettings, Template
from core.recipients import parse_bytes
from tests.certs import CertSet
from tests.smtpd import USER, Recorder, ServerHandle, start_server
from tests.ui.campaign_kit import (
    element,
    fill_draft,
    fresh_state,  # noqa: F401 - the fixture, used by name
    plain_account,
)
from ui.services.campaigns import CampaignSession, Draft, create_campaign, prepare
from ui.services.sandbox import SandboxServer
from ui.services.state import get_state
from ui.web.account_fields import build_account

pytestmark = pytest.mark.usefixtures("fresh_state")

SENTINEL = "gui-s3ntinel-password"
SERVER_DELAY = 0.1


async def _fill(user: User, handle: ServerHandle, ca_text: str) -> None:
    await user.open("/accounts")
    await user.should_see("Accounts", marker="screen-title")
    user.find(marker="account-name").type("Test server")
    user.find(marker="account-host").type("localhost")
    user.find(marker="account-port").clear().type(str(handle.port))
    user.find(marker="account-username").type(USER)
    user.find(marker="account-sender").type(USER)
    element(user, "account-ca-file").value = ca_text


async def test_copy_report_shows_the_check_without_the_password_or_user(
    user: User, starttls_server: ServerHandle, certs: CertSet
) -> None:
    await _fill(user, starttls_server, str(certs.ca_file))
    copy = element(user, "account-copy-report")
    assert isinstance(copy, ui.button) and not copy.enabled  # nothing to copy yet
    user.find(marker="account-password").type(SENTINEL)
    user.find(marker="account-test").click()
    await user.should_see("Stopped at AUTH", marker="diagnosis-summary", retries=100)
    assert copy.enabled
    user.find(marker="account-copy-report").click()
    area = element(user, "diagnosis-report")
    assert isinstance(area, ui.textarea)
    text = str(area.value)
    assert "failed at **AUTH**" in text and "### Hints" in text
    assert "- EHLO keywords:" in text and "- Certificate issuer: CN=Bulk Mailer Test CA" in text
    assert SENTINEL not in text and "alice" not in text.lower()
    assert "[user]@example.com" in text


async def test_two_ca_files_one_per_line_pass_the_test(user: User, certs: CertSet) -> None:
    handle = await start_server("starttls", certs, recorder=Recorder(), cert=certs.other_ca_cert)
    try:
        await _fill(user, handle, f"{certs.ca_file}\n\n{certs.other_ca_file}\n")
        user.find(marker="account-password").type("correct horse battery staple")
        user.find(marker="account-test").click()
        await user.should_see("ready to send", marker="diagnosis-summary", retries=100)
    finally:
        await handle.close()


def test_ca_lines_are_checked_one_by_one(certs: CertSet, tmp_path: Path) -> None:
    values: dict[str, object] = {
        "name": "Work",
        "host": "smtp.example.com",
        "port": 587,
        "security": "starttls",
        "sender": "me@example.com",
        "ca_file": f"{certs.ca_file}\n{tmp_path / 'missing.pem'}",
    }
    result = build_account(values)
    assert result.account is None
    assert result.errors["ca_file"].startswith("Line 2: the CA file")
    assert "does not exist" in result.errors["ca_file"]
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("hello\n")
    result = build_account({**values, "ca_file": str(not_pem)})
    assert "Line 1" in result.errors["ca_file"] and "not a PEM" in result.errors["ca_file"]
    result = build_account({**values, "ca_file": f"{certs.ca_file}\n{certs.other_ca_file}"})
    assert result.account is not None
    assert result.account.tls.ca_paths == (str(certs.ca_file), str(certs.other_ca_file))


async def test_reconnect_limit_is_a_pacing_field(
    user: User, running_sandbox: SandboxServer
) -> None:
    state = get_state()
    fill_draft(state)
    await user.open("/send")
    await user.should_see(marker="send-preflight-ok", retries=50)
    field = element(user, "send-max-reconnects")
    assert isinstance(field, ui.number)
    assert field.value == SendSettings().retry.max_reconnects
    field.value = 12
    await user.should_see(marker="send-plan")
    assert state.draft.settings.retry.max_reconnects == 12
    field.value = -1
    await user.should_see("Fix the pacing numbers", marker="send-plan")


async def test_history_shows_each_duration_and_the_slowest_replies(
    user: User, plain_server: ServerHandle
) -> None:
    state = get_state()
    plain_server.recorder.data_delay = SERVER_DELAY
    report = parse_bytes(b"email\nann@example.com\nbob@example.org\n", filename="people.csv")
    draft = Draft(
        account=plain_account(plain_server.host, plain_server.port),
        template=Template(subject="Hello", body="Hi"),
        recipients=report.recipients,
        settings=SendSettings(delay_ms=0),
        base_dir=Path.cwd(),
        name="Timed",
        source=report.source,
    )
    campaign_id = create_campaign(state.journal, prepare(state.journal, draft))
    await CampaignSession(state.journal, campaign_id, Credentials()).run()
    await user.open(f"/history/{campaign_id}")
    await user.should_see("Slowest replies:", marker="history-slowest")
    table = element(user, "history-recipients")
    assert isinstance(table, ui.table)
    for row in table.rows:
        took = str(row["took"])
        assert took.endswith(" s") and float(took[:-2]) >= SERVER_DELAY
    slow = element(user, "history-slowest")
    assert "ann@example.com" in slow.text and "bob@example.org" in slow.text
