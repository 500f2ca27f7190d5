"""The next envelope in the same write as the final dot, when the engine already knows it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.events import CampaignStatus, MessageSkipped
from core.models import Security, SendSettings
from core.ports import Envelope
from core.suppression import SuppressionReason
from core.transport import SMTPTransport
from core.transport.replies import ReplyReader
from storage.suppression import SuppressionList
from tests.conftest import account_for
from tests.core.engine_kit import make_campaign, people
from tests.core.test_cross_pipelining import ENVELOPE_OK, _first_message, _lines, _raw
from tests.core.test_pipelining import PAYLOAD, PipeliningRecorder, _read_data
from tests.smtpd import USER, start_raw_server, start_server

MAIL = b"MAIL FROM:<alice@example.com>\r\n"
RCPT_TWO = b"RCPT TO:<two@example.com>\r\n"
DATA = b"DATA\r\n"


class _NextIsTwo:
    """The engine's answer when asked for the next message: two@example.com (asks counted)."""

    def __init__(self) -> None:
        self.asked = 0

    def __call__(self) -> Envelope:
        self.asked += 1
        return Envelope(USER, "two@example.com")


async def _until(condition: object, timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition() and loop.time() < deadline:  # type: ignore[operator]
        await asyncio.sleep(0.01)


async def test_envelope_named_ahead_goes_out_with_the_final_dot() -> None:
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        await _first_message(reader, writer)
        # Message two's envelope comes right behind the dot, before any reply to it.
        seen.extend(await _lines(reader, 3))
        writer.write(b"250 2.0.0 queued as 1\r\n" + ENVELOPE_OK)
        await writer.drain()
        seen.append(await _read_data(reader))
        writer.write(b"250 2.0.0 queued as 2\r\n")
        await writer.drain()
        seen.append(await reader.readline())

    raw, transport = await _raw(script)
    try:
        ahead = _NextIsTwo()
        first = await transport.submit(USER, "one@example.com", PAYLOAD, ahead=ahead)
        assert ahead.asked == 1
        await _until(lambda: len(raw.received) == 3)
        assert raw.received == [MAIL, RCPT_TWO, DATA]  # before the client's next call
        second = await transport.submit(USER, "two@example.com", PAYLOAD)
        assert (await first).text == "2.0.0 queued as 1"
        await transport.settle()
        assert (await second).text == "2.0.0 queued as 2"
        await transport.close()
        # The envelope went once: the message's text is the message, nothing written twice.
        assert raw.received[3] == PAYLOAD + b".\r\n"
        assert raw.received[4:] == [b"QUIT\r\n"]
    finally:
        await raw.close()


async def test_envelope_written_ahead_and_not_followed_closes_the_connection() -> None:
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        await _first_message(reader, writer)
        await _lines(reader, 3)
        writer.write(b"250 2.0.0 queued as 1\r\n" + ENVELOPE_OK)  # ready for message two
        await writer.drain()
        seen.append(await reader.read())  # what comes next: only the end of the connection

    raw, transport = await _raw(script)
    try:
        first = await transport.submit(USER, "one@example.com", PAYLOAD, ahead=_NextIsTwo())
        await transport.settle()  # the campaign stopped: message two will not follow
        assert (await first).text == "2.0.0 queued as 1"
        assert not transport.connected
        await _until(lambda: len(raw.received) == 1)
        assert raw.received == [b""]  # not a byte of message two, not even a lone dot
    finally:
        await raw.close()


async def test_no_envelope_ahead_without_pipelining() -> None:
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        writer.write(b"220 raw ESMTP\r\n")
        await writer.drain()
        await reader.readline()
        writer.write(b"250 8BITMIME\r\n")  # no PIPELINING
        await writer.drain()
        for reply in (b"250 ok\r\n", b"250 ok\r\n", b"354 go on\r\n"):
            await reader.readline()
            writer.write(reply)
            await writer.drain()
        await _read_data(reader)
        writer.write(b"250 2.0.0 queued\r\n")
        await writer.drain()
        seen.append(await reader.readline())

    raw = await start_raw_server(script)
    transport = SMTPTransport(account_for(raw, Security.NONE))  # type: ignore[arg-type]
    await transport.connect()
    try:
        ahead = _NextIsTwo()
        first = await transport.submit(USER, "one@example.com", PAYLOAD, ahead=ahead)
        await transport.settle()
        assert (await first).text == "2.0.0 queued"
        assert ahead.asked == 0
        await transport.close()
        assert raw.received == [b"QUIT\r\n"]
    finally:
        await raw.close()


# -- the engine: one write a message when nothing paces it ----------------------------------


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every write the send path makes once it owns a connection (observed, not changed)."""
    seen: list[bytes] = []
    original = ReplyReader.write

    def observed(self: ReplyReader, data: bytes) -> None:
        seen.append(data)
        original(self, data)

    monkeypatch.setattr(ReplyReader, "write", observed)
    return seen


@pytest.mark.parametrize(
    ("delay_ms", "total", "alone", "riding"),
    [
        (0, 1 + 20 + 1, 1, 19),  # the first envelope, a write a message, QUIT
        (1000, 20 * 2 + 1, 20, 0),  # an envelope and a message each, QUIT
    ],
)
async def test_one_write_a_message_unless_a_delay_paces_them(
    tmp_path: Path, writes: list[bytes], delay_ms: int, total: int, alone: int, riding: int
) -> None:
    """With nothing to wait for, the next message is chosen while the replies travel and its
    envelope goes with the final dot; with a delay, it is chosen when its turn comes."""
    handle = await start_server("plain", recorder=PipeliningRecorder(), auth=False)
    try:
        emails = [f"r{n:02d}@example.com" for n in range(20)]
        account = account_for(handle, Security.NONE)
        h = make_campaign(tmp_path, account, people(*emails), SendSettings(delay_ms=delay_ms))
        finished = await h.runner.run()
        assert finished.status is CampaignStatus.FINISHED
        assert sorted(handle.recorder.recipients()) == emails  # each once, none skipped
        envelopes = [w for w in writes if w.startswith(b"MAIL FROM")]
        with_dot = [w for w in writes if b"\r\n.\r\nMAIL FROM:" in w]
        assert len(writes) == total
        assert (len(envelopes), len(with_dot)) == (alone, riding)
    finally:
        await handle.close()


async def test_a_suppressed_recipient_next_in_line_is_skipped_not_ridden(
    tmp_path: Path, writes: list[bytes]
) -> None:
    """The recipient prepared ahead is on the suppression list: nothing is built or written
    for it ahead; the loop skips it with its reason, and the envelopes ride again after it."""
    handle = await start_server("plain", recorder=PipeliningRecorder(), auth=False)
    suppression = SuppressionList(tmp_path / "suppression.sqlite3")
    suppression.add("b@example.com", SuppressionReason.UNSUBSCRIBED)
    try:
        emails = ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]
        account = account_for(handle, Security.NONE)
        h = make_campaign(
            tmp_path, account, people(*emails), SendSettings(delay_ms=0), suppression=suppression
        )
        finished = await h.runner.run()
        assert (finished.status, finished.sent, finished.skipped) == (
            CampaignStatus.FINISHED,
            3,
            1,
        )
        assert sorted(handle.recorder.recipients()) == [
            "a@example.com",
            "c@example.com",
            "d@example.com",
        ]
        assert [e.email for e in h.of(MessageSkipped)] == ["b@example.com"]  # type: ignore[attr-defined]
        assert not any(b"b@example.com" in w for w in writes)
        # a alone; c alone after the skip; d rode behind c's dot.
        assert [w.startswith(b"MAIL FROM") for w in writes].count(True) == 2
        assert (
            sum(b"\r\n.\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<d@" in w for w in writes) == 1
        )
    finally:
        suppression.close()
        await handle.close()
