"""The spam check: SpamAssassin (Debian's, local rules) on our sample, built-in rules on spam."""

from __future__ import annotations

import shutil
from email.message import EmailMessage
from pathlib import Path

import pytest

from core.mailmerge import load_mailmerge
from core.message import MessageBuilder
from core.models import Account
from core.recipients import load_recipients
from core.spam_check import builtin_check, spam_check, spamassassin_check

ASSETS = Path(__file__).resolve().parents[2] / "assets"
ACCOUNT = Account(
    host="smtp.example.com", port=587, sender="news@example.com", sender_name="Example Team"
)
needs_spamassassin = pytest.mark.skipif(
    shutil.which("spamassassin") is None,
    reason="SpamAssassin is not installed (apt-get install spamassassin; .ci/run does)",
)


def sample_messages(count: int = 2) -> list[bytes]:
    """The first messages of the sample campaign in assets/, as they would be sent."""
    template = load_mailmerge(ASSETS / "sample-template.md")
    people = load_recipients(ASSETS / "sample-recipients.csv").recipients[:count]
    builder = MessageBuilder(ACCOUNT, template.template, "sample", base_dir=ASSETS)
    return [builder.build(person).payload for person in people]


def spammy_message() -> bytes:
    message = EmailMessage()
    message["From"] = "Deals <deals@example.com>"
    message["To"] = "you@example.org"
    message["Subject"] = "FREE MONEY CLAIM YOUR PRIZE NOW"
    message["Message-ID"] = "<spam-1@example.com>"
    message["Date"] = "Wed, 02 Dec 2026 10:00:00 +0000"
    message.set_content(
        '<html><body><a href="https://bit.ly/3xYz">https://www.yourbank.com/login</a>'
        '<img src="https://example.com/big.png"></body></html>',
        subtype="html",
    )
    return message.as_bytes()


@needs_spamassassin
def test_spamassassin_scores_the_sample_campaign_below_one() -> None:
    for report in spam_check(sample_messages(), bulk=True):
        assert report.engine.startswith("SpamAssassin 4"), report.engine
        assert report.score < 1.0, report.lines()


@needs_spamassassin
def test_spamassassin_lists_the_rules_that_fired_with_their_points() -> None:
    report = spamassassin_check(spammy_message())
    names = {rule.name for rule in report.rules}
    assert {"SUBJ_ALL_CAPS", "MIME_HTML_ONLY"} <= names, report.lines()
    assert report.score == pytest.approx(sum(rule.points for rule in report.rules), abs=0.15)
    assert report.threshold == 5.0
    assert any(line.startswith("  +") and "SUBJ_ALL_CAPS" in line for line in report.lines())


def test_builtin_checks_flag_a_crafted_spammy_message() -> None:
    report = builtin_check(spammy_message(), bulk=True)
    names = [rule.name for rule in report.rules]
    assert names == [
        "SUBJ_ALL_CAPS",
        "MIME_HTML_ONLY",
        "HTML_IMAGE_ONLY",
        "BODY_LINK_ONLY",
        "URI_SHORTENER",
        "LINK_TEXT_MISMATCH",
        "BULK_NO_LIST_UNSUBSCRIBE",
    ]
    assert report.score == pytest.approx(sum(rule.points for rule in report.rules))
    assert "bit.ly" in next(r.description for r in report.rules if r.name == "URI_SHORTENER")


def test_builtin_checks_find_nothing_in_the_sample_campaign_but_the_missing_unsubscribe() -> None:
    message = sample_messages(1)[0]
    assert builtin_check(message, bulk=False).rules == ()
    bulk = builtin_check(message, bulk=True)
    assert [rule.name for rule in bulk.rules] == ["BULK_NO_LIST_UNSUBSCRIBE"]


def test_a_text_only_message_of_links_is_link_only() -> None:
    message = EmailMessage()
    message["Subject"] = "hello"
    message.set_content("https://example.com/a\nhttps://tinyurl.com/b\n")
    names = {rule.name for rule in builtin_check(message.as_bytes(), bulk=False).rules}
    assert names == {"BODY_LINK_ONLY", "URI_SHORTENER"}


def test_without_spamassassin_the_builtin_checks_answer() -> None:
    (report,) = spam_check([spammy_message()], bulk=True, executable="no-such-spamassassin")
    assert report.engine == "built-in checks"
    assert report.score >= 5.0
    assert report.lines()[0].startswith("Spam check (built-in checks): ")
