"""The Gmail API transport: `users.messages.send` with the message we build, over httpx.

Behind the same port as SMTP (`TransportLike`): `connect`, `send`, `close`. The message is
uploaded as `message/rfc822` (media upload, up to Gmail's 35 MB); the returned message id is
the "server's reply" the journal records. Failures become the same errors, classified by
`core.classify`: a lost reply after the whole body was sent is ambiguous (UNKNOWN), exactly
like a lost reply to SMTP's final dot.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from email.headerregistry import Address
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import getaddresses
from typing import Any

import httpx

from core.credentials import CredentialProvider, as_provider
from core.errors import (
    AuthError,
    ConnectError,
    DisconnectedError,
    HTTPReplyError,
    Phase,
    RecipientsMismatchError,
    SMTPError,
    TimedOutError,
)
from core.models import Account, Credentials
from core.ports import Envelope
from core.transport.client import SessionInfo, StepCallback
from core.transport.errors import translating
from core.transport.proxies import https_proxy_url
from core.transport.replies import Reply
from core.transport.tls import build_tls_context

__all__ = [
    "GMAIL_MAX_MESSAGE_BYTES",
    "GMAIL_SEND_PATH",
    "GmailAPITransport",
    "prepare_for_api",
]

GMAIL_SEND_PATH = "/upload/gmail/v1/users/me/messages/send"
GMAIL_MAX_MESSAGE_BYTES = 35 * 1024 * 1024  # Gmail's limit for a media upload
HTTP_OK = 200
HTTP_UNAUTHORIZED = 401
_CHUNK = 64 * 1024
_HEADER_END = b"\r\n\r\n"

DataStartHook = Callable[[], Awaitable[None] | None]


def _addresses(headers: Any, name: str) -> list[str]:
    values = [str(value) for value in headers.get_all(name, [])]
    return [address for _, address in getaddresses(values) if address]


def prepare_for_api(payload: bytes, recipient: str, extra: Sequence[str] = ()) -> bytes:
    """The message as the API must get it: its headers name exactly this row's recipients.

    The API sends to every To, Cc and Bcc header, not to an envelope. A header address outside
    the envelope is refused (`RecipientsMismatchError`); envelope addresses the headers lack
    (a template's Bcc, which SMTP keeps out of the message) are added as a Bcc header, which
    Gmail removes before delivery.
    """
    envelope = {address.lower(): address for address in (recipient, *extra)}
    headers = BytesHeaderParser(policy=default_policy).parsebytes(payload)
    named = [*_addresses(headers, "to"), *_addresses(headers, "cc"), *_addresses(headers, "bcc")]
    outside = sorted({address for address in named if address.lower() not in envelope})
    if outside:
        raise RecipientsMismatchError(
            f"the message's headers name {', '.join(outside)}, who is not among this row's "
            "recipients; the Gmail API would send to them: refused",
            recipient=recipient,
        )
    present = {address.lower() for address in named}
    missing = [address for key, address in envelope.items() if key not in present]
    if not missing:
        return payload
    line = "Bcc: " + ", ".join(str(Address(addr_spec=address)) for address in missing)
    return line.encode("utf-8") + b"\r\n" + payload


class _Upload:
    """The request body, streamed so we know when the message starts and ends on the wire."""

    def __init__(self, payload: bytes, on_data_start: DataStartHook | None) -> None:
        self.payload = payload
        self._on_data_start = on_data_start
        self.started = False
        self.complete = False

    async def body(self) -> AsyncIterator[bytes]:
        self.complete = False
        if not self.started:
            self.started = True
            if self._on_data_start is not None:
                maybe = self._on_data_start()
                if maybe is not None:
                    await maybe
        view = memoryview(self.payload)
        for start in range(0, len(view), _CHUNK):
            yield bytes(view[start : start + _CHUNK])
        self.complete = True  # httpx asked for more: every byte was handed to the socket


class GmailAPITransport:
    """Sends each message with one authenticated HTTPS request; the access token comes from
    the credential provider for every request and is refreshed once after a 401."""

    def __init__(
        self,
        account: Account,
        credentials: Credentials | CredentialProvider | None = None,
        *,
        on_step: StepCallback | None = None,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.account = account
        self._provider = as_provider(credentials)
        self._on_step = on_step
        self._http_transport = http_transport
        self._client: httpx.AsyncClient | None = None
        self.session = SessionInfo()

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def connect(self) -> SessionInfo:
        """Get a valid access token (a refresh if needed) and open the HTTP client."""
        await self.close()
        started = time.perf_counter()
        await self._bearer()
        timeouts = self.account.timeouts
        self._client = httpx.AsyncClient(
            base_url=self.account.api_url,
            timeout=httpx.Timeout(timeouts.command, connect=timeouts.connect, read=timeouts.data),
            transport=self._http_transport,
            follow_redirects=False,
            # The account's certificate rules (pinned CA files, verification) hold here too,
            # and the environment's HTTPS_PROXY / ALL_PROXY (NO_PROXY honoured) is used.
            verify=build_tls_context(self.account),
            proxy=https_proxy_url(self.account.api_url),
            trust_env=False,
        )
        self.session = SessionInfo(greeting=f"Gmail API at {self.account.api_url}")
        self.session.auth_mechanism = "oauth2-bearer"
        if self._on_step is not None:
            self._on_step("access token", time.perf_counter() - started, "")
        return self.session

    async def submit(
        self,
        sender: str,
        recipient: str,
        payload: bytes,
        *,
        smtputf8: bool = False,
        on_data_start: Callable[[], Awaitable[None] | None] | None = None,
        extra_recipients: Sequence[str] = (),
        ahead: Callable[[], Envelope | None] | None = None,
    ) -> asyncio.Future[Reply]:
        """The engine's pipelined step, for an API with one request per message: the whole
        request is made here. A failure once the body went out (phase MESSAGE: Google may
        have it) comes through the returned future, as an SMTP final-dot reply would; an
        earlier one is raised, as a refused envelope is. `ahead` is never asked: nothing can
        travel with a request ahead of its own."""
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        try:
            reply = await self.send(
                sender,
                recipient,
                payload,
                smtputf8=smtputf8,
                on_data_start=on_data_start,
                extra_recipients=extra_recipients,
            )
        except SMTPError as exc:
            if exc.phase is not Phase.MESSAGE:
                raise
            future.set_exception(exc)
        else:
            future.set_result(reply)
        return future

    async def settle(self) -> None:
        """Nothing to read: every request was answered within `submit`."""

    async def close(self, *, polite: bool = True) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()

    async def probe(self) -> int:
        """One GET of the API's root: reachable, TLS verified. Returns the HTTP status."""
        client = self._client
        if client is None:
            raise DisconnectedError("not connected", phase=Phase.CONNECT)
        try:
            response = await client.get("/")
        except httpx.HTTPError as exc:
            raise ConnectError(f"cannot reach the Gmail API: {type(exc).__name__}") from None
        return response.status_code

    async def _refreshed(self) -> str | None:
        """A new access token after a 401, or None when there is nothing to refresh."""
        with translating(Phase.AUTH):
            creds = await self._provider.refresh()
        token = creds.oauth_token if creds is not None else None
        return token.reveal() if token else None

    async def _bearer(self) -> str:
        with translating(Phase.AUTH):
            creds = await self._provider.current()
        token = creds.oauth_token
        if not token:
            raise AuthError(
                "no access token for the Gmail API: sign in with Google first", phase=Phase.AUTH
            )
        return token.reveal()

    async def send(
        self,
        sender: str,
        recipient: str,
        payload: bytes,
        *,
        smtputf8: bool = False,
        on_data_start: DataStartHook | None = None,
        extra_recipients: Sequence[str] = (),
    ) -> Reply:
        """Upload one message; returns `Reply(200, "id=<message id>")`."""
        if self._client is None:
            raise DisconnectedError("not connected", phase=Phase.MAIL)
        body = prepare_for_api(payload, recipient, extra_recipients)
        if len(body) > GMAIL_MAX_MESSAGE_BYTES:
            raise HTTPReplyError(
                f"the message is {len(body):,} bytes, more than Gmail's 35 MB",
                status=413,
                reason="tooLarge",
                text="message too large for the Gmail API",
                recipient=recipient,
            )
        upload = _Upload(body, on_data_start)
        response = await self._post(await self._bearer(), upload, recipient)
        if response.status_code == HTTP_UNAUTHORIZED:  # refused before sending: safe to retry
            fresh = await self._refreshed()
            if fresh is not None:
                response = await self._post(fresh, upload, recipient)
        if response.status_code != HTTP_OK:
            raise _reply_error(response, upload, recipient)
        try:
            message_id = str(response.json()["id"])
        except (ValueError, KeyError, TypeError):
            message_id = "?"
        return Reply(HTTP_OK, f"id={message_id}")

    async def _post(self, token: str, upload: _Upload, recipient: str) -> httpx.Response:
        client = self._client
        if client is None:
            raise DisconnectedError("not connected", phase=Phase.MAIL)
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "message/rfc822",
            "Content-Length": str(len(upload.payload)),
        }
        try:
            return await client.post(
                GMAIL_SEND_PATH,
                params={"uploadType": "media"},
                content=upload.body(),
                headers=headers,
            )
        except httpx.HTTPError as exc:
            await self.close()
            raise _transport_error(exc, upload, recipient) from None


def _transport_error(exc: httpx.HTTPError, upload: _Upload, recipient: str) -> Exception:
    name = type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return ConnectError(f"cannot reach the Gmail API: {name}")
    if upload.complete:  # every byte went out: Google may have sent it
        if isinstance(exc, httpx.TimeoutException):
            return TimedOutError(
                f"no reply from the Gmail API after the message was sent ({name})",
                phase=Phase.MESSAGE,
                recipient=recipient,
            )
        return DisconnectedError(
            f"the connection broke after the message was sent ({name})",
            phase=Phase.MESSAGE,
            recipient=recipient,
        )
    return DisconnectedError(
        f"the connection broke before the whole message was sent ({name})",
        phase=Phase.DATA,
        recipient=recipient,
    )


def _reply_error(response: httpx.Response, upload: _Upload, recipient: str) -> HTTPReplyError:
    reason, message = "", response.reason_phrase
    try:
        error = response.json().get("error", {})
        message = str(error.get("message") or message)
        details = error.get("errors") or [{}]
        reason = str(details[0].get("reason") or error.get("status") or "")
    except (ValueError, AttributeError, IndexError, TypeError):
        pass
    text = f"{message} ({reason})" if reason else message
    return HTTPReplyError(
        f"the Gmail API answered {response.status_code}",
        status=response.status_code,
        reason=reason,
        text=text,
        body_sent=upload.complete,
        recipient=recipient,
        retry_after=_retry_after(response.headers.get("retry-after")),
    )


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds to wait: a number of seconds, or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
