"""Clicking what Quasar has just drawn.

A dialog's buttons exist in the page before its opening transition ends, and Vue may
replace an element between finding and clicking it. Selenium then raises "element not
interactable", "click intercepted" or "stale element". A person simply clicks again a
moment later; so does `click_when_ready`, until `timeout`.
"""

from __future__ import annotations

from typing import Any

WAIT = 30.0


def click_when_ready(browser: Any, css: str, *, timeout: float = WAIT) -> None:
    """Click the first displayed, enabled element matching `css` once it takes clicks."""
    from selenium.common.exceptions import (
        ElementClickInterceptedException,
        ElementNotInteractableException,
        StaleElementReferenceException,
    )
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def clicked(driver: Any) -> bool:
        for element in driver.find_elements(By.CSS_SELECTOR, css):
            try:
                if element.is_displayed() and element.is_enabled():
                    element.click()
                    return True
            except (
                ElementNotInteractableException,
                ElementClickInterceptedException,
                StaleElementReferenceException,
            ):
                continue
        return False

    WebDriverWait(browser, timeout, poll_frequency=0.2).until(clicked, f"could not click {css}")


def click_testid(browser: Any, testid: str, *, timeout: float = WAIT) -> None:
    """`click_when_ready` for `[data-testid=...]`."""
    click_when_ready(browser, f'[data-testid="{testid}"]', timeout=timeout)
