"""Campaign orchestration both faces share: check a draft, create it, open and run it."""

from __future__ import annotations

import asyncio
import email.policy
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.parser import BytesHeaderParser
from pathlib import Path

from core.credentials import CredentialProvider
from core.engine import CampaignRunner
from core.events import CampaignFinished, CampaignStatus, EventSink
from core.message import BuiltMessage, MessageBuilder
from core.models import Account, Credentials, SendSettings, Template
from core.pacing import DAY, Plan, describe_plan, with_preset_limits
from core.ports import Clock, SuppressionListLike, SystemClock, TransportLike
from core.preflight import PreflightReport, preflight
from core.presets import get_preset
from core.recipients.address import identity
from core.recipients.source import Excluding, Limited, RecipientSource, first_recipient
from core.transport import LoginGuard, make_transport
from storage.journal import (
    AcceptedByCampaign,
    JournalError,
    JournalStore,
    SqliteCampaignJournal,
    account_key,
)
from storage.journal import input_hash as compute_input_hash
from storage.journal.scheduling import batch_schedule
from storage.suppression import SuppressionList

__all__ = [
    "CampaignSession",
    "Draft",
    "DryRun",
    "InputsChangedError",
    "JournalFacts",
    "Prepared",
    "Twin",
    "attachments_digest",
    "check_draft",
    "create_campaign",
    "dry_run",
    "effective_settings",
    "first_subject",
    "journal_facts",
    "only_not_yet_accepted",
    "prepare",
    "prepare_in_background",
    "with_unfinished",
]


class InputsChangedError(JournalError):
    """The files a campaign sends (attachments) changed since it started."""


@dataclass(frozen=True, slots=True)
class Draft:
    """Everything a person chose before sending."""

    account: Account
    template: Template
    recipients: RecipientSource  # a tuple, or a file streamed on each pass
    settings: SendSettings
    base_dir: Path
    name: str = "campaign"
    source: str = ""
    allow_empty_subject: bool = False  # a person chose to send without a subject


@dataclass(frozen=True, slots=True)
class Twin:
    """An earlier campaign of the same message that reached some of these recipients."""

    id: str
    name: str
    created: float
    status: CampaignStatus
    overlap: int  # recipients of this list its server accepted


@dataclass(frozen=True, slots=True)
class Prepared:
    """A checked draft: the pre-flight report, the plan, and campaigns it would repeat."""

    draft: Draft
    preflight: PreflightReport
    plan: Plan
    input_hash: str
    unfinished: tuple[str, ...]  # unfinished campaigns with exactly these inputs
    twins: tuple[Twin, ...] = ()  # earlier campaigns of this message that reached some of them
    already_accepted: frozenset[str] = frozenset()  # identities of those reached before

    @property
    def ok(self) -> bool:
        return self.preflight.ok and len(self.draft.recipients) > 0

    @property
    def repeats(self) -> int:
        """How many recipients of this list already got this message from an earlier campaign."""
        return len(self.already_accepted)

    def not_yet_accepted(self) -> RecipientSource:
        """The recipients no earlier campaign of this message reached."""
        return Excluding(self.draft.recipients, self.already_accepted)


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


@dataclass(frozen=True, slots=True)
class JournalFacts:
    """What checking a draft needs from the journal, read in one quick step."""

    sent_in_window: int
    earlier: tuple[AcceptedByCampaign, ...]  # campaigns of this template, with who accepted


def journal_facts(store: JournalStore, draft: Draft) -> JournalFacts:
    """The journal reads of a check (in the journal's own thread: its connection is shared)."""
    sent, _ = store.sends_in_window(account_key(draft.account), _now() - DAY)
    return JournalFacts(sent, tuple(store.accepted_by_template(draft.template)))


def check_draft(draft: Draft, facts: JournalFacts) -> Prepared:
    """The CPU part of a check, with no journal access (safe in a worker thread): pre-flight
    every message, the plan, the inputs' fingerprint and the twins."""
    report = preflight(
        draft.template,
        draft.recipients,
        base_dir=draft.base_dir,
        max_attachment_bytes=draft.settings.max_attachment_bytes,
        account=draft.account,
        allow_empty_subject=draft.allow_empty_subject,
    )
    plan = describe_plan(
        len(draft.recipients),
        delay_ms=draft.settings.delay_ms,
        daily_cap=draft.settings.daily_cap,
        sent_in_window=facts.sent_in_window,
        connections=draft.settings.connections,
        rate_per_minute=draft.settings.rate_per_minute,
    )
    inputs = compute_input_hash(draft.template, draft.recipients)
    twins, accepted = _twins(facts.earlier, draft)
    return Prepared(draft, report, plan, inputs, (), twins, accepted)


def with_unfinished(store: JournalStore, prepared: Prepared) -> Prepared:
    """The check completed with the unfinished campaigns of exactly these inputs."""
    return replace(prepared, unfinished=tuple(store.find_unfinished(prepared.input_hash)))


def prepare(store: JournalStore, draft: Draft) -> Prepared:
    """Pre-flight every message, state the plan, and find twins of this draft (one thread)."""
    return with_unfinished(store, check_draft(draft, journal_facts(store, draft)))


async def prepare_in_background(store: JournalStore, draft: Draft) -> Prepared:
    """`prepare` for an event loop: the journal is read in the loop, the heavy part runs in
    a worker thread that never touches the journal's connection (closing it meanwhile, at
    shutdown or in a test, must not race a query)."""
    facts = journal_facts(store, draft)
    checked = await asyncio.to_thread(check_draft, draft, facts)
    return with_unfinished(store, checked)


def _twins(
    earlier: tuple[AcceptedByCampaign, ...], draft: Draft
) -> tuple[tuple[Twin, ...], frozenset[str]]:
    """Earlier campaigns of this template whose accepted recipients overlap this list."""
    if not earlier:
        return (), frozenset()
    # Memory follows what earlier campaigns accepted, not the size of this list.
    accepted = [{identity(email) for email in campaign.accepted} for campaign in earlier]
    everyone = set().union(*accepted)
    reached = {key for r in draft.recipients if (key := identity(r.email)) in everyone}
    twins = tuple(
        Twin(c.id, c.name, c.created, c.status, len(reached & keys))
        for c, keys in zip(earlier, accepted, strict=True)
        if reached & keys
    )
    return twins, frozenset(reached)


def first_subject(prepared: Prepared) -> str:
    """The subject of the first message, exactly as it will be sent (merge fields filled)."""
    if not prepared.draft.recipients:
        return ""
    first = first_recipient(prepared.draft.recipients)
    if first is None:
        return ""
    run = dry_run(replace(prepared.draft, recipients=(first,)))
    if run.first is None:
        return ""
    headers = BytesHeaderParser(policy=email.policy.default).parsebytes(run.first.payload)
    return str(headers.get("Subject", ""))


def only_not_yet_accepted(prepared: Prepared) -> Draft:
    """The same draft limited to the recipients no earlier campaign of it reached."""
    return replace(prepared.draft, recipients=prepared.not_yet_accepted())


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
        credentials: Credentials | CredentialProvider | None,
        *,
        sink: EventSink | None = None,
        stop_on_pause: bool = False,
        accept_changes: bool = False,
        clock: Clock | None = None,
        transport: TransportLike | None = None,
        settings: SendSettings | None = None,
        suppression: SuppressionListLike | None = None,
        signer: Callable[[bytes], bytes] | None = None,
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
        self._own_suppression = SuppressionList() if suppression is None else None
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

            def connect() -> TransportLike:
                return make_transport(record.account, credentials, login_guard=guard)

            self.runner = CampaignRunner(
                journal=self.journal,
                transport=transport
                or make_transport(record.account, credentials, login_guard=guard),
                builder=MessageBuilder(
                    record.account, record.template, campaign_id, base_dir=base_dir, signer=signer
                ),
                sender=record.account.sender,
                settings=settings,
                clock=clock,
                sink=sink,
                host=record.account.host,
                plan=plan.text,
                stop_on_pause=stop_on_pause,
                suppression=self._own_suppression if suppression is None else suppression,
                connect=None if transport else connect,
                schedule=batch_schedule(store, campaign_id, settings),
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
            if self._own_suppression is not None:
                self._own_suppression.close()

    def pause(self) -> None:
        self.runner.pause()

    def resume(self) -> None:
        self.runner.resume()

    def cancel(self) -> None:
        self.runner.cancel()


def limited(recipients: RecipientSource, limit: int | None) -> RecipientSource:
    """The first `limit` recipients (all when None)."""
    return recipients if limit is None else Limited(recipients, limit)
