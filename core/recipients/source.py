"""Recipient sources: what a campaign's use cases iterate, without holding every recipient.

A tuple of recipients is a source. `FileRecipients` is a CSV or TSV list read once: its one
validating pass counts, rejects and drops duplicates and spills the accepted rows, in chunks,
to an unnamed temporary file (private, gone when closed); each later pass (pre-flight, input
hash, journal) reads them back a chunk at a time. A million-row list so costs one identity per
address while it is read, never a million `Recipient` objects.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from types import MappingProxyType
from typing import IO, Protocol

from core.errors import InputError
from core.models import Recipient
from core.recipients.address import identity
from core.recipients.report import Collector, ImportReport
from core.recipients.tables import csv_text, stream_csv

__all__ = [
    "STREAMED_MAX_BYTES",
    "STREAMED_MAX_ROWS",
    "STREAMED_SUFFIXES",
    "Excluding",
    "FileRecipients",
    "Limited",
    "RecipientSource",
    "first_recipient",
]

STREAMED_SUFFIXES = (".csv", ".tsv")


class RecipientSource(Protocol):
    """Recipients in list order; iterable more than once, with a known count."""

    def __iter__(self) -> Iterator[Recipient]: ...

    def __len__(self) -> int: ...


def first_recipient(source: Iterable[Recipient]) -> Recipient | None:
    """The first recipient of a source, read without the rest."""
    return next(iter(source), None)


_CHUNK = 2_000  # recipients per spilled chunk
_Row = tuple[str, dict[str, str], str, int, str, bool]  # a Recipient, as spilled
STREAMED_MAX_BYTES = 512 * 1024 * 1024  # a command-line list may be far larger than an upload
STREAMED_MAX_ROWS = 10_000_000


@dataclass(frozen=True, eq=False)
class FileRecipients:
    """A CSV or TSV list validated once and replayed from a private spill; `report` counts it."""

    path: Path
    email_column: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    max_bytes: int = STREAMED_MAX_BYTES
    max_rows: int = STREAMED_MAX_ROWS
    report: ImportReport = field(init=False)
    _spill: IO[bytes] = field(init=False, repr=False)
    _chunks: tuple[tuple[int, int], ...] = field(init=False, repr=False)  # (offset, length)

    def __post_init__(self) -> None:
        if self.path.suffix.lower() not in STREAMED_SUFFIXES:
            raise InputError("only CSV and TSV files are streamed", source=self.path.name)
        collector = Collector(self.path.name, max_rows=self.max_rows, keep=False)
        spill = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as this source
        chunks: list[tuple[int, int]] = []
        batch: list[Recipient] = []
        for recipient in self._stream(collector):
            batch.append(recipient)
            if len(batch) >= _CHUNK:
                chunks.append(_dump(spill, batch))
                batch = []
        if batch:
            chunks.append(_dump(spill, batch))
        spill.flush()
        report = collector.report(columns=collector.columns, email_column=collector.email_column)
        object.__setattr__(self, "report", report)
        object.__setattr__(self, "_spill", spill)
        object.__setattr__(self, "_chunks", tuple(chunks))

    def _stream(self, collector: Collector) -> Iterator[Recipient]:
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            message = f"cannot read the file: {exc.strerror or exc}"
            raise InputError(message, source=str(self.path)) from exc
        wanted = self.delimiter or ("\t" if self.path.suffix.lower() == ".tsv" else None)
        text, delimiter = csv_text(
            data,
            source=self.path.name,
            encoding=self.encoding,
            delimiter=wanted,
            max_bytes=self.max_bytes,
        )
        del data  # the text is all that is needed from here on
        return stream_csv(
            text, delimiter=delimiter, collector=collector, email_column=self.email_column
        )

    def __iter__(self) -> Iterator[Recipient]:
        fd = self._spill.fileno()
        for offset, length in self._chunks:  # positional reads: passes may interleave
            rows: list[_Row] = pickle.loads(os.pread(fd, length, offset))  # noqa: S301
            for email, fields, name, line, source, smtputf8 in rows:
                yield Recipient(email, MappingProxyType(fields), name, line, source, smtputf8)

    def __len__(self) -> int:
        return self.report.count

    def close(self) -> None:
        """Delete the spill now (it also goes when the source is garbage-collected)."""
        self._spill.close()


def _dump(spill: IO[bytes], batch: list[Recipient]) -> tuple[int, int]:
    """Append one chunk (our own data, read back only by `FileRecipients`)."""
    rows: list[_Row] = [
        (r.email, dict(r.fields), r.name, r.line, r.source, r.needs_smtputf8) for r in batch
    ]
    data = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
    offset = spill.seek(0, os.SEEK_END)
    spill.write(data)
    return offset, len(data)


@dataclass(frozen=True, eq=False)
class Limited:
    """The first `limit` recipients of a source."""

    inner: RecipientSource
    limit: int

    def __iter__(self) -> Iterator[Recipient]:
        return islice(iter(self.inner), self.limit)

    def __len__(self) -> int:
        return min(len(self.inner), self.limit)


@dataclass(frozen=True, eq=False)
class Excluding:
    """A source without the recipients whose identity is in `excluded`."""

    inner: RecipientSource
    excluded: frozenset[str]

    def __iter__(self) -> Iterator[Recipient]:
        return (r for r in self.inner if identity(r.email) not in self.excluded)

    def __len__(self) -> int:
        return sum(1 for _ in self)
