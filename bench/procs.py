"""Child processes for the benchmark: a sink we talk to, and clients timed with their peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = ["Measured", "SinkProcess", "SinkReport", "measure"]

_SINK_START_TIMEOUT = 30.0
_POLL_SECONDS = 0.01  # psutil sampling interval where wait4() is missing


@dataclass(frozen=True, slots=True)
class Measured:
    """How a child process went: exit code, wall seconds, peak RSS in bytes, its output."""

    returncode: int
    wall: float
    max_rss: int
    stdout: str
    stderr: str
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class SinkReport:
    """What a sink counted since its last reset (times in seconds from the first connection)."""

    count: int
    window: float  # first connection to last accepted message
    connections: int
    starts: tuple[float, ...]  # each MAIL FROM

    @classmethod
    def parse(cls, answer: str) -> SinkReport:
        data = json.loads(answer)
        return cls(
            int(data["count"]),
            float(data["window"]),
            int(data["connections"]),
            tuple(float(start) for start in data["starts"]),
        )


def _kill_later(proc: subprocess.Popen[bytes], timeout: float, flag: list[bool]) -> threading.Timer:
    def kill() -> None:
        flag.append(True)
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.daemon = True
    timer.start()
    return timer


def _wait_with_rss(proc: subprocess.Popen[bytes]) -> tuple[int, int]:
    """(exit code, peak RSS bytes): exact from wait4() on Unix, sampled with psutil elsewhere."""
    if hasattr(os, "wait4"):
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        scale = 1 if os.uname().sysname == "Darwin" else 1024  # Linux reports KiB
        return proc.returncode, int(usage.ru_maxrss) * scale
    import psutil

    peak = 0
    try:
        watched = psutil.Process(proc.pid)
        while proc.poll() is None:
            peak = max(peak, watched.memory_info().rss)
            time.sleep(_POLL_SECONDS)
    except psutil.Error:
        pass
    return proc.wait(), peak


def measure(
    argv: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 1800.0
) -> Measured:
    """Run `argv` to its end; wall time from start to exit, peak RSS of the process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err)
        flag: list[bool] = []
        timer = _kill_later(proc, timeout, flag)
        try:
            code, rss = _wait_with_rss(proc)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return Measured(
            code,
            wall,
            rss,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            timed_out=bool(flag),
        )


class SinkProcess:
    """A sink (bench/sink.py or the smtp-server one) driven over its stdin/stdout."""

    def __init__(self, argv: list[str], *, env: dict[str, str], cwd: Path) -> None:
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
        )
        self.port = self._ready()

    def _ready(self) -> int:
        assert self.proc.stdout is not None
        timer = threading.Timer(_SINK_START_TIMEOUT, self.proc.kill)
        timer.start()
        try:
            line = self.proc.stdout.readline()
        finally:
            timer.cancel()
        if not line.startswith("READY "):
            self.close()
            raise RuntimeError(f"the sink did not start: {line!r} {self.errors()}")
        return int(line.split()[1])

    def _ask(self, command: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def reset(self) -> None:
        answer = self._ask("reset")
        if answer != "ok":
            raise RuntimeError(f"the sink did not reset: {answer!r} {self.errors()}")

    def stats(self) -> SinkReport:
        answer = self._ask("stats")
        try:
            return SinkReport.parse(answer)
        except (ValueError, KeyError, TypeError) as exc:
            raise RuntimeError(f"the sink answered {answer!r} {self.errors()}") from exc

    def errors(self) -> str:
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")[-2000:]

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()

    def __enter__(self) -> SinkProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
