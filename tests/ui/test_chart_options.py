"""Chart options are data: series from the journal's figures, totals equal to the counts."""

from __future__ import annotations

from pathlib import Path

from core.models import RecipientStatus
from core.plan_timeline import plan_timeline
from core.ports import Counts, Outcome
from storage.journal import JournalStore
from storage.journal.timeline import outcome_timeline, slot_for
from tests.journal_kit import seed_campaign
from ui.web.chart_options import campaign_chart, outcome_bar, plan_chart, series_totals


def test_campaign_chart_stacks_outcomes_per_slot_and_totals_equal_the_counts(
    tmp_path: Path,
) -> None:
    store = JournalStore(tmp_path / "j.sqlite3")
    campaign_id = seed_campaign(store, pending=3)
    timeline = outcome_timeline(store, campaign_id)
    options = campaign_chart(timeline)
    counts = store.counts(campaign_id)
    totals = series_totals(options)
    assert totals["Accepted"] == counts.sent == 3
    assert totals["Failed"] == counts.failed == 2
    assert totals["Unknown"] == counts.unknown == 1
    assert totals["Deferred"] == counts.deferred == 1
    assert timeline.slot_seconds == 5.0  # 60 s of results in readable 5 s slots
    assert len(options["xAxis"]["data"]) == len(timeline.slots) == 13
    stacked = [s for s in options["series"] if s.get("stack") == "outcome"]
    assert [s["name"] for s in stacked] == ["Accepted", "Failed", "Unknown", "Deferred"]
    assert all(len(s["data"]) == 13 for s in options["series"])
    rate = next(s for s in options["series"] if s["type"] == "line")
    assert rate["yAxisIndex"] == 1
    # the first slot has one accepted message in 5 s: 12 a minute
    assert rate["data"][0] == 12.0
    store.close()


def test_timeline_of_a_campaign_with_no_results_is_empty(tmp_path: Path) -> None:
    store = JournalStore(tmp_path / "j.sqlite3")
    campaign_id = seed_campaign(store, (), pending=4)
    assert outcome_timeline(store, campaign_id).slots == ()
    assert series_totals(campaign_chart(outcome_timeline(store, campaign_id)))["Accepted"] == 0
    store.close()


def test_timeline_keeps_a_long_campaign_within_the_slot_limit(tmp_path: Path) -> None:
    store = JournalStore(tmp_path / "j.sqlite3")
    outcomes = tuple(
        Outcome(RecipientStatus.SENT, 1_000.0 + i * 997.0, 250, None, "ok") for i in range(300)
    )
    campaign_id = seed_campaign(store, outcomes)
    timeline = outcome_timeline(store, campaign_id)
    assert len(timeline.slots) <= 60
    assert sum(slot.sent for slot in timeline.slots) == 300
    assert slot_for(3 * 86400) == 3 * 3600
    store.close()


def test_outcome_bar_has_one_segment_per_status_and_sums_to_the_total() -> None:
    counts = Counts(total=20, sent=12, failed=3, unknown=1, deferred=0, pending=4)
    options = outcome_bar(counts)
    totals = series_totals(options)
    assert totals == {"Accepted": 12, "Failed": 3, "Unknown": 1, "Not sent yet": 4}
    assert sum(totals.values()) == counts.total
    assert options["xAxis"]["max"] == 20


def test_plan_chart_shows_every_message_up_to_the_end_of_a_daily_capped_plan() -> None:
    plan = plan_timeline(1_200, delay_ms=1_000, daily_cap=500, sent_in_window=100, start=0.0)
    options = plan_chart(plan)
    assert series_totals(options) == {"Messages": 1_200}
    data = options["series"][0]["data"]
    assert data[0] == 400  # what today's allowance still takes, at once
    assert max(data) == 500  # then the cap each day
    assert len(data) == len(options["xAxis"]["data"]) == len(plan.slots) <= 48
    assert plan.slots[-1].start < 2 * 86400 + plan.slot_seconds  # ends on the third day


def test_plan_timeline_of_a_fast_campaign_fits_in_the_slots_and_adds_up() -> None:
    for messages, delay in ((100_000, 0), (7, 3_000), (1, 0), (9_999, 250)):
        plan = plan_timeline(messages, delay_ms=delay, start=1_000.0)
        assert plan.total == messages
        assert 1 <= len(plan.slots) <= 48
    assert plan_timeline(0, delay_ms=0, start=0.0).slots == ()


def test_a_batched_plan_timeline_adds_up_and_shows_the_pauses() -> None:
    from core.plan_timeline import batches_timeline
    from core.schedule import plan_batches

    start = 1_800_000_000.0
    batches = plan_batches(250, start=start, interval=1.0, size=100, pause=3600.0)
    assert [b.messages for b in batches] == [100, 100, 50]
    timeline = batches_timeline(batches, start=start)
    assert timeline.total == 250
    quiet = [slot for slot in timeline.slots if slot.messages == 0]
    assert quiet  # the hour-long pauses between batches are empty slots
    assert timeline.slots[0].start == start
