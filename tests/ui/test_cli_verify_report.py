"""`verify --report`, repeatable `--ca-file` and `--tls-server-name` from the command line."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from main import main
from storage.journal import JournalStore
from tests.certs import CertSet
from tests.conftest import Start
from tests.smtpd import PASSWORD, USER
from tests.ui.test_cli import files, send_args, starttls_args

__all__ = ["files"]  # the fixture, shared with test_cli


def test_verify_report_prints_markdown_without_the_password_or_local_part(
    servers: Start,
    certs: CertSet,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handle = servers("starttls")
    monkeypatch.setenv("BULKMAILER_SMTP_PASSWORD", PASSWORD)
    code = main(["verify", *starttls_args(handle, certs), "--from", USER, "--report"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("## Bulk Mailer connection check")
    assert "| AUTH PLAIN | ok |" in out and "- EHLO keywords:" in out
    assert "- Certificate issuer: CN=Bulk Mailer Test CA" in out
    assert PASSWORD not in out and "alice" not in out
    assert "[user]@example.com" in out


def test_verify_report_to_a_file_is_private(
    servers: Start,
    certs: CertSet,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handle = servers("starttls")
    monkeypatch.setenv("BULKMAILER_SMTP_PASSWORD", "wrong password sentinel")
    target = tmp_path / "report.md"
    args = ["verify", *starttls_args(handle, certs), "--from", USER, "--report", str(target)]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "[FAIL] AUTH" in out  # the usual lines still print
    text = target.read_text("utf-8")
    assert "failed at **AUTH**" in text and "### Hints" in text
    assert "wrong password sentinel" not in text and "alice" not in text
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_ca_file_can_be_given_twice(
    servers: Start,
    certs: CertSet,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handle = servers("starttls", cert=certs.other_ca_cert)
    monkeypatch.setenv("BULKMAILER_SMTP_PASSWORD", PASSWORD)
    args = ["verify", *starttls_args(handle, certs), "--from", USER]
    assert main(args) == 1  # only the first CA: the server's is not trusted
    assert "unknown authority" in capsys.readouterr().out
    assert main([*args, "--ca-file", str(certs.other_ca_file)]) == 0
    assert "All steps passed" in capsys.readouterr().out


def test_tls_server_name_prints_tcp_connect_once(
    servers: Start,
    certs: CertSet,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handle = servers("starttls", cert=certs.wrong_host_cert)
    monkeypatch.setenv("BULKMAILER_SMTP_PASSWORD", PASSWORD)
    args = ["verify", *starttls_args(handle, certs), "--from", USER]
    args[args.index("localhost")] = "127.0.0.1"
    assert main([*args, "--tls-server-name", "other.example"]) == 0
    out = capsys.readouterr().out
    assert out.count("TCP connect") == 1, out


def test_send_max_reconnects_sets_the_limit_and_pauses_at_it(
    servers: Start,
    files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    handle = servers("plain", auth=False)
    handle.recorder.mail_reply = "421 4.3.2 Service not available, try later"  # session ends
    database, template = files
    code = main(send_args(handle, database, template, "--max-reconnects", "0"))
    out = capsys.readouterr().out
    assert code != 0, out
    assert "paused" in out.lower(), out
    assert handle.recorder.connections == 1  # no reconnect: the limit is 0
    campaign_id = out.split("Campaign ")[1].split()[0]
    store = JournalStore()
    try:
        assert store.campaign(campaign_id).settings.retry.max_reconnects == 0
    finally:
        store.close()
