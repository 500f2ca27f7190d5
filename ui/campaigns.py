"""Campaign orchestration both faces share: check a draft, create it, open and run it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.engine import CampaignRunner
from core.events import CampaignFinished, EventSink
from core.message import BuiltMessage, MessageBuilder
from core.models import Account, Credentials, Recipient, SendSettings, Template
from core.pacing import DAY, Plan, describe_plan, with_preset_limits
from core.ports import Clock, SystemClock, TransportLike
from core.preflight import PreflightReport, preflight
from core.presets import get_preset
from core.transport import LoginGuard, SMTPTransport
from storage.journal import JournalError, JournalStore, SqliteCampaignJournal, account_key
from storage.journal import input_hash as compute_input_hash

__all__ = [
    "CampaignSession",
    "Draft",
    "DryRun",
    "InputsChangedError",
    "Prepared",
    "attachments_digest",
    "create_campaign",
    "dry_run",
    "effective_settings",
    "prepare",
]


class InputsChangedError(JournalError):
    """The files a campaign sends (attachments) changed since it started."""


@dataclass(frozen=True, slots=True)
class Draft:
    """Everything a person chose before sending."""

    account: Account
    template: Template
    recipients: tuple[Recipient, ...]
    settings: SendSettings
    base_dir: Path
    name: str = "campaign"
    source: str = ""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A checked draft: the pre-flight report, the plan, and campaigns with the same inputs."""

    draft: Draft
    preflight: PreflightReport
    plan: Plan
    input_hash: str
    unfinished: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.preflight.ok and bool(self.draft.recipients)


def effective_settings(settings: SendSettings, account: Account) -> SendSettings:
    """Apply the provider's documented limits when the person set none."""
    if not account.preset:
        return settings
    try:
        preset = get_preset(account.preset)
    except KeyError:
        return settings
    return with_preset_limits(settings, preset)


def attachments_digest(template: Template, base_dir: Path) -> str:
    """A fingerprint of the shared attachment files' bytes (missing files count as such)."""
    digest = hashlib.sha256()
    for name in template.attachments:
        path = (base_dir / name) if not Path(name).is_absolute() else Path(name)
        digest.update(name.encode("utf-8", "surrogatepass") + b"\0")
        try:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        except OSError:
            digest.update(b"missing")
    return digest.hexdigest()


def prepare(store: JournalStore, draft: Draft) -> Prepared:
    """Pre-flight every message, state the plan, and find unfinished twins of this draft."""
    report = preflight(
        draft.template,
        draft.recipients,
        base_dir=draft.base_dir,
        max_attachment_bytes=draft.settings.max_attachment_bytes,
        account=draft.account,
    )
    sent, _ = store.sends_in_window(account_key(draft.account), _now() - DAY)
    plan = describe_plan(
        len(draft.recipients),
        delay_ms=draft.settings.delay_ms,
        daily_cap=draft.settings.daily_cap,
        sent_in_window=sent,
        connections=draft.settings.connections,
        rate_per_minute=draft.settings.rate_per_minute,
    )
    inputs = compute_input_hash(draft.template, draft.recipients)
    return Prepared(draft, report, plan, inputs, tuple(store.find_unfinished(inputs)))


def create_campaign(store: JournalStore, prepared: Prepared) -> str:
    """Snapshot the draft in the journal; returns the campaign id."""
    draft = prepared.draft
    return store.create_campaign(
        name=draft.name,
        account=draft.account,
        template=draft.template,
        settings=draft.settings,
        recipients=draft.recipients,
        base_dir=str(draft.base_dir),
        source=draft.source,
        attachments_digest=attachments_digest(draft.template, draft.base_dir),
        inputs=prepared.input_hash,
    )


@dataclass(frozen=True, slots=True)
class DryRun:
    """Every message rendered and built, none sent."""

    messages: int
    total_bytes: int
    first: BuiltMessage | None


def dry_run(draft: Draft, *, campaign_id: str = "dry-run") -> DryRun:
    """Build every message exactly as sending would, without connecting."""
    builder = MessageBuilder(draft.account, draft.template, campaign_id, base_dir=draft.base_dir)
    first: BuiltMessage | None = None
    total = count = 0
    for recipient in draft.recipients:
        built = builder.build(recipient)
        first = first or built
        total += built.size
        count += 1
    return DryRun(count, total, first)


def _now() -> float:
    return SystemClock().now()


class CampaignSession:
    """One campaign opened for sending: its journal (locked), builder, transport and runner.

    Resuming refuses when the attachment files changed since the campaign started, unless
    `accept_changes` is set (a person chose to send the new files).
    """

    def __init__(
        self,
        store: JournalStore,
        campaign_id: str,
        credentials: Credentials | None,
        *,
        sink: EventSink | None = None,
        stop_on_pause: bool = False,
        accept_changes: bool = False,
        clock: Clock | None = None,
        transport: TransportLike | None = None,
        settings: SendSettings | None = None,
    ) -> None:
        record = store.campaign(campaign_id)
        base_dir = Path(record.base_dir)
        if (
            not accept_changes
            and record.attachments_digest
            and (attachments_digest(record.template, base_dir) != record.attachments_digest)
        ):
            raise InputsChangedError(
                f"the attachments of campaign {campaign_id} changed since it started; "
                "resume anyway only if the new files are what you want to send"
            )
        self.store = store
        self.record = record
        self.journal: SqliteCampaignJournal = store.open_campaign(campaign_id)
        try:
            settings = settings or record.settings
            counts = self.journal.counts()
            sent, _ = self.journal.sends_in_window(_now() - DAY)
            plan = describe_plan(
                counts.remaining,
                delay_ms=settings.delay_ms,
                daily_cap=settings.daily_cap,
                sent_in_window=sent,
                connections=settings.connections,
                rate_per_minute=settings.rate_per_minute,
            )
            self.plan = plan
            guard = LoginGuard()  # one login budget for all the campaign's connections

            def connect() -> SMTPTransport:
                return SMTPTransport(record.account, credentials, login_guard=guard)

            self.runner = CampaignRunner(
                journal=self.journal,
                transport=transport
                or SMTPTransport(record.account, credentials, login_guard=guard),
                builder=MessageBuilder(
                    record.account, record.template, campaign_id, base_dir=base_dir
                ),
                sender=record.account.sender,
                settings=settings,
                clock=clock,
                sink=sink,
                host=record.account.host,
                plan=plan.text,
                stop_on_pause=stop_on_pause,
                connect=None if transport else connect,
            )
        except BaseException:
            self.journal.close()
            raise

    @property
    def campaign_id(self) -> str:
        return self.record.id

    async def run(self) -> CampaignFinished:
        """Run to the end (or a pause/cancel/abort); the campaign's lock is released after."""
        try:
            return await self.runner.run()
        finally:
            self.journal.close()

    def pause(self) -> None:
        self.runner.pause()

    def resume(self) -> None:
        self.runner.resume()

    def cancel(self) -> None:
        self.runner.cancel()


def limited(recipients: Sequence[Recipient], limit: int | None) -> tuple[Recipient, ...]:
    """The first `limit` recipients (all when None)."""
    return tuple(recipients if limit is None else recipients[:limit])
