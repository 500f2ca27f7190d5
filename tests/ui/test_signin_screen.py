"""Sign in with Google / Microsoft on the Accounts screen, against the local OAuth server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nicegui.testing import User

from core.models import OAuthProvider, TransportKind
from storage.vault import SecretKind
from tests.gmail_api_server import GmailAPIServer, start_gmail_api_server
from tests.oauth_kit import Browser
from tests.oauth_server import MICROSOFT_CLIENT, USER_EMAIL, OAuthServer, start_oauth_server
from tests.ui.screen import element, set_value, texts, until, upload
from ui.services.state import get_state

PASSPHRASE = "a long master passphrase"


@pytest.fixture
async def oauth(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[OAuthServer]:
    monkeypatch.setenv("BULKMAILER_PASSPHRASE", PASSPHRASE)
    server = await start_oauth_server()
    yield server
    assert server.handle is not None
    await server.handle.close()


@pytest.fixture
async def api(oauth: OAuthServer) -> AsyncIterator[GmailAPIServer]:
    server = await start_gmail_api_server(oauth)
    yield server
    assert server.handle is not None
    await server.handle.close()


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Browser:
    opened = Browser()
    monkeypatch.setattr("ui.web.signin.webbrowser.open", opened)
    return opened


def _result(user: User) -> str:
    return " ".join(texts(user, "signin-result"))


def _shown_url(user: User) -> str:
    found = [e for e in user.client.elements.values() if "signin-url-text" in e._markers]
    return str(getattr(found[0], "text", "")) if found else ""


async def test_sign_in_with_google_for_the_gmail_api_then_test_and_sign_out(
    user: User, oauth: OAuthServer, api: GmailAPIServer, browser: Browser, tmp_path: Path
) -> None:
    await user.open("/accounts")
    user.find(marker="signin-name").type("Gmail")
    secrets = oauth.client_secrets_file(tmp_path / "client_secret.json").read_bytes()
    await upload(user, "signin-google-secrets", "client_secret.json", secrets, "application/json")
    await user.should_see("Client 1234-desktop", marker="signin-google-client")
    set_value(user, "signin-transport", TransportKind.GMAIL_API.value)
    element(user, "signin-api-url").value = api.url
    user.find(marker="signin-google").click()
    await until(lambda: "Signed in with Google" in _result(user), timeout=15)
    assert USER_EMAIL in _result(user)
    assert len(browser.opened) == 1 and browser.opened[0].startswith(oauth.url)
    state = get_state()
    saved = state.accounts.get("Gmail").account
    assert saved.oauth is not None and saved.oauth.provider is OAuthProvider.GOOGLE
    assert saved.transport is TransportKind.GMAIL_API and saved.api_url == api.url
    assert state.vault.has_secret(SecretKind.OAUTH_REFRESH_TOKEN, "Gmail")
    await user.should_see("signed in with google", marker="account-row-gmail")

    user.find(marker="account-test-gmail").click()
    await user.should_see("access token", retries=100)
    await user.should_see("Gmail API", marker="diagnosis", retries=100)

    user.find(marker="account-signout-gmail").click()
    await until(lambda: not state.vault.has_secret(SecretKind.OAUTH_REFRESH_TOKEN, "Gmail"))


async def test_sign_in_with_microsoft_shows_the_url_to_open_by_hand(
    user: User, oauth: OAuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ui.web.signin.webbrowser.open", lambda url: False)  # no browser here
    await user.open("/accounts")
    user.find(marker="signin-name").type("Outlook")
    user.find(marker="signin-tab-microsoft").click()
    user.find(marker="signin-client-id").type(MICROSOFT_CLIENT)
    element(user, "signin-authority").value = oauth.authority("consumers")
    user.find(marker="signin-microsoft").click()
    await until(lambda: bool(_shown_url(user)), timeout=10)
    url = _shown_url(user)
    assert "/consumers/oauth2/v2.0/authorize" in url
    await asyncio.to_thread(Browser(), url)  # the person opens it by hand
    await until(lambda: "Signed in with Microsoft" in _result(user), timeout=15)
    saved = get_state().accounts.get("Outlook").account
    assert saved.preset == "outlook" and saved.username == USER_EMAIL


async def test_a_refused_sign_in_is_reported_and_nothing_saved(
    user: User, oauth: OAuthServer, browser: Browser
) -> None:
    oauth.deny = True
    await user.open("/accounts")
    user.find(marker="signin-name").type("Outlook")
    user.find(marker="signin-tab-microsoft").click()
    user.find(marker="signin-client-id").type(MICROSOFT_CLIENT)
    element(user, "signin-authority").value = oauth.authority("common")
    user.find(marker="signin-microsoft").click()
    await until(lambda: "Sign-in failed" in _result(user), timeout=15)
    assert "access_denied" in _result(user)
    assert get_state().accounts.accounts() == []


async def test_editing_a_signed_in_account_keeps_its_sign_in(
    user: User, oauth: OAuthServer, browser: Browser
) -> None:
    await user.open("/accounts")
    user.find(marker="signin-name").type("Outlook")
    user.find(marker="signin-tab-microsoft").click()
    user.find(marker="signin-client-id").type(MICROSOFT_CLIENT)
    element(user, "signin-authority").value = oauth.authority("consumers")
    user.find(marker="signin-microsoft").click()
    await until(lambda: "Signed in with Microsoft" in _result(user), timeout=15)
    await user.should_see(marker="account-edit-outlook", retries=100)  # the list redraws
    user.find(marker="account-edit-outlook").click()
    user.find(marker="account-save").click()
    await user.should_see("Saved Outlook")
    state = get_state()
    saved = state.accounts.get("Outlook")
    assert saved.account.oauth is not None and saved.remember_password
    assert state.vault.has_secret(SecretKind.OAUTH_REFRESH_TOKEN, "Outlook")


async def test_a_revoked_sign_in_stops_the_campaign_and_offers_sign_in_again(
    user: User, oauth: OAuthServer, api: GmailAPIServer, browser: Browser, tmp_path: Path
) -> None:
    from tests.ui.campaign_kit import fill_draft, wait_until_idle

    await user.open("/accounts")
    user.find(marker="signin-name").type("Gmail")
    secrets = oauth.client_secrets_file(tmp_path / "client_secret.json").read_bytes()
    await upload(user, "signin-google-secrets", "client_secret.json", secrets, "application/json")
    set_value(user, "signin-transport", TransportKind.GMAIL_API.value)
    element(user, "signin-api-url").value = api.url
    user.find(marker="signin-google").click()
    await until(lambda: "Signed in with Google" in _result(user), timeout=15)

    state = get_state()
    fill_draft(state, account_name="Gmail")
    api.faults = ["", "revoke"]
    await user.open("/send")
    await user.should_see(marker="send-preflight-ok", retries=50)
    user.find(marker="send-start").click()
    await user.should_see(marker="send-confirm-ok", retries=50)
    user.find(marker="send-confirm-ok").click()
    await until(lambda: state.active is not None, timeout=10)
    await wait_until_idle(state)
    await user.should_see("sign-in has expired", marker="send-reason", retries=50)
    await user.should_see("Accepted 1", marker="send-counts")
    assert element(user, "send-sign-in").visible
    assert len(api.sent) == 1
