"""A loopback proxy that adds a fixed one-way delay both ways: a relay 2 x delay away (RTT).

`python -m bench.wan_proxy --upstream-port P [--delay-ms 20]` listens on 127.0.0.1 (a free
port), prints `READY <port>`, and for each client opens a connection to 127.0.0.1:P. Every
chunk read from either side is delivered to the other `delay` ms after it arrived, in order,
so a client sees a round trip of 2 x delay on top of the server's own time (bandwidth is not
limited: a round trip, not a slow link, is what a relay 20-100 ms away costs). It exits when
its stdin closes (the harness drives it like a sink).

Each direction of each connection has a reader thread and a writer thread that sleeps until
the chunk's due time (`time.sleep`: clock_nanosleep, within about 0.1 ms). The first version
ran on an asyncio loop, whose timers wait in whole milliseconds (epoll's timeout): each hop
came up to 1 ms late, and chunks of different connections due within that millisecond went
out together, so parallel connections arrived bunched, which a real link does not do.
Measured here: a round trip (NOOP to the fast sink) takes 40.8 ms at 20 ms through this one,
41.5 ms through the asyncio one.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import threading
import time
from collections import deque

__all__ = ["DEFAULT_DELAY_MS", "Link", "main", "serve"]

DEFAULT_DELAY_MS = 20
_CHUNK = 65536


class Link:
    """One direction of one connection: chunks read from `source`, written `delay` s later."""

    def __init__(self, source: socket.socket, target: socket.socket, delay: float) -> None:
        self._source = source
        self._target = target
        self._delay = delay
        self._queue: deque[tuple[float, bytes]] = deque()
        self._ready = threading.Condition()

    def start(self) -> None:
        for run in (self._read, self._write):
            threading.Thread(target=run, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = self._source.recv(_CHUNK)
            except OSError:
                data = b""
            with self._ready:
                self._queue.append((time.monotonic() + self._delay, data))
                self._ready.notify()
            if not data:
                return

    def _write(self) -> None:
        """Write each chunk at its due time; an empty chunk (EOF) ends this direction."""
        while True:
            with self._ready:
                while not self._queue:
                    self._ready.wait()
                due, data = self._queue.popleft()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if not data:
                with contextlib.suppress(OSError):
                    self._target.shutdown(socket.SHUT_WR)
                return
            try:
                self._target.sendall(data)
            except OSError:
                with contextlib.suppress(OSError):
                    self._source.shutdown(socket.SHUT_RD)  # the reader sees EOF and stops
                return


def _accept(listener: socket.socket, upstream_port: int, delay: float) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return  # closed: the proxy is exiting
        try:
            server = socket.create_connection(("127.0.0.1", upstream_port))
        except OSError:
            client.close()
            continue
        for end in (client, server):
            end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        Link(client, server, delay).start()
        Link(server, client, delay).start()


def serve(upstream_port: int, delay_ms: float) -> None:
    """Proxy until stdin closes."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)
    print(f"READY {listener.getsockname()[1]}", flush=True)
    threading.Thread(
        target=_accept, args=(listener, upstream_port, delay_ms / 1000.0), daemon=True
    ).start()
    sys.stdin.read()  # until the harness closes stdin; open connections end with the process
    listener.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.wan_proxy", description=__doc__)
    parser.add_argument("--upstream-port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=DEFAULT_DELAY_MS, help="one way")
    args = parser.parse_args(argv)
    serve(args.upstream_port, args.delay_ms)


if __name__ == "__main__":
    main()
