"""The Accounts screen: presets, validation, saving with and without the vault, testing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User

from core.models import Account, Credentials, Secret, Security
from storage.accounts import AccountBook
from storage.keys import PassphraseKeySource
from storage.settings import SettingsStore
from storage.vault import SecretKind, Vault
from tests.certs import CertSet
from tests.conftest import account_for
from tests.smtpd import PASSWORD, USER, ServerHandle
from tests.ui.screen import element, set_value, texts, until
from ui.services import sandbox
from ui.services.state import SANDBOX_KEY, get_state, reset_state
from ui.web.credentials import ask_credentials, draft_account

PASSPHRASE = "a long master passphrase"
LOW_SCRYPT = 2**10  # tests derive keys cheaply


def _book(passphrase: str = PASSPHRASE) -> tuple[AccountBook, SettingsStore]:
    settings = SettingsStore()
    vault = Vault(key_sources=[PassphraseKeySource(lambda _new: Secret(passphrase), n=LOW_SCRYPT)])
    return AccountBook(settings, vault), settings


def _fill(user: User, *, name: str = "Work", host: str = "smtp.example.com") -> None:
    user.find(marker="account-name").type(name)
    element(user, "account-host").value = ""
    user.find(marker="account-host").type(host)
    user.find(marker="account-username").type(USER)
    user.find(marker="account-sender").type(USER)


async def _open(user: User) -> None:
    await user.open("/accounts")
    await user.should_see("Accounts", marker="screen-title")


async def test_preset_fills_host_port_security_and_shows_notes(user: User) -> None:
    await _open(user)
    set_value(user, "account-preset", "gmail")
    assert element(user, "account-host").value == "smtp.gmail.com"
    assert element(user, "account-port").value == 587
    assert element(user, "account-security").value == "starttls"
    await user.should_see("app password", marker="account-preset-notes")
    await user.should_see("500", marker="account-preset-limits")
    assert "unofficial" not in texts(user, "account-preset-limits")[0].lower()

    set_value(user, "account-preset", "yahoo")
    assert element(user, "account-port").value == 465
    assert element(user, "account-security").value == "tls"
    await user.should_see("Unofficial", marker="account-preset-limits")


async def test_port_suggests_security_and_plaintext_warns(user: User) -> None:
    await _open(user)
    assert not element(user, "account-plaintext-warning").visible
    user.find(marker="account-port").clear().type("465")
    assert element(user, "account-security").value == "tls"
    await user.should_see("Port 465 usually means", marker="account-port-hint")
    user.find(marker="account-port").clear().type("587")
    assert element(user, "account-security").value == "starttls"
    set_value(user, "account-security", "none")
    assert element(user, "account-plaintext-warning").visible
    await user.should_see("travel in clear text")


async def test_turning_verification_off_warns_and_suggests_a_ca_file(user: User) -> None:
    await _open(user)
    assert not element(user, "account-verify-warning").visible
    user.find(marker="account-verify").click()
    assert element(user, "account-verify").value is False
    assert element(user, "account-verify-warning").visible
    assert "CA certificate file" in element(user, "account-verify-warning").text


async def test_bad_fields_are_marked_and_nothing_is_saved(user: User) -> None:
    await _open(user)
    user.find(marker="account-name").type("Bad")
    user.find(marker="account-host").type("smtp://mail.example.com")
    user.find(marker="account-port").clear().type("70000")
    user.find(marker="account-sender").type("not-an-address")
    user.find(marker="account-proxy").type("ftp://proxy:21")
    user.find(marker="account-save").click()
    await user.should_see("Check the marked fields.")
    assert "valid email address" in (element(user, "account-sender").error or "")
    assert "1 to 65535" in (element(user, "account-port").error or "")
    assert "without smtp://" in (element(user, "account-host").error or "")
    assert "socks5://" in (element(user, "account-proxy").error or "")
    assert SettingsStore().list_accounts() == []


async def test_save_without_remembering_lists_it_after_a_reload(
    user: User, data_home: Path
) -> None:
    await _open(user)
    _fill(user)
    user.find(marker="account-password").type("typed-secret-123")
    user.find(marker="account-save").click()
    await user.should_see("Saved Work.")
    await user.should_see(marker="account-row-work")
    (remembered,) = get_state().credential_memory.values()  # kept by login, not by name
    assert remembered.password == Secret("typed-secret-123")
    assert element(user, "account-password").value == ""  # not left in the form
    assert not (data_home / "vault.json").exists()  # no vault, no passphrase needed
    assert "typed-secret-123" not in (data_home / "settings.json").read_text()

    reset_state()
    await _open(user)
    await user.should_see(marker="account-row-work")
    await user.should_see("smtp.example.com:587 · STARTTLS · alice@example.com")


async def test_remembering_creates_the_master_passphrase_in_a_dialog(
    user: User, data_home: Path
) -> None:
    await _open(user)
    _fill(user)
    user.find(marker="account-password").type("typed-secret-123")
    user.find(marker="account-remember").click()
    user.find(marker="account-save").click()
    await user.should_see("Create a master passphrase")
    user.find(marker="passphrase-new").type("short")
    user.find(marker="passphrase-repeat").type("short")
    user.find(marker="passphrase-ok").click()
    await user.should_see("at least 8 characters", marker="passphrase-error")
    user.find(marker="passphrase-new").clear().type(PASSPHRASE)
    user.find(marker="passphrase-repeat").clear().type(PASSPHRASE + "x")
    user.find(marker="passphrase-ok").click()
    await user.should_see("differ", marker="passphrase-error")
    user.find(marker="passphrase-repeat").clear().type(PASSPHRASE)
    user.find(marker="passphrase-ok").click()
    await user.should_see("Saved Work.", retries=30)
    await user.should_see("password saved")

    vault_text = (data_home / "vault.json").read_text()
    assert json.loads(vault_text)["key"]["source"] == "passphrase"
    assert "typed-secret-123" not in vault_text
    assert "typed-secret-123" not in (data_home / "settings.json").read_text()
    book, _ = _book()
    assert book.credentials("Work").password == Secret("typed-secret-123")


async def test_wrong_passphrase_then_cancel_saves_nothing(user: User) -> None:
    book, settings = _book()
    book.save(
        "Other",
        account_for_host("x.example.com"),
        remember_password=True,
        credentials=Credentials(password=Secret("other-pw")),
    )
    settings.close()
    await _open(user)
    _fill(user)
    user.find(marker="account-password").type("typed-secret-123")
    user.find(marker="account-remember").click()
    user.find(marker="account-save").click()
    await user.should_see("Unlock saved passwords")
    user.find(marker="passphrase-input").type("not the passphrase")
    user.find(marker="passphrase-ok").click()
    await user.should_see("does not open the vault", marker="passphrase-error", retries=30)
    user.find(marker="passphrase-cancel").click()
    await user.should_see("Not saved")
    assert [saved.name for saved in SettingsStore().list_accounts()] == ["Other"]
    assert not _book()[0].vault.has_secret(SecretKind.SMTP_PASSWORD, "Work")


def account_for_host(host: str) -> Account:
    return Account(host=host, port=587, sender=USER, username=USER)


async def test_unchecking_remember_deletes_the_stored_password(user: User) -> None:
    book, settings = _book()
    book.save(
        "Work",
        account_for_host("smtp.example.com"),
        remember_password=True,
        credentials=Credentials(password=Secret("stored-pw")),
    )
    settings.close()
    await _open(user)
    await user.should_see("password saved")
    user.find(marker="account-edit-work").click()
    assert element(user, "account-remember").value is True
    user.find(marker="account-remember").click()
    await user.should_see("delete the password", marker="account-remember-hint")
    user.find(marker="account-save").click()
    await user.should_see("Saved Work.")
    assert not book.vault.has_secret(SecretKind.SMTP_PASSWORD, "Work")
    assert SettingsStore().get_saved_account("Work").remember_password is False


async def test_use_persists_the_choice_and_delete_falls_back_to_the_sandbox(
    user: User,
) -> None:
    book, settings = _book()
    book.save("Work", account_for_host("smtp.example.com"))
    settings.close()
    await _open(user)
    await user.should_see(marker="account-in-use-sandbox")
    user.find(marker="account-use-work").click()
    await user.should_see(marker="account-in-use-work")
    assert get_state().draft.account_name == "Work"
    assert SettingsStore().get_preferences().last_account == "Work"

    reset_state()  # the app restarts: the choice comes back
    await _open(user)
    await user.should_see(marker="account-in-use-work")
    assert draft_account().host == "smtp.example.com"

    user.find(marker="account-delete-work").click()
    await user.should_see("Delete the account 'Work'")
    user.find(marker="account-delete-confirm").click()
    await user.should_see("Deleted Work.")
    await user.should_not_see(marker="account-row-work")
    await user.should_see(marker="account-in-use-sandbox")
    assert get_state().draft.account_name == SANDBOX_KEY
    assert SettingsStore().list_accounts() == []


async def test_sandbox_is_listed_but_cannot_be_edited_or_deleted(user: User) -> None:
    await _open(user)
    await user.should_see(sandbox.SANDBOX_ACCOUNT_NAME, marker="account-row-sandbox")
    await user.should_not_see(marker="account-edit-sandbox")
    await user.should_not_see(marker="account-delete-sandbox")
    assert await ask_credentials(SANDBOX_KEY) == Credentials()
    with pytest.raises(RuntimeError):
        draft_account()  # the sandbox does not run in this test


async def _fill_for_server(user: User, handle: ServerHandle, certs: CertSet) -> None:
    await _open(user)
    user.find(marker="account-name").type("Test server")
    user.find(marker="account-host").type("localhost")
    user.find(marker="account-port").clear().type(str(handle.port))
    user.find(marker="account-username").type(USER)
    user.find(marker="account-sender").type(USER)
    user.find(marker="account-ca-file").type(str(certs.ca_file))


async def test_connection_test_shows_a_tick_for_every_step(
    user: User, starttls_server: ServerHandle, certs: CertSet
) -> None:
    await _fill_for_server(user, starttls_server, certs)
    user.find(marker="account-password").type(PASSWORD)
    user.find(marker="account-test").click()
    await user.should_see("ready to send", marker="diagnosis-summary", retries=100)
    await user.should_not_see(marker="diagnosis-fail")
    names = [e.text for e in user.client.elements.values() if isinstance(e, ui.label)]
    for step in ("DNS lookup", "TCP connect", "STARTTLS", "AUTH PLAIN", "sender (MAIL FROM)"):
        assert any(text.startswith(f"{step} · ") and text.endswith(" ms") for text in names), step
    assert len(user.find(marker="diagnosis-ok").elements) >= 6
    assert starttls_server.recorder.auth_attempts == [(USER, "PLAIN", True)]
    # Then the sender domain's DNS, one line each (no DNS here: warnings, never a failure).
    await user.should_see(marker="domain-check", retries=100)
    for topic in ("spf", "dmarc", "alignment", "dkim"):
        await user.should_see(marker=f"domain-{topic}")


async def test_wrong_password_shows_the_auth_hint(
    user: User, starttls_server: ServerHandle, certs: CertSet
) -> None:
    await _fill_for_server(user, starttls_server, certs)
    user.find(marker="account-password").type("wrong password")
    user.find(marker="account-test").click()
    await user.should_see("Stopped at AUTH", marker="diagnosis-summary", retries=100)
    assert len(user.find(marker="diagnosis-fail").elements) == 1
    await user.should_see("user name and password", marker="diagnosis-hint")
    labels = " ".join(e.text for e in user.client.elements.values() if isinstance(e, ui.label))
    assert "wrong password" not in labels


async def test_saved_account_test_asks_the_passphrase_then_uses_the_vault(
    user: User, starttls_server: ServerHandle, certs: CertSet
) -> None:
    book, settings = _book()
    account = account_for(starttls_server, Security.STARTTLS, certs)
    book.save(
        "Lab", account, remember_password=True, credentials=Credentials(password=Secret(PASSWORD))
    )
    settings.close()
    await _open(user)
    user.find(marker="account-test-lab").click()
    await user.should_see("Unlock saved passwords")
    user.find(marker="passphrase-input").type("wrong passphrase")
    user.find(marker="passphrase-ok").click()
    await user.should_see("does not open the vault", marker="passphrase-error", retries=30)
    user.find(marker="passphrase-input").type(PASSPHRASE)
    user.find(marker="passphrase-ok").click()
    await user.should_see("ready to send", marker="diagnosis-summary", retries=100)
    assert get_state().passphrase.is_set  # unlocked for the rest of the session

    user.find(marker="account-test-lab").click()  # no dialog the second time
    await until(lambda: len(starttls_server.recorder.auth_attempts) == 2)
    await user.should_see("ready to send", marker="diagnosis-summary", retries=100)
    await user.should_not_see("Unlock saved passwords")


async def test_unremembered_account_asks_the_password_once_per_session(
    user: User, starttls_server: ServerHandle, certs: CertSet
) -> None:
    book, settings = _book()
    book.save("Lab", account_for(starttls_server, Security.STARTTLS, certs))
    settings.close()
    await _open(user)
    user.find(marker="account-test-lab").click()
    await user.should_see("Log in to Lab")
    user.find(marker="credentials-ok").click()
    await user.should_see("Enter the password.")
    user.find(marker="credentials-password").type(PASSWORD)
    user.find(marker="credentials-ok").click()
    await user.should_see("ready to send", marker="diagnosis-summary", retries=100)
    assert await ask_credentials("Lab") == Credentials(password=Secret(PASSWORD))


async def test_passphrase_from_the_environment_opens_the_vault_without_a_dialog(
    user: User,
    starttls_server: ServerHandle,
    certs: CertSet,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    book, settings = _book()
    account = account_for(starttls_server, Security.STARTTLS, certs)
    book.save(
        "Lab", account, remember_password=True, credentials=Credentials(password=Secret(PASSWORD))
    )
    settings.close()
    monkeypatch.setenv("BULKMAILER_PASSPHRASE", PASSPHRASE)
    await _open(user)
    user.find(marker="account-test-lab").click()
    await user.should_see("ready to send", marker="diagnosis-summary", retries=100)
    await user.should_not_see("Unlock saved passwords")


def test_build_account_checks_each_field_and_keeps_secrets_out() -> None:
    from ui.web.account_fields import build_account

    values: dict[str, object] = {
        "name": "Work",
        "preset": "amazon-ses",
        "host": "email-smtp.{region}.amazonaws.com",
        "port": 587.5,
        "security": "starttls",
        "sender": "me@example.com",
        "proxy_url": "socks5://bob:hunter2@proxy.example:1080",
        "connect_timeout": 0,
    }
    result = build_account(values)
    assert result.account is None
    assert set(result.errors) == {"host", "port", "connect_timeout"}
    assert "{region}" in result.errors["host"]
    values.update(host="email-smtp.us-east-1.amazonaws.com", port=587, connect_timeout=10)
    result = build_account(values)
    assert result.account is not None and result.errors == {}
    assert result.account.proxy is not None
    assert result.account.proxy.url() == "socks5://bob@proxy.example:1080"  # no password
    assert result.proxy_password == Secret("hunter2")  # goes to the session or the vault
    assert result.account.preset == "amazon-ses"
    assert result.account.timeouts.connect == 10
    assert "hunter2" not in repr(result.account)
