"""A minimal fast SMTP sink on loopback: counts messages, times them, reports on stdin request.

Run as its own process: `python -m bench.sink [--greeting-delay-ms N]`. It prints
`READY <port>`, then answers one line on stdout per command line read on stdin:

- `stats`: a JSON object: `count` (messages accepted since the last reset), `window`
  (seconds from the first connection to the last accepted message), `connections`,
  `starts` (seconds of each MAIL FROM, relative to the first connection);
- `reset`: forget everything counted so far; answers `ok`.

`--greeting-delay-ms` waits before the greeting, `--data-delay-ms` before each reply to a
final dot (a slow server). It speaks just enough ESMTP for any client: EHLO/HELO (offering
PIPELINING, 8BITMIME and SMTPUTF8), MAIL, RCPT, DATA, RSET, NOOP, QUIT. Pipelined commands
are answered in order, in one write. Nothing is stored: the message body is scanned for its
final dot and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

__all__ = ["SMTPSinkProtocol", "SinkStats", "main", "serve"]

_END_OF_DATA = b"\r\n.\r\n"
_EHLO_REPLY = b"250-localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
_MAX_LINE = 4096  # a command line longer than this is refused (and the client dropped)


class SinkStats:
    """What the sink counted since the last reset (times from `time.perf_counter`)."""

    def __init__(self) -> None:
        self.count = 0
        self.connections = 0
        self.first_connect: float | None = None
        self.last_message: float | None = None
        self.starts: list[float] = []

    def connected(self) -> None:
        self.connections += 1
        if self.first_connect is None:
            self.first_connect = time.perf_counter()

    def as_dict(self) -> dict[str, object]:
        first = self.first_connect or 0.0
        window = (self.last_message - first) if self.last_message is not None else 0.0
        return {
            "count": self.count,
            "window": window,
            "connections": self.connections,
            "starts": [round(start - first, 6) for start in self.starts],
        }


class SMTPSinkProtocol(asyncio.Protocol):
    """One client connection: line commands, then DATA until the final dot."""

    def __init__(self, stats: SinkStats, greeting_delay: float, data_delay: float = 0.0) -> None:
        self.stats = stats
        self.greeting_delay = greeting_delay
        self.data_delay = data_delay
        self.held: list[bytes] | None = None  # replies waiting behind a delayed final reply
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.in_data = False
        self.scan_from = 0  # where to resume looking for the final dot in `buffer`
        self.has_mail = False
        self.recipients = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.stats.connected()
        if self.greeting_delay > 0:
            asyncio.get_running_loop().call_later(self.greeting_delay, self._greet)
        else:
            self._greet()

    def _greet(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"220 localhost ESMTP bench sink\r\n")

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out: list[bytes] = []
        closing = False
        while True:
            if self.in_data:
                end = self._find_end_of_data()
                if end < 0:
                    break
                del self.buffer[:end]
                self.in_data = False
                self.scan_from = 0
                self.has_mail = False
                self.recipients = 0
                if self.data_delay > 0 and self.held is None:
                    self._send(out)  # what came before goes now; the rest waits behind it
                    out = []
                    self.held = []
                    asyncio.get_running_loop().call_later(self.data_delay, self._release)
                    continue
                self._accepted()
                out.append(b"250 2.0.0 OK queued\r\n")
                continue
            newline = self.buffer.find(b"\n")
            if newline < 0:
                if len(self.buffer) > _MAX_LINE:
                    out.append(b"500 5.5.2 line too long\r\n")
                    closing = True
                break
            line = bytes(self.buffer[:newline]).rstrip(b"\r")
            del self.buffer[: newline + 1]
            reply, closing = self._command(line)
            out.append(reply)
            if closing:
                break
        if self.held is not None:
            self.held += out
            if closing:
                self.held.append(b"")  # close once the held replies are out
            return
        self._send(out)
        if closing and self.transport is not None:
            self.transport.close()

    def _send(self, out: list[bytes]) -> None:
        if out and self.transport is not None:
            self.transport.write(b"".join(out))

    def _accepted(self) -> None:
        self.stats.count += 1
        self.stats.last_message = time.perf_counter()

    def _release(self) -> None:
        """The delayed final reply, then whatever was answered behind it."""
        held, self.held = self.held or [], None
        self._accepted()
        closing = b"" in held
        self._send([b"250 2.0.0 OK queued\r\n", *(reply for reply in held if reply)])
        if closing and self.transport is not None:
            self.transport.close()

    def _find_end_of_data(self) -> int:
        """The index just past the final dot line, or -1; a message may be empty."""
        if self.buffer.startswith(b".\r\n"):
            return 3
        index = self.buffer.find(_END_OF_DATA, self.scan_from)
        if index < 0:
            self.scan_from = max(0, len(self.buffer) - len(_END_OF_DATA) + 1)
            return -1
        return index + len(_END_OF_DATA)

    def _command(self, line: bytes) -> tuple[bytes, bool]:
        verb = line[:4].upper()
        if verb == b"MAIL":
            self.stats.starts.append(time.perf_counter())
            self.has_mail, self.recipients = True, 0
            return b"250 2.1.0 OK\r\n", False
        if verb == b"RCPT":
            if not self.has_mail:
                return b"503 5.5.1 MAIL first\r\n", False
            self.recipients += 1
            return b"250 2.1.5 OK\r\n", False
        if verb == b"DATA":
            if not self.recipients:
                return b"503 5.5.1 RCPT first\r\n", False
            self.in_data = True
            return b"354 End data with <CR><LF>.<CR><LF>\r\n", False
        if verb == b"EHLO":
            return _EHLO_REPLY, False
        if verb == b"HELO":
            return b"250 localhost\r\n", False
        if verb == b"RSET":
            self.has_mail, self.recipients = False, 0
            return b"250 2.0.0 OK\r\n", False
        if verb == b"NOOP":
            return b"250 2.0.0 OK\r\n", False
        if verb == b"QUIT":
            return b"221 2.0.0 Bye\r\n", True
        return b"500 5.5.2 command not recognized\r\n", False


async def _control(stats_holder: list[SinkStats]) -> None:
    """Answer `stats` and `reset` lines from stdin until it closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return
        command = line.strip().decode("ascii", "replace")
        if command == "stats":
            answer = json.dumps(stats_holder[0].as_dict())
        elif command == "reset":
            stats_holder[0] = SinkStats()
            answer = "ok"
        else:
            answer = json.dumps({"error": f"unknown command {command!r}"})
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()


async def serve(*, host: str, port: int, greeting_delay: float, data_delay: float = 0.0) -> None:
    """Serve until stdin closes."""
    loop = asyncio.get_running_loop()
    holder = [SinkStats()]
    server = await loop.create_server(
        lambda: SMTPSinkProtocol(holder[0], greeting_delay, data_delay), host=host, port=port
    )
    sys.stdout.write(f"READY {server.sockets[0].getsockname()[1]}\n")
    sys.stdout.flush()
    try:
        await _control(holder)
    finally:
        server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sink", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--greeting-delay-ms", type=float, default=0.0)
    parser.add_argument(
        "--data-delay-ms", type=float, default=0.0, help="wait before each final 250"
    )
    args = parser.parse_args(argv)
    asyncio.run(
        serve(
            host=args.host,
            port=args.port,
            greeting_delay=args.greeting_delay_ms / 1000,
            data_delay=args.data_delay_ms / 1000,
        )
    )


if __name__ == "__main__":
    main()
