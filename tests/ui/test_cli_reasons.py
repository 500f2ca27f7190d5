"""`status ID` prints the campaign's problems grouped by reason, with the suggested action."""

from __future__ import annotations

from pathlib import Path

import pytest

from main import main
from storage.journal import JournalStore
from tests.conftest import Start
from tests.journal_kit import seed_campaign


def test_status_groups_failures_by_reason_with_action(capsys: pytest.CaptureFixture[str]) -> None:
    store = JournalStore()
    campaign_id = seed_campaign(store)
    store.close()
    assert main(["status", campaign_id]) == 1
    out = capsys.readouterr().out
    why = out.split("Why (grouped by reason):\n")[1].splitlines()[:3]
    assert why == [
        "  mailbox does not exist (5.1.1) x 2: failed; suggested: suppress",
        "  the reply was lost after sending x 1: unknown; suggested: resend or mark as sent",
        "  rate limited (4.7.28) x 1: deferred; suggested: wait",
    ]


def test_send_preflight_names_a_missing_column_once_not_per_recipient(
    servers: Start, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handle = servers("plain", auth=False)
    template = tmp_path / "t.txt"
    template.write_text(
        "TO: {{email}}\nSUBJECT: Hi {{ compnay }}\nFROM: me@example.com\n\nIn {{ city }}\n",
        encoding="utf-8",
    )
    people = tmp_path / "people.csv"
    people.write_text(
        "email,company\n" + "".join(f"p{i}@example.com,Acme\n" for i in range(300)),
        encoding="utf-8",
    )
    args = ["send", "--recipients", str(people), "--template", str(template), "--yes"]
    args += ["--host", "127.0.0.1", "--port", str(handle.port), "--security", "none"]
    assert main(args) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "merge field" in line]
    assert lines == [
        "  merge field `compnay` (used in subject) is not a column of the list; its columns are "
        "email, company; did you mean `company`?",
        "  merge field `city` (used in body) is not a column of the list; its columns are "
        "email, company",
    ]
    assert "line 2" not in err  # not one line per recipient
    assert handle.recorder.messages == []
