"""History and Send show a campaign's problems grouped by reason; a click filters the rows."""

from __future__ import annotations

import pytest
from nicegui import ui
from nicegui.testing import User

from tests.journal_kit import seed_campaign
from tests.ui.campaign_kit import element, fresh_state  # noqa: F401 - the fixture, used by name
from ui.services.state import get_state
from ui.web.chart_options import series_totals

pytestmark = pytest.mark.usefixtures("fresh_state")


def _emails(user: User, marker: str) -> list[object]:
    table = element(user, marker)
    assert isinstance(table, ui.table)
    return [row["email"] for row in table.rows]


async def test_history_groups_reasons_and_a_click_shows_only_that_groups_rows(
    user: User,
) -> None:
    campaign_id = seed_campaign(get_state().journal)
    await user.open(f"/history/{campaign_id}")
    await user.should_see("mailbox does not exist (5.1.1) x 2")
    await user.should_see("rate limited (4.7.28) x 1")
    await user.should_see("the reply was lost after sending x 1")
    await user.should_see("suppress: the address does not take mail")
    assert len(_emails(user, "history-recipients")) == 7

    user.find("mailbox does not exist (5.1.1) x 2").click()
    assert _emails(user, "history-recipients") == ["p1@example.com", "p3@example.com"]
    await user.should_see("(mailbox does not exist)")

    user.find(marker="history-reasons-clear").click()
    assert len(_emails(user, "history-recipients")) == 7


async def test_history_of_a_clean_campaign_says_there_is_nothing_to_group(user: User) -> None:
    from core.models import RecipientStatus
    from core.ports import Outcome

    ok = (Outcome(RecipientStatus.SENT, 1.0, 250, None, "ok"),)
    campaign_id = seed_campaign(get_state().journal, ok)
    await user.open(f"/history/{campaign_id}")
    await user.should_see(marker="history-reasons-none")


async def test_history_list_shows_each_outcome_as_a_bar_and_the_detail_a_timeline(
    user: User,
) -> None:
    campaign_id = seed_campaign(get_state().journal)
    await user.open("/history")
    table = element(user, "history-table")
    assert isinstance(table, ui.table)
    (row,) = table.rows
    assert row["outcome"] == "7 recipients: 3 accepted, 2 failed, 1 unknown, 1 deferred"
    widths = {seg["key"]: seg["width"] for seg in row["segments"]}
    assert widths == {
        "sent": round(300 / 7, 3),
        "failed": round(200 / 7, 3),
        "unknown": round(100 / 7, 3),
        "deferred": round(100 / 7, 3),
    }
    await user.open(f"/history/{campaign_id}")
    chart = element(user, "history-chart")
    assert isinstance(chart, ui.echart)
    totals = series_totals(chart.options)
    assert (totals["Accepted"], totals["Failed"], totals["Unknown"], totals["Deferred"]) == (
        3,
        2,
        1,
        1,
    )


async def test_a_recipients_address_is_a_button_that_opens_its_attempts(user: User) -> None:
    campaign_id = seed_campaign(get_state().journal)
    await user.open(f"/history/{campaign_id}")
    row = next(
        r for r in element(user, "history-recipients").rows if r["email"] == "p1@example.com"
    )  # type: ignore[attr-defined]
    user.find(marker="history-recipients").trigger("attempts", row)
    await user.should_see("Attempts for p1@example.com", marker="attempts-title")
