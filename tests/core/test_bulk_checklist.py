"""The Gmail/Yahoo bulk-sender checklist in the plan."""

from __future__ import annotations

from core.bulk_checklist import bulk_sender_checklist, messages_per_day


def checklist(**overrides: object) -> list[str]:
    options: dict[str, object] = {
        "per_day": 6_000,
        "from_domain": "example.com",
        "one_click_unsubscribe": True,
        "dkim_domain": "example.com",
        "dmarc_present": True,
    }
    options.update(overrides)
    return bulk_sender_checklist(**options)  # type: ignore[arg-type]


def test_at_or_below_5000_a_day_there_is_no_checklist() -> None:
    assert checklist(per_day=5_000, one_click_unsubscribe=False, dkim_domain=None) == []


def test_all_set_is_three_ok_lines() -> None:
    lines = checklist()
    assert "6,000 messages a day through example.com" in lines[0]
    assert [line.split(":")[0].strip() for line in lines[1:]] == ["ok", "ok", "ok"]


def test_each_missing_item_is_a_warning_with_its_fix() -> None:
    lines = checklist(one_click_unsubscribe=False, dkim_domain=None, dmarc_present=False)
    warnings = [line for line in lines[1:] if line.strip().startswith("warning")]
    assert len(warnings) == 3
    assert all("Fix:" in line for line in warnings)
    assert "List-Unsubscribe-Post" in warnings[0]
    assert "dkim generate" in warnings[1]
    assert '_dmarc.example.com "v=DMARC1; p=none' in warnings[2]


def test_misaligned_dkim_and_unchecked_dmarc_are_warnings() -> None:
    lines = checklist(dkim_domain="relay.net", dmarc_present=None)
    assert "d=relay.net does not align" in lines[2]
    assert "not checked" in lines[3]


def test_messages_per_day_follows_the_pace_the_cap_and_earlier_sends() -> None:
    assert messages_per_day(20_000, delay_ms=0) == 20_000
    assert messages_per_day(20_000, delay_ms=10_000) == 8_640  # one every 10 s
    assert messages_per_day(20_000, delay_ms=0, daily_cap=2_000, sent_in_window=500) == 2_500
