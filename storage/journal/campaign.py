"""One campaign's journal as the engine sees it: read-ahead, riding writes, the campaign lock."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from core.errors import JournalWriteError
from core.events import CampaignStatus
from core.models import Recipient, RecipientStatus
from core.ports import Counts, Outcome, WorkItem
from storage.errors import CampaignLockedError
from storage.journal.records import CampaignRecord, account_key
from storage.journal.schema import IN_FLIGHT_DATA, IN_FLIGHT_INTENT

if TYPE_CHECKING:
    from storage.journal.store import JournalStore

__all__ = ["CampaignLock", "SqliteCampaignJournal"]

log = logging.getLogger(__name__)

_READ_AHEAD = 64  # pending recipients read per query


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


class CampaignLock:
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

    Several messages may be in flight at once (one per connection, and with pipelining across
    messages the next envelope rides behind the previous final dot): each recipient with a
    noted intent is claimed, so `next_due` never hands it out twice, until its result.
    """

    def __init__(self, store: JournalStore, record: CampaignRecord, lock: CampaignLock) -> None:
        self.store = store
        self.record = record
        self.campaign_id = record.id
        self._key = account_key(record.account)
        self._lock = lock
        self._conn = store.conn
        self._intents: dict[int, tuple[int, str, float]] = {}  # seq: (seq, message_id, at)
        self._sent: list[tuple[WorkItem, Outcome]] = []  # accepted results, unwritten
        self._behind: asyncio.Handle | None = None  # writes `_sent` when the loop is idle
        self._data_seqs: set[int] = set()  # data-start recorded, result not yet
        self._claimed: set[int] = set()  # reserved, or intent noted and no result yet
        self._upcoming: deque[WorkItem] = deque()  # pending recipients, in seq order
        self._wake: float | None = None  # when the first deferred recipient is due
        self._wake_known = False

    def close(self) -> None:
        if self._behind is not None:  # written now, or never: no callback after the close
            self._behind.cancel()
            self._behind = None
        try:
            self._settle(quiet=True)
        finally:
            self._lock.release()

    def __enter__(self) -> SqliteCampaignJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what to send next ----------------------------------------------------------------

    def next_due(self, now: float) -> WorkItem | None:
        """The next recipient due and not in flight (claimed) elsewhere."""
        wake = self.next_wake()
        if wake is not None and wake <= now:
            rows = self._conn.execute(
                "SELECT seq, email, name, fields_json, line, source, smtputf8, attempts, "
                "first_failure FROM recipients WHERE campaign_id=? AND status='deferred' AND "
                "next_attempt<=? ORDER BY next_attempt, seq LIMIT ?",
                (self.campaign_id, now, len(self._claimed) + 1),
            ).fetchall()
            for row in rows:
                if row[0] not in self._claimed:
                    return _work_item(row)
        return self.peek_pending(-1)

    def peek_pending(self, after_seq: int) -> WorkItem | None:
        """The first pending recipient after `after_seq` that is not in flight."""
        while True:
            item = self._first_after(after_seq)
            if item is not None:
                return item
            before = len(self._upcoming)
            self._read_ahead(after=self._upcoming[-1].seq if self._upcoming else None)
            if len(self._upcoming) == before:
                return None

    def _first_after(self, seq: int) -> WorkItem | None:
        claimed = self._claimed
        return next((i for i in self._upcoming if i.seq > seq and i.seq not in claimed), None)

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
        self._settle(quiet=True)
        return self.store.counts(self.campaign_id)

    # -- records --------------------------------------------------------------------------

    def intent(self, item: WorkItem, message_id: str, at: float) -> None:
        """Note the intent and claim the recipient; the next commit writes it (see above)."""
        self._intents[item.seq] = (item.seq, message_id, at)
        self._claimed.add(item.seq)

    def reserve(self, item: WorkItem) -> None:
        """Keep `item` from `next_due` while one connection prepares it (in memory only)."""
        self._claimed.add(item.seq)

    def release(self, item: WorkItem) -> None:
        """Give back a reservation: `next_due` may hand the recipient out again."""
        if item.seq not in self._intents and item.seq not in self._data_seqs:
            self._claimed.discard(item.seq)

    def data_started(self, item: WorkItem, at: float) -> None:
        """Durable (fsynced) before it returns, with everything noted before it."""
        intent = self._intents.get(item.seq)
        with self._transaction(durable=True, skip=item.seq) as conn:
            if intent is None:
                conn.execute(
                    "UPDATE recipients SET status=?, updated=? WHERE campaign_id=? AND seq=?",
                    (IN_FLIGHT_DATA, at, self.campaign_id, item.seq),
                )
            else:  # straight from pending: one change of status, not two
                conn.execute(
                    "UPDATE recipients SET status=?, message_id=?, updated=? "
                    "WHERE campaign_id=? AND seq=?",
                    (IN_FLIGHT_DATA, intent[1], at, self.campaign_id, item.seq),
                )
                self._insert_intent(conn, *intent)
            conn.execute(
                "INSERT INTO attempts(campaign_id, seq, at, event) VALUES(?,?,?,'data')",
                (self.campaign_id, item.seq, at),
            )
        if intent is not None and self._intents.get(item.seq) is intent:
            del self._intents[item.seq]
        self._data_seqs.add(item.seq)

    def result(self, item: WorkItem, outcome: Outcome) -> None:
        """Record the attempt's result; an accepted message's is written behind (see above)."""
        self._done_with(item, outcome)
        self._claimed.discard(item.seq)
        behind = outcome.status is RecipientStatus.SENT and item.seq in self._data_seqs
        self._data_seqs.discard(item.seq)
        loop = _running_loop() if behind else None
        if loop is not None:
            self._sent.append((item, outcome))
            if self._behind is None:
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
        # Quietly: a status must be recorded even when the noted result cannot be (full
        # disk); that one then counts as a crash would have left it.
        self._settle(quiet=True)
        self.store.set_status(self.campaign_id, status, reason)

    def sends_in_window(self, since: float) -> tuple[int, float | None]:
        self._settle(quiet=True)
        return self.store.sends_in_window(self._key, since)

    # -- writing --------------------------------------------------------------------------

    def _settle(self, *, intent: bool = True, quiet: bool = False) -> None:
        """Write what is noted but unwritten (not fsynced: the next durable commit does it).

        `quiet`: a failed write (disk full) is not raised; what is noted stays noted for
        the next commit, and if none comes, a crash's rules apply to it (a recipient whose
        result is lost stands at "data started": UNKNOWN, never resent by itself).
        """
        if self._sent or (intent and self._intents):
            try:
                with self._transaction(intent=intent):
                    pass
            except JournalWriteError:
                if not quiet:
                    raise
                log.debug("the journal could not be written; the next commit retries")

    def _write_behind(self) -> None:
        """At an idle moment: the accepted result only (the data-start commit takes the intent).

        A loop callback must not raise: a failed write stays noted for the next commit,
        which raises it to the engine.
        """
        self._behind = None
        self._settle(intent=False, quiet=True)

    @contextlib.contextmanager
    def _transaction(
        self, *, durable: bool = False, intent: bool = True, skip: int | None = None
    ) -> Iterator[sqlite3.Connection]:
        """A store transaction that first writes the noted results and intents (but `skip`'s)."""
        sent = list(self._sent)
        intents = [v for k, v in self._intents.items() if k != skip] if intent else []
        with self.store.transaction(durable=durable) as conn:
            for item, outcome in sent:
                self._write_result(conn, item, outcome)
            for noted in intents:
                self._write_intent(conn, *noted)
            yield conn
        # Committed (a rollback keeps them noted).
        for noted in intents:
            if self._intents.get(noted[0]) is noted:
                del self._intents[noted[0]]
        if sent:
            del self._sent[: len(sent)]
            if not self._sent and self._behind is not None:
                self._behind.cancel()
                self._behind = None

    def _write_intent(self, conn: sqlite3.Connection, seq: int, message_id: str, at: float) -> None:
        conn.execute(
            "UPDATE recipients SET status=?, message_id=?, updated=? WHERE campaign_id=? AND seq=?",
            (IN_FLIGHT_INTENT, message_id, at, self.campaign_id, seq),
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
