"""`status ID` prints the campaign's problems grouped by reason, with the suggested action."""

from __future__ import annotations

import pytest

from main import main
from storage.journal import JournalStore
from tests.journal_kit import seed_campaign


def test_status_groups_failures_by_reason_with_action(capsys: pytest.CaptureFixture[str]) -> None:
    store = JournalStore()
    campaign_id = seed_campaign(store)
    store.close()
    assert main(["status", campaign_id]) == 1
    out = capsys.readouterr().out
    why = out.split("Why (grouped by reason):\n")[1].splitlines()[:3]
    assert why == [
        "  mailbox does not exist (5.1.1) x 2: failed; suggested: suppress",
        "  the reply was lost after sending x 1: unknown; suggested: resend or mark as sent",
        "  rate limited (4.7.28) x 1: deferred; suggested: wait",
    ]
