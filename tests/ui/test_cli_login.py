"""`account login|logout` and sending with a signed-in account, end to end through main()."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.models import OAuthProvider, Secret, TransportKind
from main import main
from storage.settings import SettingsStore
from storage.vault import SecretKind, Vault
from tests.certs import CertSet
from tests.gmail_api_server import GmailAPIServer, start_gmail_api_server
from tests.oauth_kit import Browser
from tests.oauth_server import MICROSOFT_CLIENT, USER_EMAIL, OAuthServer, start_oauth_server
from tests.smtpd import OAuthRecorder, ServerHandle, start_server

PASSPHRASE = "login test passphrase"
TEMPLATE = "TO: {{email}}\nSUBJECT: Hello\n\nHi {{name}}\n"
PEOPLE = ["ann@example.net", "ben@example.net", "cat@example.net", "dan@example.net"]


@dataclass
class World:
    oauth: OAuthServer
    api: GmailAPIServer
    smtp: ServerHandle
    loop: asyncio.AbstractEventLoop

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(5)


@pytest.fixture
def world(certs: CertSet, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """OAuth, Gmail API and XOAUTH2 SMTP servers in a background loop (the CLI runs its own)."""
    monkeypatch.setenv("BULKMAILER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setattr("ui.cli.login.webbrowser.open", Browser())
    monkeypatch.setattr("ui.cli.login._has_browser", lambda: True)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> World:
        oauth = await start_oauth_server(OAuthServer(device_interval=1, approve_on_poll=1))
        api = await start_gmail_api_server(oauth)
        smtp = await start_server(
            "starttls", certs, recorder=OAuthRecorder(check=oauth.check_bearer)
        )
        return World(oauth, api, smtp, loop)

    world = asyncio.run_coroutine_threadsafe(start(), loop).result(5)
    yield world

    async def stop() -> None:
        assert world.oauth.handle is not None and world.api.handle is not None
        await world.oauth.handle.close()
        await world.api.handle.close()
        await world.smtp.close()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    recipients = tmp_path / "people.csv"
    recipients.write_text(
        "email,name\n" + "".join(f"{e},{e[:3]}\n" for e in PEOPLE), encoding="utf-8"
    )
    template = tmp_path / "hello.txt"
    template.write_text(TEMPLATE, encoding="utf-8")
    return recipients, template


def _smtp_args(world: World, certs: CertSet) -> list[str]:
    port = str(world.smtp.port)
    return ["--host", "localhost", "--port", port, "--ca-file", str(certs.ca_file)]


def _send(inputs: tuple[Path, Path], *extra: str) -> list[str]:
    recipients, template = inputs
    args = ["send", "--recipients", str(recipients), "--template", str(template)]
    return [*args, "--delay-ms", "0", "--yes", *extra]


def _login_google(world: World, tmp_path: Path, *extra: str) -> int:
    secrets = world.oauth.client_secrets_file(tmp_path / "client_secret.json")
    login = ["account", "login", "gmail", "--provider", "google"]
    return main([*login, "--client-secrets", str(secrets), *extra])


def _files_contain(root: Path, needles: list[str]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {n[:8]}..." for n in needles if n.encode() in data]
    return found


def test_google_login_then_send_over_smtp_xoauth2(
    world: World,
    certs: CertSet,
    inputs: tuple[Path, Path],
    tmp_path: Path,
    data_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _login_google(world, tmp_path) == 0
    out = capsys.readouterr()
    assert f"Signed in as {USER_EMAIL}" in out.out and "/o/oauth2/auth?" in out.err
    saved = SettingsStore().get_account("gmail")
    assert saved.oauth is not None and saved.oauth.provider is OAuthProvider.GOOGLE
    assert saved.host == "smtp.gmail.com" and saved.username == USER_EMAIL
    assert main(_send(inputs, "--account", "gmail", *_smtp_args(world, certs))) == 0
    recorder = world.smtp.recorder
    assert isinstance(recorder, OAuthRecorder)
    assert sorted(recorder.recipients()) == PEOPLE
    assert recorder.xoauth2_attempts == [(USER_EMAIL, True)]
    tokens = [*world.oauth.refresh_tokens, *world.oauth.access_tokens, "GOCSPX-test-secret"]
    assert _files_contain(data_home, tokens) == []  # the refresh token is in no file in clear
    vault = Vault.open_default(passphrase=lambda new: Secret(PASSPHRASE))
    assert vault.get_secret(SecretKind.OAUTH_REFRESH_TOKEN, "gmail") in {
        Secret(token) for token in world.oauth.refresh_tokens
    }


def test_google_gmail_api_login_then_send_and_verify(
    world: World,
    inputs: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = _login_google(
        world, tmp_path, "--transport", "gmail-api", "--gmail-api-url", world.api.url
    )
    assert code == 0
    saved = SettingsStore().get_account("gmail")
    assert saved.transport is TransportKind.GMAIL_API and saved.api_url == world.api.url
    assert "gmail.send" in " ".join(saved.oauth.scopes if saved.oauth else ())
    assert main(["verify", "--account", "gmail"]) == 0
    assert "access token" in capsys.readouterr().out
    assert main(_send(inputs, "--account", "gmail")) == 0
    assert sorted(r for sent in world.api.sent for r in sent.recipients()) == PEOPLE


def test_microsoft_device_code_login_then_verify(
    world: World, certs: CertSet, capsys: pytest.CaptureFixture[str]
) -> None:
    authority = world.oauth.authority("consumers")
    login = ["account", "login", "outlook", "--provider", "microsoft"]
    args = ["--client-id", MICROSOFT_CLIENT, "--authority", authority, "--device-code"]
    assert main([*login, *args]) == 0
    out = capsys.readouterr()
    assert "enter the code" in out.err
    saved = SettingsStore().get_account("outlook")
    assert saved.preset == "outlook"  # the Outlook.com preset for the consumers tenant
    assert main(["verify", "--account", "outlook", *_smtp_args(world, certs)]) == 0
    assert "AUTH XOAUTH2" in capsys.readouterr().out


def test_microsoft_browser_login_with_no_browser_prints_the_url(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    browser = Browser()

    def open_by_hand(*args: Any, **kwargs: Any) -> None:
        print(*args, **kwargs)
        text = " ".join(str(a) for a in args)
        if "http" in text:
            url = text.split()[-1]
            threading.Thread(target=browser, args=(url,), daemon=True).start()

    monkeypatch.setattr("ui.cli.login.print", open_by_hand, raising=False)
    authority = world.oauth.authority("organizations")
    login = ["account", "login", "work", "--provider", "microsoft", "--no-browser"]
    assert main([*login, "--client-id", MICROSOFT_CLIENT, "--authority", authority]) == 0
    assert len(browser.opened) == 1 and "/organizations/oauth2/v2.0/authorize" in browser.opened[0]
    assert SettingsStore().get_account("work").preset == "microsoft-365"


def test_revoked_sign_in_stops_send_with_exit_3_and_resume_after_login(
    world: World,
    inputs: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--transport", "gmail-api", "--gmail-api-url", world.api.url]
    assert _login_google(world, tmp_path, *args) == 0
    world.api.faults = ["", "revoke"]
    assert main(_send(inputs, "--account", "gmail")) == 3
    out = capsys.readouterr().out
    assert "sign in again" in out.lower() and "7 days" in out
    assert len(world.api.sent) == 1
    campaign_id = out.split("Campaign ")[1].split()[0]
    assert _login_google(world, tmp_path) == 0  # options not given keep the saved ones
    saved = SettingsStore().get_account("gmail")
    assert saved.transport is TransportKind.GMAIL_API and saved.api_url == world.api.url
    assert saved.oauth is not None and "https://mail.google.com/" not in saved.oauth.scopes
    assert main(["resume", campaign_id]) == 0
    assert sorted(r for sent in world.api.sent for r in sent.recipients()) == PEOPLE


def test_logout_forgets_the_token_and_send_asks_to_sign_in(
    world: World, inputs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _login_google(world, tmp_path, "--transport", "gmail-api") == 0
    assert main(["account", "logout", "gmail"]) == 0
    assert main(_send(inputs, "--account", "gmail")) == 2
    assert "not signed in" in capsys.readouterr().err
    assert main(["account", "logout", "gmail"]) == 2


def test_login_without_client_secrets_says_what_is_needed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["account", "login", "g", "--provider", "google"]) == 2
    assert "client_secret.json" in capsys.readouterr().err
    assert main(["account", "login", "m", "--provider", "microsoft"]) == 2
    assert "--client-id" in capsys.readouterr().err
