"""Send later: schedule a campaign, say when it ends batch by batch, and start it when due.

Both faces call these. Scheduling goes through `start_campaign` (checked, confirmed,
created) and then journals the campaign as *scheduled*. At its start time exactly one of the
processes that notice it (the app, a waiting `send --at`, `run-due`) claims it; that one checks
the campaign again (pre-flight, twins, attachments) and aborts the start, resumable, with the
reason when something changed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.credentials import CredentialProvider
from core.errors import SMTPError
from core.events import CampaignStatus
from core.models import Account, Credentials, OAuthProvider, SendSettings
from core.pacing import format_duration
from core.ports import Clock, SystemClock
from core.schedule import BatchPlan, LocalTime, format_local, plan_batches
from core.transport import make_transport
from storage.errors import StorageError
from storage.journal import JournalStore
from storage.journal.scheduling import (
    Claim,
    ScheduledCampaign,
    claim,
    due_campaigns,
    pending_recipients,
    schedule,
    start_time,
)
from storage.settings import SavedAccount
from storage.vault import SecretKind, Vault
from ui.services.campaigns import Draft, Prepared, attachments_digest, prepare
from ui.services.starting import (
    Choice,
    Choose,
    Confirm,
    NotStartedError,
    Secrets,
    Started,
    start_campaign,
)

__all__ = [
    "GOOGLE_TESTING_DAYS",
    "LATE_AFTER",
    "StartRefusedError",
    "check_connection",
    "claim_due",
    "due_now",
    "google_token_warning",
    "is_late",
    "plan_lines",
    "schedule_batches",
    "schedule_campaign",
    "unattended_problem",
    "wait_for_start",
]

LATE_AFTER = 3600.0  # more than an hour late: a person decides (run-due skips it unattended)
GOOGLE_TESTING_DAYS = 7  # a Google "Testing" OAuth client's refresh tokens expire after 7 days
_SEND_SECONDS = 0.2  # what one message takes when there is no delay (as the plan assumes)
_WAIT_SLICE = 1.0  # a waiting start time looks at the wall clock (and the journal) this often
_DAY = 86_400.0

_UNATTENDED = (
    "a scheduled campaign starts with nobody there to type a password: save the account with "
    "a remembered password (kept with the OS keyring) or sign in with its provider"
)


class StartRefusedError(Exception):
    """A scheduled campaign was not started; the campaign says why (resumable)."""


def unattended_problem(
    account: Account, saved: SavedAccount | None, vault: Vault | None
) -> str | None:
    """Why `account` cannot log in without a person, or None when it can.

    It can when it needs no login, or when its saved password (or sign-in) is in a vault whose
    key the OS keyring holds: a passphrase would have to be typed (or written in a cron line).
    """
    if not (account.needs_login or account.needs_proxy_login):
        return None
    if saved is None:
        return f"{_UNATTENDED} (this account is not saved)"
    try:
        source = vault.key_source() if vault is not None else None
        if source != "keyring":
            return (
                f"{_UNATTENDED}: the saved secrets are locked with a master passphrase here, "
                "which nobody would be there to type"
            )
        kinds = []
        if account.needs_login:
            signed_in = account.oauth is not None
            kinds.append(SecretKind.OAUTH_REFRESH_TOKEN if signed_in else SecretKind.SMTP_PASSWORD)
        if account.needs_proxy_login:
            kinds.append(SecretKind.PROXY_PASSWORD)
        assert vault is not None
        missing = [kind for kind in kinds if not vault.has_secret(kind, saved.name)]
    except StorageError as exc:
        return f"{_UNATTENDED} (the saved secrets cannot be read: {exc})"
    if missing:
        what = "sign-in" if SecretKind.OAUTH_REFRESH_TOKEN in missing else "password"
        return f"{_UNATTENDED} (account {saved.name!r} has no remembered {what})"
    return None


def google_token_warning(account: Account, start_at: float, now: float) -> str | None:
    """A warning when a Google sign-in may have expired by the start time."""
    oauth = account.oauth
    if oauth is None or oauth.provider is not OAuthProvider.GOOGLE:
        return None
    if start_at - now <= GOOGLE_TESTING_DAYS * _DAY:
        return None
    return (
        f"the start is more than {GOOGLE_TESTING_DAYS} days away: if your Google OAuth client "
        "is in 'Testing' mode, its sign-in expires after 7 days and the campaign will need you "
        "to sign in again"
    )


def schedule_batches(messages: int, settings: SendSettings, start: float) -> list[BatchPlan]:
    """Each batch's messages, first and last send (if nothing is deferred), as planned."""
    rate = 60.0 / settings.rate_per_minute if settings.rate_per_minute else 0.0
    connections = max(1, settings.connections)  # as the plan assumes (`describe_plan`)
    interval = max(settings.delay_ms / 1000.0, rate, _SEND_SECONDS / connections)
    return plan_batches(
        messages,
        start=start,
        interval=interval,
        size=settings.batch_size,
        pause=settings.batch_pause,
        window=settings.window,
    )


def plan_lines(
    messages: int, settings: SendSettings, start: LocalTime, *, zone: str | None = None
) -> list[str]:
    """When the campaign starts, each batch, and when it ends (if nothing is deferred)."""
    zone = zone or start.zone
    batches = schedule_batches(messages, settings, start.at)
    lines = [
        f"Starts {start.text()}" + (" (the first of two such times)" if start.ambiguous else "")
    ]
    if settings.window is not None:
        lines.append(f"Sends only within {settings.window.describe()}")
    if len(batches) > 1:
        lines.append(
            f"{len(batches):,} batches of up to {settings.batch_size:,}, "
            f"{format_duration(settings.batch_pause)} apart"
        )
        for batch in batches:
            lines.append(
                f"  batch {batch.number}: {batch.messages:,} messages, "
                f"{format_local(batch.starts, zone)} to {format_local(batch.ends, zone)}"
            )
    if batches:
        lines.append(f"Ends about {format_local(batches[-1].ends, zone)}")
    if settings.daily_cap and messages > settings.daily_cap:
        lines.append(f"(the daily cap of {settings.daily_cap:,} may make it longer)")
    return lines


async def check_connection(
    account: Account, credentials: Credentials | CredentialProvider
) -> str | None:
    """Connect and log in once, as the campaign will; the problem in words, or None."""
    transport = make_transport(account, credentials)
    try:
        await transport.connect()
    except SMTPError as exc:
        return f"the connection test failed: {exc}"
    finally:
        with contextlib.suppress(SMTPError):
            await transport.close()
    return None


async def schedule_campaign(
    store: JournalStore,
    draft: Draft,
    start: LocalTime,
    *,
    unattended: Callable[[Account], str | None],
    confirm: Confirm,
    secrets: Secrets,
    choice: Choice | None = None,
    choose: Choose | None = None,
    prepared: Prepared | None = None,
    now: float | None = None,
    connection_test: bool = True,
) -> Started:
    """Check, confirm and create the campaign as `start_campaign` does, then journal it as
    scheduled for `start`. Refuses (`NotStartedError`, nothing created) a time in the past, an
    account that needs a person to log in, or a failed connection test."""
    now = SystemClock().now() if now is None else now
    if start.at <= now:
        raise NotStartedError(f"{start.text()} has passed: send now, or choose a later time")
    problem = unattended(draft.account)
    if problem:
        raise NotStartedError(problem)

    async def checked_secrets(account: Account) -> Credentials | CredentialProvider | None:
        credentials = await secrets(account)
        if credentials is not None and connection_test:
            failure = await check_connection(account, credentials)
            if failure:
                raise NotStartedError(failure)
        return credentials

    started = await start_campaign(
        store,
        draft,
        confirm=confirm,
        secrets=checked_secrets,
        choice=choice,
        choose=choose,
        prepared=prepared,
    )
    schedule(store, started.campaign_id, start_at=start.at, zone=start.zone)
    return started


@dataclass(frozen=True, slots=True)
class Due:
    """A scheduled campaign whose time has come, and how late it is."""

    campaign: ScheduledCampaign
    late_by: float


def due_now(store: JournalStore, now: float) -> list[Due]:
    """The scheduled campaigns to start now, soonest first."""
    return [Due(c, max(0.0, now - c.start_at)) for c in due_campaigns(store, now)]


def is_late(due: Due) -> bool:
    """More than an hour late: a person should decide (the computer was off, say)."""
    return due.late_by > LATE_AFTER


def claim_due(store: JournalStore, campaign_id: str) -> Claim:
    """Claim a due campaign and check it again; `Claim.WON` means: run it now.

    Raises `StartRefusedError` (the campaign is marked aborted with the reason, resumable)
    when the pre-flight fails, the attachments changed, or an earlier campaign sent this
    message to some of these recipients since it was scheduled.
    """
    won = claim(store, campaign_id)
    if won is not Claim.WON:
        return won
    try:
        reason = _changed_since_scheduled(store, campaign_id)
    except Exception as exc:
        reason = f"it could not be checked again ({exc})"
    if reason:
        store.set_status(campaign_id, CampaignStatus.ABORTED, f"not started: {reason}")
        raise StartRefusedError(
            f"campaign {campaign_id} was not started: {reason}. Fix it, then resume it "
            f"(python main.py resume {campaign_id})"
        )
    return won


def _changed_since_scheduled(store: JournalStore, campaign_id: str) -> str | None:
    record = store.campaign(campaign_id)
    base_dir = Path(record.base_dir)
    if record.attachments_digest and (
        attachments_digest(record.template, base_dir) != record.attachments_digest
    ):
        return "the attachment files changed since it was scheduled"
    draft = Draft(
        account=record.account,
        template=record.template,
        recipients=pending_recipients(store, campaign_id),
        settings=record.settings,
        base_dir=base_dir,
        name=record.name,
        source=record.source,
        allow_empty_subject=True,  # the frozen template passed when it was scheduled
    )
    prepared = prepare(store, draft)
    if not prepared.preflight.ok:
        first = prepared.preflight.issues[0].message if prepared.preflight.issues else ""
        return f"the pre-flight check fails now ({first})"
    return _new_twins(prepared, record.id, record.created)


def _new_twins(prepared: Prepared, campaign_id: str, created: float) -> str | None:
    newer = [t for t in prepared.twins if t.id != campaign_id and t.created > created]
    if not newer:
        return None
    reached = sum(t.overlap for t in newer)
    ids = ", ".join(t.id for t in newer)
    return f"{reached:,} of its recipients got this message from campaign {ids} since"


async def wait_for_start(
    store: JournalStore,
    campaign_id: str,
    *,
    clock: Clock | None = None,
    tick: Callable[[float], None] | None = None,
) -> bool:
    """Wait (wall clock, one slice at a time) until the campaign is due; True when it is, False
    when it stopped being scheduled meanwhile (cancelled, started elsewhere).

    The start time is read again every slice: History may have moved it. `tick` gets the
    seconds left, for a countdown.
    """
    clock = clock or SystemClock()
    while True:
        if store.campaign(campaign_id).status is not CampaignStatus.SCHEDULED:
            return False
        when = start_time(store, campaign_id)
        if when is None:
            return False
        left = when[0] - clock.now()
        if left <= 0:
            return True
        if tick is not None:
            tick(left)
        await clock.sleep(min(left, _WAIT_SLICE))
