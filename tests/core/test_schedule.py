"""Start times, durations, sending windows (across midnight and DST) and the batch plan."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.errors import InputError
from core.schedule import (
    BatchSchedule,
    SendingWindow,
    parse_days,
    parse_duration,
    parse_start,
    parse_window,
    plan_batches,
)

BERLIN = ZoneInfo("Europe/Berlin")


def _ts(text: str, zone: ZoneInfo = BERLIN) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


def _local(at: float, zone: ZoneInfo = BERLIN) -> str:
    return datetime.fromtimestamp(at, zone).strftime("%a %Y-%m-%d %H:%M")


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("30m", 1800), ("2h", 7200)])
def test_durations_read_seconds_minutes_hours(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["30", "3d", "m", "-5m", ""])
def test_a_bad_duration_names_the_field(text: str) -> None:
    with pytest.raises(InputError, match="--batch-pause"):
        parse_duration(text, field="--batch-pause")


def test_local_start_time_is_read_in_the_zone_given() -> None:
    start = parse_start("2026-12-24 09:00", zone=BERLIN)
    assert start.at == datetime(2026, 12, 24, 8, 0, tzinfo=UTC).timestamp()
    assert start.text() == "2026-12-24 09:00 CET (+01:00, Europe/Berlin)"
    assert not start.ambiguous


def test_iso_start_time_with_an_offset_keeps_its_offset() -> None:
    start = parse_start("2026-12-24T09:00:00-05:00", zone=BERLIN)
    assert start.at == datetime(2026, 12, 24, 14, 0, tzinfo=UTC).timestamp()


def test_iso_time_without_offset_or_garbage_is_refused() -> None:
    with pytest.raises(InputError, match="ISO 8601"):
        parse_start("tomorrow", zone=BERLIN)
    with pytest.raises(InputError, match="not a date"):
        parse_start("2026-02-30 09:00", zone=BERLIN)


def test_a_time_in_the_dst_gap_is_refused() -> None:
    with pytest.raises(InputError, match="does not exist in Europe/Berlin"):
        parse_start("2026-03-29 02:30", zone=BERLIN)


def test_an_ambiguous_time_takes_the_first_occurrence_and_shows_its_offset() -> None:
    start = parse_start("2026-10-25 02:30", zone=BERLIN)
    assert start.ambiguous
    assert start.at == datetime(2026, 10, 25, 0, 30, tzinfo=UTC).timestamp()  # CEST, +02:00
    assert "+02:00" in start.text()


def test_windows_and_days_parse_and_wrap() -> None:
    assert parse_window("09:00-17:00") == (540, 1020)
    assert parse_window("22:00-06:00") == (1320, 360)
    assert parse_days("mon-fri") == (0, 1, 2, 3, 4)
    assert parse_days("fri-mon") == (0, 4, 5, 6)
    assert parse_days("sat,sun") == (5, 6)
    for bad in ("9-17", "09:00", "09:00-09:00", "25:00-26:00"):
        with pytest.raises(InputError, match="--window"):
            parse_window(bad)
    with pytest.raises(InputError, match="--days"):
        parse_days("mon-funday")


def test_window_waits_for_the_next_weekday_morning() -> None:
    window = SendingWindow.parse("09:00-17:00", days="mon-fri", zone="Europe/Berlin")
    friday_evening = _ts("2026-12-04T17:30")
    assert _local(window.next_open(friday_evening)) == "Mon 2026-12-07 09:00"
    inside = _ts("2026-12-07T10:00")
    assert window.next_open(inside) == inside


def test_window_spanning_midnight_is_open_after_midnight_of_its_day() -> None:
    window = SendingWindow.parse("22:00-06:00", days="fri", zone="Europe/Berlin")
    saturday_night = _ts("2026-12-05T03:00")  # Friday's window, after midnight
    assert window.next_open(saturday_night) == saturday_night
    saturday_morning = _ts("2026-12-05T07:00")
    assert _local(window.next_open(saturday_morning)) == "Fri 2026-12-11 22:00"
    friday_afternoon = _ts("2026-12-04T15:00")
    assert _local(window.next_open(friday_afternoon)) == "Fri 2026-12-04 22:00"


def test_window_across_the_dst_change_opens_at_local_time() -> None:
    window = SendingWindow.parse("09:00-17:00", zone="Europe/Berlin")
    saturday_evening = _ts("2026-03-28T18:00")  # the clocks go forward that night
    opens = window.next_open(saturday_evening)
    assert _local(opens) == "Sun 2026-03-29 09:00"
    assert opens - saturday_evening == 14 * 3600  # 15 local hours, one of them skipped


def test_window_opening_inside_the_dst_gap_opens_just_after_it() -> None:
    window = SendingWindow.parse("02:30-04:00", zone="Europe/Berlin")
    opens = window.next_open(_ts("2026-03-29T01:00"))
    assert _local(opens) == "Sun 2026-03-29 03:30"


def test_batches_pause_on_wall_clock_deadlines() -> None:
    schedule = BatchSchedule(size=2, pause=1800)
    now = 1_000.0
    schedule.record_send(now)
    assert schedule.next_send_at(now + 1) == now + 1
    schedule.record_send(now + 1)
    assert schedule.next_send_at(now + 2) == now + 1 + 1800
    assert "batch of 2" in schedule.why_waiting(now + 2)
    # A laptop that slept through the pause sends at once on waking.
    assert schedule.next_send_at(now + 7200) == now + 7200


def test_batch_pause_ending_after_the_window_waits_for_it_to_open() -> None:
    window = SendingWindow.parse("09:00-17:00", zone="Europe/Berlin")
    schedule = BatchSchedule(size=1, pause=3600, window=window)
    last = _ts("2026-12-07T16:30")
    schedule.record_send(last)
    assert _local(schedule.next_send_at(last + 60)) == "Tue 2026-12-08 09:00"


def test_plan_states_each_batch_and_the_end() -> None:
    start = _ts("2026-12-07T09:00")
    plans = plan_batches(250, start=start, interval=1.0, size=100, pause=1800)
    assert [p.messages for p in plans] == [100, 100, 50]
    assert plans[0].ends == start + 99
    assert plans[1].starts == start + 99 + 1800
    assert plans[2].ends == start + 99 + 1800 + 99 + 1800 + 49


def test_plan_carries_a_batch_over_the_closed_window() -> None:
    window = SendingWindow.parse("09:00-17:00", days="mon-fri", zone="Europe/Berlin")
    start = _ts("2026-12-04T16:00")  # Friday, one hour before the window closes
    plans = plan_batches(5, start=start, interval=1200.0, size=5, window=window)
    assert _local(plans[0].starts) == "Fri 2026-12-04 16:00"
    # 16:00, 16:20, 16:40 on Friday; then Monday 09:00 and 09:20.
    assert _local(plans[0].ends) == "Mon 2026-12-07 09:20"
