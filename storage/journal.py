"""The crash-safe campaign journal: SQLite in WAL mode, one durable commit per message."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import sqlite3
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from core.events import CampaignStatus
from core.models import Account, Recipient, RecipientStatus, SendSettings, Template
from core.ports import Counts, Outcome, WorkItem
from storage.codec import from_plain, to_plain
from storage.errors import StorageError
from storage.paths import data_dir, ensure_private_dir, secure_file

__all__ = [
    "CampaignLockedError",
    "CampaignNotFoundError",
    "CampaignRecord",
    "JournalCorruptError",
    "JournalError",
    "JournalStore",
    "SqliteCampaignJournal",
    "account_key",
    "input_hash",
]

SCHEMA_VERSION = 1
JOURNAL_FILE = "journal.sqlite3"
_BUSY_TIMEOUT_MS = 30_000
_IN_FLIGHT_INTENT = "sending"  # intent recorded, DATA not reached: safe to send again
_IN_FLIGHT_DATA = "data"  # DATA accepted, final dot maybe sent: UNKNOWN after a crash
_READ_AHEAD = 64  # pending recipients read per query

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS campaigns(
    id TEXT PRIMARY KEY, name TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL,
    status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', account_key TEXT NOT NULL,
    account_json TEXT NOT NULL, template_json TEXT NOT NULL, settings_json TEXT NOT NULL,
    base_dir TEXT NOT NULL, source TEXT NOT NULL, input_hash TEXT NOT NULL,
    attachments_digest TEXT NOT NULL DEFAULT '', total INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS recipients(
    campaign_id TEXT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, email TEXT NOT NULL, name TEXT NOT NULL, fields_json TEXT NOT NULL,
    line INTEGER NOT NULL, source TEXT NOT NULL, smtputf8 INTEGER NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, first_failure REAL,
    next_attempt REAL, code INTEGER, enhanced TEXT, text TEXT NOT NULL DEFAULT '',
    message_id TEXT, updated REAL, PRIMARY KEY(campaign_id, seq));
CREATE INDEX IF NOT EXISTS recipients_by_status ON recipients(campaign_id, status, seq);
CREATE INDEX IF NOT EXISTS recipients_by_due ON recipients(campaign_id, status, next_attempt);
CREATE TABLE IF NOT EXISTS attempts(
    id INTEGER PRIMARY KEY, campaign_id TEXT NOT NULL, seq INTEGER NOT NULL, at REAL NOT NULL,
    event TEXT NOT NULL, code INTEGER, enhanced TEXT, text TEXT NOT NULL DEFAULT '',
    message_id TEXT);
CREATE INDEX IF NOT EXISTS attempts_by_recipient ON attempts(campaign_id, seq);
CREATE TABLE IF NOT EXISTS sends(account_key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS sends_by_time ON sends(account_key, at);
"""


class JournalError(StorageError):
    """The journal cannot do what was asked."""


class JournalCorruptError(JournalError):
    """The journal file is damaged beyond what SQLite recovers by itself."""


class CampaignNotFoundError(JournalError):
    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"no campaign with id {campaign_id!r} (see `campaigns`)")


class CampaignLockedError(JournalError):
    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"campaign {campaign_id} is already running in another window or process")


def account_key(account: Account) -> str:
    """Who the provider counts sends against: the login (or sender) at the host."""
    return f"{(account.username or account.sender).lower()}@{account.host.lower()}"


def input_hash(template: Template, recipients: Iterable[Recipient]) -> str:
    """A fingerprint of what a campaign sends to whom, to recognize the same inputs again."""
    digest = hashlib.sha256(json.dumps(to_plain(template), sort_keys=True).encode())
    for recipient in recipients:
        row = [recipient.email, recipient.name, sorted(recipient.fields.items())]
        digest.update(json.dumps(row, ensure_ascii=False).encode())
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class CampaignRecord:
    """A campaign as stored: its snapshot and where it stands."""

    id: str
    name: str
    created: float
    updated: float
    status: CampaignStatus
    reason: str
    account: Account
    template: Template
    settings: SendSettings
    base_dir: str
    source: str
    input_hash: str
    attachments_digest: str
    total: int


def _connect(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.executescript(_SCHEMA)
        conn.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
    except sqlite3.DatabaseError as exc:
        raise JournalCorruptError(
            f"the journal {path} is damaged ({exc}); move it aside to start a new one"
        ) from exc
    for suffix in ("", "-wal", "-shm"):
        sidecar = Path(f"{path}{suffix}")
        if sidecar.exists():
            secure_file(sidecar)
    return conn


def _recipient(row: sqlite3.Row | tuple[Any, ...]) -> Recipient:
    email, name, fields_json, line, source, smtputf8 = row
    return Recipient(
        email=email,
        name=name,
        fields=MappingProxyType(json.loads(fields_json)),
        line=line,
        source=source,
        needs_smtputf8=bool(smtputf8),
    )


def _work_item(row: sqlite3.Row | tuple[Any, ...]) -> WorkItem:
    return WorkItem(
        seq=row[0], recipient=_recipient(row[1:7]), attempts=row[7], first_failure_at=row[8]
    )


class JournalStore:
    """All campaigns in one SQLite file under the data folder."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or data_dir() / JOURNAL_FILE
        ensure_private_dir(self.path.parent)
        self.conn = _connect(self.path)
        self._locks_dir = ensure_private_dir(self.path.parent / "locks")

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def transaction(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """BEGIN ... COMMIT; with `durable`, the commit is fsynced (synchronous=FULL)."""
        conn = self.conn
        if durable:
            conn.execute("PRAGMA synchronous=FULL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            if durable:
                conn.execute("PRAGMA synchronous=NORMAL")

    # -- campaigns ----------------------------------------------------------------------------

    def create_campaign(
        self,
        *,
        name: str,
        account: Account,
        template: Template,
        settings: SendSettings,
        recipients: Iterable[Recipient],
        base_dir: str = ".",
        source: str = "",
        attachments_digest: str = "",
    ) -> str:
        """Snapshot the inputs and every recipient (as pending); returns the new campaign id.

        `attachments_digest` fingerprints the attachment files, which live outside the journal,
        so a resume can tell when they changed.
        """
        recipients = list(recipients)
        now = time.time()
        campaign_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        with self.transaction(durable=True) as conn:
            conn.execute(
                "INSERT INTO campaigns(id, name, created, updated, status, account_key, "
                "account_json, template_json, settings_json, base_dir, source, input_hash, "
                "attachments_digest, total) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    campaign_id,
                    name,
                    now,
                    now,
                    CampaignStatus.DRAFT.value,
                    account_key(account),
                    json.dumps(to_plain(account)),
                    json.dumps(to_plain(template)),
                    json.dumps(to_plain(settings)),
                    str(base_dir),
                    source,
                    input_hash(template, recipients),
                    attachments_digest,
                    len(recipients),
                ),
            )
            conn.executemany(
                "INSERT INTO recipients(campaign_id, seq, email, name, fields_json, line, source,"
                " smtputf8, status) VALUES(?,?,?,?,?,?,?,?,?)",
                (
                    (
                        campaign_id,
                        seq,
                        r.email,
                        r.name,
                        json.dumps(dict(r.fields), ensure_ascii=False),
                        r.line,
                        r.source,
                        int(r.needs_smtputf8),
                        RecipientStatus.PENDING.value,
                    )
                    for seq, r in enumerate(recipients, start=1)
                ),
            )
        return campaign_id

    def campaign(self, campaign_id: str) -> CampaignRecord:
        row = self.conn.execute(
            "SELECT id, name, created, updated, status, reason, account_json, template_json, "
            "settings_json, base_dir, source, input_hash, attachments_digest, total "
            "FROM campaigns WHERE id=?",
            (campaign_id,),
        ).fetchone()
        if row is None:
            raise CampaignNotFoundError(campaign_id)
        return CampaignRecord(
            id=row[0],
            name=row[1],
            created=row[2],
            updated=row[3],
            status=CampaignStatus(row[4]),
            reason=row[5],
            account=from_plain(Account, json.loads(row[6])),
            template=from_plain(Template, json.loads(row[7])),
            settings=from_plain(SendSettings, json.loads(row[8])),
            base_dir=row[9],
            source=row[10],
            input_hash=row[11],
            attachments_digest=row[12],
            total=row[13],
        )

    def find_unfinished(self, inputs: str) -> list[str]:
        """Campaigns with these inputs that still have recipients to send."""
        rows = self.conn.execute(
            "SELECT c.id FROM campaigns c WHERE c.input_hash=? AND EXISTS (SELECT 1 FROM "
            "recipients r WHERE r.campaign_id=c.id AND r.status IN ('pending','deferred',"
            "'sending','data')) ORDER BY c.created",
            (inputs,),
        ).fetchall()
        return [row[0] for row in rows]

    def open_campaign(self, campaign_id: str) -> SqliteCampaignJournal:
        """Take the campaign's lock, recover from a crash, and return its journal.

        After a crash: a recipient whose DATA had started becomes UNKNOWN (never resent without
        a person); one that had only its intent recorded goes back to pending (safe to resend).
        """
        record = self.campaign(campaign_id)
        lock = _CampaignLock(self._locks_dir / f"{campaign_id}.lock", campaign_id)
        try:
            self._check_integrity()
            self._recover(campaign_id)
        except BaseException:
            lock.release()
            raise
        return SqliteCampaignJournal(self, record, lock)

    def _check_integrity(self) -> None:
        try:
            result = self.conn.execute("PRAGMA quick_check").fetchone()
        except sqlite3.DatabaseError as exc:
            raise JournalCorruptError(f"the journal {self.path} is damaged: {exc}") from exc
        if not result or result[0] != "ok":
            raise JournalCorruptError(f"the journal {self.path} failed its integrity check")

    def _recover(self, campaign_id: str) -> None:
        now = time.time()
        with self.transaction(durable=True) as conn:
            conn.execute(
                "INSERT INTO attempts(campaign_id, seq, at, event, text) SELECT campaign_id, seq,"
                " ?, 'unknown', 'interrupted after the message was sent, before the reply' "
                "FROM recipients WHERE campaign_id=? AND status=?",
                (now, campaign_id, _IN_FLIGHT_DATA),
            )
            conn.execute(
                "UPDATE recipients SET status='unknown', updated=?, text='interrupted after the "
                "message was sent, before the server replied' WHERE campaign_id=? AND status=?",
                (now, campaign_id, _IN_FLIGHT_DATA),
            )
            conn.execute(
                "UPDATE recipients SET status='pending', updated=? WHERE campaign_id=? AND "
                "status=?",
                (now, campaign_id, _IN_FLIGHT_INTENT),
            )

    def set_status(self, campaign_id: str, status: CampaignStatus, reason: str = "") -> None:
        with self.transaction(durable=True) as conn:
            conn.execute(
                "UPDATE campaigns SET status=?, reason=?, updated=? WHERE id=?",
                (status.value, reason, time.time(), campaign_id),
            )

    def counts(self, campaign_id: str) -> Counts:
        rows = self.conn.execute(
            "SELECT status, count(*) FROM recipients WHERE campaign_id=? GROUP BY status",
            (campaign_id,),
        ).fetchall()
        by = dict(rows)
        pending = by.get("pending", 0) + by.get(_IN_FLIGHT_INTENT, 0)
        return Counts(
            total=sum(by.values()),
            pending=pending,
            deferred=by.get("deferred", 0),
            sent=by.get("sent", 0),
            failed=by.get("failed", 0),
            unknown=by.get("unknown", 0) + by.get(_IN_FLIGHT_DATA, 0),
        )

    def sends_in_window(self, key: str, since: float) -> tuple[int, float | None]:
        count, oldest = self.conn.execute(
            "SELECT count(*), min(at) FROM sends WHERE account_key=? AND at>?", (key, since)
        ).fetchone()
        return int(count), oldest


class _CampaignLock:
    """An exclusive lock file per campaign; the OS drops it if the process dies."""

    def __init__(self, path: Path, campaign_id: str) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            import fcntl

            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - Windows: best effort, no lock
            pass
        except OSError:
            os.close(self._fd)
            raise CampaignLockedError(campaign_id) from None

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class SqliteCampaignJournal:
    """One campaign's journal, as the engine sees it (`core.ports.CampaignJournal`).

    One commit per message is fsynced: the data-start record, before the final dot. The
    other records ride along so they cost no commit of their own in a fast run:
    - the intent is written by the next commit (it only says "safe to send again", which is
      what a recipient without a data-start record means after a crash anyway);
    - an accepted message's result is written at the next idle moment of the event loop
      (while the next message's commands are on the wire) or by the next commit or read,
      whichever comes first. Until then the recipient stands at "data started", as it did
      while its reply was on the way, so a crash can cost at most that one an UNKNOWN.
    Pending recipients are read ahead in batches and the time the first deferred one is due
    is kept, so picking the next recipient costs no query.
    """

    def __init__(self, store: JournalStore, record: CampaignRecord, lock: _CampaignLock) -> None:
        self.store = store
        self.record = record
        self.campaign_id = record.id
        self._key = account_key(record.account)
        self._lock = lock
        self._conn = store.conn
        self._intent: tuple[int, str, float] | None = None  # (seq, message_id, at), unwritten
        self._sent: tuple[WorkItem, Outcome] | None = None  # an accepted result, unwritten
        self._behind: asyncio.Handle | None = None  # writes `_sent` when the loop is idle
        self._data_seq: int | None = None  # data-start recorded, result not yet
        self._upcoming: deque[WorkItem] = deque()  # pending recipients, in seq order
        self._wake: float | None = None  # when the first deferred recipient is due
        self._wake_known = False

    def close(self) -> None:
        try:
            self._settle()
        finally:
            self._lock.release()

    def __enter__(self) -> SqliteCampaignJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what to send next ----------------------------------------------------------------

    def next_due(self, now: float) -> WorkItem | None:
        wake = self.next_wake()
        if wake is not None and wake <= now:
            row = self._conn.execute(
                "SELECT seq, email, name, fields_json, line, source, smtputf8, attempts, "
                "first_failure FROM recipients WHERE campaign_id=? AND status='deferred' AND "
                "next_attempt<=? ORDER BY next_attempt, seq LIMIT 1",
                (self.campaign_id, now),
            ).fetchone()
            if row is not None:
                return _work_item(row)
        if not self._upcoming:
            self._read_ahead(after=None)
        return self._upcoming[0] if self._upcoming else None

    def peek_pending(self, after_seq: int) -> WorkItem | None:
        """The first pending recipient after `after_seq`: the one after the current one."""
        item = self._first_after(after_seq)
        if item is None:
            self._read_ahead(after=self._upcoming[-1].seq if self._upcoming else None)
            item = self._first_after(after_seq)
        return item

    def _first_after(self, seq: int) -> WorkItem | None:
        return next((item for item in self._upcoming if item.seq > seq), None)

    def _read_ahead(self, *, after: int | None) -> None:
        """Append the next pending recipients (from the lowest one when `after` is None)."""
        rows = self._conn.execute(
            "SELECT seq, email, name, fields_json, line, source, smtputf8, attempts, "
            "first_failure FROM recipients WHERE campaign_id=? AND status='pending' AND seq>? "
            "ORDER BY seq LIMIT ?",
            (self.campaign_id, -1 if after is None else after, _READ_AHEAD),
        ).fetchall()
        self._upcoming.extend(_work_item(row) for row in rows)

    def _done_with(self, item: WorkItem, outcome: Outcome) -> None:
        """Keep the read-ahead in step: drop the item; one back to pending is read again."""
        if outcome.status is RecipientStatus.DEFERRED or item.first_failure_at is not None:
            self._wake_known = False  # a deferral was added or (maybe) settled
        if outcome.status is RecipientStatus.PENDING:
            self._upcoming.clear()  # it comes first again, in seq order
        elif self._upcoming and self._upcoming[0].seq == item.seq:
            self._upcoming.popleft()
        else:
            self._upcoming = deque(i for i in self._upcoming if i.seq != item.seq)

    def next_wake(self) -> float | None:
        if not self._wake_known:  # only this journal defers its recipients: ask once per change
            row = self._conn.execute(
                "SELECT min(next_attempt) FROM recipients WHERE campaign_id=? AND "
                "status='deferred'",
                (self.campaign_id,),
            ).fetchone()
            self._wake, self._wake_known = (row[0] if row else None), True
        return self._wake

    def counts(self) -> Counts:
        self._settle()
        return self.store.counts(self.campaign_id)

    # -- records --------------------------------------------------------------------------

    def intent(self, item: WorkItem, message_id: str, at: float) -> None:
        """Note the intent; the next commit writes it (see the class docstring)."""
        self._intent = (item.seq, message_id, at)

    def data_started(self, item: WorkItem, at: float) -> None:
        """Durable (fsynced) before it returns, with everything noted before it."""
        intent = self._intent if self._intent and self._intent[0] == item.seq else None
        with self._transaction(durable=True, intent=intent is None) as conn:
            if intent is None:
                conn.execute(
                    "UPDATE recipients SET status=?, updated=? WHERE campaign_id=? AND seq=?",
                    (_IN_FLIGHT_DATA, at, self.campaign_id, item.seq),
                )
            else:  # straight from pending: one change of status, not two
                conn.execute(
                    "UPDATE recipients SET status=?, message_id=?, updated=? "
                    "WHERE campaign_id=? AND seq=?",
                    (_IN_FLIGHT_DATA, intent[1], at, self.campaign_id, item.seq),
                )
                self._insert_intent(conn, *intent)
            conn.execute(
                "INSERT INTO attempts(campaign_id, seq, at, event) VALUES(?,?,?,'data')",
                (self.campaign_id, item.seq, at),
            )
        if intent is not None and self._intent is intent:
            self._intent = None
        self._data_seq = item.seq

    def result(self, item: WorkItem, outcome: Outcome) -> None:
        """Record the attempt's result; an accepted message's is written behind (see above)."""
        self._done_with(item, outcome)
        behind = outcome.status is RecipientStatus.SENT and self._data_seq == item.seq
        self._data_seq = None
        loop = _running_loop() if behind else None
        if loop is not None:
            self._settle()  # normally nothing: the data-start commit wrote the previous one
            self._sent = (item, outcome)
            self._behind = loop.call_soon(self._write_behind)
            return
        with self._transaction() as conn:
            self._write_result(conn, item, outcome)

    def flush(self) -> None:
        """Make everything recorded so far durable (one fsync of the WAL)."""
        with self._transaction(durable=True) as conn:
            conn.execute(
                "UPDATE campaigns SET updated=? WHERE id=?", (time.time(), self.campaign_id)
            )

    def set_status(self, status: CampaignStatus, reason: str = "") -> None:
        self._settle()
        self.store.set_status(self.campaign_id, status, reason)

    def sends_in_window(self, since: float) -> tuple[int, float | None]:
        self._settle()
        return self.store.sends_in_window(self._key, since)

    # -- writing --------------------------------------------------------------------------

    def _settle(self, *, intent: bool = True) -> None:
        """Write what is noted but unwritten (not fsynced: the next durable commit does it)."""
        if self._sent is not None or (intent and self._intent is not None):
            with self._transaction(intent=intent):
                pass

    def _write_behind(self) -> None:
        """At an idle moment: the accepted result only (the data-start commit takes the intent)."""
        self._behind = None
        self._settle(intent=False)

    @contextlib.contextmanager
    def _transaction(
        self, *, durable: bool = False, intent: bool = True
    ) -> Iterator[sqlite3.Connection]:
        """A store transaction that first writes the noted result and intent, if any."""
        sent = self._sent
        intent_noted = self._intent if intent else None
        with self.store.transaction(durable=durable) as conn:
            if sent is not None:
                self._write_result(conn, *sent)
            if intent_noted is not None:
                self._write_intent(conn, *intent_noted)
            yield conn
        # Committed (a rollback keeps them noted).
        if intent_noted is not None and self._intent is intent_noted:
            self._intent = None
        if sent is not None and self._sent is sent:
            self._sent = None
            if self._behind is not None:
                self._behind.cancel()
                self._behind = None

    def _write_intent(self, conn: sqlite3.Connection, seq: int, message_id: str, at: float) -> None:
        conn.execute(
            "UPDATE recipients SET status=?, message_id=?, updated=? WHERE campaign_id=? AND seq=?",
            (_IN_FLIGHT_INTENT, message_id, at, self.campaign_id, seq),
        )
        self._insert_intent(conn, seq, message_id, at)

    def _insert_intent(
        self, conn: sqlite3.Connection, seq: int, message_id: str, at: float
    ) -> None:
        conn.execute(
            "INSERT INTO attempts(campaign_id, seq, at, event, message_id) "
            "VALUES(?,?,?,'intent',?)",
            (self.campaign_id, seq, at, message_id),
        )

    def _write_result(self, conn: sqlite3.Connection, item: WorkItem, outcome: Outcome) -> None:
        attempts = item.attempts + (1 if outcome.counted else 0)
        first_failure = item.first_failure_at
        if outcome.status is RecipientStatus.DEFERRED and first_failure is None:
            first_failure = outcome.at
        conn.execute(
            "UPDATE recipients SET status=?, attempts=?, first_failure=?, next_attempt=?, "
            "code=?, enhanced=?, text=?, updated=? WHERE campaign_id=? AND seq=?",
            (
                outcome.status.value,
                attempts,
                first_failure,
                outcome.retry_at,
                outcome.code,
                outcome.enhanced,
                outcome.text,
                outcome.at,
                self.campaign_id,
                item.seq,
            ),
        )
        conn.execute(
            "INSERT INTO attempts(campaign_id, seq, at, event, code, enhanced, text) "
            "VALUES(?,?,?,?,?,?,?)",
            (
                self.campaign_id,
                item.seq,
                outcome.at,
                outcome.status.value,
                outcome.code,
                outcome.enhanced,
                outcome.text,
            ),
        )
        if outcome.status in {RecipientStatus.SENT, RecipientStatus.UNKNOWN}:
            conn.execute("INSERT INTO sends(account_key, at) VALUES(?,?)", (self._key, outcome.at))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
