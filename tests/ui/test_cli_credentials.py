"""The CLI's secrets come from the one resolver: XOAUTH2 tokens and proxy passwords included,
for send, resume and retry-failed alike; bad account flags are one clear line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from main import main
from tests.certs import CertSet
from tests.conftest import BackgroundLoop, Start
from tests.smtpd import USER, OAuthRecorder
from tests.socks import start_socks_proxy

TOKEN = "ya29.a0-token-for-alice"
PROXY_USER, PROXY_PASSWORD = "puser", "proxy-pw-7"
PASSPHRASE = "a long enough passphrase"
TEMPLATE = "TO: {{email}}\nSUBJECT: Hello {{name}}\n\nHi {{name}}.\n"
PEOPLE = "email,name\nann@example.com,Ann\nbob@example.com,Bob\n"


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "people.csv").write_text(PEOPLE, encoding="utf-8")
    (tmp_path / "note.txt").write_text(TEMPLATE, encoding="utf-8")
    return tmp_path / "people.csv", tmp_path / "note.txt"


def _oauth_args(port: int, certs: CertSet) -> list[str]:
    return [
        "--host",
        "localhost",
        "--port",
        str(port),
        "--security",
        "starttls",
        "--user",
        USER,
        "--ca-file",
        str(certs.ca_file),
        "--auth",
        "xoauth2",
    ]


def _accepts_token(token: str, *scopes: str) -> str | None:
    return USER if token == TOKEN else None


def _campaign_id(out: str) -> str:
    return out.split("Campaign ")[1].split()[0]


def test_send_logs_in_with_the_xoauth2_token_from_the_environment(
    servers: Start,
    certs: CertSet,
    files: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    recorder = OAuthRecorder(check=_accepts_token)
    handle = servers("starttls", recorder=recorder)
    monkeypatch.setenv("BULKMAILER_SMTP_PASSWORD", TOKEN)
    people, template = files
    argv = ["send", "--recipients", str(people), "--template", str(template)]
    code = main([*argv, *_oauth_args(handle.port, certs), "--delay-ms", "0", "--yes"])
    assert code == 0, capsys.readouterr().err
    assert recorder.xoauth2_attempts == [(USER, True)]
    assert recorder.recipients() == ["ann@example.com", "bob@example.com"]


def test_a_saved_oauth_account_keeps_its_token_and_proxy_password_for_resume_and_retry(
    servers: Start,
    background_loop: BackgroundLoop,
    certs: CertSet,
    files: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    recorder = OAuthRecorder(check=_accepts_token)
    handle = servers("starttls", recorder=recorder)
    proxy = background_loop.run(start_socks_proxy(credentials=(PROXY_USER, PROXY_PASSWORD)))
    proxy_url = f"socks5://{PROXY_USER}@127.0.0.1:{proxy.port}"
    monkeypatch.setenv("BULKMAILER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("BULKMAILER_SMTP_PASSWORD", TOKEN)
    monkeypatch.setenv("BULKMAILER_PROXY_PASSWORD", PROXY_PASSWORD)
    save = ["account", "save", "work", *_oauth_args(handle.port, certs), "--proxy", proxy_url]
    assert main([*save, "--remember-password"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    # From here on, the secrets come only from the vault.
    monkeypatch.delenv("BULKMAILER_SMTP_PASSWORD")
    monkeypatch.delenv("BULKMAILER_PROXY_PASSWORD")
    people, template = files
    send = ["send", "--account", "work", "--recipients", str(people), "--template", str(template)]

    recorder.mail_reply = "553 5.7.1 sender not allowed"
    assert main([*send, "--delay-ms", "0", "--yes"]) == 3
    campaign_id = _campaign_id(capsys.readouterr().out)

    recorder.mail_reply = None
    recorder.rcpt_replies["bob@example.com"] = ["550 5.7.1 not allowed today"]  # not a bounce
    assert main(["resume", campaign_id]) == 1  # resumed with the vault's token and proxy
    assert recorder.recipients() == ["ann@example.com"]
    assert main(["retry-failed", campaign_id]) == 0
    assert recorder.recipients() == ["ann@example.com", "bob@example.com"]

    assert recorder.xoauth2_attempts == [(USER, True)] * 3  # send, resume, retry-failed
    assert proxy.logins == [(PROXY_USER, PROXY_PASSWORD)] * 3
    background_loop.run(proxy.close())


BAD_ACCOUNT_FLAGS = [
    (["--port", "0"], "--port: The port is a whole number from 1 to 65535"),
    (["--port", "99999"], "--port: The port is a whole number from 1 to 65535"),
    (["--from", "garbage"], "--from: Not a valid email address"),
    (
        ["--ca-file", "/nonexistent/ca.pem"],
        "--ca-file: the CA file '/nonexistent/ca.pem' does not exist",
    ),
]


@pytest.mark.parametrize(("flags", "message"), BAD_ACCOUNT_FLAGS)
@pytest.mark.parametrize("command", ["verify", "send", "account save"])
def test_bad_account_flags_exit_2_with_one_clear_line(
    command: str,
    flags: list[str],
    message: str,
    files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    people, template = files
    argv = {
        "verify": ["verify"],
        "send": ["send", "--recipients", str(people), "--template", str(template), "--yes"],
        "account save": ["account", "save", "work"],
    }[command]
    base = ["--host", "smtp.example.com", "--from", "me@example.com"]
    assert main([*argv, *base, *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}")
    assert err.count("\n") == 1  # one line
    assert "Traceback" not in err
    assert main(["account", "list"]) == 0
    assert "No saved accounts" in capsys.readouterr().out  # nothing stored
