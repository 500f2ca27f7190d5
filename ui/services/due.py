"""The app's side of send later: start due campaigns by themselves, one at a time."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.credentials import CredentialProvider
from core.events import CampaignStatus
from core.models import Credentials
from core.ports import SystemClock
from storage.journal import CampaignRecord, JournalError
from storage.journal.scheduling import Claim
from ui.services import runs
from ui.services.credentials import CredentialResolver, CredentialsError
from ui.services.scheduling import Due, StartRefusedError, claim_due, due_now, is_late
from ui.services.state import AppState

__all__ = ["DUE_CHECK_SECONDS", "PickUp", "pick_up_due", "unattended_resolver"]

DUE_CHECK_SECONDS = 15.0  # how often the running app looks for due campaigns


@dataclass(slots=True)
class PickUp:
    """What one look for due campaigns did."""

    started: str | None = None  # the campaign launched now
    waiting: list[Due] = field(default_factory=list)  # due, behind the running campaign
    late: list[Due] = field(default_factory=list)  # more than an hour late: a person decides
    problems: list[str] = field(default_factory=list)  # campaigns not started, and why
    already_running: list[str] = field(default_factory=list)  # another process took them


def unattended_resolver(state: AppState) -> CredentialResolver:
    """The resolver without a person: the vault (keyring) and sign-ins, never a prompt."""
    return CredentialResolver(
        book=lambda: state.accounts,
        memory=state.credential_memory,
        providers=state.sign_in_providers,
    )


async def _credentials(
    state: AppState, record: CampaignRecord
) -> Credentials | CredentialProvider | None:
    if runs.is_sandbox(record.account):
        return Credentials()
    return await unattended_resolver(state).secrets(record.account)


async def pick_up_due(
    state: AppState, *, now: float | None = None, late_ok: frozenset[str] = frozenset()
) -> PickUp:
    """Start the first due campaign unless one runs already (then it waits its turn).

    Campaigns more than an hour late are left scheduled for a person to decide, unless their
    id is in `late_ok`. Of several processes reaching for the same campaign one wins; the
    others leave it (`already_running`).
    """
    now = SystemClock().now() if now is None else now
    result = PickUp()
    store = state.journal
    for due in due_now(store, now):
        if is_late(due) and due.campaign.id not in late_ok:
            result.late.append(due)
            continue
        if result.started is not None or runs.busy_reason(state):
            result.waiting.append(due)
            continue
        campaign_id = due.campaign.id
        try:
            claimed = claim_due(store, campaign_id)
        except StartRefusedError as exc:
            result.problems.append(str(exc))
            continue
        if claimed is Claim.ALREADY_RUNNING:
            result.already_running.append(campaign_id)
            continue
        if claimed is not Claim.WON:
            continue
        try:
            record = store.campaign(campaign_id)
            credentials = await _credentials(state, record)
            if credentials is None:
                raise CredentialsError("no password")
            runs.launch(state, campaign_id, credentials)
        except runs.BusyError:  # another tab started one meanwhile: this one waits its turn
            store.set_status(campaign_id, CampaignStatus.SCHEDULED, "waiting for its turn")
            result.waiting.append(due)
            continue
        except (CredentialsError, runs.LaunchError, JournalError) as exc:
            reason = f"not started: {exc}"
            store.set_status(campaign_id, CampaignStatus.ABORTED, reason)
            result.problems.append(f"Campaign {campaign_id} {reason}")
            continue
        result.started = campaign_id
    return result
