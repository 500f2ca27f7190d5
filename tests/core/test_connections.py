"""Parallel connections: each takes the next due recipient, one pacer and one stop for all."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from core.events import CampaignStatus, MessageSending, Paused, Resumed
from core.models import RecipientStatus, Security, SendSettings
from core.pacing import (
    Pacer,
    Throttle,
    describe_plan,
    parse_rate,
    suggested_settings,
    with_preset_limits,
)
from core.presets import get_preset
from core.transport import SMTPTransport
from storage.journal.history import recipients as recipient_rows
from tests.certs import CertSet
from tests.conftest import account_for
from tests.core.engine_kit import Harness, make_campaign, people
from tests.core.test_pipelining import PipeliningRecorder
from tests.smtpd import ServerHandle, start_server

FOUR = SendSettings(delay_ms=0, connections=4)


def _campaign(
    handle: ServerHandle, tmp_path: Path, emails: list[str], settings: SendSettings = FOUR
) -> Harness:
    account = account_for(handle, Security.NONE)
    return make_campaign(
        tmp_path, account, people(*emails), settings, connect=lambda: SMTPTransport(account)
    )


def _statuses(h: Harness) -> Counter[RecipientStatus]:
    return Counter(r.status for r in recipient_rows(h.store, h.journal.campaign_id))


@pytest.mark.parametrize("pipelining", [True, False])
async def test_four_connections_send_every_recipient_exactly_once(
    tmp_path: Path, pipelining: bool
) -> None:
    recorder = PipeliningRecorder() if pipelining else None
    handle = await start_server("plain", recorder=recorder, auth=False)
    try:
        emails = [f"r{n:03d}@example.com" for n in range(60)]
        h = _campaign(handle, tmp_path, emails)
        finished = await h.runner.run()
        assert finished.status is CampaignStatus.FINISHED
        assert finished.sent == 60
        assert sorted(handle.recorder.recipients()) == emails  # each once, none skipped
        assert handle.recorder.connections == 4
        assert len(h.of(MessageSending)) == 60
    finally:
        await handle.close()


async def test_each_connection_sends_the_message_it_built_ahead(tmp_path: Path) -> None:
    """The next message is built while the replies are on the way, and with four connections
    it is the one this connection sends next: every message is built exactly once (another
    connection used to take it first, so most were built again between a dot and the next
    envelope)."""
    handle = await start_server("plain", recorder=PipeliningRecorder(), auth=False)
    try:
        emails = [f"r{n:03d}@example.com" for n in range(80)]
        h = _campaign(handle, tmp_path, emails)
        builds: Counter[str] = Counter()
        builder = h.runner.builder
        build = builder.build

        def counted(recipient: Any) -> Any:
            builds[recipient.email] += 1
            return build(recipient)

        builder.build = counted  # type: ignore[method-assign]
        finished = await h.runner.run()
        assert finished.status is CampaignStatus.FINISHED
        assert sorted(handle.recorder.recipients()) == emails  # each once, none skipped
        assert handle.recorder.connections == 4
        assert builds == Counter(emails)  # built once each: none built twice, none wasted
    finally:
        await handle.close()


async def test_faults_on_one_connection_leave_the_others_sending(tmp_path: Path) -> None:
    handle = await start_server("plain", recorder=PipeliningRecorder(), auth=False)
    recorder = handle.recorder
    recorder.rcpt_replies["gone@example.com"] = ["550 5.1.1 No such user"]
    recorder.rcpt_replies["busy@example.com"] = ["451 4.3.0 try later"]
    recorder.drop_after_data.add("maybe@example.com")
    others = [f"r{n:02d}@example.com" for n in range(30)]
    emails = [*others[:10], "gone@example.com", "maybe@example.com", *others[10:20]]
    emails += ["busy@example.com", *others[20:]]
    try:
        h = _campaign(handle, tmp_path, emails)
        finished = await h.runner.run()
        assert finished.status is CampaignStatus.FINISHED
        rows = {r.email: r.status for r in recipient_rows(h.store, h.journal.campaign_id)}
        assert rows["gone@example.com"] is RecipientStatus.FAILED
        assert rows["maybe@example.com"] is RecipientStatus.UNKNOWN
        assert rows["busy@example.com"] is RecipientStatus.SENT
        assert {rows[e] for e in others} == {RecipientStatus.SENT}
        delivered = Counter(recorder.recipients())
        assert max(delivered.values()) == 1
        assert set(delivered) == set(emails) - {"gone@example.com"}
    finally:
        await handle.close()


async def test_refused_login_stops_every_connection(tmp_path: Path, certs: CertSet) -> None:
    handle = await start_server("starttls", certs)
    try:
        account = account_for(handle, Security.STARTTLS, certs)
        from core.models import Credentials, Secret

        wrong = Credentials(password=Secret("wrong"))
        h = make_campaign(
            tmp_path,
            account,
            people(*(f"r{n}@example.com" for n in range(10))),
            FOUR,
            transport=SMTPTransport(account, wrong),
            connect=lambda: SMTPTransport(account, wrong),
        )
        finished = await h.runner.run()
        assert finished.status is CampaignStatus.ABORTED
        assert handle.recorder.mail_seen == []
        assert len(handle.recorder.auth_attempts) <= 4  # one try per connection, no storm
        assert _statuses(h) == Counter({RecipientStatus.PENDING: 10})
    finally:
        await handle.close()


async def test_rate_reply_on_one_connection_holds_them_all_once(tmp_path: Path) -> None:
    handle = await start_server("plain", recorder=PipeliningRecorder(), auth=False)
    handle.recorder.rcpt_replies["r05@example.com"] = ["451 4.7.0 rate limit exceeded, slow down"]
    try:
        emails = [f"r{n:02d}@example.com" for n in range(20)]
        h = _campaign(handle, tmp_path, emails, replace(FOUR, rate_limit_pause=600))
        finished = await h.runner.run()
        assert finished.status is CampaignStatus.FINISHED
        paused = h.of(Paused)
        assert len(paused) == 1 and paused[0].until == pytest.approx(paused[0].at + 600)  # type: ignore[attr-defined]
        assert len(h.of(Resumed)) == 1
        assert sorted(handle.recorder.recipients()) == emails
    finally:
        await handle.close()


async def test_reconnects_after_the_per_connection_message_limit(tmp_path: Path) -> None:
    handle = await start_server("plain", recorder=PipeliningRecorder(), auth=False)
    try:
        emails = [f"r{n}@example.com" for n in range(7)]
        settings = SendSettings(delay_ms=0, messages_per_connection=3)
        h = _campaign(handle, tmp_path, emails, settings)
        finished = await h.runner.run()
        assert finished.sent == 7
        assert handle.recorder.recipients() == emails
        assert handle.recorder.connections == 3  # 3 + 3 + 1
    finally:
        await handle.close()


async def test_delay_holds_for_the_sum_of_connections(tmp_path: Path) -> None:
    handle = await start_server("plain", recorder=PipeliningRecorder(), auth=False)
    try:
        emails = [f"r{n}@example.com" for n in range(8)]
        h = _campaign(handle, tmp_path, emails, replace(FOUR, delay_ms=1000))
        slots: list[float] = []
        reserve = h.runner.pacer.reserve

        def spy(now: float) -> float:
            slots.append(reserve(now))
            return slots[-1]

        h.runner.pacer.reserve = spy  # type: ignore[method-assign]
        finished = await h.runner.run()
        assert finished.sent == 8 and handle.recorder.connections == 4
        # Every send start, whichever connection took it, is a second after the one before:
        # the delay holds for the sum of the connections, not for each.
        gaps = [b - a for a, b in itertools.pairwise(slots)]
        assert len(slots) >= 8 and min(gaps) >= 1.0 - 1e-9
    finally:
        await handle.close()


# -- the pacer ----------------------------------------------------------------------------------


def test_pacer_hands_out_consecutive_slots_to_waiting_connections() -> None:
    pacer = Pacer(Throttle(200, factor=2.0, max_ms=60_000))
    slots = [pacer.reserve(100.0) for _ in range(4)]  # four connections ask at once
    assert slots == pytest.approx([100.0, 100.2, 100.4, 100.6])
    assert pacer.reserve(105.0) == 105.0  # late: no debt is paid back with a burst


def test_pacer_takes_the_larger_of_delay_and_rate() -> None:
    pacer = Pacer(Throttle(100, factor=2.0, max_ms=60_000), rate_per_minute=120)
    assert pacer.interval() == pytest.approx(0.5)
    pacer = Pacer(Throttle(1000, factor=2.0, max_ms=60_000), rate_per_minute=600)
    assert pacer.interval() == pytest.approx(1.0)
    assert not pacer.free
    assert Pacer(Throttle(0, factor=2.0, max_ms=0)).free


def test_pacer_jitter_stays_within_its_bound() -> None:
    pacer = Pacer(Throttle(200, factor=2.0, max_ms=60_000), jitter_ms=50, rng=random.Random(1))
    intervals = [pacer.interval() for _ in range(200)]
    assert min(intervals) >= 0.2 and max(intervals) <= 0.25
    assert max(intervals) - min(intervals) > 0.03


def test_throttle_slows_every_connection() -> None:
    throttle = Throttle(0, factor=2.0, max_ms=8000)
    pacer = Pacer(throttle)
    throttle.slow_down()
    assert pacer.interval() == pytest.approx(1.0) and not pacer.free


@pytest.mark.parametrize(
    ("text", "per_minute"),
    [("10/s", 600.0), ("600/min", 600.0), ("90/minute", 90.0), ("3600/h", 60.0), ("30", 30.0)],
)
def test_parse_rate(text: str, per_minute: float) -> None:
    assert parse_rate(text) == pytest.approx(per_minute)


@pytest.mark.parametrize("text", ["", "0/s", "-1/min", "ten/s", "5/fortnight"])
def test_parse_rate_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="N/s"):
        parse_rate(text)


def test_plan_names_connections_and_rate() -> None:
    plan = describe_plan(6000, delay_ms=0, connections=4, rate_per_minute=600)
    assert plan.text == "6,000 messages over 4 connections, 600 a minute: about 10 min."


# -- presets --------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["amazon-ses", "sendgrid", "mailgun"])
def test_relay_presets_suggest_connections_no_delay_and_a_rate(key: str) -> None:
    preset = get_preset(key)
    settings = suggested_settings(SendSettings(), preset)
    assert settings.connections > 1 and settings.delay_ms == 0 and settings.rate_per_minute
    assert with_preset_limits(settings, preset) == settings  # the suggestion is within limits


@pytest.mark.parametrize("key", ["gmail", "outlook", "yahoo", "icloud", "microsoft-365"])
def test_personal_presets_stay_at_one_connection_and_say_why(key: str) -> None:
    preset = get_preset(key)
    assert suggested_settings(SendSettings(), preset).connections == 1
    assert with_preset_limits(SendSettings(connections=8), preset).connections == 1
    assert "One connection" in preset.connections_note


def test_per_minute_cap_becomes_a_rate_for_all_connections() -> None:
    preset = get_preset("microsoft-365")
    assert with_preset_limits(SendSettings(), preset).rate_per_minute == 30
    assert with_preset_limits(SendSettings(rate_per_minute=10), preset).rate_per_minute == 10
    assert with_preset_limits(SendSettings(rate_per_minute=90), preset).rate_per_minute == 30
