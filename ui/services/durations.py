"""Message durations for both faces: the slowest replies of a campaign as lines of text."""

from __future__ import annotations

from storage.journal import JournalStore
from storage.journal.durations import DEFAULT_SLOWEST, format_seconds, slowest

__all__ = ["slowest_lines"]


def slowest_lines(
    store: JournalStore, campaign_id: str, *, limit: int = DEFAULT_SLOWEST
) -> list[str]:
    """`line 12 bob@example.com: 2.31 s (sent) 250 OK`, slowest first; empty before any reply."""
    lines = []
    for item in slowest(store, campaign_id, limit=limit):
        where = f"line {item.line}" if item.line else f"#{item.seq}"
        reply = f" {item.reply}" if item.reply else ""
        lines.append(f"{where} {item.email}: {format_seconds(item.seconds)} ({item.status}){reply}")
    return lines
