"""Recipient files by extension: .csv, .tsv, .txt and .xlsx, from a path or uploaded bytes."""

from __future__ import annotations

from pathlib import Path, PurePath

from core.errors import InputError
from core.recipients.decoding import check_size
from core.recipients.report import DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, ImportReport
from core.recipients.tables import parse_csv, parse_xlsx
from core.recipients.text import parse_txt

__all__ = ["SUFFIXES", "load_recipients", "parse_bytes"]

SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm")


def _suffix(filename: str) -> str:
    suffix = PurePath(filename).suffix.lower()
    if suffix not in SUFFIXES:
        hint = " (save an old .xls workbook as .xlsx or CSV)" if suffix == ".xls" else ""
        raise InputError(
            f"unsupported file type {suffix or '(no extension)'}: "
            f"use .csv, .tsv, .txt or .xlsx{hint}",
            source=PurePath(filename).name,
        )
    return suffix


def parse_bytes(
    data: bytes,
    *,
    filename: str,
    email_column: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> ImportReport:
    """Parse an uploaded file by the extension of `filename` (its name becomes the source).

    .csv is sniffed, .tsv is tab-delimited, .txt goes through `parse_text`, .xlsx and
    .xlsm read the first worksheet. Options that do not apply to a type are ignored
    (`email_column` for .txt; `encoding` and `delimiter` for .xlsx).
    """
    suffix = _suffix(filename)
    source = PurePath(filename).name
    if suffix in (".xlsx", ".xlsm"):
        return parse_xlsx(
            data, source=source, email_column=email_column, max_bytes=max_bytes, max_rows=max_rows
        )
    if suffix == ".txt":
        return parse_txt(
            data, source=source, encoding=encoding, max_bytes=max_bytes, max_rows=max_rows
        )
    if suffix == ".tsv":
        delimiter = delimiter or "\t"
    return parse_csv(
        data,
        source=source,
        email_column=email_column,
        encoding=encoding,
        delimiter=delimiter,
        max_bytes=max_bytes,
        max_rows=max_rows,
    )


def load_recipients(
    path: str | Path,
    *,
    email_column: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> ImportReport:
    """Read and parse a recipient file; the size cap is checked before the file is read."""
    path = Path(path)
    _suffix(path.name)
    try:
        check_size(path.stat().st_size, max_bytes=max_bytes, source=path.name)
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", source=str(path)) from exc
    return parse_bytes(
        data,
        filename=path.name,
        email_column=email_column,
        encoding=encoding,
        delimiter=delimiter,
        max_bytes=max_bytes,
        max_rows=max_rows,
    )
