"""The campaign engine against real SMTP servers with scripted faults, on a fake clock."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from core.events import (
    CampaignFinished,
    CampaignStatus,
    MessageDeferred,
    MessageFailed,
    MessageSent,
    MessageUnknown,
    Paused,
    Reconnecting,
    Resumed,
    Waiting,
)
from core.models import RecipientStatus, RetryPolicy, Security, SendSettings
from core.pacing import DAY
from storage.journal.history import recipients as recipient_rows
from tests.certs import CertSet
from tests.conftest import account_for, good_credentials
from tests.core.engine_kit import Harness, make_campaign, people
from tests.smtpd import Recorder, ServerHandle, start_raw_server, start_server

FAST = SendSettings(delay_ms=0, max_consecutive_permanent=5)


def statuses(h: Harness) -> dict[str, RecipientStatus]:
    return {r.email: r.status for r in recipient_rows(h.store, h.journal.campaign_id)}


def plain(
    handle: ServerHandle,
    tmp_path: Path,
    emails: list[str],
    settings: SendSettings = FAST,
    **kw: object,
) -> Harness:
    return make_campaign(
        tmp_path, account_for(handle, Security.NONE), people(*emails), settings, **kw
    )  # type: ignore[arg-type]


async def test_sends_every_recipient_once_over_one_connection(
    starttls_server: ServerHandle, certs: CertSet, tmp_path: Path
) -> None:
    from core.transport import SMTPTransport

    account = account_for(starttls_server, Security.STARTTLS, certs)
    emails = [f"r{n}@example.com" for n in range(5)]
    h = make_campaign(
        tmp_path,
        account,
        people(*emails),
        FAST,
        transport=SMTPTransport(account, good_credentials()),
    )
    finished = await h.runner.run()
    assert finished.status is CampaignStatus.FINISHED
    assert (finished.sent, finished.failed, finished.unknown, finished.pending) == (5, 0, 0, 0)
    assert starttls_server.recorder.recipients() == emails
    assert starttls_server.recorder.connections == 1
    assert set(statuses(h).values()) == {RecipientStatus.SENT}
    assert h.kinds()[0] == "CampaignStarted" and h.kinds()[-1] == "CampaignFinished"
    assert len(h.of(MessageSent)) == 5


async def test_delay_is_the_interval_between_send_starts(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    h = plain(
        plain_server, tmp_path, ["a@x.com", "b@x.com", "c@x.com"], replace(FAST, delay_ms=1500)
    )
    await h.runner.run()
    assert h.clock.sleeps == [1.5, 1.5]  # fake monotonic: the send itself took no time


async def test_jitter_adds_up_to_its_bound(plain_server: ServerHandle, tmp_path: Path) -> None:
    h = plain(
        plain_server,
        tmp_path,
        [f"r{n}@x.com" for n in range(6)],
        replace(FAST, delay_ms=1000, jitter_ms=500),
    )
    await h.runner.run()
    assert len(h.clock.sleeps) == 5
    assert all(1.0 <= s <= 1.5 for s in h.clock.sleeps)
    assert len(set(h.clock.sleeps)) > 1


async def test_rcpt_451_defers_then_retries_while_others_go_on(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    plain_server.recorder.rcpt_replies["slow@x.com"] = ["451 4.3.0 try again later"]
    h = plain(plain_server, tmp_path, ["slow@x.com", "b@x.com", "c@x.com"])
    finished = await h.runner.run()
    assert finished.sent == 3
    assert plain_server.recorder.recipients() == ["b@x.com", "c@x.com", "slow@x.com"]
    deferred = h.of(MessageDeferred)
    assert len(deferred) == 1 and deferred[0].code == 451 and deferred[0].enhanced == "4.3.0"
    waits = h.of(Waiting)
    assert len(waits) == 1
    assert 54 <= waits[0].until - deferred[0].at <= 66  # 60 s +- 10 % jitter


async def test_rcpt_550_fails_with_code_and_campaign_continues(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    plain_server.recorder.rcpt_replies["gone@x.com"] = ["550 5.1.1 <gone@x.com> no such user"]
    h = plain(plain_server, tmp_path, ["a@x.com", "gone@x.com", "c@x.com"])
    finished = await h.runner.run()
    assert (finished.status, finished.sent, finished.failed) == (CampaignStatus.FINISHED, 2, 1)
    failed = h.of(MessageFailed)[0]
    assert (failed.code, failed.enhanced) == (550, "5.1.1")
    assert "no such user" in failed.text
    row = next(r for r in recipient_rows(h.store, h.journal.campaign_id) if r.email == "gone@x.com")
    assert (row.status, row.code, row.enhanced) == (RecipientStatus.FAILED, 550, "5.1.1")


async def test_k_permanent_failures_in_a_row_pause_the_campaign(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    emails = [f"bad{n}@x.com" for n in range(4)] + ["good@x.com"]
    for email in emails[:4]:
        plain_server.recorder.rcpt_replies[email] = ["554 5.7.1 rejected"]
    h = plain(plain_server, tmp_path, emails, replace(FAST, max_consecutive_permanent=3))
    finished = await h.runner.run()
    assert finished.status is CampaignStatus.PAUSED
    assert "3 permanent failures in a row" in finished.reason
    assert (finished.failed, finished.pending) == (3, 2)
    assert statuses(h)["good@x.com"] is RecipientStatus.PENDING


async def test_always_deferred_recipient_fails_after_max_attempts(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    plain_server.recorder.rcpt_replies["busy@x.com"] = ["452 4.2.2 full"] * 10
    policy = RetryPolicy(max_attempts=3)
    h = plain(plain_server, tmp_path, ["busy@x.com"], replace(FAST, retry=policy))
    finished = await h.runner.run()
    assert finished.failed == 1
    assert len(h.of(MessageDeferred)) == 2
    assert h.of(MessageFailed)[0].reason == "gave up after 3 attempts"
    assert plain_server.recorder.rcpt_seen.count("busy@x.com") == 3


async def test_deferred_recipient_gives_up_after_the_give_up_time(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    plain_server.recorder.rcpt_replies["busy@x.com"] = ["450 4.2.0 busy"] * 50
    policy = RetryPolicy(
        max_attempts=50, defer_backoff_base=600, defer_backoff_max=600, give_up_after=1800, jitter=0
    )
    h = plain(plain_server, tmp_path, ["busy@x.com"], replace(FAST, retry=policy))
    finished = await h.runner.run()
    assert finished.failed == 1
    assert plain_server.recorder.rcpt_seen.count("busy@x.com") == 4  # t=0, 600, 1200, 1800


async def test_rcpt_421_reconnects_and_retries_the_same_recipient(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    plain_server.recorder.rcpt_replies["b@x.com"] = ["421 4.4.2 closing connection"]
    h = plain(plain_server, tmp_path, ["a@x.com", "b@x.com", "c@x.com"])
    finished = await h.runner.run()
    assert finished.sent == 3
    assert plain_server.recorder.recipients() == ["a@x.com", "b@x.com", "c@x.com"]
    assert plain_server.recorder.connections == 2
    assert len(h.of(Reconnecting)) == 1
    assert not h.of(MessageFailed) and not h.of(MessageDeferred)


async def test_rate_limit_pauses_leaves_rest_pending_then_resumes(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    plain_server.recorder.rcpt_replies["b@x.com"] = ["550 5.4.5 Daily user sending limit exceeded"]
    h = plain(
        plain_server,
        tmp_path,
        ["a@x.com", "b@x.com", "c@x.com"],
        replace(FAST, rate_limit_pause=3600),
    )
    finished = await h.runner.run()
    paused = h.of(Paused)
    assert len(paused) == 1 and paused[0].until == pytest.approx(paused[0].at + 3600)
    assert sum(h.clock.sleeps) >= 3600  # held, in wall-clock slices
    (resumed,) = h.of(Resumed)
    assert resumed.at == pytest.approx(paused[0].at + 3600)
    assert finished.sent == 3 and finished.failed == 0
    assert plain_server.recorder.recipients() == ["a@x.com", "b@x.com", "c@x.com"]


async def test_sender_refused_aborts_without_failing_recipients(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    plain_server.recorder.mail_reply = "553 5.7.1 Sender address rejected: not owned by user"
    h = plain(plain_server, tmp_path, ["a@x.com", "b@x.com"])
    finished = await h.runner.run()
    assert finished.status is CampaignStatus.ABORTED
    assert "sender" in finished.reason and finished.hint
    assert (finished.failed, finished.pending) == (0, 2)
    assert plain_server.recorder.mail_seen == ["alice@example.com"]  # stopped at once


async def test_wrong_password_aborts_before_any_mail(
    starttls_server: ServerHandle, certs: CertSet, tmp_path: Path
) -> None:
    from core.models import Credentials, Secret
    from core.transport import SMTPTransport

    account = account_for(starttls_server, Security.STARTTLS, certs)
    h = make_campaign(
        tmp_path,
        account,
        people("a@x.com"),
        FAST,
        transport=SMTPTransport(account, Credentials(password=Secret("bad"))),
    )
    finished = await h.runner.run()
    assert finished.status is CampaignStatus.ABORTED
    assert "password" in finished.hint
    assert starttls_server.recorder.mail_seen == []
    assert len(starttls_server.recorder.auth_attempts) == 1


async def test_lost_reply_after_data_is_unknown_and_never_resent(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    plain_server.recorder.drop_after_data.add("b@x.com")
    h = plain(plain_server, tmp_path, ["a@x.com", "b@x.com", "c@x.com"])
    finished = await h.runner.run()
    assert (finished.sent, finished.unknown) == (2, 1)
    assert h.of(MessageUnknown)[0].email == "b@x.com"
    assert plain_server.recorder.recipients() == ["a@x.com", "b@x.com", "c@x.com"]
    assert statuses(h)["b@x.com"] is RecipientStatus.UNKNOWN


async def test_content_refused_at_end_of_data_aborts_the_campaign(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    plain_server.recorder.data_replies = ["552 5.3.4 Message size exceeds fixed limit"]
    h = plain(plain_server, tmp_path, ["a@x.com", "b@x.com"])
    finished = await h.runner.run()
    assert finished.status is CampaignStatus.ABORTED
    assert (finished.failed, finished.pending) == (1, 1)
    assert "smaller" in finished.hint


async def test_spam_refusal_at_end_of_data_fails_that_recipient(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    plain_server.recorder.data_replies = ["550 5.7.1 Message rejected as spam"]
    h = plain(plain_server, tmp_path, ["a@x.com", "b@x.com"])
    finished = await h.runner.run()
    assert (finished.status, finished.failed, finished.sent) == (CampaignStatus.FINISHED, 1, 1)


async def test_end_of_data_451_defers(plain_server: ServerHandle, tmp_path: Path) -> None:
    plain_server.recorder.data_replies = ["451 4.7.1 greylisted, come back later"]
    h = plain(plain_server, tmp_path, ["a@x.com"])
    finished = await h.runner.run()
    assert finished.sent == 1 and len(h.of(MessageDeferred)) == 1


async def test_unreachable_server_backs_off_then_pauses(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handle = ServerHandle("127.0.0.1", port, Recorder(), None)  # type: ignore[arg-type]
    policy = RetryPolicy(max_reconnects=5, jitter=0)
    h = plain(handle, tmp_path, ["a@x.com"], replace(FAST, retry=policy))
    finished = await h.runner.run()
    assert h.clock.sleeps == [2, 4, 8, 16, 32]
    assert finished.status is CampaignStatus.PAUSED
    assert "cannot keep a connection" in finished.reason
    assert (finished.failed, finished.pending) == (0, 1)


async def test_greeting_421_then_success_reconnects(tmp_path: Path) -> None:
    calls = {"n": 0}
    real = await start_server("plain", auth=False)

    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            writer.write(b"421 4.3.2 too busy\r\n")
            await writer.drain()
            return
        up_reader, up_writer = await asyncio.open_connection(real.host, real.port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    raw = await start_raw_server(script)
    try:
        h = plain(raw, tmp_path, ["a@x.com"])  # type: ignore[arg-type]
        finished = await h.runner.run()
        assert finished.sent == 1
        assert len(h.of(Reconnecting)) == 1
    finally:
        await raw.close()
        await real.close()


async def test_daily_cap_pauses_before_the_cap_and_resumes_by_itself(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    h = plain(plain_server, tmp_path, ["a@x.com", "b@x.com", "c@x.com"], replace(FAST, daily_cap=2))
    finished = await h.runner.run()
    paused = h.of(Paused)
    assert len(paused) == 1 and "daily cap" in paused[0].reason
    assert paused[0].until == pytest.approx(h.of(MessageSent)[0].at + DAY)
    assert finished.sent == 3
    sent_at = [e.at for e in h.of(MessageSent)]
    assert sent_at[2] - sent_at[0] >= DAY


async def test_pause_resume_and_cancel(plain_server: ServerHandle, tmp_path: Path) -> None:
    h = plain(plain_server, tmp_path, [f"r{n}@x.com" for n in range(5)], stop_on_pause=False)
    sent = 0

    def sink(event: object) -> None:
        nonlocal sent
        h.events.append(event)  # type: ignore[arg-type]
        if isinstance(event, MessageSent):
            sent += 1
            if sent == 1:
                h.runner.pause()
        if isinstance(event, Paused):
            asyncio.get_running_loop().call_soon(h.runner.resume)
        if isinstance(event, MessageSent) and sent == 3:
            h.runner.cancel()

    h.runner.sink = sink
    finished = await h.runner.run()
    assert finished.status is CampaignStatus.CANCELLED
    assert (finished.sent, finished.pending) == (3, 2)
    assert "Paused" in h.kinds() and "Resumed" in h.kinds()
    assert h.store.campaign(h.journal.campaign_id).status is CampaignStatus.CANCELLED


async def test_throttle_slows_down_after_deferral_and_recovers(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    plain_server.recorder.rcpt_replies["b@x.com"] = ["451 4.3.0 later"]
    settings = replace(
        FAST,
        delay_ms=1000,
        throttle_factor=2.0,
        throttle_max_ms=8000,
        retry=RetryPolicy(jitter=0, defer_backoff_base=60),
    )
    h = plain(plain_server, tmp_path, ["a@x.com", "b@x.com", "c@x.com", "d@x.com"], settings)
    await h.runner.run()
    # a (1 s) b deferred -> interval 2 s; c at 2 s; then 1.6 s; then the wait for b's retry.
    assert h.clock.sleeps[:3] == [1.0, 2.0, 1.6]


async def test_smtputf8_recipient_fails_when_server_lacks_it(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    from core.models import Recipient

    account = account_for(plain_server, Security.NONE)
    recipients = [*people("a@x.com"), Recipient(email="josé@x.com", needs_smtputf8=True, line=3)]
    h = make_campaign(tmp_path, account, recipients, FAST)
    finished = await h.runner.run()
    assert (finished.sent, finished.failed) == (1, 1)
    assert "SMTPUTF8" in h.of(MessageFailed)[0].text


async def test_finished_event_matches_journal(plain_server: ServerHandle, tmp_path: Path) -> None:
    h = plain(plain_server, tmp_path, ["a@x.com"])
    finished = await h.runner.run()
    assert isinstance(h.events[-1], CampaignFinished)
    assert h.store.counts(h.journal.campaign_id).sent == finished.sent == 1
