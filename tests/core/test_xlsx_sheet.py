"""XLSX read as the cells present: columns with a header only, named caps, one header reader."""

from __future__ import annotations

import io
from datetime import datetime

import openpyxl
import pytest

from core.errors import InputError
from core.recipients import MAX_COLUMNS, parse_csv, parse_xlsx, read_header
from core.recipients.sheet import Sheet

XFD = 16_384


def workbook_bytes(cells: dict[tuple[int, int], object]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for (row, column), value in cells.items():
        sheet.cell(row=row, column=column, value=value)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_a_header_cell_in_column_xfd_does_not_pad_5000_rows() -> None:
    cells: dict[tuple[int, int], object] = {(1, 1): "email", (1, 2): "name", (1, XFD): "note"}
    for row in range(2, 5_002):
        cells[(row, 1)] = f"user{row}@example.com"
        cells[(row, 2)] = f"User {row}"
    cells[(77, XFD)] = "a note far to the right"
    data = workbook_bytes(cells)
    with Sheet(data, source="wide.xlsx") as sheet:
        assert sheet.header == ("email", "name", "note")
        widths = {len(values) for _, values in sheet.rows()}
    assert widths == {3}
    report = parse_xlsx(data, source="wide.xlsx")
    assert report.columns == ("email", "name", "note")
    assert len(report.recipients) == 5_000
    assert {len(r.fields) for r in report.recipients} == {3}
    assert report.recipients[75].fields["note"] == "a note far to the right"


def test_only_columns_with_a_header_are_kept() -> None:
    data = workbook_bytes(
        {(1, 1): "email", (1, 3): "city", (2, 1): "a@x.com", (2, 2): "orphan", (2, 3): "Lyon"}
    )
    report = parse_xlsx(data, source="gap.xlsx")
    assert report.columns == ("email", "city")
    assert dict(report.recipients[0].fields) == {"email": "a@x.com", "city": "Lyon"}


def test_more_named_columns_than_the_cap_are_refused_with_the_line() -> None:
    cells: dict[tuple[int, int], object] = {(2, c): f"c{c}" for c in range(1, MAX_COLUMNS + 2)}
    with pytest.raises(InputError) as info:
        parse_xlsx(workbook_bytes(cells), source="many.xlsx")
    assert info.value.line == 2
    assert f"{MAX_COLUMNS + 1:,} named columns" in info.value.message
    assert f"{MAX_COLUMNS:,}-column limit" in info.value.message


def test_more_cells_than_the_cap_are_refused() -> None:
    cells: dict[tuple[int, int], object] = {(1, 1): "email"}
    cells.update({(row, 1): f"u{row}@x.com" for row in range(2, 40)})
    with (
        pytest.raises(InputError) as info,
        Sheet(workbook_bytes(cells), source="big.xlsx", max_cells=25) as sheet,
    ):
        list(sheet.rows())
    assert info.value.line == 26
    assert "more than 25 cells" in info.value.message


def test_typed_header_cells_are_named_alike_by_the_header_reader_and_the_parser() -> None:
    header = ["email", datetime(2024, 5, 1), True, 2.5, 7, 3.0, "=1+1", " Name "]
    data = workbook_bytes({(1, c): v for c, v in enumerate(header, start=1)} | {(2, 1): "a@x.com"})
    columns = parse_xlsx(data, source="typed.xlsx").columns
    assert columns == ("email", "2024-05-01", "TRUE", "2.5", "7", "3", "Name")
    assert read_header(data, filename="typed.xlsx") == columns


@pytest.mark.parametrize(
    ("filename", "text", "names"),
    [
        ("l.csv", "\n\nemail;;City \na@x.com;1;2\n", ("email", "column_2", "City")),
        ("l.tsv", "email\t\tcity\n", ("email", "column_2", "city")),
    ],
)
def test_csv_header_reader_names_columns_as_the_parser_does(
    filename: str, text: str, names: tuple[str, ...]
) -> None:
    data = text.encode()
    delimiter = "\t" if filename.endswith(".tsv") else None
    assert parse_csv(data, source=filename, delimiter=delimiter).columns == names
    assert read_header(data, filename=filename) == names


def test_header_reader_refuses_an_empty_or_unreadable_file() -> None:
    with pytest.raises(InputError, match="empty"):
        read_header(workbook_bytes({}), filename="e.xlsx")
    with pytest.raises(InputError, match="not a readable"):
        read_header(b"PK\x03\x04 junk", filename="e.xlsx")
