"""A CSV list streamed from a private spill: the same recipients on every pass, none held."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import InputError
from core.recipients import parse_bytes
from core.recipients.source import Excluding, FileRecipients, Limited, first_recipient

CSV = (
    "email,name,city\n"
    "ann@example.com,Ann,Oslo\n"
    "not-an-address,Bad,Rome\n"
    "ANN@example.com,Ann again,Bergen\n"
    "bob@example.org,Bob,Paris\n"
)


def test_a_streamed_file_gives_what_the_whole_file_parse_gives(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(CSV, encoding="utf-8")
    streamed = FileRecipients(path)
    whole = parse_bytes(CSV.encode(), filename="people.csv")
    assert list(streamed) == list(whole.recipients)
    assert list(streamed) == list(whole.recipients)  # a second pass, the same
    assert len(streamed) == 2 and streamed.report.count == 2
    assert streamed.report.recipients == ()  # nothing kept in the report itself
    assert streamed.report.rejected == whole.rejected
    assert streamed.report.duplicates == whole.duplicates
    assert streamed.report.summary() == whole.summary()
    assert streamed.report.columns == ("email", "name", "city")


def test_passes_may_interleave_and_the_source_composes(tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    rows = "".join(f"p{n:05d}@example.com,P{n}\n" for n in range(5_000))
    path.write_text("email,name\n" + rows, encoding="utf-8")
    streamed = FileRecipients(path)
    pairs = list(zip(streamed, streamed, strict=True))  # two passes at once
    assert all(a == b for a, b in pairs) and len(pairs) == 5_000
    assert [r.line for r in Limited(streamed, 3)] == [2, 3, 4]
    assert len(Limited(streamed, 3)) == 3
    first = first_recipient(streamed)
    assert first is not None and first.email == "p00000@example.com"
    rest = Excluding(streamed, frozenset({"p00000@example.com", "p00001@example.com"}))
    assert len(rest) == 4_998
    streamed.close()


def test_bad_input_is_named_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_text('email,name\n"ann@example.com,Ann\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"broken\.csv"):
        FileRecipients(path)
    with pytest.raises(InputError, match="only CSV and TSV"):
        FileRecipients(tmp_path / "people.xlsx")
