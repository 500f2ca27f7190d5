"""Test kit for the engine: a fake clock, a tiny builder, and a campaign on a real journal."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from core.engine import CampaignRunner
from core.events import Event
from core.models import Account, Recipient, SendSettings, Template
from core.ports import SuppressionListLike
from core.transport import SMTPTransport
from storage.journal import JournalStore, SqliteCampaignJournal

START = 1_800_000_000.0


class FakeClock:
    """Time moves only when the engine sleeps; every sleep is recorded."""

    def __init__(self) -> None:
        self.wall = START
        self.mono = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.wall += seconds
        self.mono += seconds
        await asyncio.sleep(0)


@dataclass(frozen=True)
class Built:
    payload: bytes
    message_id: str
    envelope_recipients: tuple[str, ...]
    smtputf8: bool = False


class TinyBuilder:
    """Builds a minimal message; enough for the engine, which never looks inside."""

    def build(self, recipient: Recipient) -> Built:
        mid = f"<{recipient.email.replace('@', '.')}@test>"
        payload = (
            f"From: alice@example.com\r\nTo: {recipient.email}\r\nSubject: hello\r\n"
            f"Message-ID: {mid}\r\n\r\nHello {recipient.fields.get('name', '')}\r\n"
        ).encode()
        return Built(payload, mid, (recipient.email,), recipient.needs_smtputf8)


def people(*emails: str) -> list[Recipient]:
    return [
        Recipient(email=e, fields=MappingProxyType({"name": e.split("@")[0]}), line=n + 2)
        for n, e in enumerate(emails)
    ]


@dataclass
class Harness:
    store: JournalStore
    journal: SqliteCampaignJournal
    runner: CampaignRunner
    clock: FakeClock
    events: list[Event] = field(default_factory=list)

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.events]

    def of(self, kind: type) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]


def make_campaign(
    tmp_path: Path,
    account: Account,
    recipients: Sequence[Recipient],
    settings: SendSettings,
    *,
    transport: SMTPTransport | None = None,
    stop_on_pause: bool = True,
    suppression: SuppressionListLike | None = None,
    connect: Callable[[], SMTPTransport] | None = None,
) -> Harness:
    store = JournalStore(tmp_path / "journal.sqlite3")
    campaign_id = store.create_campaign(
        name="test",
        account=account,
        template=Template(subject="hello", body="Hello"),
        settings=settings,
        recipients=recipients,
    )
    journal = store.open_campaign(campaign_id)
    clock = FakeClock()
    events: list[Event] = []
    runner = CampaignRunner(
        journal=journal,
        transport=transport or SMTPTransport(account),
        builder=TinyBuilder(),
        sender=account.sender,
        settings=settings,
        clock=clock,
        sink=events.append,
        host=account.host,
        stop_on_pause=stop_on_pause,
        suppression=suppression,
        connect=connect,
    )
    return Harness(store, journal, runner, clock, events)
