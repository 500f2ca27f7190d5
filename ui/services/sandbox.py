"""The sandbox: a local SMTP server (127.0.0.1, no TLS, no AUTH) that keeps every message."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiosmtpd.smtp import SMTP, Envelope, Session

from core.models import Account, AuthMethod, Security
from storage.outbox import OutboxStore

__all__ = [
    "SANDBOX_ACCOUNT_NAME",
    "SANDBOX_HOST",
    "SANDBOX_PRESET",
    "SANDBOX_SENDER",
    "SandboxServer",
    "current",
    "sandbox_account",
    "start",
    "stop",
]

SANDBOX_HOST = "127.0.0.1"
SANDBOX_HOSTNAME = "sandbox.local"  # the name the server greets with (no DNS lookup)
SANDBOX_SENDER = "you@sandbox.local"
SANDBOX_PRESET = "sandbox"
SANDBOX_ACCOUNT_NAME = "Sandbox (local test server: nothing leaves this computer)"
SANDBOX_DATA_LIMIT = 64 * 1024 * 1024  # bytes per message; above a 25 MB attachment in base64
SANDBOX_CLOSE_TIMEOUT = 2.0  # seconds to wait for the listener to close

log = logging.getLogger(__name__)


class _CaptureHandler:
    """aiosmtpd handler: accept any sender and recipient, store the message, reply 250."""

    def __init__(self, store: OutboxStore, on_message: Callable[[], None] | None) -> None:
        self._store = store
        self._on_message = on_message

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = bytes(envelope.original_content or b"")
        try:
            entry = await asyncio.to_thread(
                self._store.add,
                data,
                mail_from=str(envelope.mail_from or ""),
                rcpt_tos=[str(rcpt) for rcpt in envelope.rcpt_tos],
            )
        except OSError as exc:
            log.warning("sandbox could not store a message: %s", exc)
            return "451 4.3.0 sandbox could not store the message"
        log.info("sandbox captured %s (%d bytes)", entry.id, entry.size)
        if self._on_message is not None:
            self._on_message()
        return "250 2.0.0 OK: kept in the sandbox Outbox (nothing was sent)"


class SandboxServer:
    """aiosmtpd on 127.0.0.1 in the running event loop, on a port the OS picks."""

    def __init__(
        self, store: OutboxStore | None = None, *, on_message: Callable[[], None] | None = None
    ) -> None:
        self.store = store or OutboxStore()
        self.on_message = on_message  # called after each captured message
        self._server: asyncio.Server | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The port it listens on; RuntimeError before `start()`."""
        if self._port is None:
            raise RuntimeError("the sandbox SMTP server is not running")
        return self._port

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self, port: int = 0) -> int:
        """Listen on 127.0.0.1:`port` (0: any free port); returns the port."""
        if self._server is not None:
            return self.port
        loop = asyncio.get_running_loop()
        handler = _CaptureHandler(self.store, self.on_message)

        def factory() -> SMTP:
            return SMTP(
                handler,
                hostname=SANDBOX_HOSTNAME,
                ident="Bulk Mailer sandbox",
                data_size_limit=SANDBOX_DATA_LIMIT,
                enable_SMTPUTF8=True,
                auth_exclude_mechanism=["LOGIN", "PLAIN"],  # no AUTH at all
                loop=loop,
            )

        self._server = await loop.create_server(factory, host=SANDBOX_HOST, port=port)
        self._port = int(self._server.sockets[0].getsockname()[1])
        return self._port

    async def stop(self) -> None:
        """Stop listening; idempotent."""
        server, self._server, self._port = self._server, None, None
        if server is None:
            return
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), SANDBOX_CLOSE_TIMEOUT)

    def account(self) -> Account:
        """An account that sends to this server."""
        return Account(
            host=SANDBOX_HOST,
            port=self.port,
            sender=SANDBOX_SENDER,
            sender_name="You (sandbox)",
            security=Security.NONE,
            auth=AuthMethod.NONE,
            preset=SANDBOX_PRESET,
            local_hostname="localhost",
        )


_current: SandboxServer | None = None


def current() -> SandboxServer | None:
    """The sandbox the app started, if any."""
    return _current


async def start(
    store: OutboxStore | None = None, *, on_message: Callable[[], None] | None = None
) -> SandboxServer:
    """Start the app's sandbox (once) and return it; `on_message` runs after each capture."""
    global _current  # one sandbox per app process
    if _current is None:
        _current = SandboxServer(store, on_message=on_message)
    await _current.start()
    return _current


async def stop() -> None:
    """Stop the app's sandbox, if it runs."""
    global _current
    server, _current = _current, None
    if server is not None:
        await server.stop()


def sandbox_account() -> Account:
    """The default account: the running sandbox. RuntimeError when it does not run."""
    if _current is None:
        raise RuntimeError("the sandbox SMTP server is not running")
    return _current.account()
