"""Every screen in Chromium: axe-core finds nothing critical or serious; charts render."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from storage.journal import JournalStore
from storage.journal.store import JOURNAL_FILE
from tests.e2e.apprun import RunningApp
from tests.e2e.clicks import click_testid
from tests.journal_kit import seed_campaign

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT = 30.0
BLOCKING = {"critical", "serious"}
SCREENS = (
    "/",
    "/accounts",
    "/recipients",
    "/compose",
    "/send",
    "/history",
    "/outbox",
    "/deliverability",
)


def _wait(browser: Any, condition: Any, message: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT).until(condition, message)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Screenshots of each screen, kept under pytest's temporary folder."""
    return tmp_path_factory.mktemp("screens")


@pytest.fixture(scope="module")
def campaign_id(running_app: RunningApp) -> str:
    """A finished campaign with every kind of outcome, in the app's own journal."""
    store = JournalStore(running_app.home / JOURNAL_FILE)
    try:
        return seed_campaign(store, name="Spring news")
    finally:
        store.close()


@pytest.fixture(scope="module")
def app_browser(browser: Any, running_app: RunningApp) -> Any:
    from selenium.webdriver.common.by import By

    browser.get(running_app.url)
    _wait(
        browser,
        lambda d: "Bulk Mailer" in d.find_element(By.CSS_SELECTOR, ".q-header").text,
        "the app's header never rendered",
    )
    return browser


def _open(browser: Any, url: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(url)
    _wait(
        browser,
        lambda d: d.find_elements(By.CSS_SELECTOR, "h1, [role=heading][aria-level='1']"),
        f"no level-one heading on {url}",
    )
    time.sleep(1.0)  # charts and late sections settle


def _axe(browser: Any) -> list[dict[str, Any]]:
    from axe_selenium_python import Axe

    axe = Axe(browser)
    axe.inject()
    results = axe.run()
    return [v for v in results["violations"] if v.get("impact") in BLOCKING]


def _describe(violations: list[dict[str, Any]]) -> str:
    return json.dumps(
        [
            {
                "id": v["id"],
                "impact": v["impact"],
                "nodes": [(n["target"], n.get("html", "")[:160]) for n in v["nodes"]][:8],
                "summary": v["nodes"][0].get("failureSummary", "")[:300],
            }
            for v in violations
        ],
        indent=1,
    )


@pytest.mark.parametrize("path", SCREENS)
def test_screen_has_no_critical_or_serious_accessibility_findings(
    app_browser: Any, running_app: RunningApp, artifacts: Path, campaign_id: str, path: str
) -> None:
    _open(app_browser, running_app.base + path)
    app_browser.save_screenshot(str(artifacts / f"{path.strip('/') or 'home'}.png"))
    assert app_browser.execute_script("return document.documentElement.lang").startswith("en")
    violations = _axe(app_browser)
    assert not violations, _describe(violations)


def test_campaign_page_and_its_chart_are_accessible_and_drawn(
    app_browser: Any, running_app: RunningApp, artifacts: Path, campaign_id: str
) -> None:
    _open(app_browser, f"{running_app.base}/history/{campaign_id}")
    app_browser.save_screenshot(str(artifacts / "history-campaign.png"))
    violations = _axe(app_browser)
    assert not violations, _describe(violations)
    size = app_browser.execute_script(
        "const c = document.querySelector('.nicegui-echart canvas');"
        "return c ? [c.width, c.height] : null;"
    )
    assert size is not None and size[0] > 0 and size[1] > 0
    totals = app_browser.execute_script(
        "const chart = getElement(document.querySelector('.nicegui-echart')).chart;"
        "const out = {};"
        "for (const s of chart.getOption().series) {"
        "  out[s.name] = s.data.reduce((a, b) => a + (typeof b === 'number' ? b : b.value), 0);"
        "}"
        "return out;"
    )
    assert totals["Accepted"] == 3 and totals["Failed"] == 2
    assert totals["Unknown"] == 1 and totals["Deferred"] == 1


def test_confirm_dialog_is_accessible(
    app_browser: Any, running_app: RunningApp, artifacts: Path, campaign_id: str
) -> None:
    from selenium.webdriver.common.by import By

    _open(app_browser, f"{running_app.base}/history/{campaign_id}")
    button = _wait(
        app_browser,
        lambda d: next(
            (b for b in d.find_elements(By.TAG_NAME, "button") if "retry" in b.text.lower()),
            False,
        ),
        "no Retry failed button",
    )
    button.click()
    _wait(app_browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".q-dialog"), "no dialog")
    time.sleep(0.5)
    app_browser.save_screenshot(str(artifacts / "history-retry-dialog.png"))
    violations = _axe(app_browser)
    assert not violations, _describe(violations)


def test_a_recipients_attempts_open_from_the_keyboard(
    app_browser: Any, running_app: RunningApp, artifacts: Path, campaign_id: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _open(app_browser, f"{running_app.base}/history/{campaign_id}")
    target = "Attempts for p1@example.com"
    body = app_browser.find_element(By.TAG_NAME, "body")
    body.click()
    for _ in range(200):  # Tab through the page until the address's button has the focus
        focused = app_browser.switch_to.active_element
        if focused.get_attribute("aria-label") == target:
            break
        focused.send_keys(Keys.TAB)
    else:
        pytest.fail(f"Tab never reached {target!r}")
    app_browser.switch_to.active_element.send_keys(Keys.ENTER)
    _wait(
        app_browser,
        lambda d: any(target in e.text for e in d.find_elements(By.CSS_SELECTOR, ".q-dialog")),
        "the attempts dialog did not open from the keyboard",
    )
    time.sleep(0.5)
    app_browser.save_screenshot(str(artifacts / "history-attempts-dialog.png"))
    violations = _axe(app_browser)
    assert not violations, _describe(violations)


def _testid(browser: Any, testid: str) -> Any:
    from selenium.webdriver.common.by import By

    return _wait(
        browser,
        lambda d: next(iter(d.find_elements(By.CSS_SELECTOR, f'[data-testid="{testid}"]')), False),
        f"no element with data-testid={testid}",
    )


def _has_text(browser: Any, text: str) -> None:
    _wait(browser, lambda d: text in d.find_element("tag name", "body").text, f"no {text!r}")


def test_send_confirmation_and_the_finished_campaign_with_its_chart_are_accessible(
    app_browser: Any, running_app: RunningApp, artifacts: Path, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    people = tmp_path / "a11y-people.csv"
    people.write_text(
        "email,first_name,last_name,company,city\n"
        + "".join(f"a11y{i}@example.com,A{i},L{i},Co,Town\n" for i in range(5)),
        encoding="utf-8",
    )
    _open(app_browser, f"{running_app.base}/recipients")
    upload = _wait(
        app_browser,
        lambda d: next(iter(d.find_elements(By.CSS_SELECTOR, "input[type=file]")), False),
        "no file input",
    )
    upload.send_keys(str(people))
    _has_text(app_browser, "5 recipients")
    _open(app_browser, f"{running_app.base}/compose")
    next(
        b for b in app_browser.find_elements(By.TAG_NAME, "button") if "sample" in b.text.lower()
    ).click()
    _wait(
        app_browser,
        lambda d: any(
            "Hello" in (f.get_attribute("value") or "")
            for f in d.find_elements(By.CSS_SELECTOR, "input")
        ),
        "the sample template never loaded",
    )
    _open(app_browser, f"{running_app.base}/send")
    _has_text(app_browser, "all 5 messages build fine")
    delay = _testid(app_browser, "send-delay-ms")
    delay.send_keys(Keys.CONTROL, "a")
    delay.send_keys("0")
    delay.send_keys(Keys.TAB)
    _has_text(app_browser, "as fast as the server takes")
    start = _testid(app_browser, "send-start")
    _wait(app_browser, lambda d: start.is_enabled(), "Start stayed disabled")
    start.click()
    _testid(app_browser, "send-confirm-ok")  # the dialog is open
    time.sleep(0.5)
    app_browser.save_screenshot(str(artifacts / "send-confirm-dialog.png"))
    violations = _axe(app_browser)
    assert not violations, _describe(violations)
    click_testid(app_browser, "send-confirm-ok")
    _wait(
        app_browser,
        lambda d: "5/5" in d.find_element(By.CSS_SELECTOR, '[data-testid="send-done"]').text,
        "the campaign never finished",
    )
    _has_text(app_browser, "Finished")
    time.sleep(1.5)  # the chart's last redraw
    app_browser.save_screenshot(str(artifacts / "send-finished.png"))
    violations = _axe(app_browser)
    assert not violations, _describe(violations)
    totals = app_browser.execute_script(
        "const el = Array.from(document.querySelectorAll('.nicegui-echart'))"
        "  .find(e => e.offsetParent !== null && getElement(e).chart"
        "    && getElement(e).chart.getOption().series.length > 1);"
        "const chart = getElement(el).chart;"
        "const c = el.querySelector('canvas');"
        "const out = {width: c.width, height: c.height};"
        "for (const s of chart.getOption().series) out[s.name] = s.data.reduce((a, b) => a + b, 0);"
        "return out;"
    )
    assert totals["width"] > 0 and totals["height"] > 0
    assert totals["Accepted"] == 5 and totals["Failed"] == 0
