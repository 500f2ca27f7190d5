"""`suppress` and `send` with the list; `send --check`, the spam check before sending."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from main import main
from storage.journal import JournalStore
from storage.journal.history import list_campaigns, skipped_reasons
from tests.conftest import Start
from tests.ui.test_cli import files, send_args

__all__ = ["files"]  # the pytest fixture used below


def test_add_list_remove_round_trip(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["suppress", "add", "Ann@Example.com", "--reason", "unsubscribed"]) == 0
    assert main(["suppress", "add", "ann@example.COM"]) == 0
    assert "already on the list" in capsys.readouterr().out
    assert main(["suppress", "list"]) == 0
    out = capsys.readouterr().out
    assert "unsubscribed" in out and "Ann@Example.com" in out and "1 addresses" in out
    assert main(["suppress", "remove", "ann@example.com"]) == 0
    assert main(["suppress", "remove", "ann@example.com"]) == 1
    assert main(["suppress", "list"]) == 0
    assert "empty" in capsys.readouterr().out


def test_add_refuses_a_bad_address_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["suppress", "add", "nope", "ok@example.com"]) == 1
    captured = capsys.readouterr()
    assert "'nope'" in captured.err
    assert "ok@example.com: added" in captured.out


def test_import_a_csv_reports_rejected_lines_then_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bounces.csv"
    source.write_text("email,reason\na@example.com,bounced\nbroken,\nb@example.com,\n")
    assert main(["suppress", "import", str(source), "--reason", "complained"]) == 1
    captured = capsys.readouterr()
    assert "2 added" in captured.out
    assert "line 3" in captured.err
    out = tmp_path / "list.csv"
    assert main(["suppress", "export", "--out", str(out)]) == 0
    rows = {row["email"]: row["reason"] for row in csv.DictReader(out.open(encoding="utf-8"))}
    assert rows == {"a@example.com": "bounced", "b@example.com": "complained"}


def test_import_pasted_addresses_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a@example.com\nb@example.com; c@example.com\n"))
    assert main(["suppress", "import", "-", "--reason", "unsubscribed"]) == 0
    assert "3 added" in capsys.readouterr().out


def test_send_skips_a_suppressed_recipient_and_says_so(
    servers: Start, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    handle = servers("plain", auth=False)
    database, template = files
    assert main(["suppress", "add", "BOB@bobdomain.com", "--reason", "unsubscribed"]) == 0
    code = main(send_args(handle, database, template))
    out = capsys.readouterr().out
    assert code == 0, out
    assert [m.rcpt_tos for m in handle.recorder.messages] == [["myself@mydomain.com"]]
    assert "1 on the suppression list (1 unsubscribed): they will be skipped" in out
    assert "1 skipped (suppression list)" in out
    store = JournalStore()
    try:
        (campaign,) = list_campaigns(store)
        assert campaign.counts.skipped == 1
        assert skipped_reasons(store, campaign.id) == {"on the suppression list (unsubscribed)": 1}
    finally:
        store.close()
    assert main(["status", campaign.id]) == 0
    assert "skipped 1: on the suppression list (unsubscribed)" in capsys.readouterr().out


def test_send_check_scores_the_first_message_and_only_warns(
    servers: Start, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    handle = servers("plain", auth=False)
    database, template = files
    assert main(send_args(handle, database, template, "--check", "--dry-run", fast=False)) == 0
    out = capsys.readouterr().out
    assert "Spam check (" in out and "points" in out
    assert "Sender domain mydomain.com:" in out
    assert "Dry run: 2 messages" in out
    assert handle.recorder.connections == 0
