"""Home is a dashboard of where things stand, true after each kind of change."""

from __future__ import annotations

import pytest
from nicegui.testing import User

from core.models import Template
from core.recipients import parse_bytes
from storage.accounts import AccountBook
from storage.keys import PassphraseKeySource
from storage.settings import SettingsStore
from storage.vault import Vault
from tests.journal_kit import seed_campaign
from tests.smtpd import ServerHandle
from tests.ui.campaign_kit import (
    fill_draft,
    fresh_state,  # noqa: F401 - the fixture, used by name
    plain_account,
    wait_until_idle,
)
from tests.ui.screen import element, texts
from ui.services import runs
from ui.services.campaigns import Draft, create_campaign, prepare
from ui.services.sandbox import SandboxServer
from ui.services.state import get_state

pytestmark = pytest.mark.usefixtures("fresh_state")


def _save_account(name: str, handle: ServerHandle) -> None:
    from core.models import Secret

    settings = SettingsStore()
    vault = Vault(key_sources=[PassphraseKeySource(lambda _new: Secret("p" * 20), n=2**10)])
    AccountBook(settings, vault).save(name, plain_account("127.0.0.1", handle.port))
    settings.close()


async def test_fresh_app_shows_the_sandbox_and_that_nothing_is_ready_yet(user: User) -> None:
    await user.open("/")
    await user.should_see("where things stand", marker="screen-title")
    await user.should_see("Sandbox", marker="home-account-name")
    await user.should_see("Not tested since the app started.", marker="home-account-test")
    await user.should_see("No list loaded yet.", marker="home-list-summary")
    await user.should_see("Not written yet.", marker="home-subject")
    await user.should_see("Nothing is running.", marker="home-running-text")
    await user.should_see(marker="home-no-campaigns")
    for marker, path in (
        ("home-link-accounts", "/accounts"),
        ("home-link-recipients", "/recipients"),
        ("home-link-compose", "/compose"),
        ("home-link-send", "/send"),
        ("home-link-history", "/history"),
    ):
        assert element(user, marker).props["href"] == path


async def test_list_and_message_changes_show_on_home(user: User) -> None:
    state = get_state()
    state.draft.recipients = parse_bytes(
        b"email,name\na@example.com,A\nA@example.com,A2\nnot-an-address,B\nc@example.com,C\n",
        filename="people.csv",
    )
    state.draft.template = Template(subject="Spring news for {{ name }}", body="Hi")
    await user.open("/")
    await user.should_see(
        "2 recipients from people.csv: 1 rejected, 1 duplicates", marker="home-list-summary"
    )
    await user.should_see("Subject: Spring news for {{ name }}", marker="home-subject")
    state.draft.template = Template(subject="", body="Only a body")
    await user.open("/")
    await user.should_see("No subject yet", marker="home-subject")


async def test_home_names_the_account_in_use_not_the_sandbox_and_its_last_test(
    user: User, plain_server: ServerHandle
) -> None:
    _save_account("Lab", plain_server)
    get_state().draft.account_name = "Lab"
    await user.open("/")
    await user.should_see("Lab: alice@example.com", marker="home-account-name")
    await user.should_not_see("Sandbox", marker="home-account-name")
    await user.should_see("Not tested", marker="home-account-test")

    await user.open("/accounts")
    user.find(marker="account-test-lab").click()
    await user.should_see("ready to send", marker="diagnosis-summary", retries=100)
    await user.open("/")
    await user.should_see("connection, security and login fine", marker="home-account-test")

    await plain_server.close()  # the next test fails: home says why
    await user.open("/accounts")
    user.find(marker="account-test-lab").click()
    await user.should_see(marker="diagnosis-summary", retries=100)
    await user.open("/")
    (line,) = texts(user, "home-account-test")
    assert "failed" in line and "login fine" not in line


async def test_a_finished_campaign_appears_with_its_stacked_bar(user: User) -> None:
    campaign_id = seed_campaign(get_state().journal, name="Spring news")
    await user.open("/")
    await user.should_see("Spring news", marker="home-campaign-link")
    assert element(user, "home-campaign-link").props["href"] == f"/history/{campaign_id}"
    bar = element(user, "home-campaign-bar")
    assert bar.props["aria-label"] == ("7 recipients: 3 accepted, 2 failed, 1 unknown, 1 deferred")


async def test_a_running_campaign_shows_on_home_and_its_end_too(
    user: User, running_sandbox: SandboxServer
) -> None:
    state = get_state()
    fill_draft(state, delay_ms=300)
    await user.open("/")
    from ui.web.credentials import draft_account

    report = state.draft.recipients
    assert report is not None
    draft = Draft(
        account=draft_account(),
        template=state.draft.template,
        recipients=report.recipients,
        settings=state.draft.settings,
        base_dir=state.draft.base_dir(),
        name="Live one",
        source="people.csv",
    )
    campaign_id = create_campaign(state.journal, prepare(state.journal, draft))
    from core.models import Credentials

    runs.launch(state, campaign_id, Credentials())
    await user.should_see("Sending", marker="home-running-text", retries=50)
    await wait_until_idle(state)
    await user.should_see("Finished", marker="home-running-text", retries=50)
    await user.should_see("Live one", marker="home-campaign-link", retries=100)


async def test_home_follows_draft_changes_made_elsewhere_without_reopening(user: User) -> None:
    await user.open("/")
    await user.should_see("Not written yet.", marker="home-subject")
    state = get_state()
    state.draft.template = Template(subject="Changed in another tab", body="x")
    state.draft.recipients = parse_bytes(b"email\na@example.com\n", filename="late.csv")
    await user.should_see("Subject: Changed in another tab", marker="home-subject", retries=40)
    await user.should_see("1 recipients from late.csv", marker="home-list-summary", retries=40)
