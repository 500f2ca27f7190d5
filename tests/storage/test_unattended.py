"""Scheduling needs a login without a person: a keyring-kept password or a sign-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.models import (
    Account,
    AuthMethod,
    Credentials,
    OAuthProvider,
    OAuthSettings,
    Secret,
)
from storage.accounts import AccountBook
from storage.keys import PassphraseKeySource
from storage.settings import SettingsStore
from storage.vault import SecretKind, Vault
from tests.storage.conftest import MemoryKeyring
from ui.services.scheduling import google_token_warning, unattended_problem

DAY = 86_400.0
LOGIN = Account(
    host="smtp.example.com", port=587, sender="me@example.com", username="me@example.com"
)
GOOGLE = OAuthSettings(
    provider=OAuthProvider.GOOGLE,
    client_id="id",
    auth_uri="https://accounts.google.com/o/oauth2/auth",
    token_uri="https://oauth2.googleapis.com/token",
    scopes=("https://mail.google.com/",),
)


def _book(vault: Vault) -> AccountBook:
    return AccountBook(SettingsStore(), vault)


def test_an_account_without_login_needs_nothing() -> None:
    open_relay = Account(host="relay.local", port=25, sender="me@example.com")
    assert unattended_problem(open_relay, None, None) is None


def test_an_unsaved_account_is_refused() -> None:
    problem = unattended_problem(LOGIN, None, None)
    assert problem is not None and "not saved" in problem and "remembered password" in problem


def test_a_password_remembered_with_the_os_keyring_is_enough(
    data_home: Path, memory_keyring: MemoryKeyring
) -> None:
    vault = Vault.open_default()
    saved = _book(vault).save(
        "work",
        LOGIN,
        remember_password=True,
        credentials=Credentials(password=Secret("pw")),
    )
    assert vault.key_source() == "keyring"
    assert unattended_problem(LOGIN, saved, vault) is None


def test_a_vault_locked_with_a_passphrase_is_refused(data_home: Path) -> None:
    vault = Vault(key_sources=[PassphraseKeySource(lambda _new: Secret("long passphrase 1"))])
    saved = _book(vault).save(
        "work",
        LOGIN,
        remember_password=True,
        credentials=Credentials(password=Secret("pw")),
    )
    assert vault.has_secret(SecretKind.SMTP_PASSWORD, "work")
    problem = unattended_problem(LOGIN, saved, vault)
    assert problem is not None and "master passphrase" in problem


def test_a_saved_account_without_its_password_is_refused(
    data_home: Path, memory_keyring: MemoryKeyring
) -> None:
    vault = Vault.open_default()
    vault.set_secret(SecretKind.PROXY_PASSWORD, "other", Secret("x"))  # a keyring vault exists
    saved = _book(vault).save("work", LOGIN, remember_password=False)
    problem = unattended_problem(LOGIN, saved, vault)
    assert problem is not None and "no remembered password" in problem


def test_a_sign_in_needs_its_refresh_token(data_home: Path, memory_keyring: MemoryKeyring) -> None:
    signed_in = Account(
        host="smtp.gmail.com",
        port=587,
        sender="me@gmail.com",
        username="me@gmail.com",
        auth=AuthMethod.XOAUTH2,
        oauth=GOOGLE,
    )
    vault = Vault.open_default()
    saved = _book(vault).save("gmail", signed_in, remember_password=False)
    vault.set_secret(SecretKind.PROXY_PASSWORD, "other", Secret("x"))
    assert "no remembered sign-in" in (unattended_problem(signed_in, saved, vault) or "")
    vault.set_secret(SecretKind.OAUTH_REFRESH_TOKEN, "gmail", Secret("refresh"))
    assert unattended_problem(signed_in, saved, vault) is None


@pytest.mark.parametrize(
    ("provider", "days", "warned"),
    [
        (OAuthProvider.GOOGLE, 8, True),
        (OAuthProvider.GOOGLE, 6, False),
        (OAuthProvider.MICROSOFT, 30, False),
    ],
)
def test_a_google_sign_in_warns_beyond_seven_days(
    provider: OAuthProvider, days: int, warned: bool
) -> None:
    oauth = OAuthSettings(
        provider=provider, client_id="id", auth_uri="a", token_uri="t", scopes=("s",)
    )
    account = Account(
        host="h", port=587, sender="me@x.com", username="me", auth=AuthMethod.XOAUTH2, oauth=oauth
    )
    warning = google_token_warning(account, days * DAY, 0.0)
    assert (warning is not None) is warned
    assert warning is None or "7 days" in warning
