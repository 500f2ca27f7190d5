"""The whole flow in a real headless Chromium: recipients, message, send, progress, outbox."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.apprun import RunningApp
from tests.e2e.clicks import click_testid

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOSTILE = "<img src=x onerror=alert(1)>"
WAIT = 30.0  # seconds for the page to show something
SEND_WAIT = 90.0  # seconds for the whole campaign (a small shared machine)
# email, name (shown in the tables), first_name, last_name, company, city. The hostile value
# is the name only: the sample template's TO puts first and last names in an address, where
# "<" makes the address invalid and the pre-flight (rightly) refuses the row.
PEOPLE = [
    ("ann.lee@example.com", "Ann Lee", "Ann", "Lee", "Northwind Traders", "Seattle"),
    ("eve@example.net", HOSTILE, "Eve", "Hacker", "Hostile Inc", "Nowhere"),
    ("bob.martin@example.org", "Bob Martin", "Bob", "Martin", "Contoso Ltd", "Chicago"),
]
_COUNT_RE = re.compile(r"(\d+) captured message")


def _csv(path: Path) -> Path:
    lines = ["email,name,first_name,last_name,company,city"]
    for email, name, first, last, company, city in PEOPLE:
        lines.append(f'{email},"{name}",{first},{last},{company},{city}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _wait(browser: Any, condition: Any, message: str, timeout: float = WAIT) -> Any:
    """Poll `condition`; an element Vue replaced meanwhile just means "try again"."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(
        browser, timeout, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)
    )
    return wait.until(condition, message)


def _texts(browser: Any, css: str) -> list[str]:
    """The text of every element matching `css`, read in one step (no stale elements)."""
    script = "return Array.from(document.querySelectorAll(arguments[0]), e => e.textContent.trim())"
    return list(browser.execute_script(script, css))


def _by_text(
    browser: Any, css: str, text: str, *, contains: bool = False, any_case: bool = False
) -> Any:
    """The first displayed element matching `css` whose text is (or contains) `text`.

    `any_case` for buttons: Quasar shows their labels in capitals (CSS), and Selenium reads
    the text as shown.
    """
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    def find(driver: Any) -> Any:
        for element in driver.find_elements(By.CSS_SELECTOR, css):
            try:
                shown, wanted = element.text.strip(), text
                if any_case:
                    shown, wanted = shown.casefold(), wanted.casefold()
                if (wanted in shown if contains else shown == wanted) and element.is_displayed():
                    return element
            except StaleElementReferenceException:  # Vue re-rendered it
                continue
        return False

    return _wait(browser, find, f"no {css} with text {text!r}")


def _testid(browser: Any, testid: str) -> Any:
    from selenium.webdriver.common.by import By

    return _wait(
        browser,
        lambda d: next(
            (e for e in d.find_elements(By.CSS_SELECTOR, f'[data-testid="{testid}"]')), False
        ),
        f"no element with data-testid={testid}",
    )


def _open(browser: Any, app: RunningApp, path: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{app.base}{path}")
    _wait(
        browser,
        lambda d: "Bulk Mailer" in d.find_element(By.CSS_SELECTOR, ".q-header").text,
        f"{path} never rendered",
    )


def _outbox_count(browser: Any, app: RunningApp) -> int:
    _open(browser, app, "/outbox")
    _by_text(browser, "div", "captured message", contains=True)
    labels = [text for text in _texts(browser, "div") if "captured message" in text]
    match = _COUNT_RE.search(labels[-1]) if labels else None
    return int(match.group(1)) if match else 0


def _answer_if_asked(browser: Any, testid: str) -> None:
    """Earlier tests in this app may have left a list or a message: the app asks before
    replacing it; this test answers yes."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By

    try:
        _wait(
            browser,
            lambda d: next(
                (
                    e
                    for e in d.find_elements(By.CSS_SELECTOR, f'[data-testid="{testid}"]')
                    if e.is_displayed()
                ),
                False,
            ),
            "no question",
            timeout=3,
        )
    except TimeoutException:
        return  # nothing there before: nothing was asked
    click_testid(browser, testid)


@pytest.fixture(scope="module")
def session(browser: Any, running_app: RunningApp) -> Any:
    """The browser after following the printed link (the token becomes a cookie)."""
    _open(browser, running_app, f"/?token={running_app.token}")
    return browser


def test_upload_compose_send_and_see_every_message_in_the_outbox(
    session: Any, running_app: RunningApp, tmp_path: Path
) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser = session
    before = _outbox_count(browser, running_app)

    # Recipients: upload a CSV with a hostile name in it
    _open(browser, running_app, "/recipients")
    upload = _wait(
        browser,
        lambda d: next(iter(d.find_elements(By.CSS_SELECTOR, "input[type=file]")), False),
        "no file input on the Recipients screen",
    )
    upload.send_keys(str(_csv(tmp_path / "people.csv")))
    _answer_if_asked(browser, "recipients-merge-replace")
    _by_text(browser, "div", f"{len(PEOPLE)} recipients", contains=True)

    # Compose: the sample template
    _open(browser, running_app, "/compose")
    _by_text(browser, "button", "sample", contains=True, any_case=True).click()
    _answer_if_asked(browser, "compose-replace-ok")
    _wait(
        browser,
        lambda d: any(
            "Hello" in (field.get_attribute("value") or "")
            for field in d.find_elements(By.CSS_SELECTOR, "input, textarea")
        ),
        "the sample template never filled the subject",
    )

    # Send: no delay, start, wait until the bar is full
    _open(browser, running_app, "/send")
    _by_text(browser, "div", "all 3 messages build fine", contains=True)
    delay = _testid(browser, "send-delay-ms")
    delay.send_keys(Keys.CONTROL, "a")
    delay.send_keys("0")
    delay.send_keys(Keys.TAB)
    _by_text(browser, "div", "as fast as the server takes", contains=True)
    start = _testid(browser, "send-start")
    _wait(browser, lambda d: start.is_enabled(), "Start stayed disabled")
    start.click()
    click_testid(browser, "send-confirm-ok")  # what will happen is confirmed first

    def full(driver: Any) -> bool:
        bars = driver.find_elements(By.CSS_SELECTOR, '[data-testid="send-progress"]')
        if not bars:
            return False
        now, top = bars[0].get_attribute("aria-valuenow"), bars[0].get_attribute("aria-valuemax")
        return now is not None and top is not None and float(now) >= float(top) > 0

    _wait(browser, full, "the progress bar never reached 100 %", timeout=SEND_WAIT)
    _by_text(browser, '[data-testid="send-done"]', "3/3")
    _by_text(browser, "div", "Finished", contains=True)

    # The hostile name is literal text in the recipients table; nothing ran
    assert _by_text(browser, "td", HOSTILE).tag_name == "td"
    assert browser.find_elements(By.CSS_SELECTOR, 'img[src="x"]') == []
    log = browser.find_element(By.CSS_SELECTOR, ".nicegui-log").text
    assert log.count("accepted by server") == len(PEOPLE)
    with pytest.raises(NoAlertPresentException):
        _ = browser.switch_to.alert.text

    # Outbox: one message per recipient
    deadline = time.monotonic() + WAIT
    while (count := _outbox_count(browser, running_app)) < before + len(PEOPLE):
        assert time.monotonic() < deadline, f"outbox has {count}, expected {before + 3}"
        time.sleep(0.5)
    assert count == before + len(PEOPLE)
    cells = _texts(browser, "td")
    for email, *_ in PEOPLE:
        assert email in cells
    assert browser.find_elements(By.CSS_SELECTOR, 'img[src="x"]') == []

    # The finished campaign cannot be sent again by one more click: a choice is needed
    _open(browser, running_app, "/send")
    _by_text(browser, "div", "already got this message", contains=True)
    start = _testid(browser, "send-start")
    _wait(browser, lambda d: start.is_enabled(), "Start stayed disabled")
    start.click()
    _by_text(browser, '[data-testid="send-error"]', "already got this message", contains=True)
    assert browser.find_elements(By.CSS_SELECTOR, '[data-testid="send-confirm-ok"]') == []
    time.sleep(1)  # nothing may arrive in the outbox
    assert _outbox_count(browser, running_app) == before + len(PEOPLE)


def test_html_preview_appears_after_switching_plain_text_to_markdown(
    session: Any, running_app: RunningApp
) -> None:
    """The preview's iframe used to stay blank when the format changed to Markdown."""
    from selenium.webdriver.common.by import By

    browser = session
    _open(browser, running_app, "/compose")
    _by_text(browser, ".q-btn", "Plain text", any_case=True).click()
    _wait(
        browser,
        lambda d: (
            not any(
                e.is_displayed()
                for e in d.find_elements(By.CSS_SELECTOR, '[data-testid="compose-preview-html"]')
            )
        ),
        "plain text still shows an HTML part",
    )
    _by_text(browser, ".q-btn", "Markdown", any_case=True).click()

    def shown_frame(driver: Any) -> Any:
        frames = driver.find_elements(By.CSS_SELECTOR, '[data-testid="compose-preview-html"]')
        return next((f for f in frames if f.is_displayed()), False)

    frame = _wait(browser, shown_frame, "no HTML preview after choosing Markdown")
    browser.switch_to.frame(frame)
    try:
        text = _wait(
            browser,
            lambda d: d.find_element(By.TAG_NAME, "body").text.strip() or False,
            "the HTML preview stayed blank",
        )
    finally:
        browser.switch_to.default_content()
    assert text.startswith("Hi ")  # the first recipient's message, rendered (sample template)
