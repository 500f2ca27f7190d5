"""Sign in with Google in a real headless Chromium, against the local OAuth server."""

from __future__ import annotations

import asyncio
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storage.vault import VAULT_FILE
from tests.e2e.apprun import RunningApp, start_app
from tests.e2e.clicks import click_testid
from tests.e2e.test_flow import _by_text, _open, _testid, _wait
from tests.oauth_server import USER_EMAIL, OAuthServer, start_oauth_server
from ui.web.launch import READY_MARKER, SANDBOX_MARKER, free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSPHRASE = "e2e master passphrase 1234"


@pytest.fixture(scope="module")
def oauth() -> Iterator[OAuthServer]:
    """The OAuth server in a background loop of this process (the app runs in another)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(start_oauth_server(), loop).result(10)
    yield server
    assert server.handle is not None
    asyncio.run_coroutine_threadsafe(server.handle.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The app with a master passphrase in its environment and no system browser to open."""
    home = tmp_path_factory.mktemp("signin-home")
    port = free_port()
    env = {"BULKMAILER_PASSPHRASE": PASSPHRASE, "BROWSER": "true"}
    process = start_app(
        [sys.executable, "main.py", "--no-browser", "--port", str(port)], home, env_extra=env
    )
    try:
        ready = process.wait_for(READY_MARKER)
        process.wait_for(SANDBOX_MARKER, timeout=5)
        match = re.search(r"(http://127\.0\.0\.1:\d+/\?token=([A-Za-z0-9_-]+))", ready)
        assert match, process.output()
        yield RunningApp(
            url=match.group(1),
            base=f"http://127.0.0.1:{port}",
            port=port,
            token=match.group(2),
            smtp_port=0,
            home=home,
            process=process,
        )
    finally:
        process.stop()


def test_sign_in_with_google_in_chromium_saves_a_signed_in_account(
    browser: Any, app: RunningApp, oauth: OAuthServer, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    secrets = oauth.client_secrets_file(tmp_path / "client_secret.json")
    _open(browser, app, f"/?token={app.token}")
    _open(browser, app, "/accounts")
    _testid(browser, "signin-name").send_keys("Gmail")
    card = _wait(
        browser,
        lambda d: next(
            iter(d.find_elements(By.CSS_SELECTOR, "input[type=file][accept='.json']")), False
        ),
        "no client_secret.json upload",
    )
    card.send_keys(str(secrets))
    _by_text(browser, "div", "Client 1234-desktop", contains=True)
    click_testid(browser, "signin-google")
    link = _testid(browser, "signin-url")
    url = link.get_attribute("href")
    assert url.startswith(oauth.url) and "code_challenge_method=S256" in url

    app_tab = browser.current_window_handle
    browser.switch_to.new_window("tab")  # the person opens the address by hand
    browser.get(url)
    _wait(browser, lambda d: "Signed in" in d.find_element(By.TAG_NAME, "body").text, "no reply")
    browser.close()
    browser.switch_to.window(app_tab)

    result = _testid(browser, "signin-result")
    _wait(browser, lambda d: "Signed in with Google" in result.text, "the app never saw it")
    assert USER_EMAIL in result.text
    _by_text(browser, "div", "signed in with google", contains=True)
    assert oauth.refresh_tokens and (app.home / VAULT_FILE).exists()  # kept, encrypted
    for token in oauth.refresh_tokens:  # ... and in no file in clear
        for path in app.home.rglob("*"):
            if path.is_file():
                assert token.encode() not in path.read_bytes(), path
