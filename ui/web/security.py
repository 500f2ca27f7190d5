"""Local-only guard: a Host allow-list against DNS rebinding, and the launch token as a cookie.

A pure ASGI middleware, so it sees HTTP requests *and* websocket handshakes (Starlette's
BaseHTTPMiddleware sees only HTTP). For every request, in this order:

1. The Host header must be `127.0.0.1:PORT`, `localhost:PORT` or `[::1]:PORT`, else 403
   (websocket: refused before accept). A page served under another name (DNS rebinding)
   gets nothing.
2. An `Origin` header, when present on a websocket handshake or on a request that is not
   GET/HEAD, must be one of those same origins, else 403.
3. `GET /any/path?token=<launch token>` answers 303 to the same path without the token and
   sets the token as an HttpOnly, SameSite=Strict, Path=/ cookie; a wrong token gets 401.
4. Everything else needs that cookie, else 401 with a plain-text hint (websocket: refused):
   pages, NiceGUI's socket.io endpoint (`/_nicegui_ws/socket.io/`, both its long-polling
   HTTP requests and its websocket upgrade), uploads (`/_nicegui/client/.../upload/...`),
   and NiceGUI's own scripts and styles under `/_nicegui/`. Those static files are public
   code, but exempting them would buy nothing: the browser sends the cookie with every
   same-origin request, and the 401/403 pages need no assets.

Request bodies (uploads, socket.io posts) are capped at `max_body_bytes`: a larger
Content-Length gets 413, and a chunked body that grows past it reads as a disconnect.

Every HTTP response also gets nosniff, no-referrer, X-Frame-Options DENY (NiceGUI never
frames its own pages; the Outbox preview is a `srcdoc` iframe, which fetches nothing) and
same-origin resource/opener policies.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable
from http import HTTPStatus
from urllib.parse import parse_qsl, quote, urlencode

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "COOKIE_PREFIX",
    "DEFAULT_MAX_BODY_BYTES",
    "TOKEN_PARAM",
    "LocalGuard",
    "allowed_hosts",
    "allowed_origins",
    "cookie_name",
]

TOKEN_PARAM = "token"  # noqa: S105 - the query parameter's name, not a secret
COOKIE_PREFIX = "bulkmailer_key_"
WEBSOCKET_POLICY_VIOLATION = 1008
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("content-security-policy", "frame-ancestors 'none'"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
)
UNAUTHORIZED_TEXT = (
    "Bulk Mailer: this address needs the key from the terminal.\n"
    "Open the link printed in the terminal where you started Bulk Mailer\n"
    "(it looks like http://127.0.0.1:PORT/?token=...).\n"
)
FORBIDDEN_HOST_TEXT = "Bulk Mailer only answers on 127.0.0.1, localhost or [::1].\n"
FORBIDDEN_ORIGIN_TEXT = "Bulk Mailer refuses requests made by other web sites.\n"
TOO_LARGE_TEXT = "Bulk Mailer: that upload is too large.\n"
# Uploads (recipient files, attachments) and socket.io posts: bigger bodies are cut off.
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
_SAFE_METHODS = frozenset({"GET", "HEAD"})
_LEADING_SLASHES = re.compile(r"^[/\\]+")
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,}")  # secrets.token_urlsafe: safe in a cookie


def cookie_name(port: int) -> str:
    """The cookie's name: per port, since browsers share cookies across ports of one host."""
    return f"{COOKIE_PREFIX}{port}"


def allowed_hosts(port: int) -> frozenset[str]:
    """Host header values this server answers to (lowercase)."""
    return frozenset(f"{name}:{port}" for name in LOOPBACK_NAMES)


def allowed_origins(port: int) -> frozenset[str]:
    """Origin header values a page of this server sends."""
    return frozenset(f"http://{host}" for host in allowed_hosts(port))


class LocalGuard:
    """ASGI middleware: Host allow-list, launch token, security headers (see module doc)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        port: int,
        token: str,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if not _TOKEN_SHAPE.fullmatch(token):
            raise ValueError("the launch token must be 16+ URL-safe characters")
        self.app = app
        self.port = port
        self.max_body_bytes = max_body_bytes
        self._token = token.encode()
        self._cookie = cookie_name(port)
        self._hosts = allowed_hosts(port)
        self._origins = allowed_origins(port)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in {"http", "websocket"}:  # lifespan
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        method = str(scope.get("method", "GET")).upper()

        if headers.get("host", "").strip().lower() not in self._hosts:
            await self._refuse(scope, receive, send, HTTPStatus.FORBIDDEN, FORBIDDEN_HOST_TEXT)
            return
        origin = headers.get("origin")
        checks_origin = kind == "websocket" or method not in _SAFE_METHODS
        if checks_origin and origin is not None and origin.strip().lower() not in self._origins:
            await self._refuse(scope, receive, send, HTTPStatus.FORBIDDEN, FORBIDDEN_ORIGIN_TEXT)
            return

        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        offered = [value for name, value in query if name == TOKEN_PARAM]
        if offered and kind == "http" and method in _SAFE_METHODS:
            if len(offered) == 1 and self._matches(offered[0]):
                await self._redirect_with_cookie(scope, send, query)
            else:
                await self._refuse(scope, receive, send, HTTPStatus.UNAUTHORIZED, UNAUTHORIZED_TEXT)
            return

        if not self._matches(_cookie_value(headers, self._cookie)):
            await self._refuse(scope, receive, send, HTTPStatus.UNAUTHORIZED, UNAUTHORIZED_TEXT)
            return

        if kind == "http" and method not in _SAFE_METHODS:
            length = headers.get("content-length", "0").strip()
            if not length.isdigit() or int(length) > self.max_body_bytes:
                await _send_response(
                    send, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, TOO_LARGE_TEXT.encode()
                )
                return
            receive = _capped(receive, self.max_body_bytes)

        if kind == "http":
            await self.app(scope, receive, _with_security_headers(send))
        else:
            await self.app(scope, receive, send)

    def _matches(self, candidate: str | None) -> bool:
        if not candidate:
            return False
        return hmac.compare_digest(candidate.encode(), self._token)

    async def _redirect_with_cookie(
        self, scope: Scope, send: Send, query: list[tuple[str, str]]
    ) -> None:
        """303 to the same path minus the token, setting the cookie."""
        # Re-quoted from the decoded path, so no raw backslash, tab or newline survives, and
        # with one leading slash only: `//evil.example/` or `/\\evil.example/` as a Location
        # would leave this server.
        path = _LEADING_SLASHES.sub("/", quote(str(scope.get("path") or "/"))) or "/"
        rest = urlencode([(name, value) for name, value in query if name != TOKEN_PARAM])
        location = f"{path}?{rest}" if rest else path
        cookie = f"{self._cookie}={self._token.decode()}; Path=/; HttpOnly; SameSite=Strict"
        await _send_response(
            send,
            HTTPStatus.SEE_OTHER,
            b"",
            extra=[
                (b"location", location.encode("latin-1")),
                (b"set-cookie", cookie.encode("latin-1")),
                (b"cache-control", b"no-store"),
            ],
        )

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, status: HTTPStatus, text: str
    ) -> None:
        if scope["type"] == "http":
            await _send_response(send, status, text.encode())
            return
        # Websocket: answer the handshake with a plain HTTP error where the server supports
        # it (ASGI "websocket.http.response"), else close before accepting (a 403).
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if "websocket.http.response" in scope.get("extensions", {}):
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": int(status),
                    "headers": _plain_headers(len(text.encode())),
                }
            )
            await send({"type": "websocket.http.response.body", "body": text.encode()})
        else:
            await send({"type": "websocket.close", "code": WEBSOCKET_POLICY_VIOLATION})


def _cookie_value(headers: Headers, name: str) -> str | None:
    for header in headers.getlist("cookie"):
        for pair in header.split(";"):
            key, sep, value = pair.strip().partition("=")
            if sep and key == name:
                return value.strip().strip('"')
    return None


def _plain_headers(length: int) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(length).encode()),
        *((name.encode(), value.encode()) for name, value in SECURITY_HEADERS),
    ]


async def _send_response(
    send: Send,
    status: HTTPStatus,
    body: bytes,
    *,
    extra: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": int(status),
            "headers": [*_plain_headers(len(body)), *extra],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _capped(receive: Receive, limit: int) -> Receive:
    """A body that grows past `limit` (chunked, no Content-Length) ends as a disconnect."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                return {"type": "http.disconnect"}
        return message

    return wrapped


def _with_security_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in SECURITY_HEADERS:
                if name not in headers:
                    headers.append(name, value)
        await send(message)

    return wrapped
