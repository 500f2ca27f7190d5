"""The real app in a real (headless) Chromium: the token, the Host guard, the Outbox."""

from __future__ import annotations

import base64
import http.client
import os
import smtplib
import socket
from email.message import EmailMessage
from typing import Any

import pytest

from tests.e2e.apprun import RunningApp
from ui.web.security import cookie_name

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOSTILE = "<img src=x onerror=alert(1)>"
WAIT = 30.0  # seconds for the page to show something
SOCKET_PATH = "/_nicegui_ws/socket.io/?EIO=4&transport=websocket"


def _get(app: RunningApp, path: str, *, host: str | None = None, cookie: bool = False) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", app.port, timeout=10)
    headers = {"Host": host or f"127.0.0.1:{app.port}"}
    if cookie:
        headers["Cookie"] = f"{cookie_name(app.port)}={app.token}"
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _websocket_handshake(app: RunningApp, *, host: str, cookie: bool) -> str:
    """Send a real websocket upgrade request to NiceGUI's socket.io path; the status line."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {SOCKET_PATH} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        f"Origin: http://{host}",
    ]
    if cookie:
        lines.append(f"Cookie: {cookie_name(app.port)}={app.token}")
    with socket.create_connection(("127.0.0.1", app.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(1024)
            if not chunk:
                break
            reply += chunk
    return reply.split(b"\r\n", 1)[0].decode(errors="replace")


def _send(app: RunningApp, subject: str, html: str | None = None) -> None:
    message = EmailMessage()
    message["From"] = "alice@example.com"
    message["To"] = "bob@example.com"
    message["Subject"] = subject
    message.set_content(f"Text part of {subject}")
    if html is not None:
        message.add_alternative(html, subtype="html")
    with smtplib.SMTP("127.0.0.1", app.smtp_port, timeout=10) as client:
        client.send_message(message)


def _wait(browser: Any, condition: Any, message: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT).until(condition, message)


def _click_text(browser: Any, text: str) -> None:
    """Click the element showing `text`, again if a live refresh replaced it meanwhile."""
    from selenium.common.exceptions import StaleElementReferenceException

    def click(driver: Any) -> bool:
        try:
            _text_on_page(driver, text).click()
        except StaleElementReferenceException:
            return False
        return True

    _wait(browser, click, f"could not click {text!r}")


def _text_on_page(browser: Any, text: str) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    def find(driver: Any) -> Any:
        # Links first: a table cell holding a link has the same text, but a click on the
        # cell's centre can miss the link when the column is wide.
        for selector in ("a", "div, span, td"):
            for element in driver.find_elements(By.CSS_SELECTOR, selector):
                try:
                    if element.text.strip() == text and element.is_displayed():
                        return element
                except StaleElementReferenceException:  # Vue re-rendered it
                    continue
        return False

    return _wait(browser, find, f"{text!r} never showed")


@pytest.fixture(scope="module")
def signed_in(browser: Any, running_app: RunningApp) -> Any:
    """The browser after following the printed link once."""
    from selenium.webdriver.common.by import By

    browser.get(running_app.url)
    _wait(
        browser,
        lambda d: "Bulk Mailer" in d.find_element(By.CSS_SELECTOR, ".q-header").text,
        "the app's header never rendered",
    )
    return browser


def test_printed_link_opens_the_app_and_trades_the_token_for_a_cookie(
    signed_in: Any, running_app: RunningApp
) -> None:
    assert "token" not in signed_in.current_url
    assert signed_in.current_url.rstrip("/") == running_app.base
    assert signed_in.title == "Bulk Mailer"
    cookie = signed_in.get_cookie(cookie_name(running_app.port))
    assert cookie is not None
    assert cookie["value"] == running_app.token
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert signed_in.execute_script("return document.cookie").find(running_app.token) == -1


def test_requests_without_the_token_are_refused(running_app: RunningApp) -> None:
    assert _get(running_app, "/") == 401
    assert _get(running_app, "/outbox") == 401
    assert _get(running_app, "/?token=wrong") == 401
    assert _get(running_app, "/_nicegui_ws/socket.io/?EIO=4&transport=polling") == 401
    assert _get(running_app, "/", cookie=True) == 200  # the control: the cookie opens it


def test_foreign_host_is_refused_on_pages(running_app: RunningApp) -> None:
    evil = f"evil.example:{running_app.port}"
    assert _get(running_app, "/", host=evil, cookie=True) == 403
    assert _get(running_app, f"/?token={running_app.token}", host=evil) == 403


def test_websocket_handshake_needs_own_host_and_cookie(running_app: RunningApp) -> None:
    own = f"127.0.0.1:{running_app.port}"
    evil = f"evil.example:{running_app.port}"
    assert " 101 " in _websocket_handshake(running_app, host=own, cookie=True)  # the control
    assert " 403 " in _websocket_handshake(running_app, host=evil, cookie=True)
    assert " 401 " in _websocket_handshake(running_app, host=own, cookie=False)


def test_message_sent_to_the_sandbox_shows_in_the_outbox(
    signed_in: Any, running_app: RunningApp
) -> None:
    from selenium.webdriver.common.by import By

    signed_in.get(f"{running_app.base}/outbox")
    _wait(signed_in, lambda d: d.find_elements(By.CSS_SELECTOR, ".q-table"), "no outbox table")
    _send(running_app, "Quarterly numbers", html="<p>Numbers <b>inside</b></p>")
    _text_on_page(signed_in, "Quarterly numbers")  # arrives without a reload
    _click_text(signed_in, "Quarterly numbers")
    _text_on_page(signed_in, "Text part of Quarterly numbers")
    frame = _wait(signed_in, lambda d: d.find_elements(By.TAG_NAME, "iframe"), "no HTML preview")[0]
    assert frame.get_attribute("sandbox") == ""
    signed_in.switch_to.frame(frame)
    try:
        assert "Numbers inside" in signed_in.find_element(By.TAG_NAME, "body").text
    finally:
        signed_in.switch_to.default_content()


def test_hostile_subject_is_shown_as_literal_text(signed_in: Any, running_app: RunningApp) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    pwn = '<img src=x onerror="document.body.dataset.pwned=1"><script>parent.pwned=1</script>'
    _send(running_app, HOSTILE, html=f"<p>hello</p>{pwn}")
    signed_in.get(f"{running_app.base}/outbox")
    _text_on_page(signed_in, HOSTILE)
    assert signed_in.find_elements(By.CSS_SELECTOR, 'img[src="x"]') == []
    with pytest.raises(NoAlertPresentException):
        _ = signed_in.switch_to.alert.text

    _click_text(signed_in, HOSTILE)
    _text_on_page(signed_in, "Text part of " + HOSTILE)
    assert signed_in.find_elements(By.CSS_SELECTOR, 'img[src="x"]') == []
    headings = [e.text for e in signed_in.find_elements(By.CSS_SELECTOR, ".text-h5")]
    assert HOSTILE in headings
    assert signed_in.execute_script("return window.pwned === undefined") is True
    frame = signed_in.find_element(By.TAG_NAME, "iframe")
    assert frame.get_attribute("sandbox") == ""
    signed_in.switch_to.frame(frame)
    try:
        body = signed_in.find_element(By.TAG_NAME, "body")
        assert body.text.strip() == "hello"
        assert body.get_attribute("data-pwned") is None  # no script ran in the preview
    finally:
        signed_in.switch_to.default_content()
    with pytest.raises(NoAlertPresentException):
        _ = signed_in.switch_to.alert.text
