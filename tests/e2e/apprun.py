"""The app as a real process: started with a clean environment, watched line by line, stopped."""

from __future__ import annotations

import os
import queue
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = ["ROOT", "STARTUP_TIMEOUT", "AppProcess", "RunningApp", "child_env", "start_app"]

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 90.0  # seconds; the machine is small and shared
STOP_TIMEOUT = 10.0


def child_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for an app process: no pytest or NiceGUI variables, a private home.

    NiceGUI changes behaviour when it sees PYTEST_CURRENT_TEST (it wants a screen-test port
    and drops native mode) or leftover NICEGUI_* variables.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "NICEGUI_", "BULKMAILER_"))
    }
    env["BULKMAILER_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@dataclass
class AppProcess:
    """A running `main.py` and what it printed."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def __post_init__(self) -> None:
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, marker: str, timeout: float = STARTUP_TIMEOUT, *, hint: str = "") -> str:
        """The first printed line containing `marker`; fails with the output so far."""
        for line in self.lines:
            if marker in line:
                return line
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                pytest.fail(f"the app exited before printing {marker!r}{hint}:\n{self.output()}")
            self.lines.append(line)
            if marker in line:
                return line
        pytest.fail(f"no {marker!r} after {timeout:.0f} s{hint}:\n{self.output()}")

    def output(self) -> str:
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return "\n".join(self.lines[-60:])

    def stop(self) -> None:
        """Stop the process this fixture started (and its process group), by PID."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, 15)  # SIGTERM: uvicorn shuts down cleanly
            except ProcessLookupError:
                return
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(STOP_TIMEOUT)


def start_app(
    args: list[str], home: Path, *, env_extra: Mapping[str, str] | None = None
) -> AppProcess:
    """Start `args` (a command line) in its own process group, stdout and stderr merged."""
    process = subprocess.Popen(
        args,
        cwd=ROOT,
        env=child_env(home, env_extra),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: stop() ends it and its children only
    )
    return AppProcess(process)


@dataclass(frozen=True)
class RunningApp:
    """What the tests need to reach the app."""

    url: str  # the link with the token, as printed
    base: str  # http://127.0.0.1:PORT
    port: int
    token: str
    smtp_port: int
    home: Path
    process: AppProcess
