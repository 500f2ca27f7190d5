"""Our send path on a logged-in connection: writer, reply reader, per-step attribution (RFC 2920).

aiosmtplib connects, secures and logs in; `Wire.take` then owns the connection for good. With
PIPELINING the envelope (MAIL, RCPT, DATA) goes out in one write and, across messages, right
behind the previous message's final dot, so a message costs one round trip: the reply to that
dot and the next envelope's replies come back together and are read in order. Every failure is
raised as one of ours (`core.errors`), attributed to the step and recipient it is about.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiosmtplib
from aiosmtplib.email import quote_address

from core.errors import (
    DisconnectedError,
    NotSupportedError,
    Phase,
    ReplyError,
    SMTPError,
    TimedOutError,
)
from core.recipients.address import is_plain_address
from core.transport.replies import Reply, ReplyFormatError, ReplyReader

__all__ = [
    "SMTP_CLOSING",
    "SMTP_OK",
    "AheadHook",
    "DataStartHook",
    "Step",
    "Wire",
    "command",
    "data_lines",
    "envelope_groups",
]

DataStartHook = Callable[[], Awaitable[None] | None]
# Called once the data-start hook passed: the next message's envelope (its one group) to write
# behind this message's final dot, in the same write, or None.
AheadHook = Callable[[], "Sequence[Step] | None"]

_SMTP_START_INPUT = 354
SMTP_OK = 250
_SMTP_WILL_FORWARD = 251
SMTP_CLOSING = 421  # RFC 5321: the server closes the connection after this reply

_STUFF_RE = re.compile(rb"(?m)^\.")
_EOL_RE = re.compile(rb"\r\n|\r|\n")
# What aiosmtplib refuses in a command line (CR, LF and NUL above all: command injection).
_COMMAND_INJECTION_RE = re.compile(rb"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Step:
    """One envelope command and who it is about (None: a refusal does not fail the message)."""

    phase: Phase
    command: bytes
    address: str | None

    def refusal(self, reply: Reply, recipient: str) -> SMTPError | None:
        """The error this reply means for the message to `recipient`, or None."""
        code, text = reply.code, reply.text
        if self.phase is Phase.DATA:
            if code == _SMTP_START_INPUT:
                return None
            return ReplyError(
                "server refused DATA", phase=Phase.DATA, code=code, text=text, recipient=recipient
            )
        if self.address is None or code in (SMTP_OK, _SMTP_WILL_FORWARD):
            return None  # accepted, or a Cc/Bcc recipient (best effort)
        name = self.phase.value.upper()
        who = recipient if self.phase is Phase.MAIL else self.address
        return ReplyError(
            f"server replied to {name}", phase=self.phase, code=code, text=text, recipient=who
        )


def command(line: bytes) -> bytes:
    """A command line with its CRLF; control characters are refused (command injection)."""
    if _COMMAND_INJECTION_RE.search(line):
        raise NotSupportedError(
            "refused to send: a command contains a prohibited control character",
            phase=Phase.MAIL,
        )
    return line + b"\r\n"


def _path(address: str) -> str:
    """`<address>`; aiosmtplib's parser (with its injection check) for anything not plain."""
    return f"<{address}>" if is_plain_address(address) else quote_address(address)


def envelope_groups(
    *,
    quoted_sender: bytes,
    sender: str,
    recipient: str,
    extra_recipients: Sequence[str],
    smtputf8: bool,
    pipelining: bool,
) -> list[list[Step]]:
    """MAIL, RCPT (main, then extra) and DATA, grouped as they are written.

    With pipelining: one group, or two when there are extra recipients (those only once the
    main recipient is accepted, so a refused main recipient never leaves the server ready to
    take a message for the others). Without: one command per group.
    """
    encoding = "utf-8" if smtputf8 else "ascii"
    mail = command(b"MAIL FROM:" + quoted_sender + (b" SMTPUTF8" if smtputf8 else b""))
    try:
        rcpts = [
            command(b"RCPT TO:" + _path(address).encode(encoding))
            for address in (recipient, *extra_recipients)
        ]
    except UnicodeEncodeError as exc:
        raise NotSupportedError(
            f"refused to send: an address is not {encoding}", phase=Phase.RCPT, recipient=recipient
        ) from exc
    except NotSupportedError as exc:
        exc.phase, exc.recipient = Phase.RCPT, recipient
        raise
    head = [Step(Phase.MAIL, mail, sender), Step(Phase.RCPT, rcpts[0], recipient)]
    tail = [Step(Phase.RCPT, line, None) for line in rcpts[1:]]
    tail.append(Step(Phase.DATA, b"DATA\r\n", None))
    if not pipelining:
        return [[step] for step in (*head, *tail)]
    if extra_recipients:
        return [head, tail]
    return [[*head, *tail]]


def data_lines(payload: bytes) -> bytes:
    """The message as DATA sends it: CRLF line ends, leading dots doubled, a final CRLF.

    Our builder's messages have CRLF line ends and seldom a line starting with a dot: three
    counts and a search (about 5 us for 2 KB) find that out, and the two substitutions
    (about 14 us) run only when they would change something.
    """
    data = payload
    crlf = data.count(b"\r\n")
    if data.count(b"\r") != crlf or data.count(b"\n") != crlf:
        data = _EOL_RE.sub(b"\r\n", data)
    if data.startswith(b".") or b"\n." in data:
        data = _STUFF_RE.sub(b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


@dataclass(slots=True)
class _Flight:
    """A message whose final dot is written and whose reply is not read yet."""

    recipient: str
    reply: asyncio.Future[Reply]


class Wire:
    """One logged-in connection whose commands and replies are ours from now on.

    `submit` sends one message up to its final dot and returns a future of the reply to it; the
    next `submit` writes its envelope behind that dot, then reads the dot's reply (resolving
    the future) and its own replies in order. When the caller already knows the next message
    (`ahead`), its envelope goes in the same write as the final dot, and the next `submit`
    (which must be for that envelope) writes nothing before reading. `settle` reads an
    outstanding reply on its own: call it before waiting (pacing, the end of a run), so no
    result sits unread. Guarantees:
    - `on_data_start` runs after the server's 354 and before the first byte of the message,
      and after the previous message's reply was read (the future is resolved by then);
    - a lost connection with a final dot unanswered fails that message with phase MESSAGE
      (the server may have stored it); an envelope that was never answered fails with its own
      phase (nothing of the message was sent); an envelope written ahead whose `submit` does
      not follow is abandoned by closing the connection (nothing of its message was sent).
    """

    def __init__(
        self,
        reader: ReplyReader,
        *,
        pipelining: bool,
        command_timeout: float | None,
        data_timeout: float | None,
    ) -> None:
        self._reader = reader
        self.pipelining = pipelining
        self._command_timeout = command_timeout
        self._data_timeout = data_timeout
        self._open: _Flight | None = None
        self._ahead: bytes | None = None  # the next envelope, written behind the last dot

    @classmethod
    def take(
        cls, smtp: aiosmtplib.SMTP, *, command_timeout: float | None, data_timeout: float | None
    ) -> Wire:
        """Own `smtp`'s connection from now on (aiosmtplib is done with it after the login)."""
        protocol = smtp.protocol
        transport = protocol.transport if protocol is not None else None
        if protocol is None or transport is None:
            raise DisconnectedError("not connected", phase=Phase.MAIL)
        return cls(
            ReplyReader(transport),
            pipelining=smtp.supports_extension("pipelining"),
            command_timeout=command_timeout,
            data_timeout=data_timeout,
        )

    @property
    def closed(self) -> bool:
        return self._reader.closed

    @property
    def outstanding(self) -> bool:
        """A final dot is written and its reply not read yet."""
        return self._open is not None

    # -- messages -------------------------------------------------------------------------

    async def submit(
        self,
        groups: Sequence[Sequence[Step]],
        recipient: str,
        payload: bytes,
        *,
        on_data_start: DataStartHook | None = None,
        ahead: AheadHook | None = None,
    ) -> asyncio.Future[Reply]:
        """Send the envelope, and the message once the server said 354; return its reply's future.

        A refusal of the envelope is raised here (the previous message's future is resolved
        first, whatever happens); the message's own reply arrives through the future.
        `ahead` (with PIPELINING) is asked for the next envelope once `on_data_start` passed.
        """
        previous, self._open = self._open, None
        written, self._ahead = self._ahead, None
        try:
            if previous is not None and not self.pipelining:
                await self._conclude(previous)
                previous = None
            for number, group in enumerate(groups):
                lines = b"".join(step.command for step in group)
                if number == 0 and written is not None:
                    if lines != written:  # pragma: no cover - a caller's bug, never a message
                        self.close()
                        raise RuntimeError("the envelope written ahead is not this message's")
                else:
                    self._write(lines, group[0].phase)
                if number == 0 and previous is not None:
                    await self._conclude(previous)  # it was written first, its reply comes first
                    previous = None
                await self._replies(group, recipient)
        except SMTPError as exc:
            if previous is not None:
                await self._conclude(previous)
            await self._after_refusal(exc)
            raise
        following: Sequence[Step] | None = None
        try:
            if on_data_start is not None:
                maybe = on_data_start()
                if maybe is not None:
                    await maybe
            if ahead is not None and self.pipelining:
                following = ahead()
        except BaseException:
            # The server waits for message text: anything we send now would be read as
            # such. Drop the connection so no message, not even an empty one, is sent.
            self.close()
            raise
        flight = _Flight(recipient, asyncio.get_running_loop().create_future())
        data = data_lines(payload) + b".\r\n"
        envelope = b"".join(step.command for step in following) if following else None
        try:
            self._write(data if envelope is None else data + envelope, Phase.MESSAGE)
        except SMTPError as exc:
            exc.recipient = recipient
            flight.reply.set_exception(exc)
            return flight.reply
        self._open, self._ahead = flight, envelope
        return flight.reply

    async def settle(self) -> None:
        """Read the reply to the outstanding final dot, if any (its future gets it).

        An envelope written ahead is abandoned: the connection is closed (after the dot's
        reply), since the server may be waiting for that message's text.
        """
        previous, self._open = self._open, None
        if previous is not None:
            await self._conclude(previous)
        if self._ahead is not None:
            self.close()

    async def _conclude(self, flight: _Flight) -> None:
        """Read `flight`'s reply into its future; never raises (a broken connection is closed)."""
        try:
            reply = await self._read(Phase.MESSAGE, self._data_timeout)
        except SMTPError as exc:
            exc.recipient = flight.recipient
            self.close()
            flight.reply.set_exception(exc)
            return
        if reply.code == SMTP_OK:
            flight.reply.set_result(reply)
            return
        if reply.code == SMTP_CLOSING:
            self.close()
        flight.reply.set_exception(
            ReplyError(
                "server refused the message",
                phase=Phase.MESSAGE,
                code=reply.code,
                text=reply.text,
                recipient=flight.recipient,
            )
        )

    async def _replies(self, steps: Sequence[Step], recipient: str) -> None:
        """Read a reply for each step in order; raise the first refusal once all are read.

        Only a 421 (the server is closing) stops at once. A 354 after a refusal (a server
        that takes DATA although the transaction failed) closes the connection: a lone dot
        would end an empty message, closing abandons it.
        """
        refusal: SMTPError | None = None
        for step in steps:
            reply = await self._read(step.phase, self._command_timeout, recipient)
            if refusal is None:
                refusal = step.refusal(reply, recipient)
                if refusal is not None and reply.code == SMTP_CLOSING:
                    raise refusal
            elif step.phase is Phase.DATA and reply.code == _SMTP_START_INPUT:
                self.close()
        if refusal is not None:
            raise refusal

    async def _after_refusal(self, exc: SMTPError) -> None:
        """After a refused envelope: RSET when the server still listens, else drop."""
        if exc.code is None or exc.code == SMTP_CLOSING or self.closed:
            self.close()
            return
        try:
            await self.command(b"RSET\r\n", Phase.RSET)
        except SMTPError:
            self.close()

    # -- single commands ------------------------------------------------------------------

    async def command(self, line: bytes, phase: Phase) -> Reply:
        """One command (after any outstanding reply); a reply other than 2xx is raised."""
        await self.settle()
        self._write(line, phase)
        reply = await self._read(phase, self._command_timeout)
        if not 200 <= reply.code < 300:
            raise ReplyError(
                f"server replied to {phase.value.upper()}",
                phase=phase,
                code=reply.code,
                text=reply.text,
            )
        return reply

    async def quit(self) -> None:
        """QUIT politely (best effort), then close."""
        with contextlib.suppress(SMTPError):
            if not self.closed:
                await self.command(b"QUIT\r\n", Phase.QUIT)
        self.close()

    def close(self) -> None:
        """Drop the connection; a message whose reply was not read is lost (phase MESSAGE)."""
        flight, self._open = self._open, None
        self._ahead = None
        self._reader.close()
        if flight is not None and not flight.reply.done():
            flight.reply.set_exception(
                DisconnectedError(
                    "the connection was closed before the reply to the message was read",
                    phase=Phase.MESSAGE,
                    recipient=flight.recipient,
                )
            )

    # -- the wire -------------------------------------------------------------------------

    def _write(self, data: bytes, phase: Phase) -> None:
        try:
            self._reader.write(data)
        except ConnectionError as exc:
            raise DisconnectedError(
                f"the server closed the connection during {phase.value.upper()}", phase=phase
            ) from exc

    async def _read(
        self, phase: Phase, timeout: float | None, recipient: str | None = None
    ) -> Reply:
        name = phase.value.upper()
        try:
            return await self._reader.read(timeout)
        except TimeoutError as exc:
            self.close()
            raise TimedOutError(
                f"timed out waiting for the reply to {name}", phase=phase, recipient=recipient
            ) from exc
        except ConnectionError as exc:
            raise DisconnectedError(
                f"the server closed the connection during {name}", phase=phase, recipient=recipient
            ) from exc
        except ReplyFormatError as exc:
            self.close()
            raise DisconnectedError(
                f"the server's reply to {name} could not be read ({exc})",
                phase=phase,
                recipient=recipient,
            ) from exc
