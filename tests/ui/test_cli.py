"""The headless CLI end to end: verify, send, campaigns, status, export, retry, resolve, resume."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from main import main
from tests.certs import CertSet
from tests.conftest import Start
from tests.smtpd import PASSWORD, USER, ServerHandle

MAILMERGE_TEMPLATE = """TO: {{email}}
SUBJECT: Testing mailmerge
FROM: My Self <myself@mydomain.com>

Hi, {{name}},

Your number is {{number}}.
"""
MAILMERGE_DATABASE = """email,name,number
myself@mydomain.com,"Myself",17
bob@bobdomain.com,"Bob",42
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    template = tmp_path / "mailmerge_template.txt"
    template.write_text(MAILMERGE_TEMPLATE, encoding="utf-8")
    database = tmp_path / "mailmerge_database.csv"
    database.write_text(MAILMERGE_DATABASE, encoding="utf-8")
    return database, template


def starttls_args(handle: ServerHandle, certs: CertSet) -> list[str]:
    return [
        "--host",
        "localhost",
        "--port",
        str(handle.port),
        "--security",
        "starttls",
        "--user",
        USER,
        "--ca-file",
        str(certs.ca_file),
    ]


def plain_args(handle: ServerHandle) -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(handle.port), "--security", "none"]


def send_args(
    handle: ServerHandle, recipients: Path, template: Path, *extra: str, fast: bool = True
) -> list[str]:
    """`send` to a plain test server; `fast`: no delay and no confirmation."""
    args = ["send", "--recipients", str(recipients), "--template", str(template)]
    return [*args, *plain_args(handle), *(["--delay-ms", "0", "--yes"] if fast else []), *extra]


def test_verify_prints_a_step_report_and_exits_0(
    servers: Start,
    certs: CertSet,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handle = servers("starttls")
    monkeypatch.setenv("BULKMAILER_SMTP_PASSWORD", PASSWORD)
    code = main(["verify", *starttls_args(handle, certs), "--from", USER])
    out = capsys.readouterr().out
    assert code == 0, out
    for step in ("DNS lookup", "TCP connect", "STARTTLS", "AUTH PLAIN", "sender (MAIL FROM)"):
        assert step in out
    # The sender-domain check follows, one line each (offline here: warnings, not errors).
    for topic in ("SPF:", "DMARC:", "alignment:", "DKIM:"):
        assert topic in out
    assert "All steps passed" in out
    assert handle.recorder.messages == []
    assert PASSWORD not in out


def test_verify_with_wrong_password_exits_1_with_a_hint(
    servers: Start,
    certs: CertSet,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handle = servers("starttls")
    monkeypatch.setenv("BULKMAILER_SMTP_PASSWORD", "wrong")
    assert main(["verify", *starttls_args(handle, certs), "--from", USER]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] AUTH" in out and "hint:" in out


def test_verify_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--from", USER]) == 2
    assert "--host is required" in capsys.readouterr().err


def test_password_is_never_an_argument() -> None:
    assert main(["verify", "--host", "x", "--password", "secret"]) == 2


def test_mailmerge_files_send_unchanged(
    servers: Start, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    handle = servers("plain", auth=False)
    database, template = files
    code = main(send_args(handle, database, template))
    out = capsys.readouterr().out
    assert code == 0, out
    messages = handle.recorder.parsed()
    assert [str(m["To"]) for m in messages] == ["myself@mydomain.com", "bob@bobdomain.com"]
    assert str(messages[1]["From"]) == "My Self <myself@mydomain.com>"
    assert "Your number is 42." in messages[1].get_content()
    assert "2 accepted by the server" in out


def test_dry_run_sends_nothing(
    servers: Start, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    handle = servers("plain", auth=False)
    database, template = files
    assert main(send_args(handle, database, template, "--dry-run", fast=False)) == 0
    out = capsys.readouterr().out
    assert "Dry run: 2 messages" in out and "Subject: Testing mailmerge" in out
    assert handle.recorder.connections == 0
    assert main(["campaigns"]) == 0
    assert "No campaigns yet." in capsys.readouterr().out


def test_without_yes_off_a_terminal_it_refuses(
    servers: Start, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    handle = servers("plain", auth=False)
    database, template = files
    code = main(send_args(handle, database, template, fast=False))
    assert code == 2
    assert "--yes" in capsys.readouterr().err
    assert handle.recorder.messages == []


def test_refused_recipient_exits_1_then_export_and_retry(
    servers: Start,
    files: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handle = servers("plain", auth=False)
    handle.recorder.rcpt_replies["bob@bobdomain.com"] = ["550 5.1.1 no such user"]
    database, template = files
    assert main(send_args(handle, database, template)) == 1
    out = capsys.readouterr().out
    campaign_id = out.split("Campaign ")[1].split()[0]
    assert "1 failed" in out

    report = tmp_path / "failed.csv"
    assert main(["export", campaign_id, "--status", "failed", "--out", str(report)]) == 0
    rows = list(csv.DictReader(report.open(encoding="utf-8")))
    assert [(r["email"], r["status"], r["code"], r["enhanced"]) for r in rows] == [
        ("bob@bobdomain.com", "failed", "550", "5.1.1")
    ]

    assert main(["status", campaign_id]) == 1
    assert "no such user" in capsys.readouterr().out
    # "no such user" put the address on the suppression list: a retry takes it off first.
    assert main(["suppress", "remove", "bob@bobdomain.com"]) == 0
    assert main(["retry-failed", campaign_id, "--verbose"]) == 0  # the server accepts now
    assert handle.recorder.recipients().count("bob@bobdomain.com") == 1
    assert main(["campaigns"]) == 0
    assert campaign_id in capsys.readouterr().out


def test_sender_refused_aborts_with_exit_3_then_twin_guard_and_resume(
    servers: Start, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    handle = servers("plain", auth=False)
    handle.recorder.mail_reply = "553 5.7.1 sender not allowed"
    database, template = files
    send = send_args(handle, database, template)
    assert main(send) == 3
    out = capsys.readouterr().out
    campaign_id = out.split("Campaign ")[1].split()[0]
    assert "Hint:" in out

    assert main(send) == 2  # the same inputs are unfinished: no silent second campaign
    assert f"resume {campaign_id}" in capsys.readouterr().err

    handle.recorder.mail_reply = None
    assert main(["resume", campaign_id]) == 0
    assert handle.recorder.recipients() == ["myself@mydomain.com", "bob@bobdomain.com"]
    assert main(["resume", campaign_id]) == 0
    assert "nothing left to send" in capsys.readouterr().out


def test_unknown_result_is_resolved_by_a_person(
    servers: Start, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    handle = servers("plain", auth=False)
    handle.recorder.drop_after_data.add("bob@bobdomain.com")
    database, template = files
    assert main(send_args(handle, database, template)) == 1
    out = capsys.readouterr().out
    campaign_id = out.split("Campaign ")[1].split()[0]
    assert "1 unknown" in out and "resolve" in out
    assert main(["resume", campaign_id]) == 1  # nothing resent by itself
    assert handle.recorder.recipients().count("bob@bobdomain.com") == 1
    assert main(["resolve", campaign_id, "--mark-sent", "--recipient", "bob@bobdomain.com"]) == 0
    assert main(["status", campaign_id]) == 0


def test_bad_csv_encoding_is_a_usage_error_with_the_line(
    servers: Start,
    files: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handle = servers("plain", auth=False)
    _, template = files
    bad = tmp_path / "latin.csv"
    bad.write_bytes(
        "email,name,number\nann@example.com,Ann,1\nbob@example.com,Jos\xe9,2\n".encode("cp1252")
    )
    code = main(send_args(handle, bad, template, "--yes", fast=False))
    assert code == 2
    assert "line 3" in capsys.readouterr().err
    code = main(send_args(handle, bad, template, "--encoding", "cp1252"))
    assert code == 0
    names = [str(m["To"]) for m in handle.recorder.parsed()]
    assert names == ["ann@example.com", "bob@example.com"]


def test_export_to_stdout(
    servers: Start, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    handle = servers("plain", auth=False)
    database, template = files
    main(send_args(handle, database, template))
    campaign_id = capsys.readouterr().out.split("Campaign ")[1].split()[0]
    assert main(["export", campaign_id, "--out", "-"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["status"] for r in rows} == {"sent"}


def test_send_with_connections_and_rate_records_them_in_the_campaign(
    servers: Start,
    files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from storage.journal import JournalStore
    from storage.journal.history import list_campaigns

    handle = servers("plain", auth=False)
    database, template = files
    args = send_args(handle, database, template, "--connections", "3", "--rate", "100/s")
    assert main(args) == 0, capsys.readouterr().out
    assert len(handle.recorder.messages) == 2
    assert 1 <= handle.recorder.connections <= 3
    store = JournalStore()
    try:
        (summary,) = list_campaigns(store)
        record = store.campaign(summary.id)
        assert (record.settings.connections, record.settings.rate_per_minute) == (3, 6000.0)
    finally:
        store.close()


def test_send_refuses_a_rate_it_cannot_read(
    servers: Start, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    handle = servers("plain", auth=False)
    database, template = files
    assert main(send_args(handle, database, template, "--rate", "fast")) == 2
    assert "N/s, N/min or N/h" in capsys.readouterr().err


def test_relay_preset_suggests_connections_and_a_rate_unless_told_otherwise(
    servers: Start, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from storage.journal import JournalStore
    from storage.journal.history import list_campaigns

    handle = servers("plain", auth=False)
    database, template = files
    assert main(send_args(handle, database, template, "--preset", "sendgrid")) == 0
    again = send_args(handle, database, template, "--preset", "gmail", "--name", "b", "--new")
    assert main(again) == 0  # the same list again, by choice
    capsys.readouterr()
    store = JournalStore()
    try:
        settings = {s.name: store.campaign(s.id).settings for s in list_campaigns(store)}
    finally:
        store.close()
    relay = next(v for k, v in settings.items() if k != "b")
    assert (relay.connections, relay.rate_per_minute) == (4, 600.0)
    assert settings["b"].connections == 1  # a personal mailbox stays at one


def test_personal_preset_keeps_one_connection_and_says_why(
    servers: Start, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    handle = servers("plain", auth=False)
    database, template = files
    args = send_args(handle, database, template, "--preset", "gmail", "--connections", "4")
    assert main(args) == 0
    assert "Using 1 connection(s). One connection: a personal mailbox" in capsys.readouterr().err
    assert handle.recorder.connections == 1
