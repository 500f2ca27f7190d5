"""Why recipients failed, grouped: a readable cause per reply code and what a person can do."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from core.classify import is_rate_limit
from core.models import RecipientStatus

__all__ = [
    "PROBLEM_STATUSES",
    "ReasonGroup",
    "ReplyTally",
    "SuggestedAction",
    "cause_of",
    "group_reasons",
    "reason_key",
]

PROBLEM_STATUSES = (RecipientStatus.FAILED, RecipientStatus.UNKNOWN, RecipientStatus.DEFERRED)


class SuggestedAction(StrEnum):
    """What a person can do about a group of recipients."""

    RETRY = "retry"  # a temporary refusal: retry them (History > Retry failed)
    WAIT = "wait"  # deferred: the campaign retries them by itself
    FIX_ADDRESS = "fix the address"  # the address is wrong: correct it in the list
    SUPPRESS = "suppress"  # the mailbox is gone for good: never write to it again
    FIX_MESSAGE = "fix the message"  # the content or size: change the message, then retry
    FIX_SETTINGS = "fix the account or DNS"  # sender authentication, policy on our side
    RESOLVE = "resend or mark as sent"  # unknown: a person decides


@dataclass(frozen=True, slots=True)
class ReplyTally:
    """How many recipients of one status got one reply code (the journal's figures)."""

    status: RecipientStatus
    code: int | None
    enhanced: str | None
    count: int
    sample: str = ""  # one of the replies' text, as the server wrote it


@dataclass(frozen=True, slots=True)
class ReasonGroup:
    """Recipients that failed for the same reason: the cause, how many, what to do."""

    status: RecipientStatus
    code: int | None
    enhanced: str | None
    cause: str
    count: int
    action: SuggestedAction
    sample: str = ""

    @property
    def key(self) -> str:
        """A stable name for the group (filters rows to it)."""
        return reason_key(self.status, self.code, self.enhanced)

    @property
    def label(self) -> str:
        """'mailbox does not exist (5.1.1) x 12'."""
        code = self.enhanced or (str(self.code) if self.code else "")
        where = f" ({code})" if code else ""
        return f"{self.cause}{where} x {self.count:,}"

    @property
    def line(self) -> str:
        """The label, the status and the suggested action, on one line."""
        return f"{self.label}: {self.status.value}; suggested: {self.action.value}"


def reason_key(status: RecipientStatus, code: int | None, enhanced: str | None) -> str:
    """'failed:550:5.1.1'; '-' for a missing part."""
    return f"{status.value}:{code if code is not None else '-'}:{enhanced or '-'}"


# Enhanced status codes (RFC 3463) by their subject and detail: the words and the action.
_ENHANCED: dict[str, tuple[str, SuggestedAction]] = {
    "1.1": ("mailbox does not exist", SuggestedAction.SUPPRESS),
    "1.2": ("the domain does not exist or takes no mail", SuggestedAction.FIX_ADDRESS),
    "1.3": ("the address is malformed", SuggestedAction.FIX_ADDRESS),
    "1.4": ("the address is ambiguous", SuggestedAction.FIX_ADDRESS),
    "1.6": ("the mailbox has moved", SuggestedAction.FIX_ADDRESS),
    "1.7": ("the sender address was refused", SuggestedAction.FIX_SETTINGS),
    "1.8": ("the sender's domain was refused", SuggestedAction.FIX_SETTINGS),
    "1.10": ("the domain accepts no mail (null MX)", SuggestedAction.SUPPRESS),
    "2.1": ("the mailbox is disabled", SuggestedAction.SUPPRESS),
    "2.2": ("the mailbox is full", SuggestedAction.RETRY),
    "2.3": ("the message is too big for the mailbox", SuggestedAction.FIX_MESSAGE),
    "3.4": ("the message is too big", SuggestedAction.FIX_MESSAGE),
    "4.4": ("the domain cannot be routed", SuggestedAction.FIX_ADDRESS),
    "4.7": ("delivery took too long", SuggestedAction.RETRY),
    "5.3": ("too many recipients", SuggestedAction.FIX_MESSAGE),
    "7.1": ("refused by the receiver's policy", SuggestedAction.FIX_SETTINGS),
    "7.23": ("SPF check failed", SuggestedAction.FIX_SETTINGS),
    "7.25": ("reverse DNS check failed", SuggestedAction.FIX_SETTINGS),
    "7.26": ("sender authentication (SPF, DKIM, DMARC) failed", SuggestedAction.FIX_SETTINGS),
    "7.27": ("the sender's domain accepts no mail", SuggestedAction.FIX_SETTINGS),
}
# Subjects alone (the X in X.Y.Z's middle): a coarser word when the detail is unknown.
_SUBJECTS: dict[str, tuple[str, SuggestedAction]] = {
    "1": ("the address was refused", SuggestedAction.FIX_ADDRESS),
    "2": ("the mailbox refused it", SuggestedAction.RETRY),
    "3": ("the receiving mail system refused it", SuggestedAction.RETRY),
    "4": ("a network or routing problem", SuggestedAction.RETRY),
    "5": ("a protocol problem", SuggestedAction.RETRY),
    "6": ("the message content was refused", SuggestedAction.FIX_MESSAGE),
    "7": ("refused by the receiver's policy or security", SuggestedAction.FIX_SETTINGS),
}
_RATE_LIMITED = "rate limited"
_UNKNOWN_CAUSE = "the reply was lost after sending"
_BUILD_FAILED = "the message could not be built for this row"
_TEMPORARY = "temporarily refused"
_PERMANENT = "permanently refused"


def cause_of(
    status: RecipientStatus, code: int | None, enhanced: str | None, text: str = ""
) -> tuple[str, SuggestedAction]:
    """A readable cause and the suggested action for one reply."""
    if status is RecipientStatus.UNKNOWN:
        return _UNKNOWN_CAUSE, SuggestedAction.RESOLVE
    temporary = status is RecipientStatus.DEFERRED or (code is not None and 400 <= code < 500)
    later = SuggestedAction.WAIT if status is RecipientStatus.DEFERRED else SuggestedAction.RETRY
    if code is not None and is_rate_limit(code, enhanced, text):
        return _RATE_LIMITED, later
    if code is None and not enhanced:
        if status is RecipientStatus.DEFERRED:
            return "the connection failed", SuggestedAction.WAIT
        return _BUILD_FAILED, SuggestedAction.FIX_ADDRESS
    parts = (enhanced or "").split(".")
    if len(parts) == 3:
        detail = f"{parts[1]}.{parts[2]}"
        cause, action = _ENHANCED.get(detail) or _SUBJECTS.get(parts[1], ("", later))
        if cause:
            if temporary and action is not SuggestedAction.FIX_MESSAGE:
                action = later
            return cause, action
    if temporary:
        return _TEMPORARY, later
    return _PERMANENT, SuggestedAction.FIX_ADDRESS


def group_reasons(tallies: Iterable[ReplyTally]) -> list[ReasonGroup]:
    """One group per status and reply code, the biggest first; counts add up to the tallies."""
    merged: dict[str, ReasonGroup] = {}
    for tally in tallies:
        if tally.count <= 0 or tally.status not in PROBLEM_STATUSES:
            continue
        key = reason_key(tally.status, tally.code, tally.enhanced)
        known = merged.get(key)
        if known is not None:
            merged[key] = ReasonGroup(
                known.status,
                known.code,
                known.enhanced,
                known.cause,
                known.count + tally.count,
                known.action,
                known.sample,
            )
            continue
        cause, action = cause_of(tally.status, tally.code, tally.enhanced, tally.sample)
        merged[key] = ReasonGroup(
            tally.status, tally.code, tally.enhanced, cause, tally.count, action, tally.sample
        )
    order = {status: index for index, status in enumerate(PROBLEM_STATUSES)}
    return sorted(merged.values(), key=lambda g: (order[g.status], -g.count, g.key))
