"""Deliverability use cases both faces call: the sender-domain check, spam check, plan notes."""

from __future__ import annotations

from collections.abc import Sequence

from core.domain_check import DkimPublished, DomainChecker, DomainReport
from core.models import Account
from core.spam_check import SpamReport, spam_check
from storage.dkim_keys import DkimKey, has_key, load_key
from storage.errors import StorageError
from storage.vault import Vault

__all__ = ["BULK_RECIPIENTS", "dkim_key_of", "published", "sender_domain_report", "spam_reports"]

BULK_RECIPIENTS = 100  # from this many recipients on, a campaign is bulk mail (List-Unsubscribe)


def published(key: DkimKey | None) -> DkimPublished | None:
    """What the DNS should hold for `key`."""
    if key is None:
        return None
    return DkimPublished(
        key.domain, key.selector, key.record_name, key.record_value, key.public_key_b64
    )


def dkim_key_of(vault: Vault, name: str | None) -> DkimKey | None:
    """The saved account's DKIM key; None without one or when the vault cannot be read."""
    if not name:
        return None
    try:
        return load_key(vault, name) if has_key(vault, name) else None
    except StorageError:
        return None


def sender_domain_report(
    account: Account, key: DkimKey | None, *, checker: DomainChecker | None = None
) -> DomainReport:
    """SPF for the relay, DMARC, alignment and the DKIM record of the account's From domain.

    Blocking (DNS, at most about 2 s per domain): call it in a thread from the app.
    """
    return (checker or DomainChecker()).check(
        sender=account.sender, relay_host=account.host, dkim=published(key)
    )


def spam_reports(payloads: Sequence[bytes], *, recipients: int) -> list[SpamReport]:
    """SpamAssassin's (or the built-in) report for each payload. Blocking: a few seconds."""
    return spam_check(payloads, bulk=recipients >= BULK_RECIPIENTS)
