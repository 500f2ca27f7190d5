"""The local guard: Host allow-list, launch token -> cookie, websocket refusal, headers."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message
from starlette.websockets import WebSocket

from ui.web.security import LocalGuard, cookie_name

PORT = 8765
TOKEN = secrets.token_urlsafe(32)
GOOD_HOST = f"127.0.0.1:{PORT}"
COOKIE = {"cookie": f"{cookie_name(PORT)}={TOKEN}"}


async def _page(request: Request) -> PlainTextResponse:
    try:
        body = await request.body()
    except ClientDisconnect:
        return PlainTextResponse("cut off", status_code=400)
    return PlainTextResponse(f"page {request.url.path} {len(body)}")


async def _socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("hello")
    await websocket.close()


def _app(max_body_bytes: int = 1000) -> ASGIApp:
    app = Starlette(
        routes=[
            Route("/{path:path}", _page, methods=["GET", "POST"]),
            WebSocketRoute("/_nicegui_ws/socket.io/", _socket),
        ]
    )
    app.add_middleware(LocalGuard, port=PORT, token=TOKEN, max_body_bytes=max_body_bytes)
    return app


class Client:
    """HTTP through httpx's ASGI transport; websocket handshakes driven by hand."""

    def __init__(self) -> None:
        self.app = _app()
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=f"http://{GOOD_HOST}"
        )

    async def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.http.get(path, headers=headers)

    async def post(
        self, path: str, headers: dict[str, str] | None = None, content: Any = None
    ) -> httpx.Response:
        return await self.http.post(path, headers=headers, content=content)

    async def websocket(
        self, headers: dict[str, str], *, denial_extension: bool = True
    ) -> list[Message]:
        """Run one handshake; returns what the app sent (accept/close/http response)."""
        raw = {"host": GOOD_HOST, **headers}
        scope: dict[str, Any] = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "path": "/_nicegui_ws/socket.io/",
            "raw_path": b"/_nicegui_ws/socket.io/",
            "query_string": b"EIO=4&transport=websocket",
            "headers": [(k.lower().encode(), v.encode()) for k, v in raw.items()],
            "extensions": {"websocket.http.response": {}} if denial_extension else {},
        }
        incoming: Iterator[Message] = iter(
            [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}]
        )
        sent: list[Message] = []

        async def receive() -> Message:
            return next(incoming, {"type": "websocket.disconnect", "code": 1000})

        async def send(message: Message) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        return sent

    async def raw_redirect(self, path: str, query: str) -> str:
        """GET exactly `path` (no URL normalization by a client library); the Location."""
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": [(b"host", GOOD_HOST.encode())],
        }
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        assert sent[0]["status"] == 303
        return dict(sent[0]["headers"])[b"location"].decode()


@pytest.fixture
def client() -> Client:
    return Client()


async def test_page_without_cookie_gets_401_with_a_hint(client: Client) -> None:
    response = await client.get("/")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/plain")
    assert "link printed in the terminal" in response.text
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize("path", ["/", "/outbox", "/_nicegui/3.18.0/static/nicegui.js"])
async def test_every_path_needs_the_cookie(client: Client, path: str) -> None:
    assert (await client.get(path)).status_code == 401
    assert (await client.get(path, headers=COOKIE)).status_code == 200


async def test_token_link_sets_a_strict_httponly_cookie_and_drops_the_token(client: Client) -> None:
    response = await client.get(f"/outbox?token={TOKEN}&tab=2")
    assert response.status_code == 303
    assert response.headers["location"] == "/outbox?tab=2"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{cookie_name(PORT)}={TOKEN};")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert attributes == {"path=/", "httponly", "samesite=strict"}
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["//evil.example/", "/\\evil.example/", "///evil.example"])
async def test_redirect_never_leaves_the_server(client: Client, path: str) -> None:
    location = await client.raw_redirect(path, f"token={TOKEN}")
    assert location.startswith("/")
    assert not location.startswith(("//", "/\\"))


@pytest.mark.parametrize("token", ["wrong", TOKEN[:-1], TOKEN + "x", ""])
async def test_wrong_token_gets_401_and_no_cookie(client: Client, token: str) -> None:
    response = await client.get(f"/?token={token}")
    assert response.status_code == 401
    assert "set-cookie" not in response.headers


async def test_cookie_with_the_wrong_value_is_refused(client: Client) -> None:
    headers = {"cookie": f"{cookie_name(PORT)}=nope; other=1"}
    assert (await client.get("/", headers=headers)).status_code == 401
    headers = {"cookie": f"{cookie_name(PORT + 1)}={TOKEN}"}  # another launch's cookie
    assert (await client.get("/", headers=headers)).status_code == 401


@pytest.mark.parametrize("host", [f"localhost:{PORT}", f"LOCALHOST:{PORT}", f"[::1]:{PORT}"])
async def test_loopback_names_are_allowed(client: Client, host: str) -> None:
    assert (await client.get("/", headers={**COOKIE, "host": host})).status_code == 200


@pytest.mark.parametrize(
    "host",
    [f"evil.example:{PORT}", "127.0.0.1", f"127.0.0.1:{PORT + 1}", f"localhost.evil:{PORT}", ""],
)
async def test_foreign_host_is_refused_even_with_token_or_cookie(client: Client, host: str) -> None:
    response = await client.get(f"/?token={TOKEN}", headers={**COOKIE, "host": host})
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


async def test_cross_site_post_is_refused(client: Client) -> None:
    headers = {**COOKIE, "origin": "http://evil.example"}
    assert (await client.post("/upload", headers=headers)).status_code == 403
    headers = {**COOKIE, "origin": f"http://{GOOD_HOST}"}
    assert (await client.post("/upload", headers=headers)).status_code == 200


async def test_request_bodies_are_capped(client: Client) -> None:
    ok = await client.post("/upload", headers=COOKIE, content=b"x" * 1000)
    assert (ok.status_code, ok.text) == (200, "page /upload 1000")
    too_big = await client.post("/upload", headers=COOKIE, content=b"x" * 1001)
    assert too_big.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(5):
            yield b"x" * 400

    cut = await client.post("/upload", headers=COOKIE, content=chunks())
    assert cut.text == "cut off"


async def test_security_headers_on_pages_and_refusals(client: Client) -> None:
    for response in (await client.get("/", headers=COOKIE), await client.get("/")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_websocket_with_cookie_and_own_origin_connects(client: Client) -> None:
    sent = await client.websocket({**COOKIE, "origin": f"http://{GOOD_HOST}"})
    assert sent[0]["type"] == "websocket.accept"
    assert {"type": "websocket.send", "text": "hello"} in [
        {k: v for k, v in m.items() if k in {"type", "text"}} for m in sent
    ]


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no cookie
        {"cookie": f"{cookie_name(PORT)}=wrong"},
        {**COOKIE, "host": f"evil.example:{PORT}"},
        {**COOKIE, "origin": "http://evil.example"},
    ],
    ids=["no-cookie", "wrong-cookie", "foreign-host", "foreign-origin"],
)
async def test_websocket_handshake_is_refused(client: Client, headers: dict[str, str]) -> None:
    sent = await client.websocket(headers)
    assert sent[0]["type"] == "websocket.http.response.start"
    assert sent[0]["status"] in {401, 403}
    assert all(m["type"] != "websocket.accept" for m in sent)
    # a server without the denial-response extension gets a close before accept (HTTP 403)
    sent = await client.websocket(headers, denial_extension=False)
    assert sent == [{"type": "websocket.close", "code": 1008}]


@pytest.mark.parametrize("token", ["", "short", "has spaces in it and more", "a;b=c" * 5])
def test_rejects_a_weak_or_unsafe_token(token: str) -> None:
    with pytest.raises(ValueError, match="launch token"):
        LocalGuard(_app(), port=PORT, token=token)
