"""Send later from the CLI: `send --at` against a real server, `run-due`, late, changed, killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import pytest

from core.events import CampaignStatus
from main import main
from storage.journal import JournalStore
from storage.journal.scheduling import claim, reschedule, scheduled_campaigns, start_time
from tests.conftest import Start
from tests.smtpd import USER, ServerHandle
from tests.ui.test_cli import files, send_args  # noqa: F401 - `files` is a fixture
from tests.ui.test_ctrl_c import ROOT, wait_for

AHEAD = 3.0  # seconds: the real scheduled start


def _iso(seconds_from_now: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds_from_now)).isoformat()


def _received(handle: ServerHandle) -> list[str]:
    return sorted(to for message in handle.recorder.messages for to in message.rcpt_tos)


def _only_campaign(home: Path) -> str:
    store = JournalStore(home / "journal.sqlite3")
    try:
        (row,) = store.conn.execute("SELECT id FROM campaigns").fetchall()
        return str(row[0])
    finally:
        store.close()


def _status(home: Path, campaign_id: str) -> tuple[CampaignStatus, str]:
    store = JournalStore(home / "journal.sqlite3")
    try:
        record = store.campaign(campaign_id)
        return record.status, record.reason
    finally:
        store.close()


def _move_start(home: Path, campaign_id: str, seconds_from_now: float) -> None:
    store = JournalStore(home / "journal.sqlite3")
    try:
        assert reschedule(store, campaign_id, start_at=time.time() + seconds_from_now)
    finally:
        store.close()


def test_send_at_waits_for_its_time_then_sends_to_a_real_server(
    servers: Start,
    files: tuple[Path, Path],  # noqa: F811
    data_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handle = servers("plain")
    database, template = files
    asked_at = time.time()
    code = main([*send_args(handle, database, template), "--at", _iso(AHEAD)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "scheduled for" in out and "Starts " in out
    assert _received(handle) == ["bob@bobdomain.com", "myself@mydomain.com"]
    campaign = _only_campaign(data_home)
    assert _status(data_home, campaign)[0] is CampaignStatus.FINISHED
    assert time.time() - asked_at >= AHEAD - 0.5  # it did wait for the time


def test_run_due_starts_only_what_is_due(
    servers: Start,
    files: tuple[Path, Path],  # noqa: F811
    data_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handle = servers("plain")
    database, template = files
    argv = [*send_args(handle, database, template), "--at", _iso(3600), "--no-wait"]
    assert main(argv) == 0
    campaign = _only_campaign(data_home)
    assert _status(data_home, campaign)[0] is CampaignStatus.SCHEDULED
    assert main(["run-due"]) == 0
    assert "Nothing is due" in capsys.readouterr().out
    assert handle.recorder.messages == []
    _move_start(data_home, campaign, -5)
    assert main(["run-due"]) == 0
    assert len(_received(handle)) == 2
    assert main(["run-due"]) == 0  # nothing twice
    assert len(_received(handle)) == 2


def test_run_due_skips_a_campaign_more_than_an_hour_late_unless_late_ok(
    servers: Start,
    files: tuple[Path, Path],  # noqa: F811
    data_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handle = servers("plain")
    database, template = files
    assert main([*send_args(handle, database, template), "--at", _iso(60), "--no-wait"]) == 0
    campaign = _only_campaign(data_home)
    _move_start(data_home, campaign, -2 * 3600)
    capsys.readouterr()
    assert main(["run-due"]) == 1
    assert "late: skipped" in capsys.readouterr().err
    assert _status(data_home, campaign)[0] is CampaignStatus.SCHEDULED
    assert main(["run-due", "--late-ok"]) == 0
    assert len(_received(handle)) == 2


def test_a_campaign_claimed_elsewhere_is_already_running_for_the_waiting_cli(
    servers: Start,
    files: tuple[Path, Path],  # noqa: F811
    data_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handle = servers("plain")
    database, template = files
    assert main([*send_args(handle, database, template), "--at", _iso(60), "--no-wait"]) == 0
    campaign = _only_campaign(data_home)
    store = JournalStore(data_home / "journal.sqlite3")
    claim(store, campaign)  # the app took it
    store.close()
    assert main(["run-due"]) == 0
    assert handle.recorder.messages == []


def test_changed_attachment_aborts_the_start_with_the_reason(
    servers: Start,
    tmp_path: Path,
    data_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handle = servers("plain")
    attachment = tmp_path / "price-list.txt"
    attachment.write_text("prices v1", encoding="utf-8")
    template = tmp_path / "template.txt"
    template.write_text(
        "TO: {{email}}\nSUBJECT: Prices\nFROM: me@example.com\nATTACHMENT: price-list.txt\n\n"
        "Hello\n",
        encoding="utf-8",
    )
    database = tmp_path / "list.csv"
    database.write_text("email\na@example.com\n", encoding="utf-8")
    assert main([*send_args(handle, database, template), "--at", _iso(60), "--no-wait"]) == 0
    campaign = _only_campaign(data_home)
    attachment.write_text("prices v2", encoding="utf-8")
    _move_start(data_home, campaign, -1)
    capsys.readouterr()
    assert main(["run-due"]) == 1
    assert "attachment files changed" in capsys.readouterr().err
    status, reason = _status(data_home, campaign)
    assert status is CampaignStatus.ABORTED and "attachment" in reason
    assert handle.recorder.messages == []
    assert main(["resume", campaign, "--accept-changes"]) == 0  # resumable, by choice
    assert len(handle.recorder.messages) == 1


def test_scheduling_refuses_a_login_nobody_could_give_unattended(
    servers: Start,
    files: tuple[Path, Path],  # noqa: F811
    data_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handle = servers("plain")
    database, template = files
    monkeypatch.setenv("BULKMAILER_SMTP_PASSWORD", "typed-for-this-run")
    argv = [*send_args(handle, database, template), "--user", USER, "--at", _iso(600)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "remembered password" in err and "sign in" in err
    store = JournalStore(data_home / "journal.sqlite3")
    assert store.conn.execute("SELECT count(*) FROM campaigns").fetchone()[0] == 0
    store.close()


def test_a_start_time_in_the_dst_gap_is_refused(
    servers: Start,
    files: tuple[Path, Path],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    handle = servers("plain")
    database, template = files
    argv = [*send_args(handle, database, template), "--at", "2027-03-28 02:30"]
    assert main([*argv, "--zone", "Europe/Berlin"]) == 2
    assert "does not exist in Europe/Berlin" in capsys.readouterr().err


def test_batches_and_window_are_shown_in_the_plan(
    servers: Start,
    files: tuple[Path, Path],  # noqa: F811
    data_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handle = servers("plain")
    database, template = files
    argv = [
        *send_args(handle, database, template),
        *("--at", "2030-12-24 09:00", "--zone", "Europe/Berlin", "--no-wait"),
        *("--batch-size", "1", "--batch-pause", "30m", "--window", "09:00-17:00"),
        *("--days", "mon-fri"),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Starts 2030-12-24 09:00 CET (+01:00, Europe/Berlin)" in out
    assert "batch 2: 1 messages, 2030-12-24 09:30" in out
    assert "Sends only within 09:00-17:00 mon,tue,wed,thu,fri (Europe/Berlin)" in out
    campaign = _only_campaign(data_home)
    store = JournalStore(data_home / "journal.sqlite3")
    settings = store.campaign(campaign).settings
    assert (settings.batch_size, settings.batch_pause) == (1, 1800.0)
    assert settings.window is not None and settings.window.zone == "Europe/Berlin"
    assert start_time(store, campaign) == (
        datetime(2030, 12, 24, 8, 0, tzinfo=UTC).timestamp(),
        "Europe/Berlin",
    )
    store.close()


def _app(home: Path) -> subprocess.Popen[str]:
    """The app, headless; its stderr goes to a file so a full pipe can never stall it."""
    with (home.parent / "app-stderr.log").open("a", encoding="utf-8") as log:
        return _cli(home, "--no-browser", stderr=log)  # the child keeps its own copy


def _cli(home: Path, *args: str, stderr: IO[str] | int = subprocess.PIPE) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NICEGUI_"))}
    env.update(BULKMAILER_HOME=str(home), PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "main.py", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


@pytest.mark.slow
def test_a_killed_waiting_cli_leaves_it_scheduled_and_run_due_starts_it_when_due(
    servers: Start,
    files: tuple[Path, Path],  # noqa: F811
    data_home: Path,
) -> None:
    handle = servers("plain")
    database, template = files
    waiting = _cli(data_home, *send_args(handle, database, template), "--at", _iso(8))
    wait_for(waiting, "scheduled for")
    waiting.send_signal(signal.SIGKILL)
    waiting.communicate(timeout=30)
    campaign = _only_campaign(data_home)
    assert _status(data_home, campaign)[0] is CampaignStatus.SCHEDULED
    store = JournalStore(data_home / "journal.sqlite3")
    assert [c.id for c in scheduled_campaigns(store)] == [campaign]
    when = start_time(store, campaign)
    store.close()
    assert when is not None
    time.sleep(max(0.0, when[0] - time.time()) + 0.2)
    racers = [_cli(data_home, "run-due") for _ in range(2)]  # cron and a second timer at once
    results = [racer.communicate(timeout=120) for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0], results
    assert _received(handle) == ["bob@bobdomain.com", "myself@mydomain.com"]  # once each
    assert _status(data_home, campaign)[0] is CampaignStatus.FINISHED


@pytest.mark.slow
def test_a_killed_app_restarted_starts_the_scheduled_campaign_when_due(
    servers: Start,
    files: tuple[Path, Path],  # noqa: F811
    data_home: Path,
) -> None:
    handle = servers("plain")
    database, template = files
    assert main([*send_args(handle, database, template), "--at", _iso(20), "--no-wait"]) == 0
    campaign = _only_campaign(data_home)
    app = _app(data_home)
    wait_for(app, "is running at http")
    app.send_signal(signal.SIGKILL)
    app.communicate(timeout=30)
    assert _status(data_home, campaign)[0] is CampaignStatus.SCHEDULED
    assert handle.recorder.messages == []
    app = _app(data_home)  # opened again, and no page is open
    try:
        wait_for(app, "is running at http")
        deadline = time.monotonic() + 90
        while len(_received(handle)) < 2 or _status(data_home, campaign)[0] is not (
            CampaignStatus.FINISHED
        ):
            assert time.monotonic() < deadline, _status(data_home, campaign)
            time.sleep(0.2)
    finally:
        app.send_signal(signal.SIGINT)
        app.communicate(timeout=60)
    assert _received(handle) == ["bob@bobdomain.com", "myself@mydomain.com"]
    store = JournalStore(data_home / "journal.sqlite3")
    when = start_time(store, campaign)
    first_sent = store.conn.execute(
        "SELECT min(at) FROM attempts WHERE campaign_id=? AND event='sent'", (campaign,)
    ).fetchone()[0]
    store.close()
    assert when is not None and first_sent >= when[0]  # not before its time


def test_send_in_batches_pauses_between_them(
    servers: Start,
    files: tuple[Path, Path],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    handle = servers("plain")
    database, template = files
    began = time.monotonic()
    argv = [*send_args(handle, database, template), "--batch-size", "1", "--batch-pause", "2s"]
    assert main(argv) == 0
    assert time.monotonic() - began >= 2.0
    out = capsys.readouterr()
    assert "2 batches of up to 1, 2 s apart" in out.out
    assert "batch of 1 sent" in out.out + out.err
    assert _received(handle) == ["bob@bobdomain.com", "myself@mydomain.com"]
