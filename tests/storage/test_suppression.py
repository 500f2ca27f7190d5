"""The suppression list file: matching like duplicates, import with line numbers, export."""

from __future__ import annotations

import csv
import io
import stat
from pathlib import Path

import pytest

from core.errors import InputError
from core.suppression import SuppressionReason
from storage.suppression import SuppressionList, parse_reason


@pytest.fixture
def listed(tmp_path: Path) -> SuppressionList:
    return SuppressionList(tmp_path / "suppression.sqlite3")


def test_addresses_match_after_lower_with_the_domain_as_a_labels(listed: SuppressionList) -> None:
    assert listed.add("Ann@Bücher.DE", SuppressionReason.UNSUBSCRIBED)
    assert listed.reason_for("ann@xn--bcher-kva.de") == "unsubscribed"
    assert listed.reason_for("ANN@bücher.de") == "unsubscribed"
    assert listed.reason_for("anne@bücher.de") is None


def test_lower_not_casefold_keeps_eszett_apart(listed: SuppressionList) -> None:
    listed.add("straße@example.com")
    assert listed.reason_for("STRASSE@example.com") is None
    assert listed.reason_for("STRAßE@example.com") == "manual"


def test_adding_again_keeps_the_first_reason_and_spelling(listed: SuppressionList) -> None:
    assert listed.add("Bob@example.com", SuppressionReason.BOUNCED, note="550 5.1.1")
    assert not listed.add("bob@EXAMPLE.com", SuppressionReason.MANUAL)
    entry = listed.get("bob@example.com")
    assert entry is not None
    assert (entry.email, entry.reason, entry.note) == (
        "Bob@example.com",
        SuppressionReason.BOUNCED,
        "550 5.1.1",
    )


def test_not_an_address_is_refused_with_the_reason(listed: SuppressionList) -> None:
    with pytest.raises(InputError, match="@"):
        listed.add("not-an-address")
    assert len(listed) == 0


def test_list_survives_a_restart_and_the_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "suppression.sqlite3"
    with SuppressionList(path) as first:
        first.add("a@example.com", SuppressionReason.COMPLAINED)
    with SuppressionList(path) as again:
        assert again.reason_for("a@example.com") == "complained"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_remove_takes_the_address_off(listed: SuppressionList) -> None:
    listed.add("a@example.com")
    assert listed.remove("A@example.com")
    assert not listed.remove("a@example.com")
    assert listed.reason_for("a@example.com") is None


def test_csv_import_reads_reason_and_date_and_reports_bad_rows_by_line(
    listed: SuppressionList,
) -> None:
    data = (
        b"Email,Reason,Date\n"
        b"a@example.com,unsubscribed,2026-01-31\n"
        b"b@example.com,,\n"
        b"not-an-address,bounced,\n"
        b"c@example.com,angry,\n"
        b"d@example.com,bounce,yesterday\n"
        b"A@EXAMPLE.com,bounced,\n"
    )
    result = listed.import_file(data, filename="list.csv", reason=SuppressionReason.BOUNCED)
    assert (result.added, result.already) == (2, 1)
    assert sorted((r.line, r.field) for r in result.rejected) == [
        (4, "Email"),
        (5, "Reason"),
        (6, "Date"),
    ]
    a, b = listed.get("a@example.com"), listed.get("b@example.com")
    assert a is not None and b is not None
    assert (a.reason, a.date) == (SuppressionReason.UNSUBSCRIBED, "2026-01-31")
    assert b.reason is SuppressionReason.BOUNCED  # the default for rows without a reason
    assert listed.get("c@example.com") is None  # refused rows add nothing


def test_pasted_addresses_are_imported_with_the_chosen_reason(listed: SuppressionList) -> None:
    result = listed.import_text(
        "a@example.com, b@example.com; oops\nc@example.com", reason=SuppressionReason.COMPLAINED
    )
    assert result.added == 3
    assert [(r.line, r.value) for r in result.rejected] == [(1, "oops")]
    assert {e.reason for e in listed.entries()} == {SuppressionReason.COMPLAINED}


def test_export_writes_every_entry_safe_for_spreadsheets(listed: SuppressionList) -> None:
    listed.add("a@example.com", SuppressionReason.UNSUBSCRIBED, at=1_767_225_600.0)
    listed.add("b@example.com", note="=HYPERLINK(1)")
    out = io.StringIO()
    assert listed.export_csv(out) == 2
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == ["email", "reason", "date", "note"]
    assert ["a@example.com", "unsubscribed", "2026-01-01", ""] in rows
    assert ["b@example.com", "manual", rows[1][2], "'=HYPERLINK(1)"] in rows


def test_exported_list_imports_back_unchanged(tmp_path: Path, listed: SuppressionList) -> None:
    listed.add("a@example.com", SuppressionReason.UNSUBSCRIBED, at=1_767_225_600.0)
    listed.add("b@example.com", SuppressionReason.BOUNCED, at=1_767_312_000.0)
    out = io.StringIO()
    listed.export_csv(out)
    other = SuppressionList(tmp_path / "other.sqlite3")
    result = other.import_file(out.getvalue().encode(), filename="export.csv")
    assert (result.added, result.rejected) == (2, ())
    assert [(e.email, e.reason, e.date) for e in other.entries()] == [
        (e.email, e.reason, e.date) for e in listed.entries()
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Unsubscribed", SuppressionReason.UNSUBSCRIBED),
        ("bounce", SuppressionReason.BOUNCED),
        ("spam", SuppressionReason.COMPLAINED),
        ("", SuppressionReason.MANUAL),
    ],
)
def test_reason_words_people_write(text: str, reason: SuppressionReason) -> None:
    assert parse_reason(text) is reason
