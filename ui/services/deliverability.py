"""Deliverability use cases both faces call: the sender-domain check, spam check, plan notes."""

from __future__ import annotations

from collections.abc import Sequence

from core.bulk_checklist import BULK_SENDER_PER_DAY, bulk_sender_checklist, messages_per_day
from core.dkim import DkimSigner
from core.domain_check import DkimPublished, DomainChecker, DomainReport, Level
from core.models import Account
from core.spam_check import SpamReport, spam_check
from core.suppression import count_suppressed, describe_suppressed
from storage.dkim_keys import DkimKey, has_key, load_key
from storage.errors import StorageError
from storage.suppression import SuppressionList
from storage.vault import Vault
from ui.services.campaigns import Draft

__all__ = [
    "BULK_RECIPIENTS",
    "dkim_key_of",
    "plan_notes",
    "published",
    "sender_domain_report",
    "signer_of",
    "spam_reports",
]

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


def signer_of(vault: Vault, name: str | None) -> DkimSigner | None:
    """The DKIM signer of saved account `name`; None when it has no key.

    A key that cannot be read (a locked vault) raises `StorageError`: an account with a key
    never sends unsigned by surprise.
    """
    if not name or not has_key(vault, name):
        return None
    key = load_key(vault, name)
    return None if key is None else key.signer()


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


def plan_notes(
    draft: Draft,
    *,
    dkim_domain: str | None,
    sent_in_window: int = 0,
    checker: DomainChecker | None = None,
    suppression: SuppressionList | None = None,
) -> list[str]:
    """Lines for the plan: who the suppression list skips, and the bulk-sender checklist.

    The checklist (over 5,000 a day through one domain) looks up DMARC: blocking, up to 2 s.
    """
    lines = []
    listed = suppression or SuppressionList()
    try:
        note = describe_suppressed(count_suppressed(draft.recipients, listed))
    finally:
        if suppression is None:
            listed.close()
    if note:
        lines.append(f"{note}.")
    settings = draft.settings
    per_day = messages_per_day(
        len(draft.recipients),
        delay_ms=settings.delay_ms,
        daily_cap=settings.daily_cap,
        sent_in_window=sent_in_window,
    )
    from_domain = draft.account.sender.rpartition("@")[2].lower()
    dmarc: bool | None = None
    if per_day > BULK_SENDER_PER_DAY:
        report = (checker or DomainChecker()).check(
            sender=draft.account.sender, relay_host=draft.account.host
        )
        finding = report.of("DMARC")
        dmarc = None if finding.text.startswith("not checked") else finding.level is Level.OK
    lines += bulk_sender_checklist(
        per_day=per_day,
        from_domain=from_domain,
        one_click_unsubscribe=bool(draft.template.list_unsubscribe_url),
        dkim_domain=dkim_domain,
        dmarc_present=dmarc,
    )
    return lines
