"""Bytes to text for recipient files: UTF-8 (with or without BOM) unless told, never guessed."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator

from core.errors import InputError

__all__ = ["check_size", "decode", "physical_lines"]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# One physical line with its line break (the csv module needs them inside quoted cells).
_PHYSICAL_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_MEBIBYTE = 1024 * 1024


def check_size(size: int, *, max_bytes: int, source: str) -> None:
    """Raise `InputError` when `size` bytes is over the cap."""
    if size > max_bytes:
        raise InputError(
            f"the file is {size / _MEBIBYTE:.1f} MB, over the {max_bytes / _MEBIBYTE:.1f} MB "
            "limit; split it into smaller files",
            source=source,
        )


def physical_lines(text: str) -> Iterator[str]:
    """The lines of `text` with their breaks, split on CRLF, CR or LF only (as editors count)."""
    for match in _PHYSICAL_LINE.finditer(text):
        yield match.group()


def _detect(data: bytes, encoding: str | None, source: str) -> tuple[str, int]:
    """The codec to use and how many leading BOM bytes to skip."""
    if encoding is not None:
        try:
            return codecs.lookup(encoding).name, 0
        except LookupError:
            raise InputError(f"unknown encoding {encoding!r}", source=source) from None
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8", len(codecs.BOM_UTF8)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", 0  # Excel's "Unicode text"; the codec reads the BOM itself
    return "utf-8", 0


def decode(data: bytes, *, source: str, encoding: str | None = None) -> str:
    """Decode a whole file strictly; a byte that does not fit raises `InputError` with its line.

    Without `encoding`, the file must be UTF-8 (a BOM is allowed and dropped; a UTF-16
    BOM is honoured). Bytes are never replaced: the error names the line and the byte
    offset so the person can fix the file or choose its encoding (cp1252, latin-1 ...).
    """
    codec, skip = _detect(data, encoding, source)
    body = memoryview(data)[skip:]
    try:
        text = str(body, codec)
    except UnicodeDecodeError as exc:
        offset = skip + exc.start
        before = str(body[: exc.start], codec, "replace")
        line = len(_LINE_BREAK.findall(before)) + 1
        hint = (
            "choose the file's real encoding"
            if encoding is not None
            else "save the file as UTF-8, or choose its encoding (for example cp1252 or latin-1)"
        )
        raise InputError(
            f"byte 0x{data[offset]:02X} at byte offset {offset:,} is not valid {codec}; {hint}",
            source=source,
            line=line,
        ) from exc
    return text.removeprefix("\ufeff")
