"""A read-only look at a journal that another process may be creating or writing right now."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from core.models import RecipientStatus
from storage.journal.schema import BUSY_TIMEOUT_MS, IN_FLIGHT_DATA, IN_FLIGHT_INTENT

__all__ = ["JournalReader", "recipient_status"]


def recipient_status(raw: str) -> RecipientStatus:
    """What a stored recipient state means to a person: in-flight states are read as they
    would be recovered (intent only: still pending; DATA reached: unknown)."""
    if raw == IN_FLIGHT_INTENT:
        return RecipientStatus.PENDING
    if raw == IN_FLIGHT_DATA:
        return RecipientStatus.UNKNOWN
    return RecipientStatus(raw)


class JournalReader:
    """Reads campaigns without creating, migrating or locking anything.

    A journal that does not exist yet, or whose file exists while its creator has not yet
    committed the tables, reads as "no campaigns yet", never as an `OperationalError`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection | None]:
        if not self.path.exists():
            yield None
            return
        conn = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True)
        try:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            yield conn if {"campaigns", "recipients"} <= tables else None
        finally:
            conn.close()

    def campaign_ids(self) -> list[str]:
        """Every campaign's id, oldest first; empty while the journal is being created."""
        with self._connect() as conn:
            if conn is None:
                return []
            return [r[0] for r in conn.execute("SELECT id FROM campaigns ORDER BY created")]

    def statuses(self, campaign_id: str) -> dict[str, RecipientStatus]:
        """Each recipient's address and state, as a person would read it after recovery."""
        with self._connect() as conn:
            if conn is None:
                return {}
            rows = conn.execute(
                "SELECT email, status FROM recipients WHERE campaign_id=?", (campaign_id,)
            ).fetchall()
        return {email: recipient_status(raw) for email, raw in rows}
