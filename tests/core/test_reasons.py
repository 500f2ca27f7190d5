"""Failure reasons: one group per reply code, a readable cause and what to do about it."""

from __future__ import annotations

from core.models import RecipientStatus
from core.reasons import ReplyTally, SuggestedAction, cause_of, group_reasons

F, U, D = RecipientStatus.FAILED, RecipientStatus.UNKNOWN, RecipientStatus.DEFERRED


def test_no_such_mailbox_reads_as_a_cause_with_count_and_suppress() -> None:
    groups = group_reasons([ReplyTally(F, 550, "5.1.1", 12, "550 5.1.1 user unknown")])
    assert [g.label for g in groups] == ["mailbox does not exist (5.1.1) x 12"]
    assert groups[0].action is SuggestedAction.SUPPRESS
    assert groups[0].key == "failed:550:5.1.1"


def test_rate_limit_is_named_by_classify_vocabulary_and_retried() -> None:
    (group,) = group_reasons([ReplyTally(F, 421, "4.7.28", 3, "rate limited")])
    assert group.label == "rate limited (4.7.28) x 3"
    assert group.action is SuggestedAction.RETRY


def test_rate_limit_by_text_without_enhanced_code() -> None:
    cause, action = cause_of(D, 450, None, "Too many messages, slow down")
    assert (cause, action) == ("rate limited", SuggestedAction.WAIT)


def test_unknown_recipients_are_for_a_person_to_resolve() -> None:
    (group,) = group_reasons([ReplyTally(U, None, None, 2)])
    assert group.action is SuggestedAction.RESOLVE
    assert group.label == "the reply was lost after sending x 2"


def test_bad_address_syntax_and_domain_suggest_fixing_the_address() -> None:
    assert cause_of(F, 553, "5.1.3")[1] is SuggestedAction.FIX_ADDRESS
    assert cause_of(F, 550, "5.1.2")[1] is SuggestedAction.FIX_ADDRESS
    assert cause_of(F, 554, "5.6.0")[1] is SuggestedAction.FIX_MESSAGE
    assert cause_of(F, 550, "5.7.26")[1] is SuggestedAction.FIX_SETTINGS


def test_temporary_code_with_permanent_style_detail_is_retried() -> None:
    cause, action = cause_of(D, 452, "4.2.2", "mailbox full")
    assert cause == "the mailbox is full" and action is SuggestedAction.WAIT


def test_build_failure_without_code_has_its_own_cause() -> None:
    cause, action = cause_of(F, None, None, "line 4: bad attachment")
    assert "could not be built" in cause and action is SuggestedAction.FIX_ADDRESS


def test_groups_merge_same_code_sort_by_status_then_size_and_keep_every_count() -> None:
    tallies = [
        ReplyTally(D, 451, "4.3.0", 4),
        ReplyTally(F, 550, "5.1.1", 2),
        ReplyTally(F, 550, "5.1.1", 3),
        ReplyTally(F, 554, "5.7.1", 7),
        ReplyTally(U, None, None, 1),
        ReplyTally(RecipientStatus.SENT, 250, None, 99),  # not a problem: left out
    ]
    groups = group_reasons(tallies)
    assert [(g.status, g.enhanced, g.count) for g in groups] == [
        (F, "5.7.1", 7),
        (F, "5.1.1", 5),
        (U, None, 1),
        (D, "4.3.0", 4),
    ]
    assert sum(g.count for g in groups) == 17
