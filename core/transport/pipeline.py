"""One mail transaction on the wire: envelope commands pipelined (RFC 2920), replies read in order.

For one transaction a `ReplyReader` takes aiosmtplib's transport over (`take_over`), so the
replies to commands written together are all read; failures are raised as aiosmtplib's
exceptions, so they translate (`core.transport.errors`) the same way as aiosmtplib's own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import aiosmtplib
from aiosmtplib.email import quote_address

from core.errors import DisconnectedError, Phase, ReplyError, SMTPError
from core.transport.errors import translate_exception, translating
from core.transport.replies import Reply, ReplyFormatError, ReplyReader

__all__ = [
    "SMTP_CLOSING",
    "SMTP_OK",
    "Step",
    "command",
    "data_lines",
    "envelope",
    "exchange",
    "final_reply",
    "read",
    "take_over",
    "write",
]

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

    def refusal(self, reply: Reply) -> SMTPError | None:
        """The error this reply means for the message, translated as aiosmtplib's would be."""
        code, text = reply.code, reply.text
        if self.phase is Phase.DATA:
            if code == _SMTP_START_INPUT:
                return None
            return ReplyError("server refused DATA", phase=Phase.DATA, code=code, text=text)
        if self.address is None:
            return None  # a Cc/Bcc recipient: best effort
        exc: aiosmtplib.SMTPResponseException
        if self.phase is Phase.MAIL:
            if code == SMTP_OK:
                return None
            exc = aiosmtplib.SMTPSenderRefused(code, text, self.address)
        else:
            if code in (SMTP_OK, _SMTP_WILL_FORWARD):
                return None
            exc = aiosmtplib.SMTPRecipientRefused(code, text, self.address)
        error = translate_exception(exc, self.phase)
        error.__cause__ = exc
        return error


async def envelope(
    reader: ReplyReader,
    *,
    sender: str,
    quoted_sender: bytes,
    recipient: str,
    extra_recipients: Sequence[str],
    smtputf8: bool,
    pipelining: bool,
    timeout: float | None,
) -> None:
    """MAIL, RCPT (main, then extra) and DATA, up to the server's 354.

    With `pipelining` the commands go out in one write (or two when there are extra
    recipients: those only once the main recipient is accepted); without it, one at a time.
    `quoted_sender` is `<sender>` as aiosmtplib quotes it.
    """
    encoding = "utf-8" if smtputf8 else "ascii"
    with translating(Phase.MAIL):
        options = b" SMTPUTF8" if smtputf8 else b""
        mail = command(b"MAIL FROM:" + quoted_sender + options)
    with translating(Phase.RCPT):
        rcpts = [
            command(b"RCPT TO:" + quote_address(address).encode(encoding))
            for address in (recipient, *extra_recipients)
        ]
    head = [Step(Phase.MAIL, mail, sender), Step(Phase.RCPT, rcpts[0], recipient)]
    tail = [Step(Phase.RCPT, line, None) for line in rcpts[1:]]
    tail.append(Step(Phase.DATA, b"DATA\r\n", None))
    if not pipelining:
        groups = [[step] for step in (*head, *tail)]
    elif extra_recipients:
        groups = [head, tail]  # the others only once the main recipient is accepted
    else:
        groups = [[*head, *tail]]
    for group in groups:
        await exchange(reader, group, timeout)


async def exchange(reader: ReplyReader, steps: Sequence[Step], timeout: float | None) -> None:
    """Write `steps` at once, read a reply for each in order, raise the first refusal.

    Every reply of the group is read before raising, so none is left to be taken for the
    reply to a later command; only a 421 (the server is closing) stops at once.
    """
    with translating(steps[0].phase):
        write(reader, b"".join(step.command for step in steps))
    refusal: SMTPError | None = None
    for step in steps:
        with translating(step.phase):
            reply = await read(reader, timeout)
        if refusal is None:
            refusal = step.refusal(reply)
            if refusal is not None and reply.code == SMTP_CLOSING:
                raise refusal
        elif step.phase is Phase.DATA and reply.code == _SMTP_START_INPUT:
            # The server took DATA although the transaction failed. A lone dot would end
            # an empty message; closing the connection abandons it, delivering nothing.
            reader.close()
    if refusal is not None:
        raise refusal


async def final_reply(smtp: aiosmtplib.SMTP, reader: ReplyReader, timeout: float | None) -> Reply:
    """The reply to the final dot; a lost or silent connection is closed before raising."""
    try:
        return await read(reader, timeout)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        reader.restore()
        smtp.close()
        raise


def command(line: bytes) -> bytes:
    """A command line with its CRLF; control characters are refused as aiosmtplib does."""
    if _COMMAND_INJECTION_RE.search(line):
        raise ValueError("Command arg contains a prohibited control character")
    return line + b"\r\n"


def take_over(smtp: aiosmtplib.SMTP) -> ReplyReader:
    """Read this connection's replies with a `ReplyReader` until it is restored."""
    protocol = smtp.protocol
    transport = protocol.transport if protocol is not None else None
    if protocol is None or transport is None:
        raise DisconnectedError("not connected", phase=Phase.MAIL)
    return ReplyReader(transport, protocol)


def data_lines(payload: bytes) -> bytes:
    """The message as DATA sends it: CRLF line ends, leading dots doubled, a final CRLF."""
    data = _EOL_RE.sub(b"\r\n", payload)
    data = _STUFF_RE.sub(b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def write(reader: ReplyReader, data: bytes) -> None:
    try:
        reader.write(data)
    except ConnectionError as exc:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost") from exc


async def read(reader: ReplyReader, timeout: float | None) -> Reply:
    """The next reply; failures raised as aiosmtplib's, so they translate the same way."""
    try:
        return await reader.read(timeout)
    except TimeoutError as exc:
        raise aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response") from exc
    except ConnectionError as exc:
        raise aiosmtplib.SMTPServerDisconnected(str(exc)) from exc
    except ReplyFormatError as exc:
        raise aiosmtplib.SMTPResponseException(-1, str(exc)) from exc
