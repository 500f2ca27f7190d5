"""The plan's deliverability notes: suppressed recipients and the bulk-sender checklist."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.dns_lookup import DnsLookup
from core.domain_check import DomainChecker
from core.models import Account, Recipient, SendSettings, Template
from core.suppression import SuppressionReason
from storage.suppression import SuppressionList
from tests.dns_server import LocalDNS, local_dns
from ui.services.campaigns import Draft
from ui.services.deliverability import plan_notes

ACCOUNT = Account(host="relay.example.net", port=587, sender="news@example.com")


@pytest.fixture
def dns_server() -> Iterator[LocalDNS]:
    with local_dns() as server:
        yield server


def draft(count: int, template: Template, tmp_path: Path) -> Draft:
    people = tuple(Recipient(email=f"p{n}@example.org") for n in range(count))
    return Draft(ACCOUNT, template, people, SendSettings(delay_ms=0), tmp_path)


def test_the_plan_says_how_many_the_list_skips_and_why(tmp_path: Path) -> None:
    listed = SuppressionList()
    listed.add("P1@example.org", SuppressionReason.BOUNCED)
    listed.add("p2@example.org", SuppressionReason.UNSUBSCRIBED)
    listed.add("p3@example.org", SuppressionReason.UNSUBSCRIBED)
    notes = plan_notes(draft(10, Template("s", "b"), tmp_path), dkim_domain=None)
    assert notes == ["3 on the suppression list (1 bounced, 2 unsubscribed): they will be skipped."]


def test_over_5000_a_day_the_checklist_warns_with_fixes(
    dns_server: LocalDNS, tmp_path: Path
) -> None:
    dns_server.add('_dmarc.example.com. 300 IN TXT "v=DMARC1; p=none"')
    checker = DomainChecker(DnsLookup(dns_server.resolver()))
    notes = plan_notes(
        draft(6_000, Template("s", "b"), tmp_path), dkim_domain=None, checker=checker
    )
    assert "6,000 messages a day through example.com" in notes[0]
    assert notes[1].strip().startswith("warning: no one-click unsubscribe")
    assert notes[2].strip().startswith("warning: no DKIM key")
    assert notes[3].strip() == "ok: DMARC record at _dmarc.example.com"


def test_a_bulk_campaign_set_up_right_gets_three_oks(dns_server: LocalDNS, tmp_path: Path) -> None:
    dns_server.add('_dmarc.example.com. 300 IN TXT "v=DMARC1; p=reject"')
    checker = DomainChecker(DnsLookup(dns_server.resolver()))
    template = Template("s", "b", list_unsubscribe_url="https://example.com/u")
    notes = plan_notes(draft(6_000, template, tmp_path), dkim_domain="example.com", checker=checker)
    assert [note.strip().split(":")[0] for note in notes[1:]] == ["ok", "ok", "ok"]


def test_a_small_campaign_has_no_checklist(tmp_path: Path) -> None:
    assert plan_notes(draft(50, Template("s", "b"), tmp_path), dkim_domain=None) == []
