"""Recipient imports for the screen: bytes kept in memory, re-parsed with a column or encoding.

An uploaded file's name only tells the parser the file type and labels the report; it
never becomes a path. The bytes stay in memory so a person can pick another email column
or encoding without uploading again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path, PurePath

from core.errors import InputError
from core.recipients import (
    DEFAULT_MAX_ROWS,
    ImportReport,
    detect_email_column,
    parse_bytes,
    parse_text,
    read_header,
)
from core.recipients.decoding import decode

__all__ = [
    "ENCODINGS",
    "MAX_PASTE_CHARS",
    "MAX_ROWS",
    "MAX_UPLOAD_BYTES",
    "SAMPLE_RECIPIENTS",
    "TABLE_SUFFIXES",
    "Attempt",
    "Loaded",
    "email_candidates",
    "header_columns",
    "import_loaded",
    "import_pasted",
    "load_sample",
    "safe_display_name",
    "with_choice",
]

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # the upload widget and the parser both refuse more
MAX_PASTE_CHARS = 5 * 1024 * 1024
MAX_ROWS = DEFAULT_MAX_ROWS
SAMPLE_RECIPIENTS = Path(__file__).resolve().parents[2] / "assets" / "sample-recipients.csv"
TABLE_SUFFIXES = frozenset({".csv", ".tsv", ".xlsx", ".xlsm"})
_TEXT_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
_SAMPLE_ROWS = 50  # rows looked at to guess which columns hold addresses
_MAX_NAME = 120

ENCODINGS: dict[str, str] = {
    "utf-8": "UTF-8 (the default)",
    "cp1252": "Windows Western (cp1252)",
    "latin-1": "Latin-1 (ISO-8859-1)",
    "iso-8859-15": "Latin-9 (ISO-8859-15)",
    "cp1250": "Windows Central European (cp1250)",
    "cp1251": "Windows Cyrillic (cp1251)",
    "mac_roman": "Mac Roman",
    "utf-16": "UTF-16",
    "shift_jis": "Japanese (Shift JIS)",
    "gb18030": "Chinese (GB18030)",
}


def safe_display_name(name: str, default: str = "upload.csv") -> str:
    """The last part of a client-given file name, printable and short (for labels only)."""
    base = PurePath(name.replace("\\", "/")).name
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[:_MAX_NAME] or default


@dataclass(frozen=True, slots=True)
class Loaded:
    """A file as received, with the choices it is parsed with."""

    name: str  # for the file type and the report's labels, never a path
    data: bytes
    email_column: str | None = None
    encoding: str | None = None

    @property
    def suffix(self) -> str:
        return PurePath(self.name).suffix.lower()

    @property
    def is_table(self) -> bool:
        return self.suffix in TABLE_SUFFIXES


@dataclass(frozen=True, slots=True)
class Attempt:
    """One parse: the report, or the error with what the person can choose to fix it."""

    loaded: Loaded | None
    report: ImportReport | None = None
    error: str = ""
    columns: tuple[str, ...] = ()  # offered in the email-column chooser; () hides it
    bad_encoding: bool = False  # offer the encoding chooser


def load_sample() -> Loaded:
    """The sample list shipped with the app."""
    return Loaded(SAMPLE_RECIPIENTS.name, SAMPLE_RECIPIENTS.read_bytes())


def import_pasted(text: str) -> Attempt:
    """Parse pasted addresses (runs in a worker thread)."""
    if len(text) > MAX_PASTE_CHARS:
        return Attempt(None, error="That is too much to paste: upload it as a file instead.")
    try:
        return Attempt(None, parse_text(text, max_rows=MAX_ROWS))
    except InputError as exc:
        return Attempt(None, error=str(exc))


def import_loaded(loaded: Loaded) -> Attempt:
    """Parse a file's bytes with its chosen column and encoding (runs in a worker thread)."""
    if len(loaded.data) > MAX_UPLOAD_BYTES:
        limit = MAX_UPLOAD_BYTES // (1024 * 1024)
        return Attempt(loaded, error=f"The file is over {limit} MB: split it into smaller files.")
    try:
        report = parse_bytes(
            loaded.data,
            filename=loaded.name,
            email_column=loaded.email_column,
            encoding=loaded.encoding,
            max_bytes=MAX_UPLOAD_BYTES,
            max_rows=MAX_ROWS,
        )
    except InputError as exc:
        return _failure(loaded, exc)
    columns = report.columns if len(email_candidates(report)) > 1 else ()
    return Attempt(loaded, report, columns=columns)


def _failure(loaded: Loaded, exc: InputError) -> Attempt:
    bad_encoding = False
    if loaded.suffix in _TEXT_SUFFIXES:
        try:
            decode(loaded.data, source=loaded.name, encoding=loaded.encoding)
        except InputError:
            bad_encoding = True
    columns: tuple[str, ...] = ()
    if loaded.is_table and not bad_encoding:
        header = header_columns(loaded)
        if header and (loaded.email_column is not None or detect_email_column(header) is None):
            columns = header
    return Attempt(loaded, error=str(exc), columns=columns, bad_encoding=bad_encoding)


def email_candidates(report: ImportReport) -> list[str]:
    """Columns that look like they hold addresses: the one used, plus any mostly with '@'."""
    found = [report.email_column] if report.email_column else []
    sample = report.recipients[:_SAMPLE_ROWS]
    if not sample:
        return found
    for column in report.columns:
        if column in found:
            continue
        with_at = sum(1 for r in sample if "@" in r.fields.get(column, ""))
        if with_at * 2 > len(sample):
            found.append(column)
    return found


def header_columns(loaded: Loaded) -> tuple[str, ...]:
    """The header row's column names, as the parser names them (core's one header reader)."""
    try:
        return read_header(loaded.data, filename=loaded.name, encoding=loaded.encoding)
    except InputError:
        return ()


def with_choice(
    loaded: Loaded, *, email_column: str | None = None, encoding: str | None = None
) -> Loaded:
    """The same file, to be parsed with another email column and/or encoding."""
    return replace(
        loaded,
        email_column=email_column if email_column is not None else loaded.email_column,
        encoding=encoding if encoding is not None else loaded.encoding,
    )
