"""All campaigns in one SQLite file: create, look up, recover after a crash, count, lock."""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from core.events import CampaignStatus
from core.models import Account, Recipient, RecipientStatus, SendSettings, Template
from core.ports import Counts
from storage.codec import from_plain, to_plain
from storage.errors import CampaignNotFoundError, JournalCorruptError, JournalWriteFailedError
from storage.journal.campaign import CampaignLock, SqliteCampaignJournal
from storage.journal.records import (
    AcceptedByCampaign,
    CampaignRecord,
    account_key,
    input_hash,
)
from storage.journal.schema import IN_FLIGHT_DATA, IN_FLIGHT_INTENT, connect
from storage.paths import data_dir, ensure_private_dir

__all__ = ["JOURNAL_FILE", "JournalStore"]

JOURNAL_FILE = "journal.sqlite3"


class JournalStore:
    """All campaigns in one SQLite file under the data folder."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or data_dir() / JOURNAL_FILE
        ensure_private_dir(self.path.parent)
        self.conn = connect(self.path)
        self._durable = False  # synchronous=NORMAL, as `connect` leaves it
        self._locks_dir = ensure_private_dir(self.path.parent / "locks")

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def transaction(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """BEGIN ... COMMIT; with `durable`, the commit is fsynced (synchronous=FULL).

        A write SQLite cannot make (`database or disk is full`, an I/O error) undoes the
        whole transaction and raises `JournalWriteFailedError`, the one translation of
        those errors: the engine stops the campaign on it, resumable.
        """
        conn = self.conn
        try:
            if durable is not self._durable:  # set when it changes: a sending run makes one
                # durable commit after another, and the PRAGMA costs a statement each time
                conn.execute("PRAGMA synchronous=FULL" if durable else "PRAGMA synchronous=NORMAL")
                self._durable = durable
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:  # SQLITE_FULL may have rolled it back already
                    conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise JournalWriteFailedError(
                f"the journal {self.path.name} could not be written ({exc})"
            ) from exc

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
        inputs: str | None = None,
    ) -> str:
        """Snapshot the inputs and every recipient (as pending); returns the new campaign id.

        `inputs` is `input_hash(template, recipients)` when the caller has it already (else
        `recipients` must be iterable twice). They stream in: none is held in memory here.

        `attachments_digest` fingerprints the attachment files, which live outside the journal,
        so a resume can tell when they changed.
        """
        if inputs is None:
            inputs = input_hash(template, recipients)  # a pass of its own (sources re-iterate)
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
                    inputs,
                    attachments_digest,
                    0,  # counted below, as the recipients stream in
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
            conn.execute(
                "UPDATE campaigns SET total=(SELECT count(*) FROM recipients WHERE "
                "campaign_id=?) WHERE id=?",
                (campaign_id, campaign_id),
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

    def accepted_by_template(self, template: Template) -> list[AcceptedByCampaign]:
        """Earlier campaigns (finished or not) that sent this very template, each with the
        addresses their server accepted; oldest first."""
        wanted = to_plain(template)
        found: list[AcceptedByCampaign] = []
        rows = self.conn.execute(
            "SELECT id, name, created, status, template_json FROM campaigns ORDER BY created"
        ).fetchall()
        for campaign_id, name, created, status, template_json in rows:
            if json.loads(template_json) != wanted:
                continue
            sent = self.conn.execute(
                "SELECT email FROM recipients WHERE campaign_id=? AND status='sent'",
                (campaign_id,),
            ).fetchall()
            found.append(
                AcceptedByCampaign(
                    campaign_id,
                    name,
                    created,
                    CampaignStatus(status),
                    tuple(row[0] for row in sent),
                )
            )
        return found

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
        lock = CampaignLock(self._locks_dir / f"{campaign_id}.lock", campaign_id)
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
                (now, campaign_id, IN_FLIGHT_DATA),
            )
            conn.execute(
                "UPDATE recipients SET status='unknown', updated=?, text='interrupted after the "
                "message was sent, before the server replied' WHERE campaign_id=? AND status=?",
                (now, campaign_id, IN_FLIGHT_DATA),
            )
            conn.execute(
                "UPDATE recipients SET status='pending', updated=? WHERE campaign_id=? AND "
                "status=?",
                (now, campaign_id, IN_FLIGHT_INTENT),
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
        pending = by.get("pending", 0) + by.get(IN_FLIGHT_INTENT, 0)
        return Counts(
            total=sum(by.values()),
            pending=pending,
            deferred=by.get("deferred", 0),
            sent=by.get("sent", 0),
            failed=by.get("failed", 0),
            unknown=by.get("unknown", 0) + by.get(IN_FLIGHT_DATA, 0),
            skipped=by.get("skipped", 0),
        )

    def sends_in_window(self, key: str, since: float) -> tuple[int, float | None]:
        count, oldest = self.conn.execute(
            "SELECT count(*), min(at) FROM sends WHERE account_key=? AND at>?", (key, since)
        ).fetchone()
        return int(count), oldest
