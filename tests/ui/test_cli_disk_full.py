"""`main.py send` on a disk that fills up: exit 3, one clear reason, no traceback, resumable."""

from __future__ import annotations

import asyncio
import os
import re
import resource
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.smtpd import ServerHandle, start_server

ROOT = Path(__file__).resolve().parents[2]
COUNT = 300
FILE_LIMIT = 256 * 1024  # bytes any one file may grow to in the sending process
TEMPLATE = "TO: {{ email }}\nSUBJECT: Hello {{ name }}\nFROM: News <news@example.com>\n\nHi.\n"


@pytest.fixture
def server() -> Iterator[ServerHandle]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    handle = asyncio.run_coroutine_threadsafe(start_server("plain", auth=False), loop).result(5)
    yield handle
    asyncio.run_coroutine_threadsafe(handle.close(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def small_disk() -> None:
    """In the child: files stop growing at FILE_LIMIT, as on a full disk (EFBIG, no signal)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


def cli(home: Path, *args: str, limited: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NICEGUI_"))}
    env.update(BULKMAILER_HOME=str(home), PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "main.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        preexec_fn=small_disk if limited else None,
        check=False,
    )


def test_a_full_disk_aborts_with_exit_3_and_one_reason_then_resumes(
    server: ServerHandle, tmp_path: Path
) -> None:
    rows = "".join(f"r{n}@example.com,Person {n} {'x' * 40}\n" for n in range(COUNT))
    (tmp_path / "list.csv").write_text("email,name\n" + rows, encoding="utf-8")
    (tmp_path / "t.txt").write_text(TEMPLATE, encoding="utf-8")
    home = tmp_path / "home"
    send = ["send", "--recipients", str(tmp_path / "list.csv"), "--template"]
    send += [str(tmp_path / "t.txt"), "--host", "127.0.0.1", "--port", str(server.port)]
    send += ["--security", "none", "--delay-ms", "0", "--yes"]

    first = cli(home, *send, limited=True)
    output = first.stdout + first.stderr
    assert first.returncode == 3, output
    assert "Traceback" not in output and "Exception in callback" not in output
    reasons = [line for line in output.splitlines() if line.startswith("Reason:")]
    assert len(reasons) == 1, output
    assert "journal.sqlite3 could not be written" in reasons[0]
    assert "disk" in reasons[0]
    imported = f"Recipients: {COUNT} recipients, 0 rejected, 0 duplicates"
    assert first.stderr.splitlines() == [imported]  # no warning, no traceback
    match = re.search(r"python main.py resume (\S+)", output)
    assert match is not None, output
    accepted = len(server.recorder.recipients())
    assert 0 < accepted < COUNT

    second = cli(home, "resume", match.group(1))
    assert second.returncode in (0, 1), second.stdout + second.stderr
    assert "Traceback" not in second.stdout + second.stderr
    copies = Counter(server.recorder.recipients())
    assert len(copies) == COUNT
    assert max(copies.values()) == 1
