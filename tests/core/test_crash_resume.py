"""Crash test (RELIABILITY.md section 2): SIGKILL the CLI sender at random moments, resume.

A separate-process SMTP server logs every accepted message (fsynced) before replying 250.
After the kills and a final resume: no recipient is skipped, none is delivered twice, sent
means exactly one copy, and unknowns are at most the number of kills. `make torture` runs a
larger version (BULKMAILER_TORTURE=1).
"""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.journal import JournalReader
from storage.journal.store import JOURNAL_FILE

ROOT = Path(__file__).resolve().parents[2]
TORTURE = os.environ.get("BULKMAILER_TORTURE") == "1"
RECIPIENTS = 4000 if TORTURE else 700
KILLS = 40 if TORTURE else 8
REPLY_DELAY = "0.005"  # seconds the server waits between storing a message and its 250
PER_KILL = RECIPIENTS // (2 * KILLS)  # at most this many deliveries between two kills
CAMPAIGN_CREATED_TIMEOUT = 120.0  # seconds; generous for a loaded machine
DELIVERY_TIMEOUT = 120.0
SEED = int(os.environ.get("BULKMAILER_CRASH_SEED", "20261128"))

TEMPLATE = """TO: {{ email }}
SUBJECT: Notice for {{ name }}
FROM: Crash Test <sender@example.com>

Hello {{ name }},
.
this line starts with a dot and the one above is a lone dot.
"""


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NICEGUI_"))}
    env["BULKMAILER_HOME"] = str(home)
    env.pop("BULKMAILER_SMTP_PASSWORD", None)
    return env


@pytest.fixture(params=["pipelining", "one-command-at-a-time"])
def sink(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[int, Path]]:
    """The server, offering PIPELINING (the durable record overlaps the round trip) or not."""
    log = tmp_path / "server.log"
    extra = ["--pipelining"] if request.param == "pipelining" else []
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.crash_server",
            "--log",
            str(log),
            "--reply-delay",
            REPLY_DELAY,
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(tmp_path / "server-home"),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY "), line
        yield int(line.split()[1]), log
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _campaign_ids(home: Path) -> list[str]:
    # The child may have been killed after creating the file but before committing the
    # tables: the reader says "no campaigns yet" and the next run sends afresh.
    return JournalReader(home / JOURNAL_FILE).campaign_ids()


def _statuses(home: Path, campaign_id: str) -> dict[str, str]:
    return {e: s.value for e, s in JournalReader(home / JOURNAL_FILE).statuses(campaign_id).items()}


def _wait_for_campaign(home: Path, proc: subprocess.Popen[bytes]) -> None:
    """Wait until the campaign is in the journal, so that each kill lands while it sends
    (on a loaded machine start-up alone can outlast the random sleep)."""
    deadline = time.monotonic() + CAMPAIGN_CREATED_TIMEOUT
    while not _campaign_ids(home) and proc.poll() is None:
        assert time.monotonic() < deadline, "the sender never created its campaign"
        time.sleep(0.02)


def _delivered(log: Path) -> int:
    """Messages the server has accepted so far (each logged, fsynced, before its 250)."""
    try:
        return log.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _wait_for_deliveries(log: Path, count: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while _delivered(log) < count and proc.poll() is None:
        assert time.monotonic() < deadline, f"the sender did not reach {count} deliveries"
        time.sleep(0.002)


def _start(
    home: Path, port: int, files: tuple[Path, Path], connections: int = 1
) -> subprocess.Popen[bytes]:
    ids = _campaign_ids(home)
    if ids:
        args = ["resume", ids[0]]
    else:
        args = [
            "send",
            "--recipients",
            str(files[0]),
            "--template",
            str(files[1]),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--security",
            "none",
            "--delay-ms",
            "0",
            "--connections",
            str(connections),
            "--yes",
        ]
    return subprocess.Popen(
        [sys.executable, "main.py", *args],
        cwd=ROOT,
        env=_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
@pytest.mark.parametrize("connections", [1, 4])
def test_sigkill_and_resume_never_skips_or_duplicates(
    tmp_path: Path, sink: tuple[int, Path], connections: int
) -> None:
    port, server_log = sink
    rng = random.Random(SEED)
    home = tmp_path / "home"
    recipients = tmp_path / "people.csv"
    rows = [f"person{n:04d}@example.com,Person {n}" for n in range(RECIPIENTS)]
    recipients.write_text("email,name\n" + "\n".join(rows) + "\n", encoding="utf-8")
    template = tmp_path / "notice.txt"
    template.write_text(TEMPLATE, encoding="utf-8")

    kills = 0
    for _ in range(KILLS):
        proc = _start(home, port, (recipients, template), connections)
        _wait_for_campaign(home, proc)
        # A random moment measured in progress, not in seconds: a faster sender (or a slower
        # machine) must not finish the list before the kills are done, nor die before it sends.
        _wait_for_deliveries(server_log, _delivered(server_log) + rng.randint(1, PER_KILL), proc)
        time.sleep(rng.uniform(0, 0.01))  # anywhere in the next message's round
        if proc.poll() is not None:
            break  # finished before we could kill it
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        kills += 1

    final = _start(home, port, (recipients, template))
    _, stderr = final.communicate(timeout=300)
    assert final.returncode in {0, 1}, stderr.decode()
    (campaign_id,) = _campaign_ids(home)
    statuses = _statuses(home, campaign_id)
    delivered = collections.Counter(
        line.split("\t")[0] for line in server_log.read_text().splitlines() if line
    )
    expected = {f"person{n:04d}@example.com" for n in range(RECIPIENTS)}

    assert set(statuses) == expected
    # No skips: every recipient ended sent, failed or unknown.
    assert collections.Counter(statuses.values()).keys() <= {"sent", "unknown"}
    # No silent duplicates: at most one copy each (no person chose "resend" here).
    assert max(delivered.values()) == 1, delivered.most_common(3)
    assert set(delivered) <= expected
    # Sent means exactly one copy.
    assert all(delivered[email] == 1 for email, s in statuses.items() if s == "sent")
    # Unknowns are at most one per connection per kill.
    unknown = [email for email, s in statuses.items() if s == "unknown"]
    assert len(unknown) <= kills * connections
    assert kills == KILLS, "the sender finished before every kill: raise RECIPIENTS"
    print(
        f"\ncrash test: {RECIPIENTS} recipients, {kills} kills, {len(unknown)} unknown, "
        f"{sum(delivered.values())} delivered"
    )
