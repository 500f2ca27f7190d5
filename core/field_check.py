"""Merge fields against the list, grouped: one line per field, not one line per recipient."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from core.models import Recipient
from core.templating import CompiledTemplate, TemplatePart, render_context

__all__ = ["FieldProblem", "FieldProblemKind", "FieldScan", "fields_used"]

MAX_FIELD_EXAMPLES = 5  # lines shown per field
_MATCH_CUTOFF = 0.6  # difflib's similarity for "did you mean"
_SHOWN_COLUMNS = 20


class FieldProblemKind(StrEnum):
    """How a merge field fails to match the list."""

    NOT_A_COLUMN = "not-a-column"  # no row has it: one fix, in the template or the list
    MISSING_IN_ROWS = "missing-in-rows"  # some rows lack it (mixed sources)
    EMPTY_IN_ROWS = "empty-in-rows"  # present but blank in some rows: a warning, it builds


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One merge field's problem across the whole list."""

    kind: FieldProblemKind
    name: str
    parts: tuple[str, ...]  # where the template uses it: subject, body, to ...
    rows: int  # rows affected
    total: int  # rows in the list
    columns: tuple[str, ...] = ()  # the list's columns (NOT_A_COLUMN)
    suggestion: str | None = None  # the closest column name
    examples: tuple[tuple[int, str], ...] = ()  # (line, email) of the first rows affected

    @property
    def blocking(self) -> bool:
        """True when messages cannot be built (a blank value still builds)."""
        return self.kind is not FieldProblemKind.EMPTY_IN_ROWS

    @property
    def text(self) -> str:
        """The problem as one line a person can act on."""
        used = f"`{self.name}` (used in {', '.join(self.parts)})"
        if self.kind is FieldProblemKind.NOT_A_COLUMN:
            shown = ", ".join(self.columns[:_SHOWN_COLUMNS])
            more = len(self.columns) - _SHOWN_COLUMNS
            columns = shown + (f" and {more} more" if more > 0 else "")
            hint = f"; did you mean `{self.suggestion}`?" if self.suggestion else ""
            return (
                f"merge field {used} is not a column of the list; its columns are "
                f"{columns or 'none'}{hint}"
            )
        where = ", ".join(f"line {line} ({email})" for line, email in self.examples)
        more = self.rows - len(self.examples)
        where += f" and {more:,} more" if more > 0 else ""
        state = "missing" if self.kind is FieldProblemKind.MISSING_IN_ROWS else "empty"
        return f"merge field {used} is {state} in {self.rows:,} of {self.total:,} rows: {where}"


def _parts(compiled: CompiledTemplate) -> list[TemplatePart]:
    found: list[TemplatePart | None] = [
        compiled.subject,
        compiled.text,
        compiled.html,
        compiled.to,
        *compiled.cc,
        *compiled.bcc,
        compiled.reply_to,
        compiled.list_unsubscribe_mailto,
        compiled.list_unsubscribe_url,
        compiled.attachment,
    ]
    return [part for part in found if part is not None]


def fields_used(compiled: CompiledTemplate) -> dict[str, tuple[str, ...]]:
    """Each merge field the template uses -> the parts that use it, in template order."""
    used: dict[str, list[str]] = {}
    for part in _parts(compiled):
        for name in sorted(part.undeclared):
            where = used.setdefault(name, [])
            if part.name not in where:
                where.append(part.name)
    return {name: tuple(parts) for name, parts in used.items()}


@dataclass
class FieldScan:
    """Streams the recipients once; keeps counts, the columns seen and a few examples."""

    used: Mapping[str, tuple[str, ...]]
    max_examples: int = MAX_FIELD_EXAMPLES
    total: int = 0
    columns: dict[str, None] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)
    empty: dict[str, int] = field(default_factory=dict)
    missing_examples: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    empty_examples: dict[str, list[tuple[int, str]]] = field(default_factory=dict)

    def add(self, recipient: Recipient) -> None:
        self.total += 1
        for name in recipient.fields:
            if name not in self.columns:
                self.columns[name] = None
        if not self.used:
            return
        context = render_context(recipient)
        for name in self.used:
            value = context.get(name)
            if value is None:
                self._count(self.missing, self.missing_examples, name, recipient)
            elif not value.strip():
                self._count(self.empty, self.empty_examples, name, recipient)

    def _count(
        self,
        counts: dict[str, int],
        examples: dict[str, list[tuple[int, str]]],
        name: str,
        recipient: Recipient,
    ) -> None:
        counts[name] = counts.get(name, 0) + 1
        kept = examples.setdefault(name, [])
        if len(kept) < self.max_examples:
            kept.append((recipient.line, recipient.email))

    def problems(self, failing: Mapping[str, int] | None = None) -> tuple[FieldProblem, ...]:
        """The fields' problems; `failing` (the pre-flight's missing fields) confirms which
        absent fields really stop a message (a `default` filter makes one optional)."""
        found: list[FieldProblem] = []
        columns = tuple(self.columns)
        for name, parts in self.used.items():
            missing = self.missing.get(name, 0)
            if missing and (failing is None or name in failing):
                if missing == self.total:
                    found.append(
                        FieldProblem(
                            FieldProblemKind.NOT_A_COLUMN,
                            name,
                            parts,
                            missing,
                            self.total,
                            columns,
                            closest_column(name, columns),
                        )
                    )
                else:
                    examples = tuple(self.missing_examples.get(name, ()))
                    found.append(
                        FieldProblem(
                            FieldProblemKind.MISSING_IN_ROWS,
                            name,
                            parts,
                            missing,
                            self.total,
                            examples=examples,
                        )
                    )
            empty = self.empty.get(name, 0)
            if empty:
                examples = tuple(self.empty_examples.get(name, ()))
                found.append(
                    FieldProblem(
                        FieldProblemKind.EMPTY_IN_ROWS,
                        name,
                        parts,
                        empty,
                        self.total,
                        examples=examples,
                    )
                )
        return tuple(found)


def closest_column(name: str, columns: tuple[str, ...]) -> str | None:
    """The column a person probably meant: same name in another case, else the most similar."""
    folded = {column.casefold(): column for column in columns}
    if name.casefold() in folded:
        return folded[name.casefold()]
    matches = difflib.get_close_matches(name.casefold(), list(folded), n=1, cutoff=_MATCH_CUTOFF)
    return folded[matches[0]] if matches else None
