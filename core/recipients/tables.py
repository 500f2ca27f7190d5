"""Recipient tables: CSV/TSV with a header row, and the first worksheet of an XLSX workbook.

The one reader of table headers and rows: the import and the email-column menu both use it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from pathlib import PurePath

from core.errors import InputError
from core.models import Recipient
from core.recipients.address import (
    detect_email_column,
    detect_name_columns,
    find_forbidden,
    forbidden_reason,
    validate_address,
)
from core.recipients.decoding import check_size, decode, physical_lines
from core.recipients.report import DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, Collector, ImportReport
from core.recipients.sheet import Sheet
from core.recipients.text import split_name_address

__all__ = [
    "DELIMITERS",
    "csv_text",
    "parse_csv",
    "parse_xlsx",
    "read_header",
    "sniff_delimiter",
    "stream_csv",
]

DELIMITERS = ",;\t"  # the delimiters `sniff_delimiter` chooses among
_SNIFF_LINES = 20
_SNIFF_CHARS = 16_384
_MAX_LISTED_COLUMNS = 20
_EMPTY = "the file is empty: expected a header row such as 'email,name'"


def sniff_delimiter(text: str) -> str:
    """The delimiter of a CSV text: `,`, `;` or tab; `,` when nothing tells.

    csv.Sniffer looks at the first lines; its answer is kept only if the header line
    contains that delimiter, otherwise the delimiter most frequent in the header wins.
    """
    sample_lines: list[str] = []
    for line in physical_lines(text[:_SNIFF_CHARS]):
        sample_lines.append(line)
        if len(sample_lines) >= _SNIFF_LINES:
            break
    header = next((line for line in sample_lines if line.strip()), "")
    counts = {delimiter: header.count(delimiter) for delimiter in DELIMITERS}
    try:
        sniffed: str | None = csv.Sniffer().sniff("".join(sample_lines), DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    if sniffed is not None and counts.get(sniffed, 0) > 0:
        return sniffed
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])  # ties: the earliest
    return best if counts[best] > 0 else ","


def _listing(columns: Sequence[str]) -> str:
    shown = ", ".join(repr(column) for column in columns[:_MAX_LISTED_COLUMNS])
    more = len(columns) - _MAX_LISTED_COLUMNS
    return shown + (f" and {more} more" if more > 0 else "")


def _column_names(header: Sequence[str], *, source: str, line: int) -> tuple[str, ...]:
    """Header cells as field names: stripped; an empty one is `column_N`; trailing empties go."""
    cells = [cell.strip() for cell in header]
    while cells and not cells[-1]:
        cells.pop()
    names: list[str] = []
    seen: dict[str, int] = {}
    for number, cell in enumerate(cells, start=1):
        name = cell or f"column_{number}"
        if name in seen:
            raise InputError(
                f"two columns are named {name!r} (columns {seen[name]} and {number}); "
                "rename one so each merge field has its own name",
                source=source,
                line=line,
            )
        seen[name] = number
        names.append(name)
    return tuple(names)


def _email_index(
    columns: tuple[str, ...], email_column: str | None, *, source: str, line: int
) -> int:
    """Where the addresses are: the caller's choice (exact, then any case) or by name."""
    if email_column is not None:
        wanted = email_column.strip()
        folded = [column.casefold() for column in columns]
        if wanted in columns:
            return columns.index(wanted)
        if wanted.casefold() in folded:
            return folded.index(wanted.casefold())
        raise InputError(
            f"no column named {email_column!r}; the columns are {_listing(columns)}",
            source=source,
            line=line,
        )
    found = detect_email_column(columns)
    if found is None:
        hint = (
            "; the first row looks like data: add a header row such as 'email,name'"
            if any("@" in column for column in columns)
            else ""
        )
        raise InputError(
            f"no email column among {_listing(columns) or 'no columns'}: name it 'email' "
            f"or choose the column{hint}",
            source=source,
            line=line,
        )
    return columns.index(found)


class _Table:
    """Turns the data rows under one header into recipients, rejects and duplicates."""

    def __init__(
        self,
        header: Sequence[str],
        *,
        line: int,
        email_column: str | None,
        collector: Collector,
        joiner: str,
    ) -> None:
        source = collector.source
        self.columns = _column_names(header, source=source, line=line)
        self.email_index = _email_index(self.columns, email_column, source=source, line=line)
        self.email_column = self.columns[self.email_index]
        self.name_indexes = detect_name_columns(self.columns, skip=self.email_index)
        self.add_email_field = "email" not in self.columns
        self.collector = collector
        self.joiner = joiner
        collector.columns, collector.email_column = self.columns, self.email_column

    def add(self, line: int, cells: Sequence[str]) -> None:
        """Take one data row found at `line`; blank rows are skipped."""
        if not any(cell.strip() for cell in cells):
            return
        collector = self.collector
        collector.count_row(line)
        width = len(self.columns)
        if len(cells) > width:
            extra = cells[width:]
            if any(extra):
                reason = (
                    f"{len(cells)} cells but the header has {width} columns "
                    "(check the quotes and the delimiter)"
                )
                collector.reject(line, self.joiner.join(extra), reason)
                return
            cells = cells[:width]
        elif len(cells) < width:
            cells = [*cells, *([""] * (width - len(cells)))]
        if find_forbidden("".join(cells)) is not None:
            for column, cell in zip(self.columns, cells, strict=True):
                bad = find_forbidden(cell)
                if bad is not None:
                    collector.reject(line, cell, forbidden_reason(bad), column)
                    return
        value = cells[self.email_index]
        name = ""
        if "<" in value and (split := split_name_address(value)) is not None:
            name, address = split
        else:
            address = value
        try:
            email, needs_smtputf8 = validate_address(address)
        except InputError as exc:
            collector.reject(line, value, exc.message, self.email_column)
            return
        if self.name_indexes:
            parts = (cells[index].strip() for index in self.name_indexes)
            name = " ".join(part for part in parts if part) or name
        fields = dict(zip(self.columns, cells, strict=True))
        if self.add_email_field:
            fields["email"] = email
        collector.accept(email, line=line, needs_smtputf8=needs_smtputf8, name=name, fields=fields)


def _table_rows(
    rows: Iterable[tuple[int, Sequence[str]]],
    *,
    email_column: str | None,
    collector: Collector,
    joiner: str,
) -> Iterator[_Table]:
    """The first non-blank row is the header; every later row is data, fed to the table one
    at a time (the table is yielded after each, so a streaming collector can be drained)."""
    table: _Table | None = None
    for line, cells in rows:
        if table is not None:
            table.add(line, cells)
            yield table
        elif any(cell.strip() for cell in cells):
            table = _Table(
                cells, line=line, email_column=email_column, collector=collector, joiner=joiner
            )
    if table is None:
        raise InputError(_EMPTY, source=collector.source)


def _read_table(
    rows: Iterable[tuple[int, Sequence[str]]],
    *,
    email_column: str | None,
    collector: Collector,
    joiner: str,
) -> ImportReport:
    """Every row read; the report of what they gave."""
    for _ in _table_rows(rows, email_column=email_column, collector=collector, joiner=joiner):
        pass
    return collector.report(columns=collector.columns, email_column=collector.email_column)


def _csv_rows(text: str, *, delimiter: str, source: str) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, cells) per CSV row; a csv error names the line its row starts on."""
    reader = csv.reader(physical_lines(text), delimiter=delimiter, strict=True)
    previous = 0
    while True:
        start = previous + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            stopped = f" (the reader stopped at line {reader.line_num})"
            raise InputError(
                f"malformed CSV: {exc}{stopped if reader.line_num != start else ''}; "
                "check the quotes on this row",
                source=source,
                line=start,
            ) from exc
        previous = reader.line_num
        yield start, cells


def _csv_text(
    data: bytes, *, source: str, encoding: str | None, delimiter: str | None, max_bytes: int
) -> tuple[str, str]:
    """The decoded text and its delimiter (given, or sniffed)."""
    check_size(len(data), max_bytes=max_bytes, source=source)
    text = decode(data, source=source, encoding=encoding)
    if delimiter is None:
        delimiter = sniff_delimiter(text)
    elif len(delimiter) != 1 or delimiter in '\r\n"':
        raise InputError(
            f"bad delimiter {delimiter!r}: use one character such as , ; or tab", source=source
        )
    return text, delimiter


def csv_text(
    data: bytes, *, source: str, encoding: str | None, delimiter: str | None, max_bytes: int
) -> tuple[str, str]:
    """A CSV's decoded text and its delimiter (given, or sniffed), checked as `parse_csv` does."""
    return _csv_text(
        data, source=source, encoding=encoding, delimiter=delimiter, max_bytes=max_bytes
    )


def stream_csv(
    text: str, *, delimiter: str, collector: Collector, email_column: str | None = None
) -> Iterator[Recipient]:
    """`parse_csv`'s recipients one by one, none kept: `collector` (made with `keep=False`)
    gathers the rejects, duplicates and counts as they go by."""
    rows = _csv_rows(text, delimiter=delimiter, source=collector.source)
    for _ in _table_rows(rows, email_column=email_column, collector=collector, joiner=delimiter):
        yield from collector.take()


def parse_csv(
    data: bytes,
    *,
    source: str,
    email_column: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> ImportReport:
    """Recipients from a CSV with a header row; every column becomes a merge field.

    Decoding follows `decode` (UTF-8 unless `encoding` is given; never guessed). The
    delimiter is sniffed unless given. Line numbers are physical lines (header = line
    1 when it is the first line); a row spanning lines is reported at its first line.
    Malformed quoting raises `InputError`; row-level problems become `Rejected` entries.
    """
    text, delimiter = _csv_text(
        data, source=source, encoding=encoding, delimiter=delimiter, max_bytes=max_bytes
    )
    collector = Collector(source, max_rows=max_rows)
    rows = _csv_rows(text, delimiter=delimiter, source=source)
    return _read_table(rows, email_column=email_column, collector=collector, joiner=delimiter)


def parse_xlsx(
    data: bytes,
    *,
    source: str,
    email_column: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> ImportReport:
    """Recipients from the first worksheet of an .xlsx: header row, then one row each.

    Streamed by `Sheet` (core.recipients.sheet): memory follows the cells present, only
    columns with a header are kept, and the column and cell caps are enforced. Line
    numbers are sheet row numbers. Numbers read as a person sees them (3.0 -> "3"),
    dates as ISO 8601, booleans as TRUE/FALSE. Everything else as in `parse_csv`.
    """
    check_size(len(data), max_bytes=max_bytes, source=source)
    with Sheet(data, source=source) as sheet:
        if not sheet.header:
            raise InputError(_EMPTY, source=source)
        collector = Collector(source, max_rows=max_rows)
        table = _Table(
            sheet.header,
            line=sheet.header_line,
            email_column=email_column,
            collector=collector,
            joiner=", ",
        )
        for line, cells in sheet.rows():
            table.add(line, cells)
        return collector.report(columns=collector.columns, email_column=collector.email_column)


def read_header(
    data: bytes,
    *,
    filename: str,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> tuple[str, ...]:
    """The column names of a table file, exactly as the import names its merge fields.

    The one header reader: the email-column menu offers these names and `parse_csv` /
    `parse_xlsx` use the same rules (.xlsx/.xlsm by `Sheet`, anything else as CSV, a
    .tsv tab-delimited). Raises `InputError` when the file or its header cannot be read.
    """
    source = PurePath(filename).name
    if PurePath(filename).suffix.lower() in (".xlsx", ".xlsm"):
        with Sheet(data, source=source) as sheet:
            if not sheet.header:
                raise InputError(_EMPTY, source=source)
            return _column_names(sheet.header, source=source, line=sheet.header_line)
    text = decode(data, source=source, encoding=encoding)
    if PurePath(filename).suffix.lower() == ".tsv":
        delimiter = delimiter or "\t"
    rows = _csv_rows(text, delimiter=delimiter or sniff_delimiter(text), source=source)
    for line, cells in rows:
        if any(cell.strip() for cell in cells):
            return _column_names(cells, source=source, line=line)
    raise InputError(_EMPTY, source=source)
