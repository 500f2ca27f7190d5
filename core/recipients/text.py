"""Addresses pulled out of free text: pasted lists and .txt files, `Name <addr>` kept as a name."""

from __future__ import annotations

import re
from collections.abc import Iterator

from core.errors import InputError
from core.recipients.address import (
    detect_email_column,
    find_forbidden,
    forbidden_reason,
    validate_address,
)
from core.recipients.decoding import check_size, decode, physical_lines
from core.recipients.report import DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, Collector, ImportReport

__all__ = ["TEXT_COLUMNS", "parse_text", "parse_txt", "split_name_address"]

TEXT_COLUMNS = ("email", "name")  # the merge fields every text recipient has

# Separators between items: comma, semicolon, tab and Unicode spaces. Other control
# characters are not separators: they stay in the item and reject it.
_SEP = ",;\t \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_SPACE = " \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"  # inside a name: no tab
_QUOTED = r'"(?:[^"\\]|\\.)*"'
# A display-name word: no @ (a bare address never becomes a name), no colon (a "To:" or
# group label is reported as an item rather than glued to the name).
_WORD = rf'[^{_SEP}<>"@:]+'
_PHRASE = rf"(?:{_QUOTED}|{_WORD})(?:[{_SPACE}]+(?:{_QUOTED}|{_WORD}))*"
_ITEM = re.compile(
    rf"(?:(?P<name>{_PHRASE})[{_SPACE}]*)?<(?P<angle>[^<>]*)>"  # Ann <ann@example.com>
    rf"|(?P<bare>[^{_SEP}<]+|<[^{_SEP}]*)"  # bob@example.com, or junk reported as such
)
_NAME_ADDR = re.compile(
    rf"[{_SPACE}]*(?:(?P<name>{_PHRASE})[{_SPACE}]*)?<(?P<angle>[^<>]*)>[{_SPACE}]*"
)
_ESCAPE = re.compile(r"\\(.)")


def _unquote(phrase: str) -> str:
    """A display name as written, without its quotes and backslash escapes."""
    return re.sub(_QUOTED, lambda m: _ESCAPE.sub(r"\1", m.group()[1:-1]), phrase).strip()


def split_name_address(value: str) -> tuple[str, str] | None:
    """Split `Ann Smith <ann@example.com>` into ('Ann Smith', 'ann@example.com'), else None."""
    match = _NAME_ADDR.fullmatch(value)
    if match is None:
        return None
    return _unquote(match.group("name") or ""), match.group("angle")


def _items(line: str) -> Iterator[tuple[str, str]]:
    """(display name, address) for each item on one line, in order."""
    for match in _ITEM.finditer(line):
        bare = match.group("bare")
        if bare is not None:
            yield "", bare
        else:
            yield _unquote(match.group("name") or ""), match.group("angle")


def parse_text(
    text: str, *, source: str = "pasted", max_rows: int = DEFAULT_MAX_ROWS
) -> ImportReport:
    """Every address in free text: separated by commas, semicolons, spaces, tabs or newlines.

    `Ann <ann@example.com>` and `"Smith, Ann" <ann@example.com>` keep the display name.
    Anything else between separators is an item too: if it is not a valid address it
    is reported, never silently skipped. A first line that is just a column name such
    as "email" is skipped. Every recipient gets the merge fields "email" and "name".
    `max_rows` caps the number of items.
    """
    collector = Collector(source, max_rows=max_rows)
    first = True
    for line_no, raw in enumerate(physical_lines(text), start=1):
        line = raw.rstrip("\r\n")
        if first and line.strip():
            first = False
            if detect_email_column([line]) is not None:
                continue  # a column pasted from a spreadsheet, header included
        for name, value in _items(line):
            collector.count_row(line_no)
            bad = find_forbidden(name)
            if bad is not None:
                collector.reject(line_no, name, forbidden_reason(bad), "name")
                continue
            try:
                email, needs_smtputf8 = validate_address(value)
            except InputError as exc:
                collector.reject(line_no, value, exc.message, "email")
                continue
            collector.accept(
                email,
                line=line_no,
                needs_smtputf8=needs_smtputf8,
                name=name,
                fields={"email": email, "name": name},
            )
    return collector.report(columns=TEXT_COLUMNS, email_column="email")


def parse_txt(
    data: bytes,
    *,
    source: str,
    encoding: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> ImportReport:
    """A .txt file (one address per line, or any mix `parse_text` takes), decoded strictly."""
    check_size(len(data), max_bytes=max_bytes, source=source)
    return parse_text(
        decode(data, source=source, encoding=encoding), source=source, max_rows=max_rows
    )
