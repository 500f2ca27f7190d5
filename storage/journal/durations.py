"""How long each message took, from the journal: its send started (intent) to the server's reply."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from storage.journal import JournalStore

__all__ = ["DEFAULT_SLOWEST", "SlowReply", "durations", "format_seconds", "slowest"]

DEFAULT_SLOWEST = 5
_REPLIES = frozenset({"sent", "failed", "deferred"})  # an attempt that got the server's answer
_IGNORED = frozenset({"data"})  # in the middle of an attempt


@dataclass(frozen=True, slots=True)
class SlowReply:
    """One of a campaign's slowest replies: who, how long, and what the server said."""

    seq: int
    line: int
    email: str
    seconds: float
    status: str
    reply: str


def format_seconds(seconds: float | None) -> str:
    """`0.042 s`, `1.25 s`, `12.3 s`; empty for no duration."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds:.3f} s"
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def _last_durations(rows: Iterable[tuple[int, float, str]]) -> dict[int, float]:
    """seq -> seconds of its last answered attempt; rows in (seq, id) order."""
    found: dict[int, float] = {}
    started: dict[int, float] = {}
    for seq, at, event in rows:
        if event == "intent":
            started[seq] = at
        elif event in _REPLIES and seq in started:
            found[seq] = max(at - started.pop(seq), 0.0)
        elif event not in _IGNORED:
            started.pop(seq, None)  # retry, resolution, a build failure: no send to time
    return found


def durations(
    store: JournalStore, campaign_id: str, *, seqs: Sequence[int] | None = None
) -> dict[int, float]:
    """Seconds from the start of each recipient's last answered attempt to the server's reply.

    Recipients never sent, or whose reply was lost (UNKNOWN), have no entry.
    """
    only, params = "", []
    if seqs is not None:
        if not seqs:
            return {}
        only = f" AND seq IN ({','.join('?' * len(seqs))})"
        params = list(seqs)
    rows = store.conn.execute(
        f"SELECT seq, at, event FROM attempts WHERE campaign_id=?{only} ORDER BY seq, id",  # noqa: S608 - only "?" placeholders are added
        (campaign_id, *params),
    )
    return _last_durations(rows)


def slowest(
    store: JournalStore, campaign_id: str, *, limit: int = DEFAULT_SLOWEST
) -> list[SlowReply]:
    """The `limit` slowest replies of a campaign, slowest first."""
    timed = sorted(durations(store, campaign_id).items(), key=lambda item: (-item[1], item[0]))
    top = timed[:limit]
    if not top:
        return []
    marks = ",".join("?" * len(top))
    query = f"SELECT seq, line, email, status, text FROM recipients WHERE campaign_id=? AND seq IN ({marks})"  # noqa: S608, E501 - only "?" placeholders are added
    found = {
        row[0]: row for row in store.conn.execute(query, (campaign_id, *(seq for seq, _ in top)))
    }
    return [
        SlowReply(seq, found[seq][1], found[seq][2], seconds, found[seq][3], found[seq][4])
        for seq, seconds in top
        if seq in found
    ]
