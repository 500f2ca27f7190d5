"""SMTP replies read in order, several at a time: what pipelining (RFC 2920) needs."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import cast

__all__ = ["MAX_LINE", "MAX_REPLY", "Reply", "ReplyFormatError", "ReplyReader", "take_reply"]

MAX_LINE = 8192  # the limits aiosmtplib applies, so both ways of reading refuse the same replies
MAX_REPLY = 4 * MAX_LINE


@dataclass(frozen=True, slots=True)
class Reply:
    """A server reply: the code and the text after it (lines of a multiline reply joined by LF)."""

    code: int
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


class ReplyFormatError(Exception):
    """The server sent something that is not an SMTP reply."""


def take_reply(buffer: bytearray) -> Reply | None:
    """Remove the first complete reply from `buffer` and return it; None if it is incomplete.

    Parsed as aiosmtplib does: each line starts with a three-digit code, `-` after the code
    continues the reply, and each line's text is stripped of surrounding blanks.
    """
    offset = 0
    texts: list[bytes] = []
    while True:
        end = buffer.find(b"\n", offset)
        if end < 0:
            return None
        line = bytes(buffer[offset : end + 1])
        if len(line) > MAX_LINE:
            raise ReplyFormatError("Response too long")
        try:
            code = int(line[:3])
        except ValueError:
            text = line.decode("utf-8", errors="ignore")
            raise ReplyFormatError(f"Malformed SMTP response line: {text}") from None
        offset = end + 1
        texts.append(line[4:].strip(b" \t\r\n"))
        if line[3:4] != b"-":
            del buffer[:offset]
            return Reply(code, b"\n".join(texts).decode("utf-8", "surrogateescape"))


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class ReplyReader(asyncio.Protocol):
    """The protocol of a connection whose send path is ours: every reply queued, in order.

    aiosmtplib connects, secures and logs in; then `core.transport.pipeline.Wire` takes the
    transport over for good (`BaseTransport.set_protocol`) and this protocol reads what the
    server says from then on. aiosmtplib's protocol expects one reply per command and drops
    whatever arrives while no command waits, so replies to pipelined commands (which may come
    together or apart, and across messages) need a reader of their own.

    `read` raises `TimeoutError` when no reply came in time, `ConnectionResetError` when the
    connection closed first, and `ReplyFormatError` for something that is not a reply.
    """

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._buffer = bytearray()
        self._replies: deque[Reply] = deque()
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        transport.set_protocol(self)

    @property
    def closed(self) -> bool:
        return self._error is not None or self._transport.is_closing()

    def close(self) -> None:
        """Drop the connection; replies not yet read are lost."""
        self._transport.close()
        self._lost("the connection was closed")

    def write(self, data: bytes) -> None:
        if self._transport.is_closing():
            raise ConnectionResetError("the connection is closed")
        cast(asyncio.WriteTransport, self._transport).write(data)

    async def read(self, timeout: float | None) -> Reply:
        """The next reply, waiting at most `timeout` seconds for it."""
        if not self._replies and self._error is None:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(timeout, _expire, waiter) if timeout is not None else None
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
        if self._replies:
            return self._replies.popleft()
        assert self._error is not None
        raise self._error

    # -- asyncio.Protocol -------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._error is not None:
            return  # after a broken reply nothing more can be paired with its command
        buffer = self._buffer
        buffer += data
        try:
            while (reply := take_reply(buffer)) is not None:
                self._replies.append(reply)
            if len(buffer) > MAX_REPLY:
                raise ReplyFormatError("Response too long")
        except ReplyFormatError as exc:
            self._error = exc
        self._wake()

    def eof_received(self) -> bool:
        self._lost("Unexpected EOF received")
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost("Connection lost", exc)

    def _lost(self, text: str, cause: Exception | None = None) -> None:
        if self._error is None:
            error = ConnectionResetError(text)
            error.__cause__ = cause
            self._error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
