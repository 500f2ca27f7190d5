"""`send --check`: the sender-domain check and the first message's spam score, before the plan."""

from __future__ import annotations

import sys
from dataclasses import replace

from core.recipients.source import Limited
from ui.cli.dkim import print_domain_check
from ui.services.campaigns import Draft, dry_run
from ui.services.deliverability import spam_reports

__all__ = ["SPAM_CHECKED", "print_checks"]

SPAM_CHECKED = 1  # messages scored: the first; SpamAssassin takes a few seconds each


def print_checks(draft: Draft, account_name: str | None = None) -> None:
    """The sender-domain check, then the first message's spam score (warnings only)."""
    print_domain_check(draft.account, account_name)
    first = dry_run(replace(draft, recipients=Limited(draft.recipients, SPAM_CHECKED))).first
    if first is None:
        return
    print("Checking the first message for spam signs ...", file=sys.stderr)
    for report in spam_reports([first.payload], recipients=len(draft.recipients)):
        for line in report.lines():
            print(line)
