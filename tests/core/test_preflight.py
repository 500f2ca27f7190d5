"""The pre-flight report: every recipient rendered and built without sending, memory flat."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType

import pytest

from core.errors import IssueKind
from core.models import Account, Recipient, Template
from core.preflight import preflight


def person(email: str = "jane@example.com", line: int = 2, **fields: str) -> Recipient:
    values = {"first_name": "Jane", "company": "ACME", "city": "Zürich", **fields}
    return Recipient(email=email, fields=MappingProxyType(values), line=line, source="list.csv")


def test_preflight_of_good_campaign_is_ok(tmp_path: Path) -> None:
    template = Template(subject="Hi {{ first_name }}", body="Hello {{ city }}")
    report = preflight(
        template,
        [person(), person(email="b@example.com", line=3)],
        base_dir=tmp_path,
        max_attachment_bytes=10_000,
    )
    assert report.ok
    assert report.recipients == 2
    assert report.recipients_with_errors == 0
    assert 0 < report.largest_message_bytes < 10_000
    assert report.largest_message_email in {"jane@example.com", "b@example.com"}


def test_preflight_reports_missing_fields_with_line_and_email(tmp_path: Path) -> None:
    template = Template(subject="Hi {{ first_name }}", body="{{ coupon }} in {{ city }}")
    recipients = [
        person(line=2, coupon="A1"),
        Recipient(email="x@example.com", fields=MappingProxyType({"city": "Oslo"}), line=3),
        Recipient(email="y@example.com", fields=MappingProxyType({}), line=4),
    ]
    report = preflight(template, recipients, base_dir=tmp_path, max_attachment_bytes=10**6)
    assert not report.ok
    assert report.recipients_with_errors == 2
    assert dict(report.missing_fields) == {"first_name": 2, "coupon": 2, "city": 1}
    issues = report.of_kind(IssueKind.MISSING_FIELD)
    assert [(i.line, i.email) for i in issues] == [(3, "x@example.com"), (4, "y@example.com")]
    assert set(issues[1].fields) == {"first_name", "coupon", "city"}


def test_preflight_reports_syntax_errors_with_template_line(tmp_path: Path) -> None:
    template = Template(subject="ok", body="line 1\n{{ broken \n")
    report = preflight(template, [person()], base_dir=tmp_path, max_attachment_bytes=10**6)
    [issue] = report.of_kind(IssueKind.SYNTAX_ERROR)
    assert issue.part == "body"
    assert issue.template_line is not None and issue.template_line >= 2
    assert report.recipients == 1


def test_preflight_reports_attachment_problems(tmp_path: Path) -> None:
    (tmp_path / "shared.pdf").write_bytes(b"%PDF shared")
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "1.pdf").write_bytes(b"%PDF one")
    template = Template(
        subject="s",
        body="b",
        attachments=("shared.pdf", "gone.pdf"),
        recipient_attachment="inv/{{ invoice }}.pdf",
    )
    recipients = [
        person(line=2, invoice="1"),
        person(email="b@example.com", line=3, invoice="2"),
        person(email="c@example.com", line=4, invoice="../../etc/passwd"),
    ]
    report = preflight(template, recipients, base_dir=tmp_path, max_attachment_bytes=10**6)
    missing = report.of_kind(IssueKind.MISSING_ATTACHMENT)
    assert missing[0].path is not None and missing[0].path.endswith("gone.pdf")
    assert missing[0].line is None  # shared: not about one recipient
    assert (missing[1].line, missing[1].email) == (3, "b@example.com")
    [unsafe] = report.of_kind(IssueKind.UNSAFE_PATH)
    assert (unsafe.line, unsafe.email) == (4, "c@example.com")
    assert report.recipients_with_errors == 3  # a missing shared file fails everyone


def test_preflight_compares_largest_message_with_the_limit(tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(b"\0" * 30_000)
    (tmp_path / "small.bin").write_bytes(b"\0" * 3_000)
    template = Template(subject="s", body="b", recipient_attachment="{{ file }}")
    recipients = [
        person(line=2, file="big.bin"),
        person(email="small@example.com", line=3, file="small.bin"),
    ]
    report = preflight(template, recipients, base_dir=tmp_path, max_attachment_bytes=20_000)
    assert report.largest_message_bytes > 40_000  # base64 grows 30 kB to 40 kB
    assert report.largest_message_line == 2
    [issue] = report.of_kind(IssueKind.TOO_LARGE)
    assert (issue.line, issue.email) == (2, "jane@example.com")


def test_preflight_counts_smtputf8_recipients_and_header_injection(tmp_path: Path) -> None:
    template = Template(subject="Hi {{ first_name }}", body="b")
    recipients = [
        Recipient(
            email="jöran@example.com",
            fields=MappingProxyType({"first_name": "Jöran"}),
            line=2,
            needs_smtputf8=True,
        ),
        person(email="evil@example.com", line=3, first_name="x\r\nBcc: all@example.com"),
    ]
    report = preflight(template, recipients, base_dir=tmp_path, max_attachment_bytes=10**6)
    assert report.smtputf8_recipients == 1
    assert report.smtputf8_examples == ("jöran@example.com",)
    [issue] = report.of_kind(IssueKind.HEADER_INJECTION)
    assert (issue.line, issue.email, issue.part) == (3, "evil@example.com", "subject")


def test_preflight_reports_invalid_rendered_addresses(tmp_path: Path) -> None:
    template = Template(subject="s", body="b", cc=("{{ boss }}",))
    recipients = [person(boss="boss@example.com"), person(email="b@example.com", boss="nope")]
    report = preflight(template, recipients, base_dir=tmp_path, max_attachment_bytes=10**6)
    [issue] = report.of_kind(IssueKind.INVALID_ADDRESS)
    assert issue.email == "b@example.com"


def _many(count: int) -> Iterator[Recipient]:
    for n in range(count):
        fields = {"first_name": f"P{n}"} if n % 2 else {}  # every other row lacks the field
        yield Recipient(email=f"p{n}@example.com", fields=MappingProxyType(fields), line=n + 2)


@pytest.mark.slow
def test_preflight_streams_100k_recipients_keeping_only_capped_examples(tmp_path: Path) -> None:
    template = Template(subject="Hi {{ first_name }}", body="Hello {{ first_name }}!")
    report = preflight(template, _many(100_000), base_dir=tmp_path, max_attachment_bytes=10**6)
    assert report.recipients == 100_000
    assert report.recipients_with_errors == 50_000
    assert report.issue_counts[IssueKind.MISSING_FIELD] == 50_000
    assert dict(report.missing_fields) == {"first_name": 50_000}
    assert len(report.issues) == report.max_examples
    assert report.issues[-1].line == 2 * report.max_examples  # the first ones, in order


def _peak_bytes(count: int, base_dir: Path) -> int:
    template = Template(subject="Hi {{ first_name }}", body="Hello {{ first_name }}!")
    tracemalloc.start()
    try:
        preflight(template, _many(count), base_dir=base_dir, max_attachment_bytes=10**6)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_preflight_memory_does_not_grow_with_recipients(tmp_path: Path) -> None:
    _peak_bytes(100, tmp_path)  # imports and first-use caches out of the way
    small = _peak_bytes(1_000, tmp_path)
    large = _peak_bytes(10_000, tmp_path)
    # Keeping anything per recipient would cost hundreds of bytes each; a flat peak costs ~0.
    assert (large - small) / 9_000 < 64


def test_preflight_uses_the_given_account_for_size(tmp_path: Path) -> None:
    template = Template(subject="s", body="b")
    account = Account(host="h", port=587, sender="a-much-longer-sender-name@example.org")
    short = preflight(template, [person()], base_dir=tmp_path, max_attachment_bytes=10**6)
    longer = preflight(
        template, [person()], base_dir=tmp_path, max_attachment_bytes=10**6, account=account
    )
    assert longer.largest_message_bytes > short.largest_message_bytes


def test_an_empty_subject_or_body_is_a_problem() -> None:
    from core.errors import IssueKind
    from core.models import Recipient, Template
    from core.preflight import preflight

    people = [Recipient("ann@example.com", line=2)]
    empty_subject = preflight(
        Template(subject="  ", body="Hi"), people, base_dir=".", max_attachment_bytes=10**7
    )
    assert not empty_subject.ok
    assert [i.part for i in empty_subject.of_kind(IssueKind.EMPTY_PART)] == ["subject"]
    allowed = preflight(
        Template(subject="", body="Hi"),
        people,
        base_dir=".",
        max_attachment_bytes=10**7,
        allow_empty_subject=True,
    )
    assert allowed.ok
    empty_body = preflight(
        Template(subject="Hello", body="\n"),
        people,
        base_dir=".",
        max_attachment_bytes=10**7,
        allow_empty_subject=True,
    )
    assert [i.part for i in empty_body.of_kind(IssueKind.EMPTY_PART)] == ["body"]
