"""Sending the same message to the same people again needs an explicit choice on the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from main import main
from tests.conftest import Start
from tests.ui.test_cli import plain_args

TEMPLATE = "TO: {{email}}\nFROM: shop@example.com\nSUBJECT: Sale for {{name}}\n\nHi {{name}}.\n"


def _send(handle: object, people: Path, template: Path, *extra: str) -> list[str]:
    base = ["send", "--recipients", str(people), "--template", str(template)]
    return [*base, *plain_args(handle), "--delay-ms", "0", *extra]  # type: ignore[arg-type]


def test_a_finished_campaign_is_not_sent_again_without_a_choice(
    servers: Start, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handle = servers("plain", auth=False)
    template = tmp_path / "sale.txt"
    template.write_text(TEMPLATE, encoding="utf-8")
    first = tmp_path / "first.csv"
    first.write_text("email,name\nann@example.com,Ann\nbob@example.com,Bob\n", encoding="utf-8")
    assert main(_send(handle, first, template, "--yes")) == 0
    capsys.readouterr()

    # The same list again, finished or not: refused without a terminal.
    assert main(_send(handle, first, template, "--yes")) == 2
    err = capsys.readouterr().err
    assert "2 of these 2 recipients already got this message" in err
    assert "--new" in err and "--only-new" in err
    assert handle.recorder.recipients() == ["ann@example.com", "bob@example.com"]

    # A longer list whose old addresses differ in letter case: only the new one is sent.
    second = tmp_path / "second.csv"
    second.write_text(
        "email,name\nANN@EXAMPLE.COM,Ann\ncid@example.com,Cid\nBob@Example.com,Bob\n",
        encoding="utf-8",
    )
    assert main(_send(handle, second, template, "--yes", "--only-new")) == 0
    assert handle.recorder.recipients() == ["ann@example.com", "bob@example.com", "cid@example.com"]

    # Everyone again is a person's explicit choice.
    assert main(_send(handle, first, template, "--yes", "--new")) == 0
    assert handle.recorder.recipients().count("ann@example.com") == 2


def test_a_different_message_to_the_same_people_is_no_twin(servers: Start, tmp_path: Path) -> None:
    handle = servers("plain", auth=False)
    people = tmp_path / "people.csv"
    people.write_text("email,name\nann@example.com,Ann\n", encoding="utf-8")
    sale = tmp_path / "sale.txt"
    sale.write_text(TEMPLATE, encoding="utf-8")
    news = tmp_path / "news.txt"
    news.write_text(TEMPLATE.replace("Sale", "News"), encoding="utf-8")
    assert main(_send(handle, people, sale, "--yes")) == 0
    assert main(_send(handle, people, news, "--yes")) == 0
    assert handle.recorder.recipients() == ["ann@example.com", "ann@example.com"]


def test_an_empty_subject_is_a_problem_unless_allowed(
    servers: Start, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handle = servers("plain", auth=False)
    people = tmp_path / "people.csv"
    people.write_text("email,name\nann@example.com,Ann\n", encoding="utf-8")
    template = tmp_path / "no-subject.txt"
    template.write_text(
        "TO: {{email}}\nFROM: shop@example.com\nSUBJECT:\n\nHi {{name}}.\n", encoding="utf-8"
    )
    assert main(_send(handle, people, template, "--yes")) == 2
    err = capsys.readouterr().err
    assert "the subject is empty" in err and "--allow-empty-subject" in err
    assert handle.recorder.recipients() == []
    assert main(_send(handle, people, template, "--yes", "--allow-empty-subject")) == 0
    assert handle.recorder.recipients() == ["ann@example.com"]
