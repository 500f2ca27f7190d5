"""Send while running: the chart beside the progress bar, redrawn at a bounded rate."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User

from core.models import Credentials, Recipient, SendSettings, Template
from tests.smtpd import ServerHandle
from tests.ui.campaign_kit import (
    element,
    fill_draft,
    fresh_state,  # noqa: F401 - the fixture, used by name
    plain_account,
    wait_until,
    wait_until_idle,
)
from ui.services import runs, sandbox
from ui.services.sandbox import SandboxServer
from ui.services.state import get_state
from ui.web.chart_options import series_totals
from ui.web.charts import CHART_REFRESH_SECONDS

pytestmark = pytest.mark.usefixtures("fresh_state")

BIG = 100_000
WATCHED_SECONDS = 6.0  # a bounded look at the run: the rate is what is measured


def _counting(chart: ui.element) -> list[float]:
    """Record the time of every push of `chart` to the browser."""
    pushes: list[float] = []
    original = chart.update

    def update(*args: Any, **kwargs: Any) -> None:
        pushes.append(time.monotonic())
        original(*args, **kwargs)

    chart.update = update  # type: ignore[method-assign]
    return pushes


async def test_chart_pushes_stay_bounded_during_a_100k_recipient_campaign(
    user: User, running_sandbox: SandboxServer
) -> None:
    state = get_state()
    people = [Recipient(email=f"p{i}@example.com", line=i + 2) for i in range(BIG)]
    campaign_id = state.journal.create_campaign(
        name="Big",
        account=sandbox.sandbox_account(),
        template=Template(subject="Hi", body="Hello"),
        settings=SendSettings(delay_ms=0),
        recipients=people,
    )
    await user.open("/send")
    runs.launch(state, campaign_id, Credentials())
    await user.should_see(marker="send-chart", retries=50)
    chart = element(user, "send-chart")
    assert isinstance(chart, ui.echart)
    pushes = _counting(chart)
    before = state.journal.counts(campaign_id).done
    started = time.monotonic()
    await asyncio.sleep(WATCHED_SECONDS)
    elapsed = time.monotonic() - started
    sent = state.journal.counts(campaign_id).done - before
    active = state.active
    assert active is not None and active.running
    active.session.cancel()
    await wait_until_idle(state, timeout=60)

    per_second = len(pushes) / elapsed
    print(
        f"\n{sent:,} messages in {elapsed:.1f} s ({sent / elapsed:,.0f}/s): "
        f"{len(pushes)} chart pushes ({per_second:.2f}/s)"
    )
    assert sent > 10 * len(pushes)  # many events per redraw: they are coalesced
    assert per_second <= 1 / CHART_REFRESH_SECONDS + 0.5
    assert len(pushes) >= 2  # and it does follow the run
    # after the end it shows the final figures: the chart's totals equal the journal's counts
    counts = state.journal.counts(campaign_id)
    await wait_until(lambda: series_totals(chart.options)["Accepted"] == counts.sent)
    totals = series_totals(chart.options)
    assert totals["Failed"] == counts.failed and totals["Unknown"] == counts.unknown
    assert counts.sent > 0


async def test_send_shows_reason_groups_and_a_failure_coloured_bar_after_the_run(
    user: User, plain_server: ServerHandle
) -> None:
    state = get_state()
    plain_server.recorder.rcpt_replies["bob@example.org"] = ["550 5.1.1 no such user"]
    people = [
        Recipient(email=email, line=line)
        for line, email in enumerate(("ann@example.com", "bob@example.org", "cy@example.com"), 2)
    ]
    campaign_id = state.journal.create_campaign(
        name="Small",
        account=plain_account("127.0.0.1", plain_server.port),
        template=Template(subject="Hi", body="Hello"),
        settings=SendSettings(delay_ms=0),
        recipients=people,
    )
    await user.open("/send")
    runs.launch(state, campaign_id, Credentials())
    await wait_until_idle(state)
    await user.should_see("mailbox does not exist (5.1.1) x 1", retries=50)
    bar = element(user, "send-outcome-bar")
    assert bar.props["aria-label"] == "3 recipients: 2 accepted, 1 failed"
    user.find("mailbox does not exist (5.1.1) x 1").click()
    table = element(user, "send-table")
    assert isinstance(table, ui.table)
    assert [row["email"] for row in table.rows] == ["bob@example.org"]
    chart = element(user, "send-chart")
    assert isinstance(chart, ui.echart)
    await wait_until(lambda: series_totals(chart.options)["Accepted"] == 2)
    assert series_totals(chart.options)["Failed"] == 1


async def test_plan_that_spans_time_is_drawn_with_every_message(
    user: User, running_sandbox: SandboxServer
) -> None:
    state = get_state()
    fill_draft(state, delay_ms=60_000)  # one a minute: minutes of sending
    await user.open("/send")
    await user.should_see("one every", marker="send-plan", retries=50)
    chart = element(user, "send-plan-chart")
    assert isinstance(chart, ui.echart) and chart.visible
    assert series_totals(chart.options) == {"Messages": 4}


async def test_plan_that_goes_out_at_once_needs_no_picture(
    user: User, running_sandbox: SandboxServer
) -> None:
    fill_draft(get_state(), delay_ms=0)
    await user.open("/send")
    await user.should_see("as fast as the server takes", marker="send-plan", retries=50)
    await user.should_not_see(marker="send-plan-chart")
