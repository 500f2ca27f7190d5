"""Batches and sending windows through the engine: a fake clock, a real SMTP server."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from core.engine import WALL_CHECK_SECONDS, CampaignRunner
from core.events import MessageSent, Paused, Resumed
from core.models import Security, SendSettings
from core.pacing import DAY
from core.schedule import SendingWindow, plan_batches
from core.transport import SMTPTransport
from storage.journal.scheduling import batch_schedule
from tests.conftest import account_for
from tests.core.engine_kit import START, FakeClock, Harness, TinyBuilder, make_campaign, people
from tests.smtpd import ServerHandle

BERLIN = ZoneInfo("Europe/Berlin")
FAST = SendSettings(delay_ms=0, max_consecutive_permanent=5)


def _campaign(handle: ServerHandle, tmp_path: Path, count: int, settings: SendSettings) -> Harness:
    emails = [f"r{n}@x.com" for n in range(count)]
    return make_campaign(tmp_path, account_for(handle, Security.NONE), people(*emails), settings)


def _local(at: float) -> str:
    return datetime.fromtimestamp(at, BERLIN).strftime("%a %H:%M")


async def test_batches_pause_between_them_and_every_recipient_gets_one_message(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    settings = replace(FAST, delay_ms=1000, batch_size=2, batch_pause=1800.0)
    h = _campaign(plain_server, tmp_path, 5, settings)
    finished = await h.runner.run()
    assert finished.sent == 5
    sent = [e.at for e in h.of(MessageSent)]
    assert sent[1] - sent[0] < 5
    assert sent[2] - sent[1] >= 1800 and sent[4] - sent[3] >= 1800
    pauses = [e for e in h.of(Paused) if isinstance(e, Paused)]
    assert len(pauses) == 2 and all("batch of 2" in p.reason for p in pauses)
    assert len(h.of(Resumed)) == 2
    assert sorted(m.rcpt_tos[0] for m in plain_server.recorder.messages) == sorted(
        f"r{n}@x.com" for n in range(5)
    )
    plan = plan_batches(5, start=sent[0], interval=1.0, size=2, pause=1800.0)
    assert abs(plan[-1].ends - sent[-1]) < 60  # the plan's end is right within a minute


async def test_outside_the_window_the_campaign_waits_for_monday_morning(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    window = SendingWindow.parse("09:00-17:00", days="mon-fri", zone="Europe/Berlin")
    settings = replace(FAST, delay_ms=20_000, window=window)
    h = _campaign(plain_server, tmp_path, 4, settings)
    h.clock.wall = datetime(2026, 12, 4, 16, 59, 20, tzinfo=BERLIN).timestamp()  # a Friday
    finished = await h.runner.run()
    assert finished.sent == 4
    assert [_local(e.at) for e in h.of(MessageSent)] == [
        "Fri 16:59",
        "Fri 16:59",
        "Mon 09:00",
        "Mon 09:00",
    ]
    (paused,) = h.of(Paused)
    assert isinstance(paused, Paused) and "sending window" in paused.reason
    assert _local(paused.until or 0) == "Mon 09:00"
    sent = [e.at for e in h.of(MessageSent)]
    (plan,) = plan_batches(4, start=sent[0], interval=20.0, window=window)
    assert abs(plan.ends - sent[-1]) < 60  # the plan's end is right within a minute


async def test_a_window_spanning_midnight_sends_after_midnight(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    window = SendingWindow.parse("22:00-02:00", zone="Europe/Berlin")
    settings = replace(FAST, delay_ms=3_600_000, window=window)
    h = _campaign(plain_server, tmp_path, 6, settings)
    h.clock.wall = datetime(2026, 12, 4, 21, 0, tzinfo=BERLIN).timestamp()
    await h.runner.run()
    assert [_local(e.at) for e in h.of(MessageSent)] == [
        "Fri 22:00",
        "Fri 23:00",
        "Sat 00:00",
        "Sat 01:00",
        "Sat 22:00",
        "Sat 23:00",
    ]


class SleepingLaptop(FakeClock):
    """The lid closes during the first long wait: the wall clock jumps, monotonic time does not
    (CLOCK_MONOTONIC stops while a computer sleeps)."""

    def __init__(self, asleep: float) -> None:
        super().__init__()
        self.asleep = asleep

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        if self.asleep and seconds >= WALL_CHECK_SECONDS:
            self.wall += self.asleep
            self.asleep = 0.0


async def test_a_laptop_asleep_through_a_batch_pause_sends_on_waking_and_nothing_twice(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    settings = replace(FAST, batch_size=1, batch_pause=2 * 3600.0)
    h = _campaign(plain_server, tmp_path, 2, settings)
    clock = SleepingLaptop(asleep=3 * 3600.0)
    h.runner.clock = clock
    finished = await h.runner.run()
    assert finished.sent == 2
    assert sum(clock.sleeps) <= WALL_CHECK_SECONDS  # it did not wait two more hours
    assert clock.now() - START < 4 * 3600
    assert len(plain_server.recorder.messages) == 2


async def test_batches_and_the_daily_cap_combine(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    settings = replace(FAST, batch_size=2, batch_pause=600.0, daily_cap=3)
    h = _campaign(plain_server, tmp_path, 5, settings)
    finished = await h.runner.run()
    assert finished.sent == 5
    sent = [e.at for e in h.of(MessageSent)]
    assert sent[2] - sent[1] >= 600  # the batch pause
    assert sent[3] - sent[0] >= DAY  # the cap


async def test_a_batch_pause_over_the_dst_change_lasts_its_real_hour(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    window = SendingWindow.parse("01:00-05:00", zone="Europe/Berlin")
    settings = replace(FAST, batch_size=1, batch_pause=3600.0, window=window)
    h = _campaign(plain_server, tmp_path, 3, settings)
    h.clock.wall = datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN).timestamp()  # clocks go forward
    await h.runner.run()
    sent = [e.at for e in h.of(MessageSent)]
    assert [_local(at) for at in sent] == ["Sun 01:30", "Sun 03:30", "Sun 04:30"]
    assert sent[1] - sent[0] == 3600.0


async def test_a_campaign_stopped_in_a_batch_pause_waits_out_the_rest_when_resumed(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    settings = replace(FAST, batch_size=2, batch_pause=1800.0)
    h = _campaign(plain_server, tmp_path, 4, settings)

    def stop_in_the_pause(event: object) -> None:
        h.events.append(event)  # type: ignore[arg-type]
        if isinstance(event, Paused):
            h.runner.cancel()  # the app is closed during the pause

    h.runner.sink = stop_in_the_pause
    await h.runner.run()
    h.journal.close()
    first_run = [e.at for e in h.of(MessageSent)]
    assert len(first_run) == 2
    journal = h.store.open_campaign(h.journal.campaign_id)
    clock = FakeClock()
    clock.wall = first_run[-1] + 600  # reopened ten minutes later
    events: list[object] = []
    runner = CampaignRunner(
        journal=journal,
        transport=SMTPTransport(account_for(plain_server, Security.NONE)),
        builder=TinyBuilder(),
        sender="alice@example.com",
        settings=settings,
        clock=clock,
        sink=events.append,
        schedule=batch_schedule(h.store, journal.campaign_id, settings),
    )
    finished = await runner.run()
    assert finished.sent == 4
    resumed = [e.at for e in events if isinstance(e, MessageSent)]
    assert resumed[0] >= first_run[-1] + 1800  # the rest of the pause, not a new batch at once
    assert len(plain_server.recorder.messages) == 4


async def test_batches_hold_all_connections_and_none_overshoots(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    settings = replace(FAST, connections=3, batch_size=4, batch_pause=900.0)
    account = account_for(plain_server, Security.NONE)
    emails = [f"r{n:02d}@x.com" for n in range(10)]
    h = make_campaign(
        tmp_path, account, people(*emails), settings, connect=lambda: SMTPTransport(account)
    )
    finished = await h.runner.run()
    assert finished.sent == 10
    # (The fake clock is shared: three connections sleeping at once move it three times.)
    sent = sorted(e.at for e in h.of(MessageSent))
    batches: list[list[float]] = [[sent[0]]]
    for at in sent[1:]:
        if at - batches[-1][-1] >= 600:
            batches.append([at])
        else:
            batches[-1].append(at)
    assert [len(batch) for batch in batches] == [4, 4, 2]  # three connections, batches of four
    assert sorted(plain_server.recorder.recipients()) == emails  # each exactly once
