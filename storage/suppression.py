"""The suppression list: addresses never to mail again, shared by every campaign (SQLite)."""

from __future__ import annotations

import csv
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from core.errors import InputError
from core.recipients import ImportReport, Rejected, is_plain_address, parse_bytes, parse_text
from core.suppression import SuppressionReason, suppression_key
from storage.errors import StorageError
from storage.journal.history import safe_cell
from storage.paths import data_dir, ensure_private_dir, secure_file

__all__ = [
    "SUPPRESSION_FILE",
    "ImportResult",
    "SuppressionEntry",
    "SuppressionList",
    "parse_reason",
]

SUPPRESSION_FILE = "suppression.sqlite3"
_BUSY_TIMEOUT_MS = 30_000
_REASON_COLUMN = "reason"
_DATE_COLUMN = "date"
_EXPORT_COLUMNS = ("email", "reason", "date", "note")
_SCHEMA = """CREATE TABLE IF NOT EXISTS suppressed(
    key TEXT PRIMARY KEY, email TEXT NOT NULL, reason TEXT NOT NULL, added REAL NOT NULL,
    note TEXT NOT NULL DEFAULT '')"""
_REASON_WORDS = {
    "unsubscribe": SuppressionReason.UNSUBSCRIBED,
    "bounce": SuppressionReason.BOUNCED,
    "complaint": SuppressionReason.COMPLAINED,
    "spam": SuppressionReason.COMPLAINED,
    "hand": SuppressionReason.MANUAL,
    "": SuppressionReason.MANUAL,
}


@dataclass(frozen=True, slots=True)
class SuppressionEntry:
    """One suppressed address: as first written, why, since when."""

    email: str
    reason: SuppressionReason
    added: float
    note: str = ""

    @property
    def date(self) -> str:
        """The day it was added (UTC), as ISO 8601."""
        return datetime.fromtimestamp(self.added, UTC).date().isoformat()


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import changed: new entries, addresses already listed, rows refused."""

    added: int
    already: int
    rejected: tuple[Rejected, ...] = field(default_factory=tuple)


def parse_reason(text: str) -> SuppressionReason:
    """`unsubscribed`, `bounce`, `Complaint`, '' ... as a reason; `InputError` if unknown."""
    word = text.strip().lower()
    try:
        return SuppressionReason(word)
    except ValueError:
        pass
    if word in _REASON_WORDS:
        return _REASON_WORDS[word]
    known = ", ".join(reason.value for reason in SuppressionReason)
    raise InputError(f"unknown reason {text!r} (one of {known})", field=_REASON_COLUMN)


def _parse_date(text: str) -> float | None:
    if not text.strip():
        return None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"date {text!r} is not YYYY-MM-DD[ HH:MM]", field=_DATE_COLUMN) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


class SuppressionList:
    """Every suppressed address, in one SQLite file beside the journal.

    Addresses are matched as duplicates are: equal after `str.lower()` with the domain in
    IDNA A-labels. The first spelling and reason are kept; adding again changes nothing.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or data_dir() / SUPPRESSION_FILE
        ensure_private_dir(self.path.parent)
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StorageError(
                f"the suppression list {self.path} is damaged ({exc}); move it aside"
            ) from exc
        secure_file(self.path)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SuppressionList:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the engine's port (core.ports.SuppressionListLike) -----------------------------------

    def reason_for(self, email: str) -> str | None:
        entry = self.get(email)
        return None if entry is None else entry.reason.value

    def add_bounce(self, email: str, *, note: str) -> None:
        self.add(email, SuppressionReason.BOUNCED, note=note)

    # -- reading --------------------------------------------------------------------------

    def get(self, email: str) -> SuppressionEntry | None:
        """The entry for `email`, or None; an address that is not valid is never listed."""
        try:
            # A plain address needs no parsing: its key is itself in lowercase (and a plain
            # string that is no address matches no key, as validation would have said).
            key = email.lower() if is_plain_address(email) else suppression_key(email)
        except InputError:
            return None
        row = self._conn.execute(
            "SELECT email, reason, added, note FROM suppressed WHERE key=?", (key,)
        ).fetchone()
        return None if row is None else _entry(row)

    def entries(self) -> list[SuppressionEntry]:
        """Every entry, newest first."""
        rows = self._conn.execute(
            "SELECT email, reason, added, note FROM suppressed ORDER BY added DESC, email"
        ).fetchall()
        return [_entry(row) for row in rows]

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM suppressed").fetchone()[0])

    # -- changing -------------------------------------------------------------------------

    def add(
        self,
        email: str,
        reason: SuppressionReason = SuppressionReason.MANUAL,
        *,
        note: str = "",
        at: float | None = None,
    ) -> bool:
        """List `email`; False if it was listed already. `InputError` if it is not an address."""
        return self._add_many([(email, reason, note, at)]) == 1

    def _add_many(self, rows: Iterable[tuple[str, SuppressionReason, str, float | None]]) -> int:
        now = time.time()
        values = [
            (suppression_key(email), email.strip(), reason.value, now if at is None else at, note)
            for email, reason, note, at in rows
        ]
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            added = sum(
                self._conn.execute(
                    "INSERT OR IGNORE INTO suppressed(key, email, reason, added, note) "
                    "VALUES(?,?,?,?,?)",
                    value,
                ).rowcount
                for value in values
            )
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        return added

    def remove(self, email: str) -> bool:
        """Take `email` off the list; False if it was not on it."""
        try:
            key = suppression_key(email)
        except InputError:
            return False
        return self._conn.execute("DELETE FROM suppressed WHERE key=?", (key,)).rowcount > 0

    def import_report(
        self, report: ImportReport, reason: SuppressionReason = SuppressionReason.MANUAL
    ) -> ImportResult:
        """Add every address of a recipient import; a `reason` / `date` column wins per row."""
        rejected = list(report.rejected)
        rows: list[tuple[str, SuppressionReason, str, float | None]] = []
        for recipient in report.recipients:
            cells = {name.strip().lower(): value for name, value in recipient.fields.items()}
            try:
                given = cells.get(_REASON_COLUMN, "")
                row_reason = parse_reason(given) if given.strip() else reason
                at = _parse_date(cells.get(_DATE_COLUMN, ""))
            except InputError as exc:
                column = next(
                    (name for name in recipient.fields if name.strip().lower() == exc.field),
                    exc.field,
                )
                rejected.append(
                    Rejected(report.source, recipient.line, recipient.email, exc.message, column)
                )
                continue
            rows.append((recipient.email, row_reason, f"imported from {report.source}", at))
        added = self._add_many(rows)
        already = len(rows) - added + len(report.duplicates)
        return ImportResult(added=added, already=already, rejected=tuple(rejected))

    def import_file(
        self, data: bytes, *, filename: str, reason: SuppressionReason = SuppressionReason.MANUAL
    ) -> ImportResult:
        """Import a CSV/TXT/XLSX file (an `email` column; optional `reason` and `date`)."""
        return self.import_report(parse_bytes(data, filename=filename), reason)

    def import_text(
        self, text: str, *, reason: SuppressionReason = SuppressionReason.MANUAL
    ) -> ImportResult:
        """Import pasted addresses (separated by commas, semicolons, spaces or lines)."""
        return self.import_report(parse_text(text, source="pasted"), reason)

    def export_csv(self, out: TextIO) -> int:
        """Write every entry as CSV (email, reason, date, note); returns the number of rows."""
        writer = csv.writer(out)
        writer.writerow(_EXPORT_COLUMNS)
        entries = self.entries()
        for entry in entries:
            writer.writerow(
                [
                    safe_cell(cell)
                    for cell in (entry.email, entry.reason.value, entry.date, entry.note)
                ]
            )
        return len(entries)


def _entry(row: tuple[str, str, float, str]) -> SuppressionEntry:
    return SuppressionEntry(
        email=row[0], reason=SuppressionReason(row[1]), added=row[2], note=row[3]
    )
