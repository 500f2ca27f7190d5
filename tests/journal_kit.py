"""Seed a journal with a finished campaign whose outcomes a test chooses (no server needed)."""

from __future__ import annotations

from core.events import CampaignStatus
from core.models import Account, Recipient, RecipientStatus, SendSettings, Template
from core.ports import Outcome
from storage.journal import JournalStore

__all__ = ["MIXED", "seed_campaign"]

ACCOUNT = Account(host="smtp.example.com", port=587, sender="me@example.com", username="me")
_F, _S = RecipientStatus.FAILED, RecipientStatus.SENT
# 3 accepted, 2 "no such user", 1 rate limited (deferred), 1 unknown
MIXED: tuple[Outcome, ...] = (
    Outcome(_S, 1000.0, 250, None, "ok"),
    Outcome(_F, 1010.0, 550, "5.1.1", "550 5.1.1 no such user"),
    Outcome(_S, 1020.0, 250, None, "ok"),
    Outcome(_F, 1030.0, 550, "5.1.1", "550 5.1.1 no such user"),
    Outcome(_S, 1040.0, 250, None, "ok"),
    Outcome(RecipientStatus.DEFERRED, 1050.0, 451, "4.7.28", "rate limited", retry_at=1e12),
    Outcome(RecipientStatus.UNKNOWN, 1060.0, None, None, "connection lost after the dot"),
)


def seed_campaign(
    store: JournalStore,
    outcomes: tuple[Outcome, ...] = MIXED,
    *,
    pending: int = 0,
    name: str = "Seeded",
    status: CampaignStatus = CampaignStatus.FINISHED,
) -> str:
    """A campaign with one recipient per outcome (p0@example.com ...) and `pending` more."""
    people = [
        Recipient(email=f"p{i}@example.com", name=f"P{i}", line=i + 2)
        for i in range(len(outcomes) + pending)
    ]
    campaign_id = store.create_campaign(
        name=name,
        account=ACCOUNT,
        template=Template(subject="Hello", body="Hi"),
        settings=SendSettings(),
        recipients=people,
    )
    journal = store.open_campaign(campaign_id)
    try:
        for outcome in outcomes:
            item = journal.next_due(0)
            assert item is not None
            journal.result(item, outcome)
        journal.set_status(status)
    finally:
        journal.close()
    return campaign_id
