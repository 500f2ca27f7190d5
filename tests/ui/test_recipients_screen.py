"""The Recipients screen: paste, upload, sample list, column and encoding choice, review."""

from __future__ import annotations

import io
from pathlib import Path

from nicegui import ui
from nicegui.testing import User

from tests.ui.screen import element, set_value, until, upload
from ui.services.state import get_state
from ui.web.recipient_import import (
    MAX_UPLOAD_BYTES,
    Loaded,
    email_candidates,
    header_columns,
    import_loaded,
    safe_display_name,
)

HOSTILE = "<img src=x onerror=alert(1)>"
CSV = "text/csv"


def _rows(user: User, marker: str) -> list[dict[str, object]]:
    table = element(user, marker)
    assert isinstance(table, ui.table)
    return list(table.rows)


def _labels(user: User, marker: str) -> list[str]:
    return [str(column["label"]) for column in element(user, marker).columns]


async def _open(user: User) -> None:
    await user.open("/recipients")
    await user.should_see("Recipients", marker="screen-title")


async def test_pasted_addresses_show_counts_and_rejections_with_lines(user: User) -> None:
    await _open(user)
    await user.should_see(marker="recipients-empty")
    user.find(marker="recipients-paste").type(
        "ann@example.com, Bob Martin <bob@example.org>\nnot-an-address\nann@EXAMPLE.COM"
    )
    user.find(marker="recipients-paste-import").click()
    await user.should_see(
        "2 recipients, 1 rejected, 1 duplicate", marker="recipients-summary", retries=50
    )
    assert [row["line"] for row in _rows(user, "recipients-table")] == [1, 1]
    assert [row["f0"] for row in _rows(user, "recipients-table")][1] == "bob@example.org"
    rejected = _rows(user, "recipients-rejected")
    assert len(rejected) == 1
    assert rejected[0]["line"] == 2
    assert rejected[0]["value"] == "not-an-address"
    assert rejected[0]["source"] == "pasted"
    await user.should_see("Duplicates dropped: 1", marker="recipients-duplicates")
    report = get_state().draft.recipients
    assert report is not None and [r.email for r in report.recipients] == [
        "ann@example.com",
        "bob@example.org",
    ]


async def test_uploaded_csv_shows_every_field_as_plain_text(user: User) -> None:
    await _open(user)
    data = (
        f"email,name,city\nann@example.com,{HOSTILE},Paris\n"
        "bad@@example.com,Bob,Rome\njosé@example.com,José,Lima\n"
    ).encode()
    await upload(user, "recipients-upload", "../../etc/people.csv", data, CSV)
    await user.should_see("2 recipients, 1 rejected", marker="recipients-summary", retries=50)
    await user.should_see("From people.csv")
    assert _labels(user, "recipients-table") == ["Line", "email", "name", "city", "SMTPUTF8"]
    rows = _rows(user, "recipients-table")
    assert rows[0]["f1"] == HOSTILE  # a plain cell value: Quasar shows it as text
    assert rows[1]["utf8"] == "needed"
    await user.should_see("SMTPUTF8", marker="recipients-smtputf8")
    assert _rows(user, "recipients-rejected")[0]["line"] == 3
    kinds = (ui.html, ui.markdown)
    assert not [e for e in user.client.elements.values() if isinstance(e, kinds)]
    assert not any(e.tag == "iframe" for e in user.client.elements.values())
    assert not list(Path.cwd().glob("people.csv"))  # the name never became a path


async def test_csv_without_an_email_column_offers_the_column_chooser(user: User) -> None:
    await _open(user)
    data = b"who,contact\nAnn,ann@example.com\nBob,bob@example.org\n"
    await upload(user, "recipients-upload", "list.csv", data, CSV)
    await user.should_see("no email column", marker="recipients-error", retries=50)
    chooser = element(user, "recipients-email-column")
    assert chooser.visible
    assert chooser.options == ["who", "contact"]
    set_value(user, "recipients-email-column", "contact")
    await user.should_see("2 recipients", marker="recipients-summary", retries=50)
    report = get_state().draft.recipients
    assert report is not None and report.email_column == "contact"


async def test_two_address_columns_let_the_person_switch(user: User) -> None:
    await _open(user)
    data = b"email,backup\nann@example.com,ann@home.example\nbob@example.org,bob@home.example\n"
    await upload(user, "recipients-upload", "two.csv", data, CSV)
    await user.should_see("2 recipients", marker="recipients-summary", retries=50)
    assert element(user, "recipients-email-column").value == "email"
    set_value(user, "recipients-email-column", "backup")
    await until(lambda: _email_column() == "backup")
    assert _rows(user, "recipients-table")[0]["f1"] == "ann@home.example"


async def test_xlsx_without_an_email_header_offers_its_columns(user: User) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Who", "Contact"])
    sheet.append(["Ann", "ann@example.com"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    await _open(user)
    await upload(user, "recipients-upload", "people.xlsx", buffer.getvalue(), "application/x")
    await user.should_see("no email column", marker="recipients-error", retries=50)
    assert element(user, "recipients-email-column").options == ["Who", "Contact"]
    set_value(user, "recipients-email-column", "Contact")
    await user.should_see("1 recipient,", marker="recipients-summary", retries=50)


def _email_column() -> str | None:
    report = get_state().draft.recipients
    return report.email_column if report else None


async def test_non_utf8_file_names_line_and_byte_then_takes_the_chosen_encoding(
    user: User,
) -> None:
    await _open(user)
    data = "email,name\nann@example.com,Ann\nzoe@example.com,Zoë\n".encode("cp1252")
    await upload(user, "recipients-upload", "latin.csv", data, CSV)
    await user.should_see("line 3", marker="recipients-error", retries=50)
    await user.should_see("0xEB", marker="recipients-error")
    assert element(user, "recipients-encoding").visible
    set_value(user, "recipients-encoding", "cp1252")
    await user.should_see("2 recipients", marker="recipients-summary", retries=50)
    report = get_state().draft.recipients
    assert report is not None and report.recipients[1].fields["name"] == "Zoë"


async def test_sample_list_loads_and_pages(user: User) -> None:
    await _open(user)
    user.find(marker="recipients-sample").click()
    await user.should_see("10 recipients", marker="recipients-summary", retries=50)
    assert _labels(user, "recipients-table")[1:6] == [
        "email",
        "first_name",
        "last_name",
        "company",
        "city",
    ]


async def test_long_lists_are_paged_and_searchable(user: User) -> None:
    await _open(user)
    addresses = "\n".join(f"person{i}@example.com" for i in range(60))
    user.find(marker="recipients-paste").type(addresses)
    user.find(marker="recipients-paste-import").click()
    await user.should_see("60 recipients", marker="recipients-summary", retries=50)
    assert len(_rows(user, "recipients-table")) == 25
    await user.should_see("Page 1 of 3", marker="recipients-table-page")
    user.find(marker="recipients-table-next").click()
    await user.should_see("Page 2 of 3", marker="recipients-table-page")
    assert _rows(user, "recipients-table")[0]["f0"] == "person25@example.com"
    user.find(marker="recipients-table-search").type("person59")
    assert [row["f0"] for row in _rows(user, "recipients-table")] == ["person59@example.com"]


async def test_wrong_file_type_and_oversized_upload_are_refused(user: User) -> None:
    await _open(user)
    await upload(user, "recipients-upload", "old.xls", b"\xd0\xcf\x11\xe0", "application/x")
    await user.should_see(".xlsx", marker="recipients-error", retries=50)
    assert get_state().draft.recipients is None
    big = b"email\n" + b"a" * (MAX_UPLOAD_BYTES + 1)
    await upload(user, "recipients-upload", "big.csv", big, CSV)
    await user.should_see("over 20 MB", marker="recipients-error", retries=50)


async def test_clear_forgets_the_list_and_the_screen_shows_the_draft_again(user: User) -> None:
    await _open(user)
    user.find(marker="recipients-paste").type("ann@example.com")
    user.find(marker="recipients-paste-import").click()
    await user.should_see("1 recipient,", marker="recipients-summary", retries=50)
    await user.open("/compose")
    await user.open("/recipients")
    await user.should_see("1 recipient,", marker="recipients-summary")
    user.find(marker="recipients-clear").click()
    await user.should_see(marker="recipients-empty")
    assert get_state().draft.recipients is None


def test_helpers_keep_names_out_of_paths_and_find_columns() -> None:
    assert safe_display_name("../../etc/passwd") == "passwd"
    assert safe_display_name("C:\\Users\\x\\list.csv") == "list.csv"
    assert safe_display_name("\x00\n") == "upload.csv"
    loaded = Loaded("a.csv", b"Name;Mail;;\nAnn;ann@example.com;;\n")
    assert header_columns(loaded) == ("Name", "Mail")
    attempt = import_loaded(loaded)
    assert attempt.report is not None and email_candidates(attempt.report) == ["Mail"]
    assert attempt.columns == ()  # one candidate: no chooser needed
