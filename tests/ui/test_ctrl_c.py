"""Ctrl+C stops the app and the CLI with one line, never a traceback."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 120.0  # a loaded CI machine starting NiceGUI from a fresh venv


def start(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NICEGUI_"))}
    env.update(BULKMAILER_HOME=str(home), PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "main.py", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl+C reaches a process whose SIGINT is handled normally (a background job's is not)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for(proc: subprocess.Popen[str], marker: str) -> str:
    """Read stdout until a line holds `marker`; everything read so far."""
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    seen = ""
    deadline = time.monotonic() + STARTUP_SECONDS
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"never printed {marker!r}: {seen}"
        if selector.select(timeout=left):
            line = proc.stdout.readline()
            assert line, f"exited before {marker!r}: {seen}{proc.communicate()[1]}"
            seen += line
    return seen


def interrupt(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.fixture
def mute_server() -> Iterator[int]:
    """A server that accepts connections and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    yield listener.getsockname()[1]
    listener.close()


@pytest.mark.slow
def test_ctrl_c_stops_the_app_with_one_line(tmp_path: Path) -> None:
    proc = start(tmp_path / "home", "--no-browser")
    wait_for(proc, "is running at http")
    code, err = interrupt(proc)
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.strip()] == ["Stopped (Ctrl+C)."]
    assert code == 130


@pytest.mark.slow
def test_ctrl_c_during_a_send_says_how_to_resume(tmp_path: Path, mute_server: int) -> None:
    (tmp_path / "l.csv").write_text("email\na@example.com\n", encoding="utf-8")
    (tmp_path / "t.txt").write_text("FROM: n@example.com\nSUBJECT: hi\n\nHello\n", encoding="utf-8")
    proc = start(
        tmp_path / "home",
        *("send", "--recipients", str(tmp_path / "l.csv"), "--template", str(tmp_path / "t.txt")),
        *("--host", "127.0.0.1", "--port", str(mute_server), "--security", "none", "--yes"),
    )
    wait_for(proc, "started")
    code, err = interrupt(proc)
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("Interrupted. Resume with: python main.py resume ")
    assert code == 130


@pytest.mark.slow
def test_ctrl_c_while_starting_up_is_one_line(tmp_path: Path) -> None:
    proc = start(tmp_path / "home", "campaigns")
    time.sleep(0.2)  # still importing
    code, err = interrupt(proc)
    assert "Traceback" not in err
    assert code in (0, 130)
