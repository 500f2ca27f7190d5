"""A campaign's problem recipients by reply code: the figures `core.reasons` groups."""

from __future__ import annotations

import json

from core.models import RecipientStatus
from core.reasons import PROBLEM_STATUSES, ReasonGroup, ReplyTally, group_reasons
from storage.journal.history import RecipientRow
from storage.journal.reader import recipient_status
from storage.journal.store import JournalStore

__all__ = ["reason_groups", "reason_rows", "reply_tallies"]


def reply_tallies(store: JournalStore, campaign_id: str) -> list[ReplyTally]:
    """Failed, unknown and deferred recipients counted by status, code and enhanced code."""
    store.campaign(campaign_id)
    rows = store.conn.execute(
        "SELECT status, code, enhanced, count(*), min(text) FROM recipients WHERE "
        "campaign_id=? AND status IN (?, ?, ?) GROUP BY status, code, enhanced",
        (campaign_id, *(status.value for status in PROBLEM_STATUSES)),
    ).fetchall()
    return [
        ReplyTally(RecipientStatus(status), code, enhanced or None, int(count), str(text or ""))
        for status, code, enhanced, count, text in rows
    ]


def reason_groups(store: JournalStore, campaign_id: str) -> list[ReasonGroup]:
    """The campaign's problems grouped by reason, the biggest first."""
    return group_reasons(reply_tallies(store, campaign_id))


def reason_rows(
    store: JournalStore,
    campaign_id: str,
    group: ReasonGroup,
    *,
    offset: int = 0,
    limit: int | None = None,
) -> list[RecipientRow]:
    """The recipients of one reason group, in list order, paged."""
    store.campaign(campaign_id)
    cursor = store.conn.execute(
        "SELECT seq, line, email, name, status, attempts, code, enhanced, text, message_id, "
        "updated, fields_json FROM recipients WHERE campaign_id=? AND status=? AND code IS ? "
        "AND coalesce(enhanced, '')=? ORDER BY seq LIMIT ? OFFSET ?",
        (
            campaign_id,
            group.status.value,
            group.code,
            group.enhanced or "",
            -1 if limit is None else limit,
            offset,
        ),
    )
    return [
        RecipientRow(
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
        for r in cursor
    ]
