"""A tiny HTTP/1.1 server on 127.0.0.1 for tests: keep-alive, Content-Length bodies, faults."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

__all__ = ["HTTPServerHandle", "Request", "Response", "json_response", "start_http_server"]

_MAX_HEADER_BYTES = 64 * 1024


@dataclass
class Request:
    """One parsed request: method, path, query, headers (lower-case names) and body."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("ascii"), keep_blank_values=True))


@dataclass
class Response:
    """What to answer. `drop=True` closes the connection without any reply (a lost reply)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


def json_response(status: int, data: object, **headers: str) -> Response:
    return Response(
        status,
        json.dumps(data).encode(),
        {"Content-Type": "application/json; charset=UTF-8", **headers},
    )


Handler = Callable[[Request], Awaitable[Response] | Response]


@dataclass
class HTTPServerHandle:
    host: str
    port: int
    server: asyncio.base_events.Server
    connections: int = 0
    writers: set[asyncio.StreamWriter] = field(default_factory=set)
    tls: bool = False

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    async def close(self) -> None:
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 2)


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    if len(head) > _MAX_HEADER_BYTES:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    body = await reader.readexactly(length) if length else b""
    parts = urlsplit(target)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    return Request(method.upper(), parts.path, query, headers, body)


def _encode(response: Response) -> bytes:
    reason = HTTPStatus(response.status).phrase
    headers = {"Content-Length": str(len(response.body)), **response.headers}
    head = f"HTTP/1.1 {response.status} {reason}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers.items()
    )
    return head.encode("latin-1") + b"\r\n" + response.body


async def start_http_server(
    handler: Handler, *, ssl_context: ssl.SSLContext | None = None
) -> HTTPServerHandle:
    """Serve `handler` on 127.0.0.1, a free port (over TLS with `ssl_context`); one request
    at a time per connection."""
    handle: HTTPServerHandle

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handle.connections += 1
        handle.writers.add(writer)
        try:
            while True:
                try:
                    request = await _read_request(reader)
                except asyncio.IncompleteReadError:
                    return
                if request is None:
                    return
                result = handler(request)
                response = await result if asyncio.iscoroutine(result) else result
                assert isinstance(response, Response)
                if response.drop:
                    writer.transport.abort()
                    return
                writer.write(_encode(response))
                await writer.drain()
                if request.headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            handle.writers.discard(writer)
            writer.close()

    server = await asyncio.start_server(serve, host="127.0.0.1", port=0, ssl=ssl_context)
    port = server.sockets[0].getsockname()[1]
    handle = HTTPServerHandle("127.0.0.1", port, server, tls=ssl_context is not None)
    return handle
