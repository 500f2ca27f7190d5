"""End-to-end fixtures: the real app as a process, and Debian's headless Chromium via Selenium."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.apprun import RunningApp, start_app
from ui.web.launch import READY_MARKER, SANDBOX_MARKER, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # root in a container: Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--window-size=1280,900",
)

os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must never reach the network


@pytest.fixture(scope="session")
def running_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """`python main.py --no-browser --port N` as a real process, for the whole session."""
    home = tmp_path_factory.mktemp("e2e-home")
    port = free_port()
    app = start_app([sys.executable, "main.py", "--no-browser", "--port", str(port)], home)
    try:
        ready = app.wait_for(READY_MARKER)
        sandbox_line = app.wait_for(SANDBOX_MARKER, timeout=5)
        url_match = re.search(r"(http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]+))", ready)
        smtp_match = re.search(r"127\.0\.0\.1:(\d+)", sandbox_line)
        assert url_match and smtp_match, app.output()
        assert int(url_match.group(2)) == port
        yield RunningApp(
            url=url_match.group(1),
            base=f"http://127.0.0.1:{port}",
            port=port,
            token=url_match.group(3),
            smtp_port=int(smtp_match.group(1)),
            home=home,
            process=app,
        )
    finally:
        app.stop()


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Headless Chromium from Debian (never a downloaded browser), driven by chromedriver."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install them)")
    selenium = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = selenium.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = selenium.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
