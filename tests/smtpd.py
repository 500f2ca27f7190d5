"""Real SMTP servers for tests: aiosmtpd on 127.0.0.1 with TLS, AUTH and scripted faults."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import email
import email.policy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP as SMTPProtocolServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.certs import CertSet

__all__ = [
    "XOAUTH2_SCOPES",
    "BearerCheck",
    "Mode",
    "OAuthRecorder",
    "RawServer",
    "Recorder",
    "ServerHandle",
    "start_raw_server",
    "start_server",
]

Mode = str  # "starttls" | "tls" | "plain"

USER = "alice@example.com"
PASSWORD = "correct horse battery staple"


@dataclass
class Recorder:
    """Records what the server saw and replays scripted faults.

    - `rcpt_replies[address]`: a list of replies to give, one per attempt (then 250).
    - `data_replies`: replies to give to successive final dots (then 250).
    - `drop_after_data`: addresses whose message is stored, then the connection is cut before
      the reply (the ambiguous case).
    - `mail_reply`: reply to every MAIL FROM instead of 250.
    """

    users: dict[str, str] = field(default_factory=lambda: {USER: PASSWORD})
    messages: list[Envelope] = field(default_factory=list)
    auth_attempts: list[tuple[str, str, bool]] = field(default_factory=list)  # user, mech, ok
    rcpt_replies: dict[str, list[str]] = field(default_factory=dict)
    data_replies: list[str] = field(default_factory=list)
    drop_after_data: set[str] = field(default_factory=set)
    mail_reply: str | None = None
    rcpt_seen: list[str] = field(default_factory=list)
    mail_seen: list[str] = field(default_factory=list)
    connections: int = 0
    data_delay: float = 0.0

    # aiosmtpd authenticator
    def __call__(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode()
            ok = self.users.get(user) == auth_data.password.decode()
        else:
            user, ok = "?", False
        self.auth_attempts.append((user, mechanism, ok))
        if ok:
            return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    async def handle_MAIL(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.mail_seen.append(address)
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.rcpt_seen.append(address)
        scripted = self.rcpt_replies.get(address)
        if scripted:
            reply = scripted.pop(0)
            if reply.startswith("421"):  # RFC 5321: 421 closes the session after the reply
                asyncio.get_running_loop().call_later(0.05, server.transport.close)
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.data_replies:
            return self.data_replies.pop(0)
        self.messages.append(_copy(envelope))
        if set(envelope.rcpt_tos) & self.drop_after_data:
            server.transport.close()
            return "250 never seen"
        return "250 OK: queued"

    # helpers for assertions
    def parsed(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(
                bytes(env.original_content or b""), policy=email.policy.default
            )  # type: ignore[misc]
            for env in self.messages
        ]

    def recipients(self) -> list[str]:
        return [rcpt for env in self.messages for rcpt in env.rcpt_tos]


BearerCheck = Callable[..., "str | None"]  # (token, *scopes) -> signed-in address or None
XOAUTH2_SCOPES = ("https://mail.google.com/", "https://outlook.office.com/SMTP.Send")


@dataclass
class OAuthRecorder(Recorder):
    """A recorder that also offers AUTH XOAUTH2 and checks bearer tokens with `check`.

    A bad token gets what Gmail sends: a 334 with a base64 JSON error, then 535 after the
    client's empty line. `xoauth2_attempts` records (user, ok) for each try.
    """

    check: BearerCheck | None = None
    xoauth2_attempts: list[tuple[str, bool]] = field(default_factory=list)

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        user, token = "", ""
        try:
            decoded = base64.b64decode(args[1], validate=True).decode() if len(args) > 1 else ""
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        for part in decoded.split("\x01"):
            if part.startswith("user="):
                user = part[5:]
            elif part.startswith("auth=Bearer "):
                token = part[12:]
        owner = self.check(token, *XOAUTH2_SCOPES) if self.check is not None else None
        ok = owner is not None and owner.lower() == user.lower()
        self.xoauth2_attempts.append((user, ok))
        if ok:
            return AuthResult(success=True, auth_data=user)
        error = {"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"}
        await server.challenge_auth(json.dumps(error))
        return AuthResult(
            success=False,
            handled=False,
            message="535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
            "535 5.7.8  https://support.google.com/mail/?p=BadCredentials",
        )


def _copy(envelope: Envelope) -> Envelope:
    copy = Envelope()
    copy.mail_from = envelope.mail_from
    copy.mail_options = list(envelope.mail_options)
    copy.rcpt_tos = list(envelope.rcpt_tos)
    copy.original_content = envelope.original_content
    copy.content = envelope.content
    return copy


@dataclass
class ServerHandle:
    host: str
    port: int
    recorder: Recorder
    server: asyncio.base_events.Server

    async def close(self) -> None:
        self.server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 2)


class _CountingServer(SMTPProtocolServer):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if getattr(self, "transport", None) is None:  # not the STARTTLS re-entry
            self.event_handler.connections += 1
        super().connection_made(transport)


async def start_server(
    mode: Mode,
    certs: CertSet | None = None,
    *,
    recorder: Recorder | None = None,
    auth: bool = True,
    cert: Any = None,
    offer_starttls: bool = True,
    smtputf8: bool = False,
    **options: Any,
) -> ServerHandle:
    """Start aiosmtpd on 127.0.0.1:0 in `mode` ("starttls", "tls" or "plain")."""
    recorder = recorder or Recorder()
    loop = asyncio.get_running_loop()
    starttls_context = None
    implicit_context = None
    if mode == "starttls" and offer_starttls:
        assert certs is not None
        starttls_context = certs.server_context(cert)
    if mode == "tls":
        assert certs is not None
        implicit_context = certs.server_context(cert)

    def factory() -> SMTPProtocolServer:
        return _CountingServer(
            recorder,
            hostname="localhost",
            tls_context=starttls_context,
            require_starttls=False,
            authenticator=recorder if auth else None,
            auth_require_tls=(mode == "starttls" and offer_starttls),
            auth_exclude_mechanism=[] if auth else None,
            enable_SMTPUTF8=smtputf8,
            **options,
        )

    server = await loop.create_server(factory, host="127.0.0.1", port=0, ssl=implicit_context)
    port = server.sockets[0].getsockname()[1]
    return ServerHandle("127.0.0.1", port, recorder, server)


@dataclass
class RawServer:
    """A hand-scripted server: `script(reader, writer)` plays the server side of one session."""

    host: str
    port: int
    server: asyncio.base_events.Server
    received: list[bytes] = field(default_factory=list)

    async def close(self) -> None:
        self.server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 2)


async def start_raw_server(
    script: Callable[[asyncio.StreamReader, asyncio.StreamWriter, list[bytes]], Any],
) -> RawServer:
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await script(reader, writer, received)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host="127.0.0.1", port=0)
    port = server.sockets[0].getsockname()[1]
    return RawServer("127.0.0.1", port, server, received)
