"""A one-shot redirect listener on 127.0.0.1 and a random port (RFC 8252 section 7.3)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from urllib.parse import parse_qsl, urlsplit

from core.oauth.tokens import OAuthFlowError

__all__ = ["LOOPBACK_HOST", "LoopbackRedirect"]

LOOPBACK_HOST = "127.0.0.1"
_MAX_REQUEST_LINE = 8192
_DONE_PAGE = (
    "<!doctype html><meta charset=utf-8><title>Bulk Mailer</title>"
    "<p>Signed in. You can close this tab and go back to Bulk Mailer.</p>"
)
_FAILED_PAGE = (
    "<!doctype html><meta charset=utf-8><title>Bulk Mailer</title>"
    "<p>The sign-in did not complete. Go back to Bulk Mailer for details.</p>"
)


class LoopbackRedirect:
    """Waits for the browser's one redirect back to `http://127.0.0.1:PORT/`.

    Only the listener's own path answers; the first request there decides: its `state` must
    equal ours (else the sign-in stops: a forged request), then the listener closes. Other
    paths (a favicon) get 404 and are otherwise ignored. Not the app's port: a native
    window has no launch cookie, and this listener needs none.
    """

    def __init__(self, state: str) -> None:
        self.state = state
        self._server: asyncio.base_events.Server | None = None
        self._result: asyncio.Future[str] | None = None
        self.port = 0

    @property
    def redirect_uri(self) -> str:
        return f"http://{LOOPBACK_HOST}:{self.port}/"

    async def __aenter__(self) -> LoopbackRedirect:
        self._result = asyncio.get_running_loop().create_future()
        self._server = await asyncio.start_server(self._serve, host=LOOPBACK_HOST, port=0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)
        if self._result is not None and not self._result.done():
            self._result.cancel()

    async def wait(self, timeout: float) -> str:
        """The full redirect URL the browser brought (`?code=...&state=...`)."""
        assert self._result is not None
        try:
            return await asyncio.wait_for(asyncio.shield(self._result), timeout)
        except TimeoutError:
            raise OAuthFlowError(
                f"no answer from the browser within {timeout:.0f} seconds: sign-in cancelled"
            ) from None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 10)
            while (await reader.readline()) not in {b"\r\n", b"\n", b""}:
                pass
        except (TimeoutError, ConnectionError, ValueError):
            writer.close()
            return
        parts = line.decode("latin-1").split(" ")
        target = parts[1] if len(parts) >= 3 and len(line) < _MAX_REQUEST_LINE else ""
        url = urlsplit(target)
        if parts[0] != "GET" or url.path != "/" or self._result is None or self._result.done():
            await self._reply(writer, 404, "<p>Not found</p>")
            return
        query = dict(parse_qsl(url.query))
        if not secrets.compare_digest(query.get("state", ""), self.state):
            await self._reply(writer, 400, _FAILED_PAGE)
            self._result.set_exception(
                OAuthFlowError(
                    "the answer from the browser did not carry our 'state': it was not the "
                    "sign-in we started (possible cross-site request forgery); sign-in stopped"
                )
            )
            return
        if "error" in query:
            await self._reply(writer, 400, _FAILED_PAGE)
            detail = query.get("error_description", "")
            self._result.set_exception(
                OAuthFlowError(
                    f"the provider refused the sign-in: {query['error']} {detail}".strip()
                )
            )
            return
        await self._reply(writer, 200, _DONE_PAGE)
        self._result.set_result(f"{self.redirect_uri.rstrip('/')}{target}")

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, status: int, page: str) -> None:
        body = page.encode("utf-8")
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}[status]
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\nCache-Control: no-store\r\n"
        )
        writer.write(head.encode("latin-1") + b"\r\n" + body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()
