"""What the journal keeps about a campaign, and the keys campaigns are found and counted by."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from core.events import CampaignStatus
from core.models import Account, Recipient, SendSettings, Template
from storage.codec import to_plain

__all__ = ["AcceptedByCampaign", "CampaignRecord", "account_key", "input_hash"]


def account_key(account: Account) -> str:
    """Who the provider counts sends against: the login (or sender) at the host."""
    return f"{(account.username or account.sender).lower()}@{account.host.lower()}"


def input_hash(template: Template, recipients: Iterable[Recipient]) -> str:
    """A fingerprint of what a campaign sends to whom, to recognize the same inputs again."""
    digest = hashlib.sha256(json.dumps(to_plain(template), sort_keys=True).encode())
    for recipient in recipients:
        row = [recipient.email, recipient.name, sorted(recipient.fields.items())]
        digest.update(json.dumps(row, ensure_ascii=False).encode())
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class CampaignRecord:
    """A campaign as stored: its snapshot and where it stands."""

    id: str
    name: str
    created: float
    updated: float
    status: CampaignStatus
    reason: str
    account: Account
    template: Template
    settings: SendSettings
    base_dir: str
    source: str
    input_hash: str
    attachments_digest: str
    total: int


@dataclass(frozen=True, slots=True)
class AcceptedByCampaign:
    """An earlier campaign of the same template and the addresses its server accepted."""

    id: str
    name: str
    created: float
    status: CampaignStatus
    accepted: tuple[str, ...]
