"""The engine and the suppression list: skipped as their turn comes, bounces added, across runs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from core.engine import CampaignRunner
from core.events import CampaignStatus, MessageSkipped
from core.models import RecipientStatus, Security, SendSettings
from core.suppression import SuppressionReason
from storage.journal.history import recipients as recipient_rows
from storage.suppression import SuppressionList
from tests.conftest import account_for
from tests.core.engine_kit import Harness, make_campaign, people
from tests.smtpd import ServerHandle

FAST = SendSettings(delay_ms=0, max_consecutive_permanent=5)


def campaign(
    handle: ServerHandle,
    tmp_path: Path,
    emails: list[str],
    suppression: SuppressionList,
    settings: SendSettings = FAST,
) -> Harness:
    return make_campaign(
        tmp_path,
        account_for(handle, Security.NONE),
        people(*emails),
        settings,
        suppression=suppression,
    )


def rows(h: Harness) -> dict[str, tuple[RecipientStatus, str]]:
    return {r.email: (r.status, r.text) for r in recipient_rows(h.store, h.journal.campaign_id)}


async def test_suppressed_recipient_is_journaled_skipped_with_its_reason_and_never_sent(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    suppression = SuppressionList(tmp_path / "suppression.sqlite3")
    suppression.add("B@X.com", SuppressionReason.UNSUBSCRIBED)
    h = campaign(plain_server, tmp_path, ["a@x.com", "b@x.com", "c@x.com"], suppression)
    finished = await h.runner.run()
    assert (finished.status, finished.sent, finished.skipped) == (CampaignStatus.FINISHED, 2, 1)
    assert rows(h)["b@x.com"] == (RecipientStatus.SKIPPED, "on the suppression list (unsubscribed)")
    skipped = h.of(MessageSkipped)
    assert [(e.email, e.reason) for e in skipped] == [("b@x.com", "unsubscribed")]  # type: ignore[attr-defined]
    delivered = [rcpt for m in plain_server.recorder.messages for rcpt in m.rcpt_tos]
    assert sorted(delivered) == ["a@x.com", "c@x.com"]
    assert h.store.counts(h.journal.campaign_id).skipped == 1


async def test_address_suppressed_after_the_campaign_started_is_skipped_on_resume(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    suppression = SuppressionList(tmp_path / "suppression.sqlite3")
    h = campaign(plain_server, tmp_path, ["a@x.com", "b@x.com"], suppression)
    h.runner.pause("paused before starting")
    first = await h.runner.run()
    assert first.status is CampaignStatus.PAUSED
    suppression.add("b@x.com", SuppressionReason.COMPLAINED)
    h.journal.close()
    journal = h.store.open_campaign(h.journal.campaign_id)
    again = CampaignRunner(
        journal=journal,
        transport=h.runner.transport,
        builder=h.runner.builder,
        sender=h.runner.sender,
        settings=FAST,
        clock=h.clock,
        suppression=suppression,
    )
    finished = await again.run()
    assert (finished.sent, finished.skipped) == (1, 1)
    statuses = {r.email: r.status for r in recipient_rows(h.store, journal.campaign_id)}
    assert statuses == {"a@x.com": RecipientStatus.SENT, "b@x.com": RecipientStatus.SKIPPED}


async def test_550_5_1_1_adds_the_address_and_the_next_campaign_skips_it_after_a_restart(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    path = tmp_path / "suppression.sqlite3"
    plain_server.recorder.rcpt_replies["gone@x.com"] = ["550 5.1.1 <gone@x.com> no such user"]
    first = campaign(plain_server, tmp_path, ["a@x.com", "gone@x.com"], SuppressionList(path))
    await first.runner.run()
    first.runner.suppression.close()  # type: ignore[union-attr]
    first.journal.close()
    first.store.close()

    reopened = SuppressionList(path)  # another process, later
    entry = reopened.get("GONE@x.com")
    assert entry is not None and entry.reason is SuppressionReason.BOUNCED
    assert "5.1.1" in entry.note
    plain_server.recorder.messages.clear()
    second = campaign(plain_server, tmp_path / "two", ["gone@x.com", "b@x.com"], reopened)
    finished = await second.runner.run()
    assert (finished.sent, finished.skipped) == (1, 1)
    assert [m.rcpt_tos for m in plain_server.recorder.messages] == [["b@x.com"]]


async def test_other_permanent_failures_do_not_suppress(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    plain_server.recorder.rcpt_replies["full@x.com"] = ["550 5.7.1 relaying denied"]
    plain_server.recorder.rcpt_replies["moved@x.com"] = ["551 5.1.6 user has moved"]
    suppression = SuppressionList(tmp_path / "suppression.sqlite3")
    h = campaign(plain_server, tmp_path, ["full@x.com", "moved@x.com", "a@x.com"], suppression)
    await h.runner.run()
    assert len(suppression) == 0


async def test_no_such_user_in_a_run_that_pauses_the_campaign_is_not_suppressed(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    emails = [f"bad{n}@x.com" for n in range(3)] + ["good@x.com"]
    for email in emails[:3]:
        plain_server.recorder.rcpt_replies[email] = [f"550 5.1.1 <{email}> no such user"]
    suppression = SuppressionList(tmp_path / "suppression.sqlite3")
    h = campaign(
        plain_server, tmp_path, emails, suppression, replace(FAST, max_consecutive_permanent=3)
    )
    finished = await h.runner.run()
    assert finished.status is CampaignStatus.PAUSED
    assert len(suppression) == 0


async def test_no_such_user_in_a_short_run_is_suppressed_once_a_message_goes_through(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    emails = ["bad0@x.com", "bad1@x.com", "good@x.com"]
    for email in emails[:2]:
        plain_server.recorder.rcpt_replies[email] = [f"550 5.2.1 <{email}> mailbox disabled"]
    suppression = SuppressionList(tmp_path / "suppression.sqlite3")
    h = campaign(
        plain_server, tmp_path, emails, suppression, replace(FAST, max_consecutive_permanent=3)
    )
    finished = await h.runner.run()
    assert finished.status is CampaignStatus.FINISHED
    assert sorted(e.email for e in suppression.entries()) == ["bad0@x.com", "bad1@x.com"]
