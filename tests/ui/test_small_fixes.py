"""Small things a new user saw go wrong, each fixed and kept fixed."""

from __future__ import annotations

import pytest
from nicegui.testing import User

from core.events import (
    CampaignStarted,
    MessageDeferred,
    MessageSending,
    MessageSent,
    Paused,
    Waiting,
)
from core.pacing import describe_plan, format_duration
from core.progress import ProgressTracker
from storage.outbox import OutboxStore
from tests.ui.campaign_kit import fill_draft, fresh_state, wait_until  # noqa: F401
from ui.services import runs
from ui.services.sandbox import SandboxServer
from ui.services.state import get_state


def test_short_delays_read_as_milliseconds_not_zero_seconds() -> None:
    assert format_duration(0.2) == "200 ms"
    assert format_duration(2.5) == "2.5 s"
    assert format_duration(45) == "45 s"
    text = describe_plan(10, delay_ms=200).text
    assert "300 a minute" in text and "every 0 s" not in text


def test_pacing_reads_as_connections_rate_and_delay() -> None:
    from core.models import SendSettings
    from core.pacing import describe_pacing

    relay = SendSettings(delay_ms=0, connections=4, rate_per_minute=600)
    assert describe_pacing(relay) == "4 connections, at most 600 a minute"
    assert describe_pacing(SendSettings(delay_ms=1500)) == "1 connection, at least 1.5 s apart"


def test_the_eta_waits_while_a_retry_is_due_later_and_now_clears_when_sent() -> None:
    tracker = ProgressTracker()
    tracker.apply(CampaignStarted(at=0.0, campaign_id="c", total=3, remaining=3, plan=""))
    for seq, at in ((1, 1.0), (2, 2.0)):
        email = f"p{seq}@example.com"
        tracker.apply(MessageSending(at=at, seq=seq, email=email, attempt=1))
        tracker.apply(
            MessageSent(seq=seq, email=email, at=at, seconds=0.1, reply="250 ok", message_id="m")
        )
    assert tracker.current == ""  # "now: X" is gone once X was sent
    assert tracker.eta_seconds == pytest.approx(1.0)
    tracker.apply(MessageSending(at=3.0, seq=3, email="p3@example.com", attempt=1))
    tracker.apply(
        MessageDeferred(
            seq=3,
            email="p3@example.com",
            at=3.0,
            code=451,
            enhanced="4.3.0",
            text="later",
            attempt=1,
            retry_at=63.0,
        )
    )
    assert tracker.current == ""
    tracker.apply(Waiting(at=3.0, until=63.0, reason="waiting for a retry"))
    assert tracker.eta_seconds is None  # not "about 1 s left" while a minute's wait runs
    assert tracker.waiting_until == 63.0
    tracker.apply(MessageSending(at=63.0, seq=3, email="p3@example.com", attempt=2))
    assert tracker.waiting_until is None


@pytest.mark.usefixtures("fresh_state")
async def test_a_paused_campaign_is_not_called_running(
    user: User, running_sandbox: SandboxServer
) -> None:
    state = get_state()
    fill_draft(state, delay_ms=2000)
    await user.open("/send")
    await user.should_see(marker="send-preflight-ok", retries=50)
    user.find(marker="send-start").click()
    await user.should_see(marker="send-confirm-ok", retries=50)
    user.find(marker="send-confirm-ok").click()
    await wait_until(lambda: state.active is not None and state.active.running)
    await user.should_see("1 connection", marker="send-rate", retries=50)  # pacing shown live
    # The progress card comes first on the page while a campaign exists.
    card = next(e for e in user.client.elements.values() if "send-campaign" in e._markers)
    assert any("send-top" in a._markers for a in card.ancestors())
    assert state.active is not None
    state.active.monitor(Paused(at=0.0, reason="paused by you", until=None, hint=""))
    reason = runs.busy_reason(state) or ""
    assert "is paused, not finished" in reason and "is running" not in reason
    user.find(marker="send-cancel").click()


async def test_use_on_an_account_card_switches_and_says_so(user: User, outbox: OutboxStore) -> None:
    state = get_state()
    from core.models import Account, AuthMethod, Security

    state.settings.save_account(
        "Relay",
        Account(
            host="relay.example.com",
            port=25,
            sender="me@example.com",
            security=Security.NONE,
            auth=AuthMethod.NONE,
        ),
    )
    await user.open("/accounts")
    await user.should_see(marker="account-use-relay", retries=50)
    user.find(marker="account-use-relay").click()  # used to raise: its parent was deleted
    await user.should_see("Messages will go through Relay", retries=50)
    assert state.draft.account_name == "Relay"


@pytest.mark.usefixtures("fresh_state")
async def test_the_send_plan_checks_the_sender_domain_of_a_real_account(user: User) -> None:
    from core.models import Account, AuthMethod, Security

    state = get_state()
    state.settings.save_account(
        "Relay",
        Account(
            host="127.0.0.1",
            port=2525,
            sender="news@example.com",
            security=Security.NONE,
            auth=AuthMethod.NONE,
        ),
    )
    fill_draft(state, account_name="Relay")
    await user.open("/send")
    await user.should_see("Sender domain example.com", marker="domain-check", retries=150)
