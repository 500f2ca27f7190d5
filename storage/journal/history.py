"""Past campaigns: summaries, per-recipient status, CSV export, retry failed, resolve unknown."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TextIO

from core.events import CampaignStatus
from core.models import RecipientStatus
from core.ports import Counts
from storage.journal import JournalError, JournalStore
from storage.journal.durations import durations
from storage.journal.reader import recipient_status

__all__ = [
    "AttemptRow",
    "CampaignSummary",
    "RecipientRow",
    "Resolution",
    "attempts",
    "export_csv",
    "list_campaigns",
    "recipients",
    "resolve_unknown",
    "retry_failed",
    "safe_cell",
    "skipped_reasons",
]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_EXPORT_COLUMNS = (
    "line",
    "email",
    "name",
    "status",
    "attempts",
    "code",
    "enhanced",
    "reply",
    "message_id",
    "updated",
    "seconds",  # the last answered attempt: its start to the server's reply
)


def safe_cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    id: str
    name: str
    created: float
    updated: float
    status: CampaignStatus
    reason: str
    counts: Counts


@dataclass(frozen=True, slots=True)
class RecipientRow:
    seq: int
    line: int
    email: str
    name: str
    status: RecipientStatus
    attempts: int
    code: int | None
    enhanced: str | None
    text: str
    message_id: str | None
    updated: float | None
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class AttemptRow:
    at: float
    event: str
    code: int | None
    enhanced: str | None
    text: str


def list_campaigns(store: JournalStore) -> list[CampaignSummary]:
    """Every campaign, newest first, with its counts."""
    rows = store.conn.execute(
        "SELECT id, name, created, updated, status, reason FROM campaigns ORDER BY created DESC"
    ).fetchall()
    return [
        CampaignSummary(r[0], r[1], r[2], r[3], CampaignStatus(r[4]), r[5], store.counts(r[0]))
        for r in rows
    ]


def _where(statuses: Sequence[RecipientStatus] | None) -> tuple[str, list[str]]:
    if not statuses:
        return "", []
    raw: list[str] = []
    for status in statuses:
        raw.append(status.value)
        if status is RecipientStatus.PENDING:
            raw.append("sending")
        if status is RecipientStatus.UNKNOWN:
            raw.append("data")
    return f" AND status IN ({','.join('?' * len(raw))})", raw


def recipients(
    store: JournalStore,
    campaign_id: str,
    *,
    statuses: Sequence[RecipientStatus] | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> list[RecipientRow]:
    """Recipients of a campaign in list order, optionally only some statuses, paged."""
    return list(_iter_recipients(store, campaign_id, statuses, offset, limit))


def _iter_recipients(
    store: JournalStore,
    campaign_id: str,
    statuses: Sequence[RecipientStatus] | None,
    offset: int = 0,
    limit: int | None = None,
) -> Iterator[RecipientRow]:
    store.campaign(campaign_id)
    where, params = _where(statuses)
    cursor = store.conn.execute(
        f"SELECT {ROW_COLUMNS} FROM recipients WHERE campaign_id=?{where} ORDER BY seq "
        "LIMIT ? OFFSET ?",
        (campaign_id, *params, -1 if limit is None else limit, offset),
    )
    for r in cursor:
        yield row_of(r)


# The columns `row_of` reads, in its order.
ROW_COLUMNS = (
    "seq, line, email, name, status, attempts, code, enhanced, text, message_id, updated, "
    "fields_json"
)


def row_of(r: Sequence[Any]) -> RecipientRow:
    """A `RecipientRow` from a row selected with `ROW_COLUMNS`."""
    return RecipientRow(
        r[0],
        r[1],
        r[2],
        r[3],
        recipient_status(r[4]),
        r[5],
        r[6],
        r[7],
        r[8],
        r[9],
        r[10],
        json.loads(r[11]),
    )


def skipped_reasons(store: JournalStore, campaign_id: str) -> dict[str, int]:
    """Skipped recipients of a campaign by reason (the text the engine journaled)."""
    rows = store.conn.execute(
        "SELECT text, count(*) FROM recipients WHERE campaign_id=? AND status=? GROUP BY text",
        (campaign_id, RecipientStatus.SKIPPED.value),
    ).fetchall()
    return {str(text): int(count) for text, count in rows}


def attempts(store: JournalStore, campaign_id: str, seq: int) -> list[AttemptRow]:
    """Everything that happened to one recipient, oldest first."""
    rows = store.conn.execute(
        "SELECT at, event, code, enhanced, text FROM attempts WHERE campaign_id=? AND seq=? "
        "ORDER BY id",
        (campaign_id, seq),
    ).fetchall()
    return [AttemptRow(*row) for row in rows]


def export_csv(
    store: JournalStore,
    campaign_id: str,
    out: TextIO,
    *,
    statuses: Sequence[RecipientStatus] | None = None,
) -> int:
    """Write the recipients (all, or some statuses) as CSV; returns the number of rows."""
    writer = csv.writer(out)
    writer.writerow(_EXPORT_COLUMNS)
    count = 0
    timings = durations(store, campaign_id)
    for row in _iter_recipients(store, campaign_id, statuses):
        updated = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.updated)) if (row.updated) else ""
        )
        cells = (
            row.line,
            row.email,
            row.name,
            row.status.value,
            row.attempts,
            row.code,
            row.enhanced,
            row.text,
            row.message_id,
            updated,
            f"{timings[row.seq]:.3f}" if row.seq in timings else "",
        )
        writer.writerow([safe_cell(cell) for cell in cells])
        count += 1
    return count


def retry_failed(store: JournalStore, campaign_id: str) -> int:
    """Put every failed recipient back to pending (a person chose to); returns how many."""
    store.campaign(campaign_id)
    now = time.time()
    with store.transaction(durable=True) as conn:
        conn.execute(
            "INSERT INTO attempts(campaign_id, seq, at, event, text) SELECT campaign_id, seq, ?, "
            "'retry', 'retry failed, chosen by you' FROM recipients WHERE campaign_id=? AND "
            "status='failed'",
            (now, campaign_id),
        )
        changed = conn.execute(
            "UPDATE recipients SET status='pending', attempts=0, first_failure=NULL, "
            "next_attempt=NULL, updated=? WHERE campaign_id=? AND status='failed'",
            (now, campaign_id),
        ).rowcount
    return int(changed)


class Resolution(StrEnum):
    """What a person decided for a recipient whose result is unknown."""

    RESEND = "resend"  # send again: the recipient may get two copies
    MARK_SENT = "mark-sent"  # assume the server took it


def resolve_unknown(
    store: JournalStore,
    campaign_id: str,
    resolution: Resolution,
    *,
    seqs: Sequence[int] | None = None,
) -> int:
    """Resolve UNKNOWN recipients (all, or `seqs`) as a person chose; returns how many."""
    store.campaign(campaign_id)
    now = time.time()
    target = "pending" if resolution is Resolution.RESEND else "sent"
    note = (
        "resend chosen by you (may duplicate)"
        if resolution is Resolution.RESEND
        else "marked as sent by you"
    )
    only = ""
    params: list[object] = []
    if seqs is not None:
        if not seqs:
            return 0
        only = f" AND seq IN ({','.join('?' * len(seqs))})"
        params = list(seqs)
    with store.transaction(durable=True) as conn:
        if seqs is not None:
            (found,) = conn.execute(
                f"SELECT count(*) FROM recipients WHERE campaign_id=? AND status='unknown'{only}",
                (campaign_id, *params),
            ).fetchone()
            if found != len(set(seqs)):
                raise JournalError(
                    f"only {found} of {len(set(seqs))} chosen recipients are unknown; "
                    "nothing was changed"
                )
        conn.execute(
            "INSERT INTO attempts(campaign_id, seq, at, event, text) SELECT campaign_id, seq, "
            f"?, ?, ? FROM recipients WHERE campaign_id=? AND status='unknown'{only}",
            (now, f"resolved-{resolution.value}", note, campaign_id, *params),
        )
        changed = conn.execute(
            f"UPDATE recipients SET status=?, text=?, updated=? WHERE campaign_id=? AND "
            f"status='unknown'{only}",
            (target, note, now, campaign_id, *params),
        ).rowcount
    return int(changed)
