"""What an import produced: accepted recipients, rejected rows and dropped duplicates."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from core.errors import InputError
from core.models import Recipient
from core.recipients.address import identity

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ROWS",
    "Collector",
    "Duplicate",
    "ImportReport",
    "Rejected",
    "merge_reports",
]

DEFAULT_MAX_BYTES = 50 * 1024 * 1024  # a larger upload is refused before it is parsed
DEFAULT_MAX_ROWS = 200_000  # data rows (or pasted addresses) per source
MAX_REPORTED_VALUE = 200  # characters of a rejected value kept in the report


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class Rejected:
    """A row (or pasted item) that was not imported, and why."""

    source: str
    line: int  # 1-based physical line of a text/CSV file, or the sheet row of an XLSX
    value: str  # the offending value, cut to MAX_REPORTED_VALUE characters
    reason: str
    field: str | None = None  # the column the problem is in, when it is one column

    def __str__(self) -> str:
        where = f"{self.source}, line {self.line}" if self.source else f"line {self.line}"
        if self.field:
            where += f", field {self.field!r}"
        return f"{where}: {self.reason}: {self.value!r}"


@dataclass(frozen=True, slots=True)
class Duplicate:
    """An address seen before in the same source (same `identity`): dropped, the first kept."""

    source: str
    line: int
    email: str  # this row's spelling, normalized (the kept one may differ in letter case)
    first_line: int  # where the kept occurrence is

    def __str__(self) -> str:
        where = f"{self.source}, line {self.line}" if self.source else f"line {self.line}"
        return f"{where}: {self.email} duplicates line {self.first_line}"


@dataclass(frozen=True, slots=True)
class ImportReport:
    """Everything one import produced, in source order."""

    source: str
    recipients: tuple[Recipient, ...]
    rejected: tuple[Rejected, ...] = ()
    duplicates: tuple[Duplicate, ...] = ()
    columns: tuple[str, ...] = ()  # merge-field names, in header order
    email_column: str | None = None
    streamed: int | None = None  # a streamed list: how many were accepted (none kept here)

    @property
    def count(self) -> int:
        """How many recipients the list has (kept here, or streamed from its file)."""
        return self.streamed if self.streamed is not None else len(self.recipients)

    @property
    def merge_fields(self) -> tuple[str, ...]:
        """The field names every recipient has: the columns, plus "email" if none is so named."""
        return self.columns if "email" in self.columns else (*self.columns, "email")

    @property
    def duplicate_count(self) -> int:
        """How many rows were dropped as duplicates of an earlier row."""
        return len(self.duplicates)

    @property
    def smtputf8_count(self) -> int:
        """How many accepted addresses need a server that offers SMTPUTF8."""
        return sum(1 for recipient in self.recipients if recipient.needs_smtputf8)

    def summary(self) -> str:
        """One line for people, e.g. '1,203 recipients, 4 rejected, 7 duplicates'."""
        text = (
            f"{_plural(self.count, 'recipient')}, {len(self.rejected):,} rejected, "
            f"{_plural(self.duplicate_count, 'duplicate')}"
        )
        needs = self.smtputf8_count
        if needs:
            text += f", {needs:,} need{'s' if needs == 1 else ''} SMTPUTF8"
        return text


class Collector:
    """Builds an `ImportReport` row by row: counts rows, drops duplicates, keeps order."""

    def __init__(self, source: str, *, max_rows: int, keep: bool = True) -> None:
        self.source = source
        self.max_rows = max_rows
        self.keep = keep  # False: accepted recipients are handed out by `take()`, not kept
        self.accepted = 0
        self.columns: tuple[str, ...] = ()
        self.email_column: str | None = None
        self._recipients: list[Recipient] = []
        self._rejected: list[Rejected] = []
        self._duplicates: list[Duplicate] = []
        self._first_line: dict[str, int] = {}
        self._rows = 0

    def count_row(self, line: int) -> None:
        """Count one more data row; raise `InputError` past the row cap."""
        self._rows += 1
        if self._rows > self.max_rows:
            raise InputError(
                f"more than {self.max_rows:,} rows; split the list into smaller files",
                source=self.source,
                line=line,
            )

    def reject(self, line: int, value: str, reason: str, field: str | None = None) -> None:
        """Record a row that is not imported."""
        if len(value) > MAX_REPORTED_VALUE:
            value = value[:MAX_REPORTED_VALUE] + "…"
        self._rejected.append(Rejected(self.source, line, value, reason, field))

    def accept(
        self,
        email: str,
        *,
        line: int,
        needs_smtputf8: bool,
        name: str,
        fields: dict[str, str],
    ) -> None:
        """Keep a validated recipient (taking ownership of `fields`), unless seen earlier.

        Seen earlier means the same `identity` (letter case ignored, domain as A-labels):
        the first spelling is kept, a later one is reported as a `Duplicate` of its line.
        """
        key = identity(email)
        first = self._first_line.get(key)
        if first is not None:
            self._duplicates.append(Duplicate(self.source, line, email, first))
            return
        self._first_line[key] = line
        self.accepted += 1
        self._recipients.append(
            Recipient(
                email=email,
                fields=MappingProxyType(fields),
                name=name,
                line=line,
                source=self.source,
                needs_smtputf8=needs_smtputf8,
            )
        )

    def take(self) -> list[Recipient]:
        """The recipients accepted since the last call (streaming: `keep=False`)."""
        taken, self._recipients = self._recipients, []
        return taken

    def report(self, *, columns: tuple[str, ...], email_column: str | None) -> ImportReport:
        """The finished report (a streamed one counts its recipients instead of keeping them)."""
        return ImportReport(
            source=self.source,
            recipients=tuple(self._recipients) if self.keep else (),
            rejected=tuple(self._rejected),
            duplicates=tuple(self._duplicates),
            columns=columns,
            email_column=email_column,
            streamed=None if self.keep else self.accepted,
        )


def merge_reports(current: ImportReport, added: ImportReport) -> ImportReport:
    """`added` appended to `current`: one list, duplicates across both dropped (the first
    spelling kept, the others reported with their source and line), columns united. A
    recipient lacks the columns only the other list has; the pre-flight names any the
    message uses."""
    seen = {identity(r.email): r for r in current.recipients}
    kept: list[Recipient] = []
    dropped: list[Duplicate] = []
    for recipient in added.recipients:
        key = identity(recipient.email)
        first = seen.get(key)
        if first is not None:
            dropped.append(Duplicate(recipient.source, recipient.line, recipient.email, first.line))
            continue
        seen[key] = recipient
        kept.append(recipient)
    columns = tuple(dict.fromkeys((*current.columns, *added.columns)))
    return ImportReport(
        source=f"{current.source} + {added.source}",
        recipients=(*current.recipients, *kept),
        rejected=(*current.rejected, *added.rejected),
        duplicates=(*current.duplicates, *added.duplicates, *dropped),
        columns=columns,
        email_column=current.email_column or added.email_column,
    )
