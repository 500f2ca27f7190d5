"""PIPELINING (RFC 2920): MAIL, RCPT and DATA in one write, every reply read in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import Envelope, Session

from core.classify import FailureKind, classify
from core.errors import DisconnectedError, Phase, ReplyError
from core.events import CampaignStatus
from core.models import RecipientStatus, Security, SendSettings
from core.transport import SMTPTransport
from core.transport.replies import Reply, ReplyFormatError, take_reply
from storage.journal.history import recipients as recipient_rows
from tests.certs import CertSet
from tests.conftest import account_for, good_credentials
from tests.core.engine_kit import make_campaign, people
from tests.smtpd import USER, RawServer, Recorder, ServerHandle, start_raw_server, start_server

PAYLOAD = b"From: alice@example.com\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nHello\r\n"
EHLO = b"250-localhost\r\n250-PIPELINING\r\n250 8BITMIME\r\n"


class PipeliningRecorder(Recorder):
    """aiosmtpd reads pipelined commands correctly; this makes it say so in EHLO."""

    async def handle_EHLO(
        self, server: Any, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


@pytest.fixture
async def pipelining_server() -> AsyncIterator[ServerHandle]:
    handle = await start_server("plain", recorder=PipeliningRecorder(), auth=False)
    yield handle
    await handle.close()


async def _connected(handle: ServerHandle | RawServer) -> SMTPTransport:
    transport = SMTPTransport(account_for(handle, Security.NONE))  # type: ignore[arg-type]
    await transport.connect()
    assert transport.supports("pipelining")
    return transport


async def _greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 raw ESMTP\r\n")
    await writer.drain()
    await reader.readline()  # EHLO
    writer.write(EHLO)
    await writer.drain()


async def _read_data(reader: asyncio.StreamReader) -> bytes:
    data = b""
    while not data.endswith(b"\r\n.\r\n"):
        chunk = await reader.readline()
        if not chunk:
            break
        data += chunk
    return data


async def test_envelope_takes_one_round_trip() -> None:
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        await _greet(reader, writer)
        # All three commands must arrive before any reply: a client waiting for the reply
        # to MAIL would hang here.
        seen += [await asyncio.wait_for(reader.readline(), 2) for _ in range(3)]
        writer.write(b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go on\r\n")
        await writer.drain()
        seen.append(await _read_data(reader))
        writer.write(b"250 2.0.0 queued as 1\r\n")
        await writer.drain()
        await reader.readline()

    raw = await start_raw_server(script)
    try:
        transport = await _connected(raw)
        started: list[bool] = []
        reply = await transport.send(
            USER, "bob@example.com", PAYLOAD, on_data_start=lambda: started.append(True)
        )
        assert (reply.code, reply.text) == (250, "2.0.0 queued as 1")
        assert started == [True]
        assert raw.received[:3] == [
            b"MAIL FROM:<alice@example.com>\r\n",
            b"RCPT TO:<bob@example.com>\r\n",
            b"DATA\r\n",
        ]
        assert raw.received[3].endswith(b"Hello\r\n.\r\n")
        await transport.close()
    finally:
        await raw.close()


async def test_replies_arriving_one_by_one_are_all_read() -> None:
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        await _greet(reader, writer)
        for _ in range(2):
            for _ in range(3):
                await reader.readline()
            for line in (b"250 ok\r\n", b"250-first\r\n250 second\r\n", b"354 go on\r\n"):
                writer.write(line)
                await writer.drain()
                await asyncio.sleep(0.02)  # separate packets, after the first was read
            seen.append(await _read_data(reader))
            writer.write(b"250 queued\r\n")
            await writer.drain()
        await reader.readline()

    raw = await start_raw_server(script)
    try:
        transport = await _connected(raw)
        for rcpt in ("one@example.com", "two@example.com"):
            assert (await transport.send(USER, rcpt, PAYLOAD)).code == 250
        assert len(raw.received) == 2
        await transport.close()
    finally:
        await raw.close()


async def test_pipelining_over_starttls(certs: CertSet) -> None:
    handle = await start_server("starttls", certs, recorder=PipeliningRecorder())
    try:
        transport = SMTPTransport(account_for(handle, Security.STARTTLS, certs), good_credentials())
        await transport.connect()
        assert transport.session.encrypted and transport.supports("pipelining")
        for rcpt in ("one@example.com", "two@example.com"):
            assert (await transport.send(USER, rcpt, PAYLOAD)).code == 250
        await transport.close()
        assert handle.recorder.recipients() == ["one@example.com", "two@example.com"]
    finally:
        await handle.close()


async def test_refused_recipient_keeps_the_connection(pipelining_server: ServerHandle) -> None:
    pipelining_server.recorder.rcpt_replies["gone@example.com"] = ["550 5.1.1 No such user"]
    transport = await _connected(pipelining_server)
    started: list[bool] = []
    with pytest.raises(ReplyError) as caught:
        await transport.send(
            USER, "gone@example.com", PAYLOAD, on_data_start=lambda: started.append(True)
        )
    error = caught.value
    assert (error.phase, error.code, error.enhanced) == (Phase.RCPT, 550, "5.1.1")
    assert error.recipient == "gone@example.com"
    assert started == []
    assert transport.connected
    assert (await transport.send(USER, "ok@example.com", PAYLOAD)).code == 250
    await transport.close()
    assert pipelining_server.recorder.recipients() == ["ok@example.com"]


async def test_refused_sender_is_a_mail_error(pipelining_server: ServerHandle) -> None:
    pipelining_server.recorder.mail_reply = "550 5.7.1 Sender not allowed"
    transport = await _connected(pipelining_server)
    with pytest.raises(ReplyError) as caught:
        await transport.send(USER, "bob@example.com", PAYLOAD)
    assert (caught.value.phase, caught.value.code) == (Phase.MAIL, 550)
    assert classify(caught.value).kind is FailureKind.CONFIG
    assert transport.connected  # every pipelined reply was read, then RSET
    pipelining_server.recorder.mail_reply = None
    assert (await transport.send(USER, "bob@example.com", PAYLOAD)).code == 250
    await transport.close()


async def test_rcpt_421_closes_the_session(pipelining_server: ServerHandle) -> None:
    pipelining_server.recorder.rcpt_replies["x@example.com"] = ["421 4.7.0 closing"]
    transport = await _connected(pipelining_server)
    with pytest.raises(ReplyError) as caught:
        await transport.send(USER, "x@example.com", PAYLOAD)
    assert classify(caught.value).kind is FailureKind.TRANSIENT_SESSION
    assert not transport.connected


async def test_data_accepted_after_a_refusal_abandons_the_message() -> None:
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        await _greet(reader, writer)
        for _ in range(3):
            await reader.readline()
        # A sloppy server: it refuses the recipient, then takes DATA anyway.
        writer.write(b"250 ok\r\n550 5.1.1 no such user\r\n354 go on\r\n")
        await writer.drain()
        seen.append(await reader.read())  # whatever the client sends until it closes

    raw = await start_raw_server(script)
    try:
        transport = await _connected(raw)
        with pytest.raises(ReplyError) as caught:
            await transport.send(USER, "gone@example.com", PAYLOAD)
        assert (caught.value.phase, caught.value.code) == (Phase.RCPT, 550)
        for _ in range(100):
            if raw.received:
                break
            await asyncio.sleep(0.01)
        assert raw.received == [b""]  # no lone dot, no message: the connection was dropped
        assert not transport.connected
    finally:
        await raw.close()


async def test_cc_recipients_are_sent_only_once_the_main_one_is_accepted() -> None:
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        await _greet(reader, writer)
        seen += [await reader.readline() for _ in range(2)]  # MAIL, main RCPT
        writer.write(b"250 ok\r\n250 ok\r\n")
        await writer.drain()
        seen += [await reader.readline() for _ in range(3)]  # two Cc RCPTs, DATA
        writer.write(b"550 no such user\r\n250 ok\r\n354 go on\r\n")
        await writer.drain()
        await _read_data(reader)
        writer.write(b"250 queued\r\n")
        await writer.drain()
        await reader.readline()

    raw = await start_raw_server(script)
    try:
        transport = await _connected(raw)
        reply = await transport.send(
            USER, "bob@example.com", PAYLOAD, extra_recipients=("gone@example.com", "c@ex.com")
        )
        assert reply.code == 250  # a refused Cc does not fail the message
        assert raw.received == [
            b"MAIL FROM:<alice@example.com>\r\n",
            b"RCPT TO:<bob@example.com>\r\n",
            b"RCPT TO:<gone@example.com>\r\n",
            b"RCPT TO:<c@ex.com>\r\n",
            b"DATA\r\n",
        ]
        await transport.close()
    finally:
        await raw.close()


async def test_lost_reply_after_final_dot_is_ambiguous(pipelining_server: ServerHandle) -> None:
    pipelining_server.recorder.drop_after_data.add("maybe@example.com")
    transport = await _connected(pipelining_server)
    started: list[bool] = []
    with pytest.raises(DisconnectedError) as caught:
        await transport.send(
            USER, "maybe@example.com", PAYLOAD, on_data_start=lambda: started.append(True)
        )
    assert started == [True]
    assert caught.value.phase is Phase.MESSAGE
    assert classify(caught.value).kind is FailureKind.AMBIGUOUS


async def test_campaign_over_a_pipelining_server(
    pipelining_server: ServerHandle, tmp_path: Path
) -> None:
    recorder = pipelining_server.recorder
    recorder.rcpt_replies["gone@example.com"] = ["550 5.1.1 No such user"]
    recorder.rcpt_replies["busy@example.com"] = ["451 4.3.0 try later"]
    emails = ["a@example.com", "gone@example.com", "busy@example.com", "b@example.com"]
    account = account_for(pipelining_server, Security.NONE)
    h = make_campaign(tmp_path, account, people(*emails), SendSettings(delay_ms=0))
    finished = await h.runner.run()
    assert finished.status is CampaignStatus.FINISHED
    assert {r.email: r.status for r in recipient_rows(h.store, h.journal.campaign_id)} == {
        "a@example.com": RecipientStatus.SENT,
        "gone@example.com": RecipientStatus.FAILED,
        "busy@example.com": RecipientStatus.SENT,  # deferred once, then accepted
        "b@example.com": RecipientStatus.SENT,
    }
    assert sorted(recorder.recipients()) == sorted(set(emails) - {"gone@example.com"})
    assert recorder.connections == 1


def test_pipelining_on_uvloop() -> None:
    """The app's server (uvicorn) runs campaigns on uvloop when it is installed."""
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> list[str]:
        handle = await start_server("plain", recorder=PipeliningRecorder(), auth=False)
        handle.recorder.rcpt_replies["gone@example.com"] = ["550 5.1.1 No such user"]
        try:
            transport = await _connected(handle)
            with pytest.raises(ReplyError):
                await transport.send(USER, "gone@example.com", PAYLOAD)
            assert (await transport.send(USER, "ok@example.com", PAYLOAD)).code == 250
            await transport.close()
            return handle.recorder.recipients()
        finally:
            await handle.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(scenario()) == ["ok@example.com"]


def test_take_reply_parses_multiline_and_leaves_the_rest() -> None:
    buffer = bytearray(b"250-first\r\n250-second \r\n250 last\r\n354 go")
    assert take_reply(buffer) == Reply(250, "first\nsecond\nlast")
    assert take_reply(buffer) is None  # "354 go" has no line end yet
    buffer += b" on\r\n"
    assert take_reply(buffer) == Reply(354, "go on")
    assert buffer == bytearray()


def test_take_reply_refuses_what_is_not_a_reply() -> None:
    with pytest.raises(ReplyFormatError):
        take_reply(bytearray(b"hello\r\n"))
