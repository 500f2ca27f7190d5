"""`run-due` logs in with nobody there: a saved password kept with the OS keyring."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.events import CampaignStatus
from main import main
from storage.journal import JournalStore
from storage.journal.scheduling import reschedule
from tests.certs import CertSet
from tests.conftest import Start
from tests.smtpd import PASSWORD, USER
from tests.storage.conftest import MemoryKeyring

TEMPLATE = "TO: {{email}}\nSUBJECT: Hello\nFROM: alice@example.com\n\nHi {{name}}\n"
PEOPLE = "email,name\nann@example.com,Ann\nbob@example.org,Bob\n"


def test_run_due_logs_in_with_the_keyring_kept_password_and_sends(
    servers: Start,
    certs: CertSet,
    tmp_path: Path,
    data_home: Path,
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handle = servers("starttls")
    account = [
        *("--host", "localhost", "--port", str(handle.port), "--security", "starttls"),
        *("--user", USER, "--from", USER, "--ca-file", str(certs.ca_file)),
    ]
    monkeypatch.setenv("BULKMAILER_SMTP_PASSWORD", PASSWORD)
    assert main(["account", "save", "work", *account, "--remember-password"]) == 0
    monkeypatch.delenv("BULKMAILER_SMTP_PASSWORD")  # from now on: nobody, no environment
    (tmp_path / "t.txt").write_text(TEMPLATE, encoding="utf-8")
    (tmp_path / "l.csv").write_text(PEOPLE, encoding="utf-8")
    files = ["--recipients", str(tmp_path / "l.csv"), "--template", str(tmp_path / "t.txt")]
    at = time.strftime("%Y-%m-%d %H:%M", time.localtime(time.time() + 7200))
    argv = ["send", *files, "--account", "work", "--yes", "--delay-ms", "0", "--at", at]
    assert main([*argv, "--no-wait"]) == 0, capsys.readouterr()
    store = JournalStore(data_home / "journal.sqlite3")
    (campaign,) = [row[0] for row in store.conn.execute("SELECT id FROM campaigns")]
    assert reschedule(store, campaign, start_at=time.time() - 1)
    assert main(["run-due"]) == 0, capsys.readouterr()
    assert sorted(handle.recorder.recipients()) == ["ann@example.com", "bob@example.org"]
    assert [(user, ok) for user, _, ok in handle.recorder.auth_attempts] == [
        (USER, True),  # the connection test when it was scheduled
        (USER, True),  # the campaign
    ]
    assert store.campaign(campaign).status is CampaignStatus.FINISHED
    store.close()
