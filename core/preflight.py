"""Pre-flight a campaign: render and build every message without sending, report problems."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from core.address_fields import LiteralRecipient, literal_recipients
from core.attachments import (
    OutsideAttachment,
    attachment_part_size,
    attachments_outside,
    file_size,
    resolve_attachment,
)
from core.errors import IssueKind, MergeError
from core.field_check import FieldProblem, FieldScan, fields_used
from core.message import MessageBuilder
from core.models import Account, Recipient, Template
from core.templating import CompiledTemplate, compile_errors

__all__ = ["DEFAULT_MAX_EXAMPLES", "PreflightIssue", "PreflightReport", "preflight"]

DEFAULT_MAX_EXAMPLES = 20  # examples kept per issue kind in a pre-flight report
_MAX_FIELD_NAMES = 100  # distinct missing merge-field names counted in a report


@dataclass(frozen=True, slots=True)
class PreflightIssue:
    """One problem found before sending, with where it is."""

    kind: IssueKind
    message: str
    part: str | None = None  # template part: subject, body, to, cc[0], recipient_attachment ...
    fields: tuple[str, ...] = ()  # missing merge fields
    line: int | None = None  # the recipient's line in its source; None for template problems
    email: str | None = None
    template_line: int | None = None
    path: str | None = None


@dataclass(frozen=True, slots=True)
class PreflightReport:
    """What a dry run over every recipient found: capped examples plus exact counts."""

    recipients: int
    recipients_with_errors: int
    issues: tuple[PreflightIssue, ...]  # at most `max_examples` per kind, in the order found
    issue_counts: Mapping[IssueKind, int]  # every occurrence, per kind
    missing_fields: Mapping[str, int]  # merge field -> recipients lacking it
    smtputf8_recipients: int
    smtputf8_examples: tuple[str, ...]
    largest_message_bytes: int
    largest_message_email: str | None
    largest_message_line: int | None
    max_message_bytes: int
    max_examples: int = DEFAULT_MAX_EXAMPLES
    # For the plan and the confirmation (in bold): who gets every message besides the row's
    # recipient, and shared files taken from outside the template's folder.
    extra_recipients: tuple[LiteralRecipient, ...] = ()
    outside_attachments: tuple[OutsideAttachment, ...] = ()
    # Merge fields against the list, one entry per field (missing column, missing or empty in
    # some rows), for the grouped display.
    field_problems: tuple[FieldProblem, ...] = ()

    @property
    def ok(self) -> bool:
        """True when nothing would stop a message from being built and sent."""
        return not any(self.issue_counts.values())

    def of_kind(self, kind: IssueKind) -> tuple[PreflightIssue, ...]:
        """The kept examples of one kind."""
        return tuple(issue for issue in self.issues if issue.kind is kind)


@dataclass
class _Accumulator:
    """The only state a pre-flight keeps: counts and a few examples of each kind."""

    max_examples: int
    issues: list[PreflightIssue] = field(default_factory=list)
    counts: dict[IssueKind, int] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)
    utf8_count: int = 0
    utf8_examples: list[str] = field(default_factory=list)
    largest: int = 0
    largest_email: str | None = None
    largest_line: int | None = None
    extra_recipients: tuple[LiteralRecipient, ...] = ()
    outside_attachments: tuple[OutsideAttachment, ...] = ()
    field_scan: FieldScan | None = None

    def add(self, error: MergeError) -> None:
        count = self.counts.get(error.kind, 0)
        self.counts[error.kind] = count + 1
        for name in error.fields:
            if name in self.missing or len(self.missing) < _MAX_FIELD_NAMES:
                self.missing[name] = self.missing.get(name, 0) + 1
        if count < self.max_examples:
            self.issues.append(
                PreflightIssue(
                    kind=error.kind,
                    message=error.message,
                    part=error.part,
                    fields=error.fields,
                    line=error.line,
                    email=error.email,
                    template_line=error.template_line,
                    path=error.path,
                )
            )

    def measured(self, recipient: Recipient, size: int, smtputf8: bool) -> None:
        if smtputf8:
            self.utf8_count += 1
            if len(self.utf8_examples) < self.max_examples:
                self.utf8_examples.append(recipient.email)
        if size > self.largest:
            self.largest = size
            self.largest_email = recipient.email
            self.largest_line = recipient.line or None

    def report(self, recipients: int, with_errors: int, limit: int) -> PreflightReport:
        return PreflightReport(
            extra_recipients=self.extra_recipients,
            outside_attachments=self.outside_attachments,
            recipients=recipients,
            recipients_with_errors=with_errors,
            issues=tuple(self.issues),
            issue_counts=MappingProxyType(dict(self.counts)),
            missing_fields=MappingProxyType(dict(self.missing)),
            smtputf8_recipients=self.utf8_count,
            smtputf8_examples=tuple(self.utf8_examples),
            largest_message_bytes=self.largest,
            largest_message_email=self.largest_email,
            largest_message_line=self.largest_line,
            max_message_bytes=limit,
            max_examples=self.max_examples,
            field_problems=(
                self.field_scan.problems(self.missing) if self.field_scan is not None else ()
            ),
        )


def _check_one(
    recipient: Recipient,
    compiled: CompiledTemplate,
    builder: MessageBuilder,
    base: Path,
    limit: int,
    acc: _Accumulator,
) -> list[MergeError]:
    """Render and measure one recipient's message; its problems."""
    problems: list[MergeError] = []
    rendered = compiled.render_collect(recipient, problems)
    if rendered is None:
        return problems
    try:
        extra = 0
        if rendered.attachment is not None:
            path = resolve_attachment(base, rendered.attachment, from_data=True)
            extra = attachment_part_size(path.name, file_size(path))
        size, smtputf8 = builder.measure(recipient, rendered)
    except MergeError as exc:
        problems.append(exc.for_recipient(recipient))
        return problems
    acc.measured(recipient, size + extra, smtputf8)
    if size + extra > limit:
        problems.append(
            MergeError(
                f"message is {size + extra:,} bytes, over the {limit:,}-byte limit",
                kind=IssueKind.TOO_LARGE,
            ).for_recipient(recipient)
        )
    return problems


def empty_parts(template: Template, *, allow_empty_subject: bool = False) -> list[MergeError]:
    """The template's empty subject (unless allowed) and empty body, as problems."""
    problems = []
    if not template.subject.strip() and not allow_empty_subject:
        problems.append(
            MergeError("the subject is empty", kind=IssueKind.EMPTY_PART, part="subject")
        )
    if not template.body.strip():
        problems.append(MergeError("the body is empty", kind=IssueKind.EMPTY_PART, part="body"))
    return problems


_PREFLIGHT_ACCOUNT = Account(host="localhost", port=587, sender="sender@example.com")


def preflight(
    template: Template,
    recipients: Iterable[Recipient],
    *,
    base_dir: Path | str,
    max_attachment_bytes: int,
    account: Account | None = None,
    campaign_id: str = "preflight",
    max_examples: int = DEFAULT_MAX_EXAMPLES,
    allow_empty_subject: bool = False,
) -> PreflightReport:
    """Render and build every message without sending; report what would go wrong.

    The report also lists what a person must see before sending: the addresses the
    template itself adds to every message (`extra_recipients`) and the shared files taken
    from outside the template's folder (`outside_attachments`).

    Streams `recipients` once and keeps only counts and capped examples, so memory stays flat
    for any number of recipients. `max_attachment_bytes` is compared with each message's total
    encoded size (attachments included); per-recipient attachments are measured with stat(),
    not read. `account` only changes the From header's few bytes in the size figures. An empty
    subject or body is a problem (an empty subject only unless `allow_empty_subject`).
    """
    base = Path(base_dir)
    acc = _Accumulator(max_examples)
    for error in empty_parts(template, allow_empty_subject=allow_empty_subject):
        acc.add(error)
    acc.extra_recipients = literal_recipients(to=template.to, cc=template.cc, bcc=template.bcc)
    acc.outside_attachments = attachments_outside(base, template.attachments)
    try:
        compiled = CompiledTemplate(template)
    except MergeError as exc:
        for error in compile_errors(exc):
            acc.add(error)
        counted = sum(1 for _ in recipients)
        return acc.report(counted, counted, max_attachment_bytes)

    shared_ok: list[str] = []
    for name in template.attachments:
        try:
            file_size(resolve_attachment(base, name, from_data=False))
        except MergeError as exc:
            acc.add(exc)
        else:
            shared_ok.append(name)
    shared_missing = len(shared_ok) != len(template.attachments)
    try:
        builder = MessageBuilder(
            account or _PREFLIGHT_ACCOUNT,
            replace(template, attachments=tuple(shared_ok)),
            campaign_id,
            base_dir=base,
            compiled=compiled,
        )
    except MergeError as exc:
        acc.add(exc)
        counted = sum(1 for _ in recipients)
        return acc.report(counted, counted, max_attachment_bytes)

    total = with_errors = 0
    acc.field_scan = FieldScan(fields_used(compiled))
    for recipient in recipients:
        total += 1
        acc.field_scan.add(recipient)
        problems = _check_one(recipient, compiled, builder, base, max_attachment_bytes, acc)
        if problems or shared_missing:
            with_errors += 1
        for problem in problems:
            acc.add(problem)
    return acc.report(total, with_errors, max_attachment_bytes)
