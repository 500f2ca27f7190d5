"""`main.py account save|list|delete` and `--account NAME` for verify and send."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from core.models import Secret, Security
from ui.cli import build_parser, run
from ui.cli.common import CommandError, resolve_account

PASSPHRASE = "script passphrase 42"
SMTP_SECRET = "cli-smtp-secret-7f3a"
SAVE = [
    "account",
    "save",
    "work",
    "--host",
    "smtp.example.com",
    "--port",
    "587",
    "--user",
    "alice@example.com",
    "--from",
    "alice@example.com",
]


class FakeStdin:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", FakeStdin(False))


@pytest.fixture
def script_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BULKMAILER_SMTP_PASSWORD", SMTP_SECRET)
    monkeypatch.setenv("BULKMAILER_PASSPHRASE", PASSPHRASE)


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_save_list_delete(
    data_home: Path, script_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([*SAVE, "--remember-password"]) == 0
    assert "password kept encrypted" in capsys.readouterr().out
    assert run(["account", "save", "home", "--host", "mail.home", "--from", "me@home.example"]) == 0
    capsys.readouterr()
    assert run(["account", "list"]) == 0
    out = capsys.readouterr().out
    assert "home: mail.home:587 (starttls), no login, no saved password" in out
    assert "work: smtp.example.com:587 (starttls), user alice@example.com, password saved" in out
    assert SMTP_SECRET not in out
    assert run(["account", "delete", "work"]) == 0
    assert run(["account", "delete", "work"]) == 2
    captured = capsys.readouterr()
    assert "no saved account named 'work'" in captured.err
    assert run(["account", "list"]) == 0
    assert "work" not in capsys.readouterr().out
    vault = json.loads((data_home / "vault.json").read_text("utf-8"))
    assert vault["records"] == {}


def test_account_without_an_action_shows_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["account"]) == 2
    assert "save" in capsys.readouterr().err


def test_remember_password_is_off_by_default(data_home: Path, script_env: None) -> None:
    assert run(SAVE) == 0
    assert not (data_home / "vault.json").exists()
    _, credentials = resolve_account(parse("verify", "--account", "work"))
    assert credentials.password == Secret(SMTP_SECRET)  # from the environment, not stored


def test_no_remember_password_forgets_the_stored_one(
    data_home: Path, script_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run([*SAVE, "--remember-password"]) == 0
    assert run(["account", "save", "work", "--port", "465"]) == 0  # keeps the choice
    monkeypatch.delenv("BULKMAILER_SMTP_PASSWORD")
    account, credentials = resolve_account(parse("verify", "--account", "work"))
    assert (account.port, account.security) == (465, Security.TLS)
    assert credentials.password == Secret(SMTP_SECRET)
    assert run(["account", "save", "work", "--no-remember-password"]) == 0
    assert "smtp-password" not in json.loads((data_home / "vault.json").read_text())["records"]
    with pytest.raises(CommandError, match="BULKMAILER_SMTP_PASSWORD"):
        resolve_account(parse("verify", "--account", "work"))


def test_resolve_prefers_the_environment_then_the_vault(
    data_home: Path, script_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run([*SAVE, "--remember-password"]) == 0
    monkeypatch.setenv("BULKMAILER_SMTP_PASSWORD", "from-env")
    _, credentials = resolve_account(parse("verify", "--account", "work"))
    assert credentials.password == Secret("from-env")
    monkeypatch.delenv("BULKMAILER_SMTP_PASSWORD")
    account, credentials = resolve_account(parse("verify", "--account", "work", "--port", "2525"))
    assert account.port == 2525
    assert account.host == "smtp.example.com"
    assert credentials.password == Secret(SMTP_SECRET)


def test_a_different_user_does_not_get_the_saved_password(
    data_home: Path, script_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run([*SAVE, "--remember-password"]) == 0
    monkeypatch.delenv("BULKMAILER_SMTP_PASSWORD")
    with pytest.raises(CommandError, match="no password"):
        resolve_account(parse("verify", "--account", "work", "--user", "mallory@example.com"))


def test_without_account_resolve_works_as_before(data_home: Path, script_env: None) -> None:
    account, credentials = resolve_account(
        parse("verify", "--host", "h.example", "--user", "u@h.example")
    )
    assert account.host == "h.example"
    assert credentials.password == Secret(SMTP_SECRET)
    assert not (data_home / "settings.json").exists()


def test_unknown_account(data_home: Path) -> None:
    with pytest.raises(CommandError, match="no saved account named 'nope'"):
        resolve_account(parse("verify", "--account", "nope"))


def test_the_proxy_password_is_remembered_too(
    data_home: Path, script_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = [*SAVE, "--proxy", "socks5://puser:proxy-pw@proxy.local:1080", "--remember-password"]
    assert run(argv) == 0
    settings_text = (data_home / "settings.json").read_text("utf-8")
    assert "proxy-pw" not in settings_text
    assert "puser" in settings_text
    monkeypatch.delenv("BULKMAILER_SMTP_PASSWORD")
    account, credentials = resolve_account(parse("verify", "--account", "work"))
    assert account.proxy is not None
    assert credentials.proxy_password == Secret("proxy-pw")


def test_without_a_passphrase_a_script_gets_a_clear_error(
    data_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BULKMAILER_SMTP_PASSWORD", SMTP_SECRET)
    assert run([*SAVE, "--remember-password"]) == 2
    err = capsys.readouterr().err
    assert "BULKMAILER_PASSPHRASE" in err
    assert SMTP_SECRET not in err
    assert not (data_home / "vault.json").exists()
    assert run(["account", "list"]) == 0
    assert "No saved accounts" in capsys.readouterr().out


def test_without_a_password_remembering_fails_clearly(
    data_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BULKMAILER_PASSPHRASE", PASSPHRASE)
    assert run([*SAVE, "--remember-password"]) == 2
    assert "BULKMAILER_SMTP_PASSWORD" in capsys.readouterr().err


def test_a_wrong_passphrase_is_reported_and_nothing_changes(
    data_home: Path,
    script_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run([*SAVE, "--remember-password"]) == 0
    before = (data_home / "settings.json").read_bytes()
    monkeypatch.setenv("BULKMAILER_PASSPHRASE", "not the passphrase")
    assert run([*SAVE, "--port", "465", "--remember-password"]) == 2
    err = capsys.readouterr().err
    assert "passphrase is wrong" in err
    assert "not the passphrase" not in err
    assert (data_home / "settings.json").read_bytes() == before
    monkeypatch.delenv("BULKMAILER_SMTP_PASSWORD")
    with pytest.raises(CommandError, match="passphrase is wrong"):
        resolve_account(parse("verify", "--account", "work"))


def test_on_a_terminal_the_passphrase_is_asked_twice_when_new(
    data_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", FakeStdin(True))
    answers = iter([SMTP_SECRET, PASSPHRASE, PASSPHRASE, PASSPHRASE])
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    assert run([*SAVE, "--remember-password"]) == 0
    assert prompts == ["SMTP password: ", "New master passphrase: ", "Repeat it: "]
    _, credentials = resolve_account(parse("verify", "--account", "work"))
    assert prompts[-1] == "Master passphrase: "
    assert credentials.password == Secret(SMTP_SECRET)


def test_mismatched_new_passphrases_are_refused(
    data_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", FakeStdin(True))
    answers = iter([SMTP_SECRET, PASSPHRASE, PASSPHRASE + "!"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert run([*SAVE, "--remember-password"]) == 2
    assert "differ" in capsys.readouterr().err
    assert not (data_home / "vault.json").exists()


def test_a_damaged_settings_file_is_reported_not_fatal(
    data_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_home.mkdir()
    (data_home / "settings.json").write_text('{"accounts": {"1": ', "utf-8")
    assert run(["account", "list"]) == 0
    captured = capsys.readouterr()
    assert "warning: The settings file is not valid JSON" in captured.err
    assert "No saved accounts" in captured.out


def test_bad_account_names_are_usage_errors(
    data_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["account", "save", " ", "--host", "h", "--from", "a@h"]) == 2
    assert "name" in capsys.readouterr().err
