"""Duplicates as the mailer compares them: the address in `str.lower()`, domain as A-labels."""

from __future__ import annotations

import io

import openpyxl
import pytest

from core.recipients import Duplicate, parse_csv, parse_text, parse_xlsx
from core.recipients.address import identity


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("ANN@EXAMPLE.COM", "ann@example.com"),
        ("Ann.Lee@Example.com", "ann.lee@EXAMPLE.COM"),
        ("user@BÜCHER.de", "USER@xn--bcher-kva.de"),
        ("José@example.com", "josé@example.com"),
    ],
)
def test_identity_ignores_letter_case_and_domain_spelling(one: str, other: str) -> None:
    assert identity(one) == identity(other)


def test_identity_lowers_but_does_not_casefold() -> None:
    # casefold() would make ß and ss one address; they are two mailboxes.
    assert identity("straße@example.com") != identity("strasse@example.com")
    assert identity("STRASSE@example.com") == identity("strasse@example.com")


def test_identity_gives_the_domain_as_a_labels() -> None:
    assert identity("Ann@Bücher.DE") == "ann@xn--bcher-kva.de"


def test_paste_keeps_the_first_spelling_and_reports_the_others_with_lines() -> None:
    report = parse_text("ANN@EXAMPLE.COM\nbob@x.com\nann@example.com; Ann@Example.Com")
    assert [r.email for r in report.recipients] == ["ANN@example.com", "bob@x.com"]
    assert report.duplicates == (
        Duplicate("pasted", 3, "ann@example.com", 1),
        Duplicate("pasted", 3, "Ann@example.com", 1),
    )


def test_csv_case_duplicates_are_sent_once() -> None:
    data = b"email,name\nANN@EXAMPLE.COM,First\nann@example.com,Second\n"
    report = parse_csv(data, source="list.csv")
    assert [(r.email, r.name) for r in report.recipients] == [("ANN@example.com", "First")]
    assert report.duplicates == (Duplicate("list.csv", 3, "ann@example.com", 2),)
    assert str(report.duplicates[0]) == "list.csv, line 3: ann@example.com duplicates line 2"


def test_xlsx_case_duplicates_are_sent_once() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in (["email"], ["bob@x.com"], ["Ann@Example.com"], ["BOB@X.COM"], ["ann@example.com"]):
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    report = parse_xlsx(buffer.getvalue(), source="list.xlsx")
    assert [r.email for r in report.recipients] == ["bob@x.com", "Ann@example.com"]
    assert [(d.line, d.email, d.first_line) for d in report.duplicates] == [
        (4, "BOB@x.com", 2),
        (5, "ann@example.com", 3),
    ]
