"""The one place where a campaign starts: check the draft, let a person confirm, get the
secrets, create the campaign in the journal. Running it is the face's part (the web face in
the background, the CLI in the foreground), through `CampaignSession` either way."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from core.credentials import CredentialProvider
from core.models import Account, Credentials
from storage.journal import JournalError, JournalStore
from ui.services.campaigns import (
    Draft,
    Prepared,
    create_campaign,
    only_not_yet_accepted,
    prepare_in_background,
)

__all__ = [
    "Choice",
    "Choose",
    "Confirm",
    "NotStartedError",
    "Secrets",
    "Started",
    "needs_choice",
    "start_campaign",
    "twin_message",
]


class Choice(StrEnum):
    """What the person chose after seeing what the campaign will do."""

    SEND = "send"  # no twin: send to the list
    NOT_YET_ACCEPTED = "not-yet-accepted"  # a twin exists: only those it did not reach
    EVERYONE_AGAIN = "everyone-again"  # a twin exists: the whole list again, by choice
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class Started:
    """A campaign created in the journal, with the secrets to run it."""

    campaign_id: str
    credentials: Credentials | CredentialProvider
    prepared: Prepared


class NotStartedError(Exception):
    """Nothing was created; the message says why and what to do next."""

    def __init__(self, message: str, *, prepared: Prepared | None = None) -> None:
        super().__init__(message)
        self.prepared = prepared


Confirm = Callable[[Prepared], Awaitable[bool]]
Choose = Callable[[Prepared], Awaitable[Choice]]
Secrets = Callable[[Account], Awaitable[Credentials | CredentialProvider | None]]


def needs_choice(prepared: Prepared) -> bool:
    """Whether sending would repeat an earlier campaign, so a person must choose how."""
    return bool(prepared.repeats or prepared.unfinished)


def twin_message(prepared: Prepared) -> str:
    """What sending again would repeat, in words (empty when nothing)."""
    parts = []
    if prepared.repeats:
        ids = ", ".join(twin.id for twin in prepared.twins)
        total = len(prepared.draft.recipients)
        parts.append(
            f"{prepared.repeats:,} of these {total:,} recipients already got this message "
            f"(campaign {ids})"
        )
    if prepared.unfinished:
        ids = ", ".join(prepared.unfinished)
        parts.append(
            f"an unfinished campaign has the same recipients and message ({ids}): resume it "
            "to reach only the people not sent to yet"
        )
    return "; ".join(parts)


async def start_campaign(
    store: JournalStore,
    draft: Draft,
    *,
    confirm: Confirm,
    secrets: Secrets,
    choice: Choice | None = None,
    choose: Choose | None = None,
    prepared: Prepared | None = None,
    busy: Callable[[], str | None] | None = None,
) -> Started:
    """Check, choose, confirm, get the secrets, create. Raises `NotStartedError` (nothing
    created).

    `prepared` is the check the face already showed (else it is made here). A draft that would
    repeat an earlier campaign needs a `choice` made beforehand, or `choose` to ask for one;
    `confirm` shows what the campaign will do (the list it will really send to) and returns
    True to go; `secrets` resolves the account's credentials (None: the person cancelled);
    `busy` says why nothing may start right now.
    """
    if prepared is None or prepared.draft != draft:
        prepared = await prepare_in_background(store, draft)
    if not prepared.ok:
        raise NotStartedError("fix what the pre-flight check names first", prepared=prepared)
    if needs_choice(prepared):
        if choice is None and choose is not None:
            choice = await choose(prepared)
        if choice in (None, Choice.SEND):
            raise NotStartedError(twin_message(prepared), prepared=prepared)
    if choice is Choice.CANCEL:
        raise NotStartedError("nothing sent", prepared=prepared)
    if choice is Choice.NOT_YET_ACCEPTED:
        prepared = await prepare_in_background(store, only_not_yet_accepted(prepared))
        if not prepared.draft.recipients:
            raise NotStartedError("everyone on this list already got this message")
    if not await confirm(prepared):
        raise NotStartedError("nothing sent", prepared=prepared)
    credentials = await secrets(prepared.draft.account)
    if credentials is None:
        raise NotStartedError("no password given", prepared=prepared)
    reason = busy() if busy is not None else None
    if reason:
        raise NotStartedError(reason, prepared=prepared)
    try:  # in the loop: the journal's connection is not shared with a thread mid-transaction
        campaign_id = create_campaign(store, prepared)
    except JournalError as exc:
        raise NotStartedError(f"the journal refused ({exc})", prepared=prepared) from exc
    return Started(campaign_id, credentials, prepared)
