"""The benchmark's runs: each client as its own process against each sink, alternating."""

from __future__ import annotations

import itertools
import os
import shutil
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.peers import SCRATCH, Peers
from bench.procs import Measured, SinkProcess, measure
from bench.workload import Workload, write_recipients_xlsx

__all__ = [
    "CLIENTS",
    "SINKS",
    "Client",
    "Extra",
    "Run",
    "Settings",
    "Sink",
    "available",
    "client_argv",
    "cpu_model",
    "env_for",
    "measure_run",
    "run_extras",
    "run_matrix",
    "sink_argv",
    "summarize",
]

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
_MIB = 1024 * 1024
_INTERVAL_MS = 200  # the pacing run: delay between send starts ...
_SLOW_REPLY_MS = 50  # ... against a server this slow to accept each message
_INTERVAL_SENDS = 50
_INTERVAL_CONNECTIONS = 4


@dataclass(frozen=True, slots=True)
class Sink:
    """A server the clients send to."""

    key: str
    label: str
    node: bool  # needs Node.js and smtp-server
    argv: tuple[str, ...]


SINKS: tuple[Sink, ...] = (
    Sink("fast", "fast asyncio sink (bench/sink.py)", False, (PY, "-m", "bench.sink")),
    Sink(
        "smtp-server",
        "Nodemailer smtp-server, greeting delay removed",
        True,
        ("node", "bench/smtp_server_sink.js", "--no-greeting-delay"),
    ),
    Sink(
        "smtp-server-greeting",
        "Nodemailer smtp-server, stock 100 ms greeting delay",
        True,
        ("node", "bench/smtp_server_sink.js"),
    ),
)


@dataclass(frozen=True, slots=True)
class Client:
    """A way to send the workload; `ours` is what every ratio is taken against."""

    key: str
    label: str
    needs: str  # "", "node" or "mailmerge"


CLIENTS: tuple[Client, ...] = (
    Client("ours", "Bulk Mailer pipeline (render + durable journal + send), app's loop", ""),
    Client("ours-asyncio", "Bulk Mailer pipeline on the stdlib asyncio loop", ""),
    Client("cli", "Bulk Mailer CLI `python main.py send` (uvloop when installed)", ""),
    Client("smtplib", "smtplib + EmailMessage, one connection", ""),
    Client("smtplib-per-msg", "smtplib + EmailMessage, a connection per message", ""),
    Client("mailmerge", "mailmerge CLI (a connection per message)", "mailmerge"),
    Client("nodemailer-pool", "Nodemailer, pool of one connection", "node"),
    Client("nodemailer", "Nodemailer, no pool (the seed app's way)", "node"),
)


@dataclass(frozen=True, slots=True)
class Settings:
    """What to run: message counts, repetitions, which clients and sinks."""

    n: int
    slow_n: int  # messages on the sink with the 100 ms greeting
    reps: int
    clients: tuple[str, ...]
    sinks: tuple[str, ...]
    big: int  # recipients for the memory and import runs (0: skip them)
    bigger: tuple[int, ...] = ()  # more sizes for the same runs, reported side by side
    timeout: float = 1800.0


@dataclass
class Run:
    """One client process against one sink."""

    sink: str
    client: str
    rep: int
    n: int
    count: int = 0
    window: float = 0.0  # sink's seconds from the first connection to the last message
    wall: float = 0.0  # the client process from start to exit
    max_rss: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def rate(self) -> float:
        return self.count / self.window if self.window > 0 else 0.0

    @property
    def e2e_rate(self) -> float:
        return self.n / self.wall if self.wall > 0 else 0.0


@dataclass
class Extra:
    """A one-off measurement: the CSV import, the 100k campaigns, the pacing interval."""

    key: str
    label: str
    seconds: float = 0.0
    max_rss: int = 0
    detail: dict[str, float] = field(default_factory=dict)
    error: str = ""
    size: int = 0  # recipients, for the big-list runs (several sizes side by side)


def _home(name: str) -> Path:
    """A fresh BULKMAILER_HOME, so each run starts with an empty journal."""
    home = SCRATCH / "homes" / name
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    return home


def env_for(peers: Peers, home: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in peers.node_env().items() if not k.startswith(("PYTEST_", "NICEGUI_"))}
    env.pop("BULKMAILER_SMTP_PASSWORD", None)
    env["PYTHONPATH"] = str(ROOT)
    if home is not None:
        env["BULKMAILER_HOME"] = str(home)
    return env


def _mailmerge_config(port: int) -> Path:
    path = SCRATCH / "work" / f"mailmerge-{port}.conf"
    path.write_text(f"[smtp_server]\nhost = 127.0.0.1\nport = {port}\n", encoding="utf-8")
    return path


def client_argv(client: str, port: int, work: Workload, peers: Peers) -> list[str]:
    """The command line that sends `work` to 127.0.0.1:`port` the client's way."""
    files = ["--recipients", str(work.recipients), "--template", str(work.template)]
    target = ["--host", "127.0.0.1", "--port", str(port)]
    if client in ("ours", "ours-asyncio"):
        loop = ["--loop", "asyncio" if client == "ours-asyncio" else "app"]
        return [PY, "-m", "bench.clients.ours", *target, *files, *loop]
    if client == "cli":
        pacing = ["--security", "none", "--delay-ms", "0", "--yes"]
        return [PY, "main.py", "send", *files, *target, *pacing]
    if client in ("smtplib", "smtplib-per-msg"):
        extra = ["--per-message"] if client == "smtplib-per-msg" else []
        return [PY, "-m", "bench.clients.smtplib_client", *target, *files, *extra]
    if client == "mailmerge":
        assert peers.mailmerge is not None
        return [
            str(peers.mailmerge),
            "--template",
            str(work.template),
            "--database",
            str(work.recipients),
            "--config",
            str(_mailmerge_config(port)),
            "--no-limit",
            "--no-dry-run",
            "--output-format",
            "raw",
        ]
    if client in ("nodemailer", "nodemailer-pool"):
        assert peers.node is not None
        extra = ["--pool"] if client == "nodemailer-pool" else []
        script = str(ROOT / "bench" / "clients" / "nodemailer_client.js")
        return [str(peers.node), script, *target, *files, *extra]
    raise ValueError(f"unknown client {client!r}")


def available(client: Client, peers: Peers) -> str:
    """Why `client` cannot run here, or "" when it can."""
    if client.needs == "node" and not peers.has_node:
        return peers.skipped.get("nodemailer", "Node.js is not installed")
    if client.needs == "mailmerge" and peers.mailmerge is None:
        return peers.skipped.get("mailmerge", "mailmerge is not installed")
    return ""


def _one(
    sink: SinkProcess,
    sink_key: str,
    client: str,
    rep: int,
    work: Workload,
    peers: Peers,
    timeout: float,
) -> Run:
    argv = client_argv(client, sink.port, work, peers)
    return measure_run(sink, sink_key, client, argv, rep, work, peers, timeout=timeout)


def measure_run(
    sink: SinkProcess,
    sink_key: str,
    client: str,
    argv: list[str],
    rep: int,
    work: Workload,
    peers: Peers,
    *,
    base: str | None = None,
    timeout: float = 1800.0,
) -> Run:
    """Run `argv` as `client` (a fresh journal for ours); the sink counts what arrived."""
    run = Run(sink_key, client, rep, work.count)
    sink.reset()
    base = base or client
    home = _home(client) if base in ("ours", "ours-asyncio", "cli") else None
    done = measure(argv, env=env_for(peers, home), cwd=ROOT, timeout=timeout)
    stats = sink.stats()
    run.count, run.window = stats.count, stats.window
    run.wall, run.max_rss = done.wall, done.max_rss
    if done.timed_out:
        run.error = f"timed out after {timeout:.0f} s"
    elif done.returncode != 0:
        run.error = f"exit {done.returncode}: {(done.stderr or done.stdout).strip()[-300:]}"
    elif run.count != work.count:
        run.error = f"the sink counted {run.count} messages, not {work.count}"
    return run


def sink_argv(sink: Sink, peers: Peers) -> list[str]:
    argv = list(sink.argv)
    if sink.node:
        assert peers.node is not None
        argv[0] = str(peers.node)
    return argv


def run_matrix(
    settings: Settings,
    peers: Peers,
    workloads: Callable[[int], Workload],
    progress: Callable[[str], None],
) -> tuple[list[Run], dict[tuple[str, str], str]]:
    """Every chosen client against every chosen sink, `reps` times, in rotating order.

    Returns the runs and, per (sink, client) that could not run, the reason.
    """
    runs: list[Run] = []
    skipped: dict[tuple[str, str], str] = {}
    clients = [c for c in CLIENTS if c.key in settings.clients]
    for sink in (s for s in SINKS if s.key in settings.sinks):
        if sink.node and not peers.has_node:
            for client in clients:
                skipped[(sink.key, client.key)] = "smtp-server needs Node.js"
            continue
        runnable: list[str] = []
        for client in clients:
            reason = available(client, peers)
            if reason:
                skipped[(sink.key, client.key)] = reason
            else:
                runnable.append(client.key)
        work = workloads(settings.slow_n if sink.key == "smtp-server-greeting" else settings.n)
        with SinkProcess(sink_argv(sink, peers), env=env_for(peers), cwd=ROOT) as process:
            for rep in range(settings.reps):
                shift = rep % max(1, len(runnable))
                for key in runnable[shift:] + runnable[:shift]:
                    run = _one(process, sink.key, key, rep, work, peers, settings.timeout)
                    runs.append(run)
                    shown = f"{run.rate:8.0f} msgs/s" if run.ok else f"FAILED: {run.error}"
                    progress(f"{sink.key:21s} rep {rep + 1}  {key:16s} {shown}")
    return runs, skipped


def _extra(key: str, label: str, done: Measured) -> Extra:
    extra = Extra(key, label, done.wall, done.max_rss)
    if done.returncode != 0 or done.timed_out:
        extra.error = f"exit {done.returncode}: {(done.stderr or done.stdout).strip()[-300:]}"
    return extra


def run_extras(
    settings: Settings,
    peers: Peers,
    workloads: Callable[[int], Workload],
    progress: Callable[[str], None],
) -> list[Extra]:
    """Pacing at 200 ms; and, with `big`, the CSV import, a dry run and a campaign that big."""
    from bench.dkim_cost import measure_dkim  # imports the app's own modules

    env = env_for(peers)
    extras: list[Extra] = list(measure_dkim(SCRATCH))
    for row in extras:
        progress(f"{row.key:20s} {row.detail['ms_per_msg']:.3f} ms per message")
    slow = [PY, "-m", "bench.sink", "--data-delay-ms", str(_SLOW_REPLY_MS)]
    with SinkProcess(slow, env=env, cwd=ROOT) as sink:
        for connections in (1, _INTERVAL_CONNECTIONS):
            extras.append(_interval(sink, peers, workloads(_INTERVAL_SENDS), connections))
            shown = {k: round(v, 1) for k, v in extras[-1].detail.items()}
            progress(f"{extras[-1].key:20s} {extras[-1].error or shown}")
    sizes = [size for size in (settings.big, *settings.bigger) if size]
    if sizes:
        with SinkProcess([PY, "-m", "bench.sink"], env=env, cwd=ROOT) as sink:
            for number, size in enumerate(sizes):
                runs = _big_runs(sink, peers, workloads(size), settings.timeout, xlsx=number == 0)
                for extra in runs:
                    extra.size = size
                    extras.append(extra)
                    progress(
                        f"{extra.key:20s} {size:>9,} {extra.seconds:.1f} s, "
                        f"{extra.max_rss / _MIB:.0f} MB"
                    )
    return extras


def _big_runs(
    sink: SinkProcess, peers: Peers, big: Workload, timeout: float, *, xlsx: bool = True
) -> Iterator[Extra]:
    """Import + validation alone (streamed, as the CLI reads a list), then a dry run and a real
    campaign through the CLI; with `xlsx` (the first size), also the app's upload of the CSV
    and the same rows as an XLSX whose header has a cell in column XFD."""
    files = ["--recipients", str(big.recipients), "--template", str(big.template)]
    importing = [PY, "-m", "bench.clients.import_csv", "--recipients", str(big.recipients)]
    if xlsx:  # the app's upload (held in memory; it refuses a file over 50 MB)
        done = measure(importing, env=env_for(peers), cwd=ROOT, timeout=timeout)
        yield _extra("import", f"import + validate a {big.count:,}-row CSV (upload)", done)
    done = measure([*importing, "--streamed"], env=env_for(peers), cwd=ROOT, timeout=timeout)
    yield _extra(
        "import-streamed", f"import + validate a {big.count:,}-row CSV (streamed, CLI)", done
    )
    if xlsx:
        sheet = big.recipients.with_suffix(".xlsx")
        if not sheet.exists():
            write_recipients_xlsx(big.recipients, sheet.with_suffix(".tmp.xlsx")).replace(sheet)
        importing = [PY, "-m", "bench.clients.import_csv", "--recipients", str(sheet)]
        done = measure(importing, env=env_for(peers), cwd=ROOT, timeout=timeout)
        yield _extra(
            "import-xlsx",
            f"import + validate a {big.count:,}-row XLSX (a header cell in XFD)",
            done,
        )
    dry = [PY, "main.py", "send", *files, "--host", "127.0.0.1", "--port", "25"]
    dry += ["--security", "none", "--dry-run"]
    done = measure(dry, env=env_for(peers, _home("dry-run")), cwd=ROOT, timeout=timeout)
    yield _extra("dry-run", f"{big.count:,}-recipient dry run (CLI)", done)
    sink.reset()
    send = client_argv("cli", sink.port, big, peers)
    done = measure(send, env=env_for(peers, _home("big")), cwd=ROOT, timeout=timeout)
    extra = _extra("big-send", f"{big.count:,}-recipient campaign sent (CLI)", done)
    stats = sink.stats()
    extra.detail = {
        "count": float(stats.count),
        "msgs_per_s": stats.count / stats.window if stats.window else 0.0,
    }
    if not extra.error and stats.count != big.count:
        extra.error = f"the sink counted {stats.count} messages, not {big.count}"
    yield extra


def _interval(sink: SinkProcess, peers: Peers, work: Workload, connections: int = 1) -> Extra:
    """Our pipeline at a 200 ms delay against a server that takes 50 ms to accept each message:
    the time between the starts (MAIL FROM) of two sends should be 200 ms, not 250; with K
    connections too (the delay holds for all of them together: not 200 / K, not 250)."""
    sink.reset()
    argv = [*client_argv("ours", sink.port, work, peers), "--delay-ms", str(_INTERVAL_MS)]
    argv += ["--connections", str(connections)]
    done = measure(argv, env=env_for(peers, _home("interval")), cwd=ROOT)
    over = f", {connections} connections" if connections > 1 else ""
    label = (
        f"interval between send starts, delay {_INTERVAL_MS} ms{over}, "
        f"server replying {_SLOW_REPLY_MS} ms after each final dot"
    )
    key = "interval" if connections == 1 else f"interval-{connections}"
    extra = _extra(key, label, done)
    starts = sink.stats().starts
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(starts)]
    if len(gaps) < 2:
        extra.error = extra.error or f"only {len(starts)} sends seen"
        return extra
    extra.detail = {
        "delay_ms": float(_INTERVAL_MS),
        "reply_ms": float(_SLOW_REPLY_MS),
        "median_ms": statistics.median(gaps),
        "mean_ms": statistics.fmean(gaps),
        "stdev_ms": statistics.stdev(gaps),
        "min_ms": min(gaps),
        "max_ms": max(gaps),
        "sends": float(len(starts)),
    }
    return extra


def summarize(runs: Sequence[Run], sink: str, client: str) -> dict[str, float] | None:
    """Median/min/max msgs/s, median end-to-end msgs/s and peak RSS of the good runs."""
    good = [r for r in runs if r.sink == sink and r.client == client and r.ok]
    if not good:
        return None
    rates = [r.rate for r in good]
    return {
        "median": statistics.median(rates),
        "min": min(rates),
        "max": max(rates),
        "e2e": statistics.median(r.e2e_rate for r in good),
        "rss": float(max(r.max_rss for r in good)),
        "runs": float(len(good)),
        "n": float(good[0].n),
    }


def cpu_model() -> str:
    """The CPU's name, where the OS tells it."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return os.environ.get("PROCESSOR_IDENTIFIER", "")
