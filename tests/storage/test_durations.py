"""Each message's duration, from the journal: shown, exported, and the slowest summed up."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from main import main
from storage.journal import JournalStore
from storage.journal.durations import _last_durations, format_seconds
from storage.journal.history import export_csv
from tests.conftest import Start
from tests.ui.test_cli import files, send_args

__all__ = ["files"]  # the fixture, shared with test_cli

SERVER_DELAY = 0.15  # the test server waits this long before answering each final dot


def test_duration_is_the_last_answered_attempt_only() -> None:
    rows = [
        (1, 10.0, "intent"),
        (1, 10.1, "data"),
        (1, 10.5, "deferred"),  # first try: 0.5 s
        (1, 70.0, "intent"),
        (1, 70.1, "data"),
        (1, 71.25, "sent"),  # second try: 1.25 s, the one kept
        (2, 10.0, "intent"),
        (2, 10.1, "data"),
        (2, 20.0, "unknown"),  # the reply was lost: no duration
        (2, 30.0, "resolved-mark-sent"),
        (3, 5.0, "intent"),
        (3, 5.0, "retry"),
        (3, 9.0, "failed"),  # no intent of its own (a build failure): no duration
    ]
    assert _last_durations(rows) == {1: pytest.approx(1.25)}


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (0.0421, 1.254, 12.34)] == ["0.042 s", "1.25 s", "12.3 s"]
    assert format_seconds(None) == ""


def test_durations_are_exported_and_the_slowest_shown_by_status(
    servers: Start,
    files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    handle = servers("plain", auth=False)
    handle.recorder.data_delay = SERVER_DELAY
    database, template = files
    assert main(send_args(handle, database, template, "--verbose")) == 0
    out = capsys.readouterr().out
    assert "accepted by server in " in out  # the log line says how long it took
    campaign_id = out.split("Campaign ")[1].split()[0]

    store = JournalStore()
    try:
        buffer = io.StringIO()
        export_csv(store, campaign_id, buffer)
    finally:
        store.close()
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert [row["email"] for row in rows] == ["myself@mydomain.com", "bob@bobdomain.com"]
    for row in rows:
        assert float(row["seconds"]) >= SERVER_DELAY  # the server's wait is inside it

    assert main(["status", campaign_id]) == 0
    status = capsys.readouterr().out
    assert "Slowest replies:" in status
    slow = status.split("Slowest replies:")[1]
    assert "myself@mydomain.com" in slow and "bob@bobdomain.com" in slow
    assert slow.count("(sent) OK: queued") == 2
