"""Pipelining across messages: the next envelope rides behind the final dot, replies attributed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from core.classify import FailureKind, classify
from core.errors import DisconnectedError, Phase, ReplyError, TimedOutError
from core.events import CampaignStatus, MessageUnknown
from core.models import RecipientStatus, Security, SendSettings, Timeouts
from core.transport import SMTPTransport
from storage.journal.history import recipients as recipient_rows
from tests.conftest import account_for
from tests.core.engine_kit import make_campaign, people
from tests.core.test_pipelining import PAYLOAD, PipeliningRecorder, _greet, _read_data
from tests.smtpd import USER, RawServer, ServerHandle, start_raw_server, start_server

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, list[bytes]], Awaitable[None]]
ENVELOPE_OK = b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go on\r\n"


async def _lines(reader: asyncio.StreamReader, count: int) -> list[bytes]:
    return [await asyncio.wait_for(reader.readline(), 2) for _ in range(count)]


async def _raw(script: Script) -> tuple[RawServer, SMTPTransport]:
    raw = await start_raw_server(script)
    account = account_for(raw, Security.NONE)  # type: ignore[arg-type]
    transport = SMTPTransport(account)
    await transport.connect()
    return raw, transport


async def _first_message(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """Greet, take message one's envelope and data; its dot stays unanswered."""
    await _greet(reader, writer)
    await _lines(reader, 3)
    writer.write(ENVELOPE_OK)
    await writer.drain()
    return await _read_data(reader)


async def test_next_envelope_travels_before_the_previous_reply() -> None:
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        await _first_message(reader, writer)
        # One round trip per message: the next envelope comes before we answer the dot.
        seen += await _lines(reader, 3)
        writer.write(b"250 2.0.0 queued as 1\r\n" + ENVELOPE_OK)
        await writer.drain()
        await _read_data(reader)
        writer.write(b"250 2.0.0 queued as 2\r\n")
        await writer.drain()
        await reader.readline()

    raw, transport = await _raw(script)
    try:
        order: list[str] = []
        first = await transport.submit(USER, "one@example.com", PAYLOAD)
        second = await transport.submit(
            USER,
            "two@example.com",
            PAYLOAD,
            on_data_start=lambda: order.append(f"data-start, first done={first.done()}"),
        )
        assert (await first).text == "2.0.0 queued as 1"
        assert order == ["data-start, first done=True"]
        await transport.settle()
        assert (await second).text == "2.0.0 queued as 2"
        assert raw.received == [
            b"MAIL FROM:<alice@example.com>\r\n",
            b"RCPT TO:<two@example.com>\r\n",
            b"DATA\r\n",
        ]
        await transport.close()
    finally:
        await raw.close()


async def test_refused_message_and_refused_next_recipient_are_each_attributed() -> None:
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        await _first_message(reader, writer)
        await _lines(reader, 3)
        writer.write(b"554 5.7.1 spam\r\n250 ok\r\n550 5.1.1 no such user\r\n503 no recipients\r\n")
        await writer.drain()
        seen.append(await reader.readline())  # RSET
        writer.write(b"250 reset\r\n")
        await writer.drain()
        await reader.readline()

    raw, transport = await _raw(script)
    try:
        first = await transport.submit(USER, "one@example.com", PAYLOAD)
        started: list[bool] = []
        with pytest.raises(ReplyError) as caught:
            await transport.submit(
                USER, "gone@example.com", PAYLOAD, on_data_start=lambda: started.append(True)
            )
        error = caught.value
        assert (error.phase, error.code, error.recipient) == (Phase.RCPT, 550, "gone@example.com")
        with pytest.raises(ReplyError) as refused:
            await first
        assert (refused.value.phase, refused.value.code) == (Phase.MESSAGE, 554)
        assert refused.value.recipient == "one@example.com"
        assert started == []
        assert transport.connected and raw.received == [b"RSET\r\n"]
        await transport.close()
    finally:
        await raw.close()


async def test_lost_connection_makes_the_unanswered_dot_unknown_and_envelope_unsent() -> None:
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        await _first_message(reader, writer)
        seen += await _lines(reader, 3)  # the next envelope arrives; then the line drops

    raw, transport = await _raw(script)
    try:
        first = await transport.submit(USER, "one@example.com", PAYLOAD)
        started: list[bool] = []
        with pytest.raises(DisconnectedError) as caught:
            await transport.submit(
                USER, "two@example.com", PAYLOAD, on_data_start=lambda: started.append(True)
            )
        assert caught.value.phase is Phase.MAIL  # nothing of message two was sent
        assert classify(caught.value).kind is FailureKind.TRANSIENT_SESSION
        assert started == []
        with pytest.raises(DisconnectedError) as lost:
            await first
        assert (lost.value.phase, lost.value.recipient) == (Phase.MESSAGE, "one@example.com")
        assert classify(lost.value).kind is FailureKind.AMBIGUOUS
        assert not transport.connected
    finally:
        await raw.close()


async def test_421_to_a_final_dot_closes_and_leaves_the_next_envelope_unsent() -> None:
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        await _first_message(reader, writer)
        await _lines(reader, 3)
        writer.write(b"421 4.3.2 shutting down\r\n")
        await writer.drain()

    raw, transport = await _raw(script)
    try:
        first = await transport.submit(USER, "one@example.com", PAYLOAD)
        with pytest.raises(DisconnectedError) as caught:
            await transport.submit(USER, "two@example.com", PAYLOAD)
        assert caught.value.phase is Phase.MAIL
        with pytest.raises(ReplyError) as closing:
            await first
        assert (closing.value.phase, closing.value.code) == (Phase.MESSAGE, 421)
        assert not transport.connected
    finally:
        await raw.close()


async def test_silent_server_after_a_dot_times_out_as_unknown() -> None:
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        await _first_message(reader, writer)
        await asyncio.sleep(5)

    raw = await start_raw_server(script)
    account = account_for(raw, Security.NONE, timeouts=Timeouts(command=5, data=0.2))  # type: ignore[arg-type]
    transport = SMTPTransport(account)
    await transport.connect()
    try:
        first = await transport.submit(USER, "one@example.com", PAYLOAD)
        await transport.settle()
        with pytest.raises(TimedOutError) as caught:
            await first
        assert caught.value.phase is Phase.MESSAGE
        assert classify(caught.value).kind is FailureKind.AMBIGUOUS
        assert not transport.connected
    finally:
        await raw.close()


async def test_garbage_instead_of_a_reply_after_the_dot_is_unknown() -> None:
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        await _first_message(reader, writer)
        writer.write(b"hello there\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    raw, transport = await _raw(script)
    try:
        first = await transport.submit(USER, "one@example.com", PAYLOAD)
        await transport.settle()
        with pytest.raises(DisconnectedError) as caught:
            await first
        assert classify(caught.value).kind is FailureKind.AMBIGUOUS
    finally:
        await raw.close()


async def test_closing_with_a_dot_unanswered_reports_it_lost() -> None:
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        await _first_message(reader, writer)
        await asyncio.sleep(1)

    raw, transport = await _raw(script)
    try:
        first = await transport.submit(USER, "one@example.com", PAYLOAD)
        await transport.close(polite=False)
        with pytest.raises(DisconnectedError) as caught:
            await first
        assert classify(caught.value).kind is FailureKind.AMBIGUOUS
    finally:
        await raw.close()


# -- the engine over a real aiosmtpd server that pipelines -------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[ServerHandle]:
    handle = await start_server("plain", recorder=PipeliningRecorder(), auth=False)
    yield handle
    await handle.close()


def _statuses(h: Any) -> dict[str, RecipientStatus]:
    return {r.email: r.status for r in recipient_rows(h.store, h.journal.campaign_id)}


async def test_campaign_attributes_each_fault_to_its_recipient(
    server: ServerHandle, tmp_path: Path
) -> None:
    recorder = server.recorder
    recorder.rcpt_replies["gone@example.com"] = ["550 5.1.1 No such user"]
    recorder.rcpt_replies["busy@example.com"] = ["451 4.3.0 try later"]
    recorder.drop_after_data.add("maybe@example.com")
    emails = [
        "a@example.com",
        "gone@example.com",
        "b@example.com",
        "maybe@example.com",
        "c@example.com",  # its envelope rode behind maybe's dot, unanswered: not sent
        "busy@example.com",
        "d@example.com",
    ]
    account = account_for(server, Security.NONE)
    h = make_campaign(tmp_path, account, people(*emails), SendSettings(delay_ms=0))
    finished = await h.runner.run()
    assert finished.status is CampaignStatus.FINISHED
    assert _statuses(h) == {
        "a@example.com": RecipientStatus.SENT,
        "gone@example.com": RecipientStatus.FAILED,
        "b@example.com": RecipientStatus.SENT,
        "maybe@example.com": RecipientStatus.UNKNOWN,
        "c@example.com": RecipientStatus.SENT,  # sent once, after the reconnect
        "busy@example.com": RecipientStatus.SENT,
        "d@example.com": RecipientStatus.SENT,
    }
    assert [e.email for e in h.of(MessageUnknown)] == ["maybe@example.com"]  # type: ignore[attr-defined]
    assert sorted(recorder.recipients()) == sorted(set(emails) - {"gone@example.com"})
    assert recorder.connections == 2


async def test_data_start_is_durable_before_each_final_dot(
    server: ServerHandle, tmp_path: Path
) -> None:
    """At each data-start the journal on disk already holds the previous message's result."""
    emails = [f"r{n}@example.com" for n in range(6)]
    h = make_campaign(
        tmp_path, account_for(server, Security.NONE), people(*emails), SendSettings(delay_ms=0)
    )
    seen: list[tuple[str, dict[str, str]]] = []
    original = h.journal.data_started

    def spy(item: Any, at: float) -> None:
        original(item, at)
        # A second connection to the file sees only what is committed.
        import sqlite3

        conn = sqlite3.connect(h.store.path)
        rows = conn.execute(
            "SELECT email, status FROM recipients WHERE campaign_id=?", (h.journal.campaign_id,)
        ).fetchall()
        conn.close()
        seen.append((item.recipient.email, dict(rows)))

    h.journal.data_started = spy  # type: ignore[method-assign]
    await h.runner.run()
    assert len(seen) == 6
    for n, (email, committed) in enumerate(seen):
        assert email == emails[n]
        assert committed[email] == "data"
        assert all(committed[e] == "sent" for e in emails[:n])  # the previous result rode along
        assert all(committed[e] == "pending" for e in emails[n + 1 :])


async def test_refusal_that_stops_the_campaign_drops_the_envelope_riding_behind_it(
    server: ServerHandle, tmp_path: Path
) -> None:
    server.recorder.data_replies = ["552 5.3.4 Message size exceeds fixed limit"]
    emails = ["a@example.com", "b@example.com", "c@example.com"]
    account = account_for(server, Security.NONE)
    h = make_campaign(tmp_path, account, people(*emails), SendSettings(delay_ms=0))
    finished = await h.runner.run()
    assert finished.status is CampaignStatus.ABORTED
    assert _statuses(h) == {
        "a@example.com": RecipientStatus.FAILED,
        "b@example.com": RecipientStatus.PENDING,  # its 354 came, no byte of it was sent
        "c@example.com": RecipientStatus.PENDING,
    }
    assert server.recorder.messages == []  # not even an empty message for b


async def test_rate_reply_to_a_final_dot_holds_the_message_riding_behind_it(
    server: ServerHandle, tmp_path: Path
) -> None:
    server.recorder.data_replies = ["451 4.7.0 rate limit exceeded, slow down"]
    emails = ["a@example.com", "b@example.com", "c@example.com"]
    account = account_for(server, Security.NONE)
    settings = SendSettings(delay_ms=0, rate_limit_pause=600)
    h = make_campaign(tmp_path, account, people(*emails), settings)
    finished = await h.runner.run()
    assert finished.status is CampaignStatus.FINISHED
    assert sum(h.clock.sleeps) >= 600  # held (in wall-clock slices), then resumed by itself
    # b's envelope rode behind a's dot; after the rate reply not one byte of b was sent
    # until the hold was over: every recipient got exactly one message, in order.
    assert server.recorder.recipients() == emails
    assert set(_statuses(h).values()) == {RecipientStatus.SENT}
