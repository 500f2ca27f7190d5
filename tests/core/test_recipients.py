"""Recipient import rules (RELIABILITY.md section 3), table by table, with exact line numbers."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import openpyxl
import pytest

from core.errors import InputError
from core.models import Recipient
from core.recipients import (
    Duplicate,
    ImportReport,
    Rejected,
    detect_email_column,
    load_recipients,
    parse_bytes,
    parse_csv,
    parse_text,
    parse_txt,
    parse_xlsx,
    sniff_delimiter,
    validate_address,
)

ROOT = Path(__file__).resolve().parents[2]


def emails(report: ImportReport) -> list[str]:
    return [recipient.email for recipient in report.recipients]


def lines(report: ImportReport) -> list[int]:
    return [recipient.line for recipient in report.recipients]


def rejected(report: ImportReport) -> list[tuple[int, str | None]]:
    return [(reject.line, reject.field) for reject in report.rejected]


def csv_report(text: str, **options: Any) -> ImportReport:
    return parse_csv(text.encode("utf-8"), source="list.csv", **options)


# --- validate_address -------------------------------------------------------------------

VALID: list[tuple[str, str, bool]] = [
    ("ann@example.com", "ann@example.com", False),
    ("  ann@example.com  ", "ann@example.com", False),
    ("Ann.Lee@EXAMPLE.COM", "Ann.Lee@example.com", False),
    ("user@bücher.de", "user@xn--bcher-kva.de", False),
    ("user@BÜCHER.de", "user@xn--bcher-kva.de", False),
    ("user@xn--bcher-kva.de", "user@xn--bcher-kva.de", False),
    ("josé@example.com", "josé@example.com", True),
    ("jose\u0301@example.com", "josé@example.com", True),  # NFC, as email-validator normalizes
    ("用户@例子.广告", "用户@xn--fsqu00a.xn--4rr70v", True),
    ("o'brien+tag@example.org", "o'brien+tag@example.org", False),
]


@pytest.mark.parametrize(("value", "expected", "smtputf8"), VALID)
def test_validate_address_normalizes_domain_only(value: str, expected: str, smtputf8: bool) -> None:
    assert validate_address(value) == (expected, smtputf8)
    assert validate_address(expected) == (expected, smtputf8)  # stable


INVALID: list[tuple[str, str]] = [
    ("x\r\ny@ex.com", "U+000D"),
    ("x\ny@ex.com", "U+000A"),
    ("ann@example.com\n", "U+000A"),
    ("a\x00b@ex.com", "U+0000"),
    ("a\tb@ex.com", "U+0009"),
    ("ann@ex\x7f.com", "U+007F"),
    ("ann@ex\x85.com", "U+0085"),
    ("ann\u2028@ex.com", "U+2028"),
    ("", "no email address"),
    ("   ", "no email address"),
    ("ann", "@-sign"),
    ("ann@", "after the @-sign"),
    ("@example.com", "before the @-sign"),
    ("a b@example.com", "invalid characters"),
    ("ann@@example.com", "@-sign"),
    ("ann@example", "not valid"),
    ('"ann lee"@example.com', "Quoting"),
    ("Ann <ann@example.com>", "display name"),
    ("ann..lee@example.com", "period"),
]


@pytest.mark.parametrize(("value", "reason"), INVALID)
def test_validate_address_rejects_with_reason(value: str, reason: str) -> None:
    with pytest.raises(InputError) as info:
        validate_address(value)
    assert reason in info.value.message


def test_validate_address_never_rewrites_crlf_into_another_address() -> None:
    with pytest.raises(InputError, match="CARRIAGE RETURN"):
        validate_address("x\r\ny@ex.com")


# --- detect_email_column ----------------------------------------------------------------

DETECT: list[tuple[list[str], str | None]] = [
    (["email"], "email"),
    (["Name", "Email"], "Email"),
    (["name", " E-Mail "], " E-Mail "),
    (["MAIL", "name"], "MAIL"),
    (["Email Address"], "Email Address"),
    (["email_address"], "email_address"),
    (["e.mail"], "e.mail"),
    (["Address", "EMAIL"], "EMAIL"),  # "email" beats "address" wherever it stands
    (["address", "city"], "address"),
    (["mail", "e-mail"], "e-mail"),
    (["name", "phone"], None),
    (["emails"], None),
    ([], None),
]


@pytest.mark.parametrize(("header", "expected"), DETECT)
def test_detect_email_column_by_name(header: list[str], expected: str | None) -> None:
    assert detect_email_column(header) == expected


# --- pasted text ------------------------------------------------------------------------


def test_text_accepts_any_mix_of_separators() -> None:
    report = parse_text("a@x.com,b@x.com;c@x.com d@x.com\te@x.com\n\nf@x.com ,; g@x.com")
    assert emails(report) == [f"{c}@x.com" for c in "abcdefg"]
    assert lines(report) == [1, 1, 1, 1, 1, 3, 3]
    assert report.rejected == ()
    assert report.source == "pasted"
    assert all(r.source == "pasted" for r in report.recipients)


NAMES: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Ann <ann@example.com>, bob@example.com",
        [("ann@example.com", "Ann"), ("bob@example.com", "")],
    ),
    ("Ann Lee <ann@example.com>", [("ann@example.com", "Ann Lee")]),
    (
        '"Lee, Ann" <ann@example.com>; bob@x.org',
        [("ann@example.com", "Lee, Ann"), ("bob@x.org", "")],
    ),
    ('"Ann \\"Nan\\" Lee" <ann@example.com>', [("ann@example.com", 'Ann "Nan" Lee')]),
    ("<ann@example.com>", [("ann@example.com", "")]),
    ("Ann< ann@example.com >", [("ann@example.com", "Ann")]),
    ("José Müller <jose@bücher.de>", [("jose@xn--bcher-kva.de", "José Müller")]),
    ("bob@x.org Ann <ann@example.com>", [("bob@x.org", ""), ("ann@example.com", "Ann")]),
]


@pytest.mark.parametrize(("text", "expected"), NAMES)
def test_text_keeps_display_names(text: str, expected: list[tuple[str, str]]) -> None:
    report = parse_text(text)
    assert [(r.email, r.name) for r in report.recipients] == expected
    assert report.rejected == ()
    for recipient in report.recipients:
        assert dict(recipient.fields) == {"email": recipient.email, "name": recipient.name}


TEXT_REJECTS: list[tuple[str, list[tuple[int, str, str | None]]]] = [
    ("hello ann@x.com", [(1, "hello", "email")]),
    ("ann@x.com\r\nnot-an-address\r\nbob@x.com", [(2, "not-an-address", "email")]),
    ("ann@x.com\rjunk\rbob@x.com", [(2, "junk", "email")]),
    ("To: Ann <ann@x.com>", [(1, "To:", "email")]),
    ("a@x.com\n\nx\x00y@x.com", [(3, "x\x00y@x.com", "email")]),
    ("An\x0bn <ann@x.com>", [(1, "An\x0bn", "name")]),
    ("Ann <ann@x.com", [(1, "Ann", "email"), (1, "<ann@x.com", "email")]),
    ('"Ann <ann@x.com>', [(1, '"Ann', "email")]),
    ("ann@x.com.", [(1, "ann@x.com.", "email")]),
    ("Ann\tLee <ann@x.com>", [(1, "Ann", "email")]),  # a tab separates, even in a name
]


@pytest.mark.parametrize(("text", "expected"), TEXT_REJECTS)
def test_text_reports_what_is_not_an_address(
    text: str, expected: list[tuple[int, str, str | None]]
) -> None:
    report = parse_text(text)
    assert [(r.line, r.value, r.field) for r in report.rejected] == expected
    assert all(reject.reason for reject in report.rejected)


def test_text_skips_a_pasted_column_header() -> None:
    report = parse_text("\n E-Mail \nann@x.com\nbob@x.com")
    assert emails(report) == ["ann@x.com", "bob@x.com"]
    assert lines(report) == [3, 4]
    assert report.rejected == ()


def test_text_header_is_only_skipped_on_the_first_line() -> None:
    report = parse_text("ann@x.com\nemail")
    assert [(r.line, r.value) for r in report.rejected] == [(2, "email")]


def test_text_drops_duplicates_ignoring_letter_case() -> None:
    report = parse_text("ann@example.com\nAnn@example.com\nann@EXAMPLE.COM, ann@Example.com")
    assert emails(report) == ["ann@example.com"]
    assert report.duplicates == (
        Duplicate("pasted", 2, "Ann@example.com", 1),
        Duplicate("pasted", 3, "ann@example.com", 1),
        Duplicate("pasted", 3, "ann@example.com", 1),
    )
    assert report.duplicate_count == 3


def test_text_flags_smtputf8_and_converts_idn() -> None:
    report = parse_text("josé@example.com\nuser@bücher.de")
    assert [(r.email, r.needs_smtputf8) for r in report.recipients] == [
        ("josé@example.com", True),
        ("user@xn--bcher-kva.de", False),
    ]
    assert report.smtputf8_count == 1


def test_text_row_cap() -> None:
    with pytest.raises(InputError) as info:
        parse_text("a@x.com b@x.com\nc@x.com", max_rows=2)
    assert info.value.line == 2
    assert "more than 2 rows" in info.value.message


def test_empty_text_gives_an_empty_report() -> None:
    report = parse_text("  \n\n")
    assert (report.recipients, report.rejected, report.duplicates) == ((), (), ())
    assert report.columns == ("email", "name")
    assert report.summary() == "0 recipients, 0 rejected, 0 duplicates"


def test_txt_file_is_decoded_strictly() -> None:
    report = parse_txt(b"\xef\xbb\xbfann@x.com\nbob@x.com\n", source="list.txt")
    assert emails(report) == ["ann@x.com", "bob@x.com"]
    with pytest.raises(InputError) as info:
        parse_txt(b"ann@x.com\nJos\xe9 <jose@x.com>\n", source="list.txt")
    assert (info.value.source, info.value.line) == ("list.txt", 2)
    report = parse_txt(b"Jos\xe9 <jose@x.com>\n", source="list.txt", encoding="cp1252")
    assert report.recipients[0].name == "José"


# --- CSV: columns and fields ------------------------------------------------------------


def test_csv_mailmerge_database_is_accepted_unchanged() -> None:
    report = csv_report(
        "email,name,number\nmyself@mydomain.com,Myself,17\nbob@bobdomain.com,Bob,42\n"
    )
    assert report.columns == ("email", "name", "number")
    assert report.email_column == "email"
    assert [(r.email, r.name, r.line) for r in report.recipients] == [
        ("myself@mydomain.com", "Myself", 2),
        ("bob@bobdomain.com", "Bob", 3),
    ]
    assert dict(report.recipients[1].fields) == {
        "email": "bob@bobdomain.com",
        "name": "Bob",
        "number": "42",
    }
    assert isinstance(report.recipients[0].fields, MappingProxyType)


HEADERS: list[tuple[str, str]] = [
    ("email,name", "email"),
    ("Email,Name", "Email"),
    (" E-Mail ,Name", "E-Mail"),
    ("name,MAIL", "MAIL"),
    ("Email Address,name", "Email Address"),
    ("name,address", "address"),
]


@pytest.mark.parametrize(("header", "column"), HEADERS)
def test_csv_finds_the_email_column_by_name(header: str, column: str) -> None:
    first = header.split(",")[0].strip().casefold()
    row = "ann@x.com,Ann" if first not in {"name"} else "Ann,ann@x.com"
    report = csv_report(f"{header}\n{row}\n")
    assert report.email_column == column
    assert emails(report) == ["ann@x.com"]
    assert report.recipients[0].fields["email"] == "ann@x.com"
    assert report.merge_fields[-1] == "email" or "email" in report.columns


def test_csv_email_column_chosen_explicitly() -> None:
    text = "work,home,name\nann@work.com,ann@home.com,Ann\n"
    assert emails(csv_report(text, email_column="home")) == ["ann@home.com"]
    assert emails(csv_report(text, email_column=" HOME ")) == ["ann@home.com"]
    report = csv_report(text, email_column="work")
    assert report.email_column == "work"
    assert report.recipients[0].fields["email"] == "ann@work.com"


def test_csv_unknown_email_column_names_the_columns() -> None:
    with pytest.raises(InputError) as info:
        csv_report("work,home\nann@x.com,b@x.com\n", email_column="mail")
    assert info.value.line == 1
    assert "'work', 'home'" in str(info.value)


def test_csv_without_email_column_names_the_columns() -> None:
    with pytest.raises(InputError) as info:
        csv_report("Name,Phone\nAnn,123\n")
    assert (info.value.source, info.value.line) == ("list.csv", 1)
    assert "'Name', 'Phone'" in info.value.message
    assert "looks like data" not in info.value.message


def test_csv_without_header_row_says_so() -> None:
    with pytest.raises(InputError, match="looks like data"):
        csv_report("ann@x.com,Ann\nbob@x.com,Bob\n")


def test_csv_header_line_counts_after_leading_blank_lines() -> None:
    with pytest.raises(InputError) as info:
        csv_report("\n\nname\nAnn\n")
    assert info.value.line == 3


NAME_COLUMNS: list[tuple[str, str, str]] = [
    ("email,name", "ann@x.com,Ann Lee", "Ann Lee"),
    ("email,Full Name,first_name", "ann@x.com,Ann Lee,Annie", "Ann Lee"),
    ("email,first_name,last_name", "ann@x.com,Ann,Lee", "Ann Lee"),
    ("email,Surname,FirstName", "ann@x.com,Lee,Ann", "Ann Lee"),
    ("email,first_name", "ann@x.com, Ann ", "Ann"),
    ("email,last_name", "ann@x.com,Lee", "Lee"),
    ("email,first_name,last_name", "ann@x.com,,", ""),
    ("email,company", "ann@x.com,ACME", ""),
    ("email,company", "Ann Lee <ann@x.com>,ACME", "Ann Lee"),
    ("email,name", '"""Lee, Ann"" <ann@x.com>",', "Lee, Ann"),
    ("email,name", "Nan <ann@x.com>,Ann", "Ann"),
]


@pytest.mark.parametrize(("header", "row", "name"), NAME_COLUMNS)
def test_csv_fills_recipient_name(header: str, row: str, name: str) -> None:
    report = csv_report(f"{header}\n{row}\n")
    assert emails(report) == ["ann@x.com"]
    assert report.recipients[0].name == name


def test_csv_keeps_every_column_verbatim_and_adds_email() -> None:
    report = csv_report("E-Mail,first_name,notes\n ann@Bücher.de ,Ann,  two  spaces \n")
    recipient = report.recipients[0]
    assert recipient.email == "ann@xn--bcher-kva.de"
    assert dict(recipient.fields) == {
        "E-Mail": " ann@Bücher.de ",
        "first_name": "Ann",
        "notes": "  two  spaces ",
        "email": "ann@xn--bcher-kva.de",
    }
    assert report.columns == ("E-Mail", "first_name", "notes")
    assert report.merge_fields == ("E-Mail", "first_name", "notes", "email")


def test_csv_duplicate_column_names_are_an_error() -> None:
    with pytest.raises(InputError) as info:
        csv_report("email,name,Name,name\nann@x.com,a,b,c\n")
    assert info.value.line == 1
    assert "columns 2 and 4" in info.value.message


def test_csv_empty_header_cells_get_a_name_and_trailing_ones_go() -> None:
    report = csv_report("email,,city,,\nann@x.com,x,Paris,,\nbob@x.com,y,Rome\n")
    assert report.columns == ("email", "column_2", "city")
    assert [dict(r.fields) for r in report.recipients] == [
        {"email": "ann@x.com", "column_2": "x", "city": "Paris"},
        {"email": "bob@x.com", "column_2": "y", "city": "Rome"},
    ]


# --- CSV: line numbers, shapes and rejects ----------------------------------------------


def test_csv_line_numbers_are_physical_lines() -> None:
    text = (
        "email,name\n"  # 1
        "\n"  # 2
        "ann@x.com,Ann\n"  # 3
        'bob@x.com,"Bob\n'  # 4
        'Smith"\n'  # 5
        ",,\n"  # 6 (blank row)
        "bad,Carl\n"  # 7
        "dee@x.com,Dee\n"  # 8
    )
    report = csv_report(text)
    assert [(r.email, r.line) for r in report.recipients] == [("ann@x.com", 3), ("dee@x.com", 8)]
    assert rejected(report) == [(4, "name"), (7, "email")]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_csv_any_line_ending(newline: str) -> None:
    text = newline.join(["email,name", "ann@x.com,Ann", "", "bad,Bob", "carl@x.com,Carl", ""])
    report = csv_report(text)
    assert lines(report) == [2, 5]
    assert rejected(report) == [(4, "email")]


def test_csv_without_final_newline() -> None:
    assert lines(csv_report("email\nann@x.com\nbob@x.com")) == [2, 3]


def test_csv_short_rows_are_padded() -> None:
    report = csv_report("email,name,city\nann@x.com\n")
    assert dict(report.recipients[0].fields) == {"email": "ann@x.com", "name": "", "city": ""}


def test_csv_long_rows_are_rejected_not_truncated() -> None:
    report = csv_report("email,name\nann@x.com,Ann,extra\nbob@x.com,Bob,,\ncarl@x.com,Carl\n")
    assert emails(report) == ["bob@x.com", "carl@x.com"]  # empty extra cells lose nothing
    [reject] = report.rejected
    assert (reject.line, reject.value, reject.field) == (2, "extra", None)
    assert "3 cells but the header has 2 columns" in reject.reason


def test_csv_empty_address_is_rejected() -> None:
    report = csv_report("email,name\n,Ann\n  ,Bob\n")
    assert [(r.line, r.reason) for r in report.rejected] == [
        (2, "no email address"),
        (3, "no email address"),
    ]


INJECTIONS: list[tuple[str, int, str]] = [
    ('email,name\nann@x.com,"Ann\r\nBcc: victim@x.com"\n', 2, "name"),
    ('email,name\nann@x.com,"Ann\nBcc: victim@x.com"\n', 2, "name"),
    ('email,name\nann@x.com,"Ann\rX"\n', 2, "name"),
    ("email,name\nann@x.com,Ann\x00\n", 2, "name"),
    ("email,name,company\nann@x.com,Ann,AC\x1bME\n", 2, "company"),
    ('email,name\nann@x.com,"Ann\u2028Lee"\n', 2, "name"),
    ('email,name\n"x\r\ny@ex.com",Ann\n', 2, "email"),
    ('email,name\n"ann@x.com\n",Ann\n', 2, "email"),
    ("email,name\nann\x00@x.com,Ann\n", 2, "email"),
    ('email;name\nok@x.com;Ok\nann@x.com;"A\tB"\n', 3, "name"),
]


@pytest.mark.parametrize(("text", "line", "field"), INJECTIONS)
def test_csv_header_injection_rejects_the_row(text: str, line: int, field: str) -> None:
    report = csv_report(text)
    assert (line, field) in rejected(report)
    assert "ann@x.com" not in emails(report)
    assert "xy@ex.com" not in emails(report)
    for recipient in report.recipients:
        assert all("\r" not in value and "\n" not in value for value in recipient.fields.values())


def test_csv_rejected_value_and_message_are_readable() -> None:
    report = csv_report('email,name\nann@x.com,"Ann\r\nBcc: v@x.com"\n')
    [reject] = report.rejected
    assert reject == Rejected("list.csv", 2, "Ann\r\nBcc: v@x.com", reject.reason, "name")
    assert "U+000D (CARRIAGE RETURN)" in reject.reason
    assert str(reject).startswith("list.csv, line 2, field 'name': contains U+000D")
    assert "\r" not in str(reject)


def test_csv_rejected_value_is_cut() -> None:
    report = csv_report(f"email\n{'a' * 5000}@x.com\n")
    assert len(report.rejected[0].value) == 201


def test_csv_duplicates_with_different_domain_case() -> None:
    report = csv_report("email,name\nann@example.com,A\nbob@x.com,B\nann@EXAMPLE.com,C\n")
    assert emails(report) == ["ann@example.com", "bob@x.com"]
    assert report.recipients[0].name == "A"
    assert report.duplicates == (Duplicate("list.csv", 4, "ann@example.com", 2),)
    assert str(report.duplicates[0]) == "list.csv, line 4: ann@example.com duplicates line 2"


def test_csv_idn_and_smtputf8() -> None:
    report = csv_report("email\nuser@bücher.de\njosé@example.com\nann@x.com\n")
    assert [(r.email, r.needs_smtputf8) for r in report.recipients] == [
        ("user@xn--bcher-kva.de", False),
        ("josé@example.com", True),
        ("ann@x.com", False),
    ]
    assert report.smtputf8_count == 1
    assert report.summary() == "3 recipients, 0 rejected, 0 duplicates, 1 needs SMTPUTF8"


# --- CSV: bytes, delimiters, quoting, caps ----------------------------------------------


def test_csv_utf8_with_bom() -> None:
    report = parse_csv("\ufeffemail,name\nann@x.com,José\n".encode(), source="bom.csv")
    assert report.columns == ("email", "name")
    assert report.recipients[0].name == "José"


def test_csv_cp1252_bytes_are_reported_with_line_and_offset() -> None:
    data = "email,name\nann@x.com,Ann\nbob@x.com,Jos\xe9\n".encode("cp1252")
    with pytest.raises(InputError) as info:
        parse_csv(data, source="excel.csv")
    assert (info.value.source, info.value.line) == ("excel.csv", 3)
    offset = data.index(b"\xe9")
    assert f"byte 0xE9 at byte offset {offset}" in info.value.message
    assert "cp1252" in info.value.message


def test_csv_bad_byte_offset_counts_the_bom() -> None:
    data = b"\xef\xbb\xbfemail\r\nab\xffc@x.com\r\n"
    with pytest.raises(InputError) as info:
        parse_csv(data, source="x.csv")
    assert info.value.line == 2
    assert "byte 0xFF at byte offset 12 " in info.value.message


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "Windows-1252"])
def test_csv_explicit_encoding(encoding: str) -> None:
    data = "email;name\nann@x.com;José Müller\n".encode("cp1252")
    report = parse_csv(data, source="excel.csv", encoding=encoding)
    assert report.recipients[0].name == "José Müller"


def test_csv_explicit_encoding_still_strict() -> None:
    data = b"email,name\nann@x.com,\x81\n"  # 0x81 is undefined in cp1252
    with pytest.raises(InputError) as info:
        parse_csv(data, source="x.csv", encoding="cp1252")
    assert info.value.line == 2


def test_csv_unknown_encoding() -> None:
    with pytest.raises(InputError, match="unknown encoding"):
        parse_csv(b"email\n", source="x.csv", encoding="klingon")


def test_csv_utf16_with_bom_from_excel_unicode_text() -> None:
    data = "email\tname\nann@x.com\tJosé\n".encode("utf-16")
    report = parse_csv(data, source="unicode.txt.csv")
    assert [(r.email, r.name) for r in report.recipients] == [("ann@x.com", "José")]


DELIMITED: list[tuple[str, str]] = [
    ("email,name,city\nann@x.com,Ann,Paris\nbob@x.com,Bob,Rome\n", ","),
    ("email;name;city\nann@x.com;Ann;Paris\nbob@x.com;Bob;Rome\n", ";"),
    ("email\tname\tcity\nann@x.com\tAnn\tParis\nbob@x.com\tBob\tRome\n", "\t"),
    ('email;name\nann@x.com;"Lee, Ann"\nbob@x.com;"Ray, Bob"\n', ";"),
    ('email,name\nann@x.com,"Lee; Ann"\nbob@x.com,"Ray; Bob"\n', ","),
    ("email;name\nann@x.com;Lee, Ann, Jr.\n", ";"),
    ("email\nann@x.com\nbob@x.com\n", ","),
    ("\n\nemail;name\nann@x.com;Ann\n", ";"),
]


@pytest.mark.parametrize(("text", "delimiter"), DELIMITED)
def test_csv_delimiter_is_sniffed(text: str, delimiter: str) -> None:
    assert sniff_delimiter(text) == delimiter
    report = csv_report(text)
    assert emails(report)[0] == "ann@x.com"
    assert report.rejected == ()


def test_csv_explicit_delimiter() -> None:
    report = csv_report("email|name\nann@x.com|Ann\n", delimiter="|")
    assert report.recipients[0].name == "Ann"
    with pytest.raises(InputError, match="bad delimiter"):
        csv_report("email\n", delimiter=";;")


MALFORMED: list[tuple[str, int]] = [
    ('email,name\nann@x.com,"Ann\nbob@x.com,Bob\n', 2),  # unterminated quote to the end
    ('email,name\nann@x.com,Ann\nbob@x.com,"Bob\ncarl@x.com,"Carl"\n', 3),  # closes late
    ('email,name\nann@x.com,"Ann"x\n', 2),  # text after a closing quote
    ('email,"name\n', 1),  # in the header
]


@pytest.mark.parametrize(("text", "line"), MALFORMED)
def test_csv_malformed_quoting_names_the_line(text: str, line: int) -> None:
    with pytest.raises(InputError) as info:
        csv_report(text)
    assert (info.value.source, info.value.line) == ("list.csv", line)
    assert "malformed CSV" in info.value.message


def test_csv_size_cap() -> None:
    with pytest.raises(InputError, match=r"over the 0\.0 MB limit"):
        parse_csv(b"email\nann@x.com\n", source="x.csv", max_bytes=10)
    assert parse_csv(b"email\nann@x.com\n", source="x.csv", max_bytes=16).recipients


def test_csv_row_cap_counts_data_rows_only() -> None:
    text = "email\n\na@x.com\nbad\n\nc@x.com\nd@x.com\n"
    assert len(csv_report(text, max_rows=4).rejected) == 1
    with pytest.raises(InputError) as info:
        csv_report(text + "e@x.com\n", max_rows=4)
    assert info.value.line == 8
    assert "more than 4 rows" in info.value.message


@pytest.mark.parametrize("text", ["", "\n\n", " , \n"])
def test_csv_empty_file(text: str) -> None:
    with pytest.raises(InputError, match="empty"):
        csv_report(text)


def test_csv_header_only_is_an_empty_list() -> None:
    report = csv_report("email,name\n")
    assert report.recipients == ()
    assert report.columns == ("email", "name")


# --- XLSX -------------------------------------------------------------------------------


CellValue = str | float | date | None  # int, bool and datetime included


def xlsx_bytes(rows: dict[int, list[CellValue]], *, second_sheet_active: bool = False) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Recipients"
    for number, values in rows.items():
        for column, value in enumerate(values, start=1):
            sheet.cell(row=number, column=column, value=value)
    other = workbook.create_sheet("Other")
    other["A1"] = "not this one"
    if second_sheet_active:
        workbook.active = 1
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_xlsx_first_sheet_header_and_row_numbers() -> None:
    data = xlsx_bytes(
        {
            1: ["Email", "First Name", "Visits", "Since", "VIP", "Score"],
            2: ["ann@example.com", "Ann", 3, date(2024, 5, 1), True, 2.5],
            4: ["bob@bücher.de", "Bob", 7.0, datetime(2024, 5, 1, 9, 30), False, None],
            5: ["not-an-address", "Carl"],
            6: ["ann@EXAMPLE.COM", "Ann again"],
            7: ["dee@example.com", "Dee\nBcc: x@y.com"],
        },
        second_sheet_active=True,
    )
    report = parse_xlsx(data, source="list.xlsx")
    assert report.columns == ("Email", "First Name", "Visits", "Since", "VIP", "Score")
    assert report.email_column == "Email"
    assert [(r.email, r.name, r.line) for r in report.recipients] == [
        ("ann@example.com", "Ann", 2),
        ("bob@xn--bcher-kva.de", "Bob", 4),
    ]
    assert dict(report.recipients[0].fields) == {
        "Email": "ann@example.com",
        "First Name": "Ann",
        "Visits": "3",
        "Since": "2024-05-01",
        "VIP": "TRUE",
        "Score": "2.5",
        "email": "ann@example.com",
    }
    assert report.recipients[1].fields["Visits"] == "7"
    assert report.recipients[1].fields["Since"] == "2024-05-01 09:30:00"
    assert report.recipients[1].fields["Score"] == ""
    assert rejected(report) == [(5, "Email"), (7, "First Name")]
    assert report.duplicates == (Duplicate("list.xlsx", 6, "ann@example.com", 2),)


def test_xlsx_header_below_empty_rows_and_explicit_column() -> None:
    data = xlsx_bytes({3: ["Work", "Home"], 4: ["a@work.com", "a@home.com"]})
    report = parse_xlsx(data, source="list.xlsx", email_column="home")
    assert [(r.email, r.line) for r in report.recipients] == [("a@home.com", 4)]


def test_xlsx_without_email_column() -> None:
    with pytest.raises(InputError) as info:
        parse_xlsx(xlsx_bytes({1: ["Name"], 2: ["Ann"]}), source="list.xlsx")
    assert info.value.line == 1
    assert "'Name'" in info.value.message


def test_xlsx_row_cap_and_size_cap() -> None:
    data = xlsx_bytes({1: ["email"], 2: ["a@x.com"], 3: ["b@x.com"]})
    with pytest.raises(InputError) as info:
        parse_xlsx(data, source="list.xlsx", max_rows=1)
    assert info.value.line == 3
    with pytest.raises(InputError, match="limit"):
        parse_xlsx(data, source="list.xlsx", max_bytes=100)


@pytest.mark.parametrize("data", [b"", b"email\nann@x.com\n", b"PK\x03\x04garbage"])
def test_xlsx_unreadable_file(data: bytes) -> None:
    with pytest.raises(InputError, match=r"not a readable \.xlsx"):
        parse_xlsx(data, source="list.xlsx")


# --- files ------------------------------------------------------------------------------


def test_load_recipients_dispatches_on_extension(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("email;name\nann@x.com;Ann\n", encoding="utf-8")
    (tmp_path / "b.TSV").write_text("email\tname\nbob@x.com\tBob, Jr.\n", encoding="utf-8")
    (tmp_path / "c.txt").write_text("carl@x.com\nDee <dee@x.com>\n", encoding="utf-8")
    (tmp_path / "d.xlsx").write_bytes(xlsx_bytes({1: ["email"], 2: ["eve@x.com"]}))
    results = {
        name: [(r.email, r.name, r.source) for r in load_recipients(tmp_path / name).recipients]
        for name in ("a.csv", "b.TSV", "c.txt", "d.xlsx")
    }
    assert results == {
        "a.csv": [("ann@x.com", "Ann", "a.csv")],
        "b.TSV": [("bob@x.com", "Bob, Jr.", "b.TSV")],
        "c.txt": [("carl@x.com", "", "c.txt"), ("dee@x.com", "Dee", "c.txt")],
        "d.xlsx": [("eve@x.com", "", "d.xlsx")],
    }
    assert emails(load_recipients(str(tmp_path / "a.csv"))) == ["ann@x.com"]


def test_load_recipients_passes_options(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("mail,name\nann@x.com,Jos\xe9\n".encode("cp1252"))
    with pytest.raises(InputError) as info:
        load_recipients(path)
    assert (info.value.source, info.value.line) == ("excel.csv", 2)
    assert load_recipients(path, encoding="cp1252").recipients[0].name == "José"
    assert load_recipients(path, email_column="name", encoding="cp1252").rejected


@pytest.mark.parametrize(("name", "match"), [("list.xls", r"\.xlsx or CSV"), ("list", "no ext")])
def test_load_recipients_refuses_other_types(tmp_path: Path, name: str, match: str) -> None:
    (tmp_path / name).write_bytes(b"email\nann@x.com\n")
    with pytest.raises(InputError, match=match):
        load_recipients(tmp_path / name)


def test_load_recipients_missing_file_and_size_cap(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_recipients(tmp_path / "missing.csv")
    path = tmp_path / "big.csv"
    path.write_bytes(b"email\n" + b"a@x.com\n" * 100)
    with pytest.raises(InputError, match="limit"):
        load_recipients(path, max_bytes=100)


def test_parse_bytes_for_uploads() -> None:
    report = parse_bytes(b"email\tname\nann@x.com\tAnn\n", filename="C:/up/list.tsv", max_rows=5)
    assert report.source == "list.tsv"
    assert report.recipients[0].name == "Ann"


def test_sample_recipients_asset_imports_cleanly() -> None:
    report = load_recipients(ROOT / "assets" / "sample-recipients.csv")
    assert len(report.recipients) == 10
    assert (report.rejected, report.duplicates) == ((), ())
    assert report.columns == ("email", "first_name", "last_name", "company", "city")
    assert any(r.fields["first_name"] == "José" for r in report.recipients)
    assert any("xn--" in r.email for r in report.recipients)


# --- report -----------------------------------------------------------------------------


def test_summary_is_one_line_for_people() -> None:
    recipients = tuple(Recipient(email=f"u{i}@x.com") for i in range(1203))
    rejects = tuple(Rejected("f.csv", i, "x", "bad") for i in range(4))
    dups = tuple(Duplicate("f.csv", i, "u1@x.com", 1) for i in range(7))
    report = ImportReport("f.csv", recipients, rejects, dups)
    assert report.summary() == "1,203 recipients, 4 rejected, 7 duplicates"
    one = ImportReport("f.csv", (Recipient(email="a@x.com", needs_smtputf8=True),))
    assert one.summary() == "1 recipient, 0 rejected, 0 duplicates, 1 needs SMTPUTF8"


def test_core_recipients_imports_no_ui_or_storage() -> None:
    code = (
        "import sys, core.recipients\n"
        "bad = {'nicegui', 'tinydb', 'cryptography', 'storage', 'ui', 'openpyxl'}\n"
        "print(sorted(bad & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
