"""Settings in TinyDB: accounts and preferences survive a restart; damage never crashes."""

from __future__ import annotations

import json
import re
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from core.errors import InputError
from core.models import (
    Account,
    AuthMethod,
    Proxy,
    ProxyKind,
    RetryPolicy,
    Secret,
    Security,
    SendSettings,
    Timeouts,
    TLSOptions,
)
from storage import jsonstore, settings
from storage.codec import to_plain
from storage.errors import AccountNotFoundError, SettingsError
from storage.settings import (
    MAX_RECENT_TEMPLATES,
    SCHEMA_VERSION,
    Preferences,
    SettingsStore,
    Theme,
)

FULL_ACCOUNT = Account(
    host="smtp.example.com",
    port=465,
    sender="alice@example.com",
    security=Security.TLS,
    username="alice",
    sender_name="Alice Ä.",
    auth=AuthMethod.LOGIN,
    tls=TLSOptions(verify=True, ca_file="/etc/ca.pem", server_name="mx.example.com"),
    proxy=Proxy(ProxyKind.SOCKS5, "proxy.local", 1080, "puser"),
    timeouts=Timeouts(connect=5.0, command=10.0, data=120.0),
    preset="gmail",
    local_hostname="client.example.com",
)
ASIDE_RE = re.compile(r"^settings\.json\.corrupt-\d{8}-\d{6}(-\d+)?$")


def settings_file(home: Path) -> Path:
    return home / "settings.json"


def reopen() -> SettingsStore:
    return SettingsStore()


def test_accounts_and_preferences_survive_a_restart(data_home: Path) -> None:
    store = SettingsStore()
    store.save_account("work", FULL_ACCOUNT, remember_password=True)
    store.save_account("home", Account(host="mail.home", port=587, sender="me@home"))
    prefs = Preferences(
        send=SendSettings(delay_ms=2500, daily_cap=400, retry=RetryPolicy(max_attempts=3)),
        last_account="work",
        theme=Theme.DARK,
    )
    store.set_preferences(prefs)
    store.close()

    again = reopen()
    assert again.warnings == []
    assert again.get_account("work") == FULL_ACCOUNT
    assert again.get_saved_account("work").remember_password is True
    assert again.get_saved_account("home").remember_password is False
    assert [s.name for s in again.list_accounts()] == ["home", "work"]
    assert again.get_preferences() == prefs


def test_saving_again_replaces_the_account(data_home: Path) -> None:
    store = SettingsStore()
    store.save_account("work", FULL_ACCOUNT)
    store.save_account(" work ", replace(FULL_ACCOUNT, port=587, security=Security.STARTTLS))
    assert len(store.list_accounts()) == 1
    assert reopen().get_account("work").port == 587


def test_delete_account_and_unknown_names(data_home: Path) -> None:
    store = SettingsStore()
    store.save_account("work", FULL_ACCOUNT)
    store.update_preferences(last_account="work")
    assert store.delete_account("work") is True
    assert store.delete_account("work") is False
    assert store.get_preferences().last_account is None
    with pytest.raises(AccountNotFoundError, match="'work'"):
        store.get_account("work")


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "tab\there", "new\nline"])
def test_account_names_are_validated(data_home: Path, name: str) -> None:
    with pytest.raises(InputError):
        SettingsStore().save_account(name, FULL_ACCOUNT)


def test_a_secret_can_never_be_stored_in_settings() -> None:
    with pytest.raises(TypeError, match="Secret"):
        to_plain({"password": Secret("hunter2")})


def test_settings_file_shape_and_permissions(data_home: Path) -> None:
    store = SettingsStore()
    store.save_account("work", FULL_ACCOUNT)
    store.add_recent_template("/tmp/newsletter.md")
    path = settings_file(data_home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_home.stat().st_mode) == 0o700
    data = json.loads(path.read_text("utf-8"))
    assert data["meta"] == {"1": {"schema_version": SCHEMA_VERSION}}
    (doc,) = data["accounts"].values()
    assert doc["name"] == "work"
    assert doc["remember_password"] is False
    assert doc["account"]["security"] == "tls"
    assert doc["account"]["proxy"] == {
        "kind": "socks5",
        "host": "proxy.local",
        "port": 1080,
        "username": "puser",
    }
    assert [d["ref"] for d in data["recent_templates"].values()] == ["/tmp/newsletter.md"]


def test_preferences_default_and_update(data_home: Path) -> None:
    store = SettingsStore()
    assert store.get_preferences() == Preferences()
    updated = store.update_preferences(theme=Theme.LIGHT, last_account="x")
    assert reopen().get_preferences() == updated == Preferences(theme=Theme.LIGHT, last_account="x")


def test_a_damaged_preference_falls_back_to_its_default_with_a_warning(data_home: Path) -> None:
    store = SettingsStore()
    store.set_preferences(Preferences(send=SendSettings(delay_ms=5000), theme=Theme.DARK))
    path = settings_file(data_home)
    data = json.loads(path.read_text("utf-8"))
    data["preferences"]["1"]["send"]["delay_ms"] = "fast"
    data["preferences"]["1"]["theme"] = "neon"
    path.write_text(json.dumps(data), "utf-8")
    store = reopen()
    prefs = store.get_preferences()
    assert prefs.send.delay_ms == SendSettings().delay_ms
    assert prefs.theme is Theme.AUTO
    assert any("delay_ms" in w for w in store.warnings)
    assert any("theme" in w for w in store.warnings)


def test_a_damaged_account_record_is_skipped_in_the_list(data_home: Path) -> None:
    store = SettingsStore()
    store.save_account("good", FULL_ACCOUNT)
    store.save_account("bad", FULL_ACCOUNT)
    path = settings_file(data_home)
    data = json.loads(path.read_text("utf-8"))
    for doc in data["accounts"].values():
        if doc["name"] == "bad":
            doc["account"]["port"] = "twenty-five"
    path.write_text(json.dumps(data), "utf-8")
    store = reopen()
    assert [s.name for s in store.list_accounts()] == ["good"]
    assert any("'bad'" in w and "port" in w for w in store.warnings)
    with pytest.raises(SettingsError, match="port"):
        store.get_account("bad")


def test_recent_templates_newest_first_without_duplicates(data_home: Path) -> None:
    store = SettingsStore()
    for i in range(MAX_RECENT_TEMPLATES + 3):
        store.add_recent_template(f"t{i}.md")
    store.add_recent_template("t5.md")
    recent = reopen().recent_templates()
    assert recent[0] == "t5.md"
    assert recent[1] == f"t{MAX_RECENT_TEMPLATES + 2}.md"
    assert len(recent) == MAX_RECENT_TEMPLATES
    assert len(set(recent)) == len(recent)


def _damaged_and_recovered(home: Path, content: bytes) -> SettingsStore:
    path = settings_file(home)
    home.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    store = SettingsStore()  # must not raise
    (aside,) = [p for p in home.iterdir() if p.name.startswith("settings.json.corrupt-")]
    assert ASIDE_RE.match(aside.name)
    assert aside.read_bytes() == content  # nothing is lost: the damaged file is kept
    assert stat.S_IMODE(aside.stat().st_mode) == 0o600
    assert len(store.warnings) == 1
    assert aside.name in store.warnings[0]
    assert "default settings" in store.warnings[0]
    assert store.list_accounts() == []
    assert store.get_preferences() == Preferences()
    store.save_account("fresh", FULL_ACCOUNT)  # and it keeps working
    assert reopen().get_account("fresh") == FULL_ACCOUNT
    return store


def test_truncated_settings_file_is_moved_aside(data_home: Path) -> None:
    store = SettingsStore()
    store.save_account("work", FULL_ACCOUNT)
    whole = settings_file(data_home).read_bytes()
    _damaged_and_recovered(data_home, whole[: len(whole) // 2])


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"this is not json at all",
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        b'{"accounts": [1, 2]}',
        b'{"accounts": {"one": {"name": "x"}}}',
        b'{"meta": {"1": {"schema_version": "one"}}}',
    ],
    ids=["empty", "not-json", "not-utf8", "a-list", "table-not-object", "bad-doc-id", "bad-ver"],
)
def test_unusable_settings_file_is_moved_aside(data_home: Path, content: bytes) -> None:
    _damaged_and_recovered(data_home, content)


def test_settings_from_a_newer_version_are_kept_aside(data_home: Path) -> None:
    newer = {"meta": {"1": {"schema_version": SCHEMA_VERSION + 1}}, "accounts": {}}
    store = _damaged_and_recovered(data_home, json.dumps(newer).encode())
    assert "newer" in " ".join(store.warnings)


def test_unreadable_settings_file_is_moved_aside(data_home: Path) -> None:
    data_home.mkdir()
    settings_file(data_home).mkdir()  # reading a folder fails even for root
    store = SettingsStore()
    assert len(store.warnings) == 1
    assert "cannot be read" in store.warnings[0]
    store.save_account("work", FULL_ACCOUNT)
    assert reopen().get_account("work") == FULL_ACCOUNT


def test_a_settings_file_without_a_version_is_migrated(data_home: Path) -> None:
    data_home.mkdir()
    legacy = {"accounts": {"1": {"name": "old", "account": to_plain(FULL_ACCOUNT)}}}
    settings_file(data_home).write_text(json.dumps(legacy), "utf-8")
    store = SettingsStore()
    assert store.warnings == []
    assert store.get_account("old") == FULL_ACCOUNT
    data = json.loads(settings_file(data_home).read_text("utf-8"))
    assert data["meta"]["1"]["schema_version"] == SCHEMA_VERSION


def test_a_registered_migration_upgrades_the_file(
    data_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SettingsStore()
    store.save_account("work", FULL_ACCOUNT)
    store.close()

    def rename_theme(data: dict[str, Any]) -> dict[str, Any]:
        data["preferences"] = {"1": {"theme": "dark"}}
        return data

    monkeypatch.setattr(jsonstore, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(jsonstore.MIGRATIONS, SCHEMA_VERSION, rename_theme)
    store = SettingsStore()
    assert store.warnings == []
    assert store.get_preferences().theme is Theme.DARK
    assert store.get_account("work") == FULL_ACCOUNT
    data = json.loads(settings_file(data_home).read_text("utf-8"))
    assert data["meta"]["1"]["schema_version"] == SCHEMA_VERSION + 1


def test_a_failing_migration_moves_the_file_aside(
    data_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    SettingsStore().save_account("work", FULL_ACCOUNT)

    def broken(data: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("accounts")

    monkeypatch.setattr(jsonstore, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(jsonstore.MIGRATIONS, SCHEMA_VERSION, broken)
    store = SettingsStore()
    assert "could not be upgraded" in store.warnings[0]
    assert store.list_accounts() == []


def test_crash_during_a_settings_write_keeps_the_old_settings(
    data_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SettingsStore()
    store.save_account("work", FULL_ACCOUNT)
    before = settings_file(data_home).read_bytes()

    def crash(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr("storage.paths.os.replace", crash)
        with pytest.raises(SettingsError, match="could not save settings"):
            store.save_account("other", FULL_ACCOUNT)
    assert settings_file(data_home).read_bytes() == before
    again = reopen()
    assert again.warnings == []
    assert [s.name for s in again.list_accounts()] == ["work"]


def test_leftover_temp_files_are_swept_on_open(data_home: Path) -> None:
    SettingsStore().save_account("work", FULL_ACCOUNT)
    leftover = data_home / ".settings.json.abc123.tmp"
    leftover.write_bytes(b'{"half": ')
    store = SettingsStore()
    assert not leftover.exists()
    assert store.get_account("work") == FULL_ACCOUNT


def test_another_writer_is_seen(data_home: Path) -> None:
    first, second = SettingsStore(), SettingsStore()
    first.save_account("a", FULL_ACCOUNT)
    second.save_account("b", FULL_ACCOUNT)
    assert [s.name for s in first.list_accounts()] == ["a", "b"]


def test_settings_module_exports_the_schema_api() -> None:
    assert settings.SCHEMA_VERSION == jsonstore.SCHEMA_VERSION
    assert settings.MIGRATIONS is jsonstore.MIGRATIONS


def test_several_ca_files_survive_a_restart(data_home: Path) -> None:
    tls = TLSOptions.with_ca_paths(["/etc/company-bundle.pem", "/etc/private-ca/", "/x.pem"])
    SettingsStore().save_account("cas", replace(FULL_ACCOUNT, tls=tls))
    loaded = reopen().get_account("cas").tls
    assert loaded.ca_paths == ("/etc/company-bundle.pem", "/etc/private-ca/", "/x.pem")
    assert loaded.ca_file == "/etc/company-bundle.pem"


def test_an_account_saved_with_one_ca_file_still_loads(data_home: Path) -> None:
    """Settings written before `ca_files` existed store only `ca_file`."""
    store = SettingsStore()
    store.save_account("old", FULL_ACCOUNT)
    path = settings_file(data_home)
    data = json.loads(path.read_text("utf-8"))
    for doc in data["accounts"].values():
        del doc["account"]["tls"]["ca_files"]
        assert doc["account"]["tls"]["ca_file"] == "/etc/ca.pem"
    path.write_text(json.dumps(data), "utf-8")
    loaded = reopen().get_account("old")
    assert loaded.tls.ca_paths == ("/etc/ca.pem",)
    assert loaded == FULL_ACCOUNT
