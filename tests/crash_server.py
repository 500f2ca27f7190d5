"""A separate-process SMTP sink for the crash test: logs each accepted message before its 250."""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import os
import sys
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


class DurableLog:
    """Appends `recipient<TAB>message-id` and fsyncs before the server says 250."""

    def __init__(self, path: str, reply_delay: float, pipelining: bool) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._reply_delay = reply_delay
        self._pipelining = pipelining

    async def handle_EHLO(
        self, server: Any, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if not self._pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]  # aiosmtpd reads them fine

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = bytes(envelope.original_content or b"")
        message = email.message_from_bytes(raw, policy=email.policy.default)
        message_id = str(message.get("Message-ID", "")).strip()
        for rcpt in envelope.rcpt_tos:
            os.write(self._fd, f"{rcpt}\t{message_id}\n".encode())
        os.fsync(self._fd)
        if self._reply_delay:  # widen the window where a kill makes the result ambiguous
            await asyncio.sleep(self._reply_delay)
        return "250 OK: stored"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--reply-delay", type=float, default=0.0)
    parser.add_argument("--pipelining", action="store_true", help="offer PIPELINING in EHLO")
    args = parser.parse_args()
    handler = DurableLog(args.log, args.reply_delay, args.pipelining)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="localhost"), host="127.0.0.1", port=0
    )
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    sys.stdout.flush()
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
