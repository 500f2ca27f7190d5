"""Signed-in accounts in storage: settings round-trip, refresh token only in the vault."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import SignInRequiredError
from core.models import (
    Account,
    AuthMethod,
    OAuthProvider,
    OAuthSettings,
    Secret,
    SendSettings,
    Template,
    TransportKind,
)
from storage.accounts import AccountBook
from storage.journal import JournalStore
from storage.oauth_tokens import SignIns, signed_in_name
from storage.settings import SettingsStore
from storage.vault import SecretKind, Vault

REFRESH = "1//refresh-token-that-must-stay-secret"
CLIENT_SECRET = "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ult"
SETTINGS = OAuthSettings(
    provider=OAuthProvider.GOOGLE,
    client_id="123.apps.googleusercontent.com",
    auth_uri="https://accounts.google.com/o/oauth2/auth",
    token_uri="https://oauth2.googleapis.com/token",
    scopes=("openid", "email", "https://www.googleapis.com/auth/gmail.send"),
    has_client_secret=True,
)
ACCOUNT = Account(
    host="smtp.gmail.com",
    port=587,
    sender="alice@gmail.com",
    username="alice@gmail.com",
    auth=AuthMethod.XOAUTH2,
    transport=TransportKind.GMAIL_API,
    oauth=SETTINGS,
    api_url="https://gmail.googleapis.com",
)


def _vault(path: Path) -> Vault:
    return Vault.open_default(passphrase=lambda new: Secret("pass phrase"), path=path)


def test_a_signed_in_account_round_trips_through_settings_and_the_journal(
    tmp_path: Path,
) -> None:
    settings = SettingsStore(tmp_path / "settings.json")
    settings.save_account("gmail", ACCOUNT, remember_password=True)
    assert SettingsStore(tmp_path / "settings.json").get_account("gmail") == ACCOUNT
    store = JournalStore(tmp_path / "journal.sqlite3")
    campaign = store.create_campaign(
        name="t",
        account=ACCOUNT,
        template=Template(subject="s", body="b"),
        settings=SendSettings(),
        recipients=[],
    )
    assert store.campaign(campaign).account == ACCOUNT
    store.close()


def test_refresh_token_and_client_secret_live_only_in_the_vault(tmp_path: Path) -> None:
    vault = _vault(tmp_path / "vault.json")
    settings = SettingsStore(tmp_path / "settings.json")
    SignIns(vault).save("gmail", Secret(REFRESH), Secret(CLIENT_SECRET))
    AccountBook(settings, vault).save("gmail", ACCOUNT, remember_password=True)
    for path in tmp_path.iterdir():
        data = path.read_bytes()
        assert REFRESH.encode() not in data and CLIENT_SECRET.encode() not in data, path
    provider = SignIns(_vault(tmp_path / "vault.json")).provider("gmail", ACCOUNT)
    assert provider.settings == SETTINGS


def test_a_rotated_refresh_token_replaces_the_stored_one(tmp_path: Path) -> None:
    vault = _vault(tmp_path / "vault.json")
    sign_ins = SignIns(vault)
    sign_ins.save("ms", Secret(REFRESH), None)
    provider = sign_ins.provider("ms", ACCOUNT)
    assert provider._on_rotate is not None
    provider._on_rotate(Secret("1//rotated"))
    assert _vault(tmp_path / "vault.json").get_secret(
        SecretKind.OAUTH_REFRESH_TOKEN, "ms"
    ) == Secret("1//rotated")


def test_sign_out_forgets_and_then_sign_in_is_required(tmp_path: Path) -> None:
    sign_ins = SignIns(_vault(tmp_path / "vault.json"))
    sign_ins.save("gmail", Secret(REFRESH), Secret(CLIENT_SECRET))
    assert sign_ins.is_signed_in("gmail")
    assert sign_ins.forget("gmail")
    assert not sign_ins.is_signed_in("gmail")
    with pytest.raises(SignInRequiredError, match="account login gmail"):
        sign_ins.provider("gmail", ACCOUNT)


def test_a_campaign_snapshot_finds_its_signed_in_account(tmp_path: Path) -> None:
    settings = SettingsStore(tmp_path / "settings.json")
    settings.save_account("other", Account(host="h", port=587, sender="x@y.z"))
    settings.save_account("gmail", ACCOUNT, remember_password=True)
    found = signed_in_name(settings, ACCOUNT)
    assert found is not None and found.name == "gmail"
