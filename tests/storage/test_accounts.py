"""Saved accounts with "remember password": off by default, and unchecking forgets the secret."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from core.models import Account, AuthMethod, Credentials, Proxy, ProxyKind, Secret
from storage.accounts import AccountBook
from storage.errors import AccountNotFoundError, WrongPassphraseError
from storage.keys import PassphraseKeySource
from storage.settings import SettingsStore
from storage.vault import SecretKind, Vault

PASSPHRASE = "a long enough passphrase"
ACCOUNT = Account(
    host="smtp.example.com",
    port=587,
    sender="alice@example.com",
    username="alice",
    proxy=Proxy(ProxyKind.SOCKS5, "proxy.local", 1080, "puser"),
)
CREDS = Credentials(password=Secret("smtp-secret"), proxy_password=Secret("proxy-secret"))


def book(passphrase: str = PASSPHRASE) -> AccountBook:
    source = PassphraseKeySource(lambda _new: Secret(passphrase), n=2**14)
    return AccountBook(SettingsStore(), Vault(key_sources=[source]))


def test_remember_password_is_off_by_default(data_home: Path) -> None:
    saved = book().save("work", ACCOUNT, credentials=CREDS)
    assert saved.remember_password is False
    assert not (data_home / "vault.json").exists()
    assert book().credentials("work") == Credentials()


def test_remembered_secrets_come_back_after_a_restart(data_home: Path) -> None:
    book().save("work", ACCOUNT, remember_password=True, credentials=CREDS)
    again = book()
    assert again.get("work").remember_password is True
    assert again.has_password("work")
    assert again.credentials("work") == CREDS


def test_unchecking_remember_password_deletes_the_secrets(data_home: Path) -> None:
    book().save("work", ACCOUNT, remember_password=True, credentials=CREDS)
    book().save("work", ACCOUNT, remember_password=False)
    again = book()
    assert again.credentials("work") == Credentials()
    assert not again.vault.has_secret(SecretKind.SMTP_PASSWORD, "work")
    assert not again.vault.has_secret(SecretKind.PROXY_PASSWORD, "work")


def test_saving_without_a_choice_keeps_the_current_one(data_home: Path) -> None:
    book().save("work", ACCOUNT, remember_password=True, credentials=CREDS)
    book().save("work", replace(ACCOUNT, port=465))  # e.g. only the port changed
    again = book()
    assert again.get("work").account.port == 465
    assert again.credentials("work").password == Secret("smtp-secret")


def test_a_new_password_replaces_the_stored_one_and_keeps_the_others(data_home: Path) -> None:
    book().save("work", ACCOUNT, remember_password=True, credentials=CREDS)
    book().save("work", ACCOUNT, remember_password=True, credentials=Credentials(Secret("new")))
    assert book().credentials("work") == replace(CREDS, password=Secret("new"))


def test_secrets_an_account_cannot_use_are_dropped(data_home: Path) -> None:
    book().save("work", ACCOUNT, remember_password=True, credentials=CREDS)
    no_login = replace(ACCOUNT, username=None, auth=AuthMethod.NONE, proxy=None)
    book().save("work", no_login, remember_password=True)
    assert book().credentials("work") == Credentials()


def test_deleting_an_account_deletes_its_secrets_without_the_passphrase(data_home: Path) -> None:
    book().save("work", ACCOUNT, remember_password=True, credentials=CREDS)
    book().save("home", ACCOUNT, remember_password=True, credentials=CREDS)
    locked = book("not the passphrase")
    assert locked.delete("work") is True
    assert locked.delete("work") is False
    with pytest.raises(AccountNotFoundError):
        locked.get("work")
    assert not locked.vault.has_secret(SecretKind.SMTP_PASSWORD, "work")
    assert book().credentials("home") == CREDS


def test_a_wrong_passphrase_saves_nothing(data_home: Path) -> None:
    book().save("work", ACCOUNT, remember_password=True, credentials=CREDS)
    with pytest.raises(WrongPassphraseError):
        book("not the passphrase").save("other", ACCOUNT, remember_password=True, credentials=CREDS)
    assert [s.name for s in book().accounts()] == ["work"]
