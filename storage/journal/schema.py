"""The journal's SQLite file: its tables, schema version and migrations, and opening it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from storage.errors import JournalCorruptError, JournalError
from storage.paths import secure_file

__all__ = [
    "BUSY_TIMEOUT_MS",
    "IN_FLIGHT_DATA",
    "IN_FLIGHT_INTENT",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "connect",
]

SCHEMA_VERSION = 3
IN_FLIGHT_INTENT = "sending"  # intent recorded, DATA not reached: safe to send again
IN_FLIGHT_DATA = "data"  # DATA accepted, final dot maybe sent: UNKNOWN after a crash
BUSY_TIMEOUT_MS = 30_000

# The current schema. Each statement is idempotent: it also fills in what an older journal
# lacks, after the migrations below have changed its existing tables.
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS campaigns(
    id TEXT PRIMARY KEY, name TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL,
    status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', account_key TEXT NOT NULL,
    account_json TEXT NOT NULL, template_json TEXT NOT NULL, settings_json TEXT NOT NULL,
    base_dir TEXT NOT NULL, source TEXT NOT NULL, input_hash TEXT NOT NULL,
    attachments_digest TEXT NOT NULL DEFAULT '', total INTEGER NOT NULL, start_at REAL,
    start_zone TEXT NOT NULL DEFAULT '')""",
    """CREATE TABLE IF NOT EXISTS recipients(
    campaign_id TEXT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, email TEXT NOT NULL, name TEXT NOT NULL, fields_json TEXT NOT NULL,
    line INTEGER NOT NULL, source TEXT NOT NULL, smtputf8 INTEGER NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, first_failure REAL,
    next_attempt REAL, code INTEGER, enhanced TEXT, text TEXT NOT NULL DEFAULT '',
    message_id TEXT, updated REAL, PRIMARY KEY(campaign_id, seq))""",
    "CREATE INDEX IF NOT EXISTS recipients_by_status ON recipients(campaign_id, status, seq)",
    "CREATE INDEX IF NOT EXISTS recipients_by_due ON recipients(campaign_id, status, next_attempt)",
    """CREATE TABLE IF NOT EXISTS attempts(
    id INTEGER PRIMARY KEY, campaign_id TEXT NOT NULL, seq INTEGER NOT NULL, at REAL NOT NULL,
    event TEXT NOT NULL, code INTEGER, enhanced TEXT, text TEXT NOT NULL DEFAULT '',
    message_id TEXT)""",
    "CREATE INDEX IF NOT EXISTS attempts_by_recipient ON attempts(campaign_id, seq)",
    "CREATE TABLE IF NOT EXISTS sends(account_key TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS sends_by_time ON sends(account_key, at)",
)

Migration = Callable[[sqlite3.Connection], None]


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """Campaigns fingerprint their attachment files (journals of v1 may lack the column)."""
    if "attachments_digest" not in _columns(conn, "campaigns"):
        conn.execute("ALTER TABLE campaigns ADD COLUMN attachments_digest TEXT NOT NULL DEFAULT ''")


def _v2_to_v3(conn: sqlite3.Connection) -> None:
    """Campaigns may be scheduled: a start time and the zone it was chosen in."""
    columns = _columns(conn, "campaigns")
    if "start_at" not in columns:
        conn.execute("ALTER TABLE campaigns ADD COLUMN start_at REAL")
    if "start_zone" not in columns:
        conn.execute("ALTER TABLE campaigns ADD COLUMN start_zone TEXT NOT NULL DEFAULT ''")


# MIGRATIONS[v] upgrades a journal from schema v to v + 1. Add one entry per schema change.
MIGRATIONS: dict[int, Migration] = {1: _v1_to_v2, 2: _v2_to_v3}


def connect(path: Path) -> sqlite3.Connection:
    """Open (or create) the journal at `path`, upgraded to `SCHEMA_VERSION`; files kept private.

    Raises `JournalCorruptError` for a damaged file and `JournalError` for a journal made by
    a newer Bulk Mailer (it is left untouched).
    """
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        _upgrade(conn, path)
    except sqlite3.DatabaseError as exc:
        if conn is not None:
            conn.close()
        raise JournalCorruptError(
            f"the journal {path} is damaged ({exc}); move it aside to start a new one"
        ) from exc
    except BaseException:
        if conn is not None:
            conn.close()
        raise
    for suffix in ("", "-wal", "-shm"):
        sidecar = Path(f"{path}{suffix}")
        if sidecar.exists():
            secure_file(sidecar)
    return conn


def _upgrade(conn: sqlite3.Connection, path: Path) -> None:
    """Create the tables of a new journal, or migrate an older one, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then see it done
    try:
        version = _stored_version(conn, path)
        if version is not None and version > SCHEMA_VERSION:
            raise JournalError(
                f"the journal {path} was made by a newer Bulk Mailer (schema {version}; this "
                f"version knows up to {SCHEMA_VERSION}): update Bulk Mailer to open it"
            )
        for step in range(SCHEMA_VERSION if version is None else version, SCHEMA_VERSION):
            MIGRATIONS[step](conn)
        for statement in _SCHEMA:
            conn.execute(statement)
        if version != SCHEMA_VERSION:
            conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _stored_version(conn: sqlite3.Connection, path: Path) -> int | None:
    """The journal's schema version; None for a new (empty) journal."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    row = None
    if "meta" in tables:
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    if row is None:
        # Schema 1 wrote its version right after its tables: tables without it are schema 1.
        return 1 if "campaigns" in tables else None
    try:
        version = int(row[0])
    except (TypeError, ValueError):
        version = 0
    if version < 1:
        raise JournalCorruptError(
            f"the journal {path} has an unreadable schema version ({row[0]!r}); move it aside "
            "to start a new one"
        )
    return version
