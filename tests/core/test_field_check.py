"""Merge fields against the list: one problem per field, whatever the number of recipients."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from core.field_check import FieldProblemKind, closest_column
from core.models import Recipient, Template
from core.preflight import preflight


def _people(n: int, **extra: str) -> list[Recipient]:
    return [
        Recipient(
            email=f"p{i}@example.com",
            fields=MappingProxyType({"email": f"p{i}@example.com", "company": "Acme", **extra}),
            line=i + 2,
        )
        for i in range(n)
    ]


def test_field_missing_from_the_columns_is_one_problem_for_any_number_of_rows(
    tmp_path: Path,
) -> None:
    template = Template(subject="For {{ city }}", body="Hello {{ city }} and {{ compnay }}")
    report = preflight(template, _people(5_000), base_dir=tmp_path, max_attachment_bytes=10**6)
    assert not report.ok and report.recipients_with_errors == 5_000
    by_name = {p.name: p for p in report.field_problems}
    assert set(by_name) == {"city", "compnay"}
    city = by_name["city"]
    assert city.kind is FieldProblemKind.NOT_A_COLUMN and city.blocking
    assert city.parts == ("subject", "body") and city.rows == 5_000
    assert city.text == (
        "merge field `city` (used in subject, body) is not a column of the list; its columns "
        "are email, company"
    )
    assert by_name["compnay"].text.endswith("did you mean `company`?")


def test_field_empty_in_some_rows_says_how_many_and_the_first_lines(tmp_path: Path) -> None:
    people = _people(10)
    people[3] = Recipient(email="e@example.com", fields={"company": " "}, line=5)
    people[7] = Recipient(email="f@example.com", fields={"company": ""}, line=9)
    report = preflight(
        Template(subject="Hi {{ company }}", body="x"),
        people,
        base_dir=tmp_path,
        max_attachment_bytes=10**6,
    )
    assert report.ok  # a blank value still builds: a warning
    (problem,) = report.field_problems
    assert problem.kind is FieldProblemKind.EMPTY_IN_ROWS and not problem.blocking
    assert problem.text == (
        "merge field `company` (used in subject) is empty in 2 of 10 rows: "
        "line 5 (e@example.com), line 9 (f@example.com)"
    )


def test_field_missing_in_some_rows_lists_the_first_few_and_how_many_more(
    tmp_path: Path,
) -> None:
    people = [
        Recipient(email=f"x{i}@example.com", fields={"city": "Rome"} if i % 2 else {}, line=i)
        for i in range(1, 21)
    ]
    report = preflight(
        Template(subject="s", body="{{ city }}"),
        people,
        base_dir=tmp_path,
        max_attachment_bytes=10**6,
    )
    (problem,) = report.field_problems
    assert problem.kind is FieldProblemKind.MISSING_IN_ROWS and problem.rows == 10
    assert problem.text.endswith("line 10 (x10@example.com) and 5 more")


def test_default_filter_makes_a_field_optional_so_no_problem_is_reported(tmp_path: Path) -> None:
    report = preflight(
        Template(subject="s", body="{{ city | default('there') }}"),
        _people(3),
        base_dir=tmp_path,
        max_attachment_bytes=10**6,
    )
    assert report.ok and report.field_problems == ()


def test_closest_column_prefers_the_same_name_in_another_case() -> None:
    assert closest_column("Company", ("email", "company")) == "company"
    assert closest_column("zzz", ("email", "company")) is None
