"""The journal's reason query: problem recipients by reply code, and the rows of one group."""

from __future__ import annotations

from pathlib import Path

from core.models import Account, Recipient, RecipientStatus, SendSettings, Template
from core.ports import Outcome
from storage.journal import JournalStore
from storage.journal.reasons import reason_groups, reason_rows

ACCOUNT = Account(host="smtp.example.com", port=587, sender="me@example.com", username="me")


def _campaign(store: JournalStore, outcomes: list[Outcome]) -> str:
    people = [Recipient(email=f"p{i}@example.com", line=i + 2) for i in range(len(outcomes) + 2)]
    campaign_id = store.create_campaign(
        name="t",
        account=ACCOUNT,
        template=Template(subject="s", body="b"),
        settings=SendSettings(),
        recipients=people,
    )
    journal = store.open_campaign(campaign_id)
    for outcome in outcomes:
        item = journal.next_due(0)
        assert item is not None
        journal.result(item, outcome)
    journal.close()
    return campaign_id


def test_reason_groups_count_failures_by_code_and_rows_filter_to_a_group(tmp_path: Path) -> None:
    store = JournalStore(tmp_path / "j.sqlite3")
    F = RecipientStatus.FAILED
    outcomes = [
        Outcome(F, 1.0, 550, "5.1.1", "550 5.1.1 no such user a"),
        Outcome(RecipientStatus.SENT, 1.0, 250, None, "ok"),
        Outcome(F, 2.0, 550, "5.1.1", "550 5.1.1 no such user b"),
        Outcome(F, 3.0, None, None, "line 5: cannot build"),
        Outcome(RecipientStatus.UNKNOWN, 4.0, None, None, "reply lost"),
        Outcome(RecipientStatus.DEFERRED, 5.0, 451, "4.7.28", "rate limited", retry_at=1e12),
    ]
    campaign_id = _campaign(store, outcomes)
    groups = reason_groups(store, campaign_id)
    labels = [g.label for g in groups]
    assert labels == [
        "mailbox does not exist (5.1.1) x 2",
        "the message could not be built for this row x 1",
        "the reply was lost after sending x 1",
        "rate limited (4.7.28) x 1",
    ]
    counts = store.counts(campaign_id)
    assert sum(g.count for g in groups) == counts.failed + counts.unknown + counts.deferred
    rows = reason_rows(store, campaign_id, groups[0])
    assert [row.email for row in rows] == ["p0@example.com", "p2@example.com"]
    assert [r.email for r in reason_rows(store, campaign_id, groups[1])] == ["p3@example.com"]
    assert [r.email for r in reason_rows(store, campaign_id, groups[0], offset=1, limit=1)] == [
        "p2@example.com"
    ]
    store.close()
