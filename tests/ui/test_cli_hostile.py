"""The CLI's pre-flight on hostile lists: each bad row is a reported problem, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from main import main

TEMPLATE = """TO: {{ name }} <{{ email }}>
CC: {{ cc }}
SUBJECT: Hello
FROM: News <news@example.com>

Hi {{ name }}.
"""
OFFLINE = ["--host", "127.0.0.1", "--port", "9", "--security", "none"]


def send(tmp_path: Path, rows: str) -> list[str]:
    (tmp_path / "t.txt").write_text(TEMPLATE, encoding="utf-8")
    (tmp_path / "r.csv").write_text("email,name,cc\n" + rows, encoding="utf-8")
    args = ["send", "--recipients", str(tmp_path / "r.csv"), "--template", str(tmp_path / "t.txt")]
    return [*args, *OFFLINE, "--dry-run"]


def test_names_that_crashed_the_parser_are_quoted_in_a_dry_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = 'a@example.com,.,\nb@example.com, .,\nc@example.com,"Bob: victim@evil.com;",\n'
    assert main(send(tmp_path, rows)) == 0
    out = capsys.readouterr().out
    assert "Dry run: 3 messages" in out
    assert 'To: "." <a@example.com>' in out
    assert "victim" not in out.replace('"Bob: victim@evil.com;"', "")


def test_rows_the_parser_cannot_build_are_listed_and_the_cli_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = (
        'a@example.com,Ann,". <x@y.com>"\n'
        'b@example.com,Bob,"Bob: victim@evil.com; <x@y.com>"\n'
        'c@example.com,Cat,"one@example.com, two@example.com"\n'
        "d@example.com,Dee,ok@example.com\n"
    )
    assert main(send(tmp_path, rows)) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    for line in (2, 3, 4):
        assert f"line {line}" in captured.err
    assert "line 5" not in captured.err
