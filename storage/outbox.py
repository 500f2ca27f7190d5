"""Messages the sandbox SMTP server captured: one 0600 `.eml` file each under `outbox/`."""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser
from pathlib import Path

from storage.paths import atomic_write_bytes, ensure_private_dir, private_subdir

__all__ = [
    "DEFAULT_MAX_MESSAGES",
    "ENVELOPE_FROM_HEADER",
    "ENVELOPE_TO_HEADER",
    "OUTBOX_DIR_NAME",
    "OutboxEntry",
    "OutboxStore",
]

OUTBOX_DIR_NAME = "outbox"
DEFAULT_MAX_MESSAGES = 500  # the oldest captures are deleted past this count
# The envelope travels in headers prepended on capture, as aiosmtpd's own handlers do.
ENVELOPE_FROM_HEADER = "X-MailFrom"
ENVELOPE_TO_HEADER = "X-RcptTo"
_SUFFIX = ".eml"
_ID_PATTERN = re.compile(r"^(?P<ns>\d{19,20})-[0-9a-f]{8}$")
_HEADER_UNSAFE = re.compile(r"[\r\n\x00]")


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One captured message as the Outbox list shows it."""

    id: str  # the file name without `.eml`; sorts by capture time
    received: datetime  # when the sandbox accepted it (UTC)
    mail_from: str  # envelope sender
    rcpt_tos: tuple[str, ...]  # envelope recipients
    subject: str
    size: int  # bytes on disk


class OutboxStore:
    """A folder of `.eml` files, newest last by name, capped at `max_messages`."""

    def __init__(self, root: Path | None = None, *, max_messages: int = DEFAULT_MAX_MESSAGES):
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self._root = root
        self.max_messages = max_messages

    @property
    def root(self) -> Path:
        """The folder (created 0700 on first use; `$BULKMAILER_HOME/outbox` by default)."""
        if self._root is None:
            return private_subdir(OUTBOX_DIR_NAME)
        return ensure_private_dir(self._root)

    def add(self, data: bytes, *, mail_from: str, rcpt_tos: Sequence[str]) -> OutboxEntry:
        """Store one message with its envelope; drops the oldest past the cap."""
        envelope = (
            f"{ENVELOPE_FROM_HEADER}: {_header_safe(mail_from)}\r\n"
            f"{ENVELOPE_TO_HEADER}: {', '.join(_header_safe(rcpt) for rcpt in rcpt_tos)}\r\n"
        ).encode()
        message_id = f"{time.time_ns():019d}-{secrets.token_hex(4)}"
        path = self.root / f"{message_id}{_SUFFIX}"
        atomic_write_bytes(path, envelope + data)
        self._enforce_cap()
        return self._entry(path)

    def entries(self) -> list[OutboxEntry]:
        """Every captured message, newest first."""
        entries = []
        for path in self._paths(newest_first=True):
            with contextlib.suppress(OSError):  # deleted by a concurrent clear()
                entries.append(self._entry(path))
        return entries

    def count(self) -> int:
        """How many messages are stored."""
        return len(self._paths())

    def read(self, message_id: str) -> bytes:
        """The stored bytes (envelope headers first); KeyError if there is no such message."""
        path = self._path_for(message_id)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise KeyError(message_id) from None

    def delete(self, message_id: str) -> bool:
        """Remove one message; False when it was already gone."""
        try:
            self._path_for(message_id).unlink()
        except FileNotFoundError:
            return False
        return True

    def clear(self) -> int:
        """Remove every message; returns how many were removed."""
        removed = 0
        for path in self._paths():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        return removed

    def _path_for(self, message_id: str) -> Path:
        if not _ID_PATTERN.match(message_id):
            raise KeyError(message_id)
        return self.root / f"{message_id}{_SUFFIX}"

    def _paths(self, *, newest_first: bool = False) -> list[Path]:
        paths = [p for p in self.root.glob(f"*{_SUFFIX}") if _ID_PATTERN.match(p.stem)]
        return sorted(paths, key=lambda p: p.name, reverse=newest_first)

    def _enforce_cap(self) -> None:
        paths = self._paths()
        for path in paths[: max(0, len(paths) - self.max_messages)]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _entry(self, path: Path) -> OutboxEntry:
        with path.open("rb") as handle:
            headers = BytesHeaderParser(policy=policy.default).parse(handle)
            size = path.stat().st_size
        match = _ID_PATTERN.match(path.stem)
        assert match is not None  # _paths() only yields matching names
        received = datetime.fromtimestamp(int(match["ns"]) / 1e9, tz=UTC)
        rcpt_tos = str(headers.get(ENVELOPE_TO_HEADER, "") or "")
        return OutboxEntry(
            id=path.stem,
            received=received,
            mail_from=_header_text(headers, ENVELOPE_FROM_HEADER),
            rcpt_tos=tuple(r.strip() for r in rcpt_tos.split(",") if r.strip()),
            subject=_header_text(headers, "Subject"),
            size=size,
        )


def _header_safe(value: str) -> str:
    """Envelope addresses come from SMTP command lines; never let one start a new header."""
    return _HEADER_UNSAFE.sub("", value)


def _header_text(headers: Message, name: str) -> str:
    """A header as text; one the email package cannot decode comes back empty."""
    try:
        value = headers.get(name)
    except Exception:  # the email package raises many kinds on malformed headers
        return ""
    return "" if value is None else str(value)
