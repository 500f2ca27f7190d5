"""The suppression list as the core sees it: reasons, the matching key, auto-adds, plan counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from enum import StrEnum

from core.errors import InputError, Phase, SMTPError
from core.models import Recipient
from core.ports import SuppressionListLike
from core.recipients import validate_address

__all__ = [
    "NO_SUCH_USER_CODES",
    "SuppressionReason",
    "count_suppressed",
    "describe_suppressed",
    "is_no_such_user",
    "suppression_key",
]

# RFC 3463: 5.1.1 bad destination mailbox, 5.1.10 null MX (RFC 7505), 5.2.1 mailbox disabled.
NO_SUCH_USER_CODES = frozenset({"5.1.1", "5.1.10", "5.2.1"})
_NO_SUCH_USER_REPLY = 550


class SuppressionReason(StrEnum):
    """Why an address must never be mailed again."""

    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    MANUAL = "manual"  # added by hand


def suppression_key(email: str) -> str:
    """The form two addresses are compared in: as duplicates are (`str.lower()`, A-labels).

    Raises `InputError` for something that is not an email address.
    """

    normalized, _ = validate_address(email)
    return normalized.lower()


def is_no_such_user(exc: SMTPError) -> bool:
    """A permanent "no such user" reply to RCPT: the address itself is bad."""
    return (
        exc.phase is Phase.RCPT
        and exc.code == _NO_SUCH_USER_REPLY
        and (exc.enhanced or "") in NO_SUCH_USER_CODES
    )


def count_suppressed(
    recipients: Iterable[Recipient], suppression: SuppressionListLike
) -> Counter[str]:
    """How many of `recipients` the list would skip, by reason."""
    counts: Counter[str] = Counter()
    for recipient in recipients:
        try:
            reason = suppression.reason_for(recipient.email)
        except InputError:
            continue
        if reason is not None:
            counts[reason] += 1
    return counts


def describe_suppressed(counts: Mapping[str, int]) -> str:
    """`3 on the suppression list (2 bounced, 1 unsubscribed): skipped`, or '' for none."""
    total = sum(counts.values())
    if not total:
        return ""
    parts = ", ".join(f"{n:,} {reason}" for reason, n in sorted(counts.items()))
    return f"{total:,} on the suppression list ({parts}): they will be skipped"
