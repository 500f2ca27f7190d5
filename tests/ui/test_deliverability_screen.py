"""The Deliverability screen, the spam Check buttons and the domain lines in the app."""

from __future__ import annotations

import dkim
import pytest
from nicegui import ui
from nicegui.testing import User

from core.models import Account, Credentials, Secret, Template
from core.recipients import parse_text
from core.suppression import SuppressionReason
from storage.dkim_keys import DkimKey, generate_key, load_key, save_key
from storage.suppression import SuppressionList
from tests.smtpd import ServerHandle
from tests.ui.campaign_kit import fill_draft, plain_account, wait_until_idle
from tests.ui.test_history import _create
from ui.services import runs
from ui.services.sandbox import SandboxServer
from ui.services.state import AppState, get_state


def _rows(user: User) -> list[dict[str, str]]:
    table = next(iter(user.find(marker="suppress-table").elements))
    assert isinstance(table, ui.table)
    return list(table.rows)


async def test_add_paste_and_remove_addresses(user: User) -> None:
    await user.open("/deliverability")
    await user.should_see("0 addresses on the list", marker="suppress-count")
    user.find(marker="suppress-email").type("Ann@Example.com")
    user.find(marker="suppress-add").click()
    await user.should_see("1 addresses on the list", marker="suppress-count")
    user.find(marker="suppress-paste").type("b@example.com, nope\nc@example.com")
    user.find(marker="suppress-import").click()
    await user.should_see("2 added, 0 already on the list, 1 rejected", marker="suppress-message")
    assert {row["email"] for row in _rows(user)} == {
        "Ann@Example.com",
        "b@example.com",
        "c@example.com",
    }
    table = next(iter(user.find(marker="suppress-table").elements))
    assert isinstance(table, ui.table)
    table.selected = [row for row in table.rows if row["email"] == "b@example.com"]
    user.find(marker="suppress-remove").click()
    await user.should_see("2 addresses on the list", marker="suppress-count")
    with SuppressionList() as listed:  # the same list the engine reads
        assert listed.reason_for("ann@example.com") == "manual"
        assert listed.reason_for("b@example.com") is None


async def test_bad_address_is_refused_with_the_reason(user: User) -> None:
    await user.open("/deliverability")
    user.find(marker="suppress-email").type("not an address")
    user.find(marker="suppress-add").click()
    await user.should_see("Not added", marker="suppress-message")


async def test_export_downloads_the_list(user: User) -> None:
    with SuppressionList() as listed:
        listed.add("a@example.com", SuppressionReason.BOUNCED)
    await user.open("/deliverability")
    user.find(marker="suppress-export").click()
    response = await user.download.next(timeout=5)
    text = response.content.decode("utf-8")
    assert text.splitlines()[0] == "email,reason,date,note"
    assert "a@example.com,bounced" in text


async def test_send_screen_spam_check_scores_the_first_message(
    user: User, running_sandbox: SandboxServer
) -> None:
    fill_draft(get_state())
    await user.open("/send")
    await user.should_see(marker="send-preflight-ok", retries=50)
    user.find(marker="send-spam-check").click()
    await user.should_see("Only a warning", marker="send-spam-result", retries=100)
    await user.should_see("Spam check (", marker="send-spam-result")


async def test_send_screen_plan_says_who_the_list_skips(
    user: User, running_sandbox: SandboxServer
) -> None:
    state = get_state()
    fill_draft(state)
    first = state.draft.recipients.recipients[0].email  # type: ignore[union-attr]
    with SuppressionList() as listed:
        listed.add(first, SuppressionReason.UNSUBSCRIBED)
    await user.open("/send")
    await user.should_see(
        "1 on the suppression list (1 unsubscribed)", marker="plan-note", retries=50
    )


async def test_compose_spam_check_flags_an_all_caps_subject(user: User) -> None:
    state = get_state()
    state.draft.recipients = parse_text("ann@example.com", source="pasted")
    state.draft.template = Template(subject="BUY NOW LIMITED OFFER", body="Hello")
    await user.open("/compose")
    user.find(marker="compose-spam-check").click()
    await user.should_see("SUBJ_ALL_CAPS", marker="compose-spam-result", retries=100)


def _saved_with_key(state: AppState, account: Account) -> DkimKey:
    state.accounts.save("news", account)
    state.passphrase.set(Secret("a long master passphrase"))
    key = generate_key("example.com", "s1", ed25519_key=True)
    save_key(state.vault, "news", key)
    return key


async def test_a_campaign_started_in_the_app_is_signed_with_the_accounts_key(
    user: User, plain_server: ServerHandle
) -> None:
    state = get_state()
    account = plain_account(plain_server.host, plain_server.port)
    key = _saved_with_key(state, account)
    runs.launch(state, _create(state, account), Credentials())
    await wait_until_idle(state)
    payloads = [message.original_content for message in plain_server.recorder.messages]
    assert len(payloads) == 4
    record = key.record_value.encode()
    for payload in payloads:
        assert dkim.verify(payload, dnsfunc=lambda name, timeout=5: record)


async def test_a_key_behind_a_locked_vault_stops_the_start_instead_of_sending_unsigned(
    user: User, plain_server: ServerHandle
) -> None:
    state = get_state()
    account = plain_account(plain_server.host, plain_server.port)
    _saved_with_key(state, account)
    state.passphrase.clear()
    state._vault = None  # a new app session: the vault is locked again
    with pytest.raises(runs.LaunchError, match="locked"):
        runs.launch(state, _create(state, account), Credentials())
    assert plain_server.recorder.messages == []


async def test_dkim_section_generates_a_key_and_shows_the_record(user: User) -> None:
    state = get_state()
    state.accounts.save("news", plain_account("127.0.0.1", 2525))
    state.passphrase.set(Secret("a long master passphrase"))
    await user.open("/deliverability")
    user.find(marker="dkim-account").click()
    user.find("news").click()
    await user.should_see("no DKIM key", marker="dkim-message")
    user.find(marker="dkim-selector").clear().type("mail2026")
    user.find(marker="dkim-generate").click()
    await user.should_see("Name: mail2026._domainkey.example.com", marker="dkim-record-name")
    await user.should_see("Value: v=DKIM1; k=rsa; p=", marker="dkim-record-value")
    key = load_key(state.vault, "news")
    assert key is not None and key.selector == "mail2026"
