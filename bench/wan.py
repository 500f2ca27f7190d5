"""The WAN profile: every client through a proxy adding a fixed one-way delay to the fast sink.

Over a real network round trips, not CPU, decide the speed. `bench.wan_proxy` adds `delay`
ms each way (a round trip of 2 x delay) in front of the fast sink; the clients take turns as
on loopback, and the report sets each against ours and against the round-trip floor: the
messages per second if each cost exactly one round trip per connection (RFC 2920 pipelining
across messages: the final dot travels with the next envelope).
"""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.peers import Peers
from bench.procs import SinkProcess
from bench.runner import CLIENTS as BASE_CLIENTS
from bench.runner import PY, ROOT, Run, available, client_argv, env_for, measure_run, sink_argv
from bench.runner import SINKS as BASE_SINKS
from bench.workload import Workload

__all__ = [
    "WAN_CLIENTS",
    "WanClient",
    "WanSettings",
    "floor",
    "measure_round_trip",
    "run_wan",
    "wan_lines",
    "wan_targets",
]

WAN_SINK = "wan"
_ONE_CONNECTION_RATIO = 1.8  # ours (1 connection) / Nodemailer pool of one
_ONE_CONNECTION_AIM = 2.0
_FOUR_CONNECTION_RATIO = 2.0  # ours (4 connections) / Nodemailer pool of four, all at once
_FLOOR_SHARE = 0.8  # ours at least 80 % of the round-trip floor
_OURS_MIN_N = 1_000
_RTT_SAMPLES = 20  # NOOPs timed through the proxy before the runs
_RTT_TIMEOUT = 10.0  # seconds


@dataclass(frozen=True, slots=True)
class WanClient:
    """A client in the WAN profile: a base client and how it is run."""

    key: str
    base: str  # the key in bench.runner.CLIENTS (for --only and availability)
    label: str
    connections: int
    extra: tuple[str, ...] = ()

    @property
    def ours(self) -> bool:
        return self.base == "ours"


WAN_CLIENTS: tuple[WanClient, ...] = (
    WanClient("ours", "ours", "**ours, one connection**", 1, ("--connections", "1")),
    WanClient("ours-4", "ours", "**ours, 4 connections**", 4, ("--connections", "4")),
    WanClient("nodemailer-pool", "nodemailer-pool", "Nodemailer, pool of one (each awaited)", 1),
    WanClient(
        "nodemailer-pool-4",
        "nodemailer-pool",
        "Nodemailer, pool of four, all `sendMail` at once",
        4,
        ("--max-connections", "4", "--parallel"),
    ),
    WanClient("nodemailer", "nodemailer", "Nodemailer, new connection per message (seed)", 1),
    WanClient("smtplib", "smtplib", "smtplib + EmailMessage, one connection", 1),
)


@dataclass(frozen=True, slots=True)
class WanSettings:
    """The profile: one-way delay (0 skips it), messages for ours and for the peers, reps."""

    delay_ms: float
    n: int
    peer_n: int
    reps: int
    clients: tuple[str, ...]  # base client keys chosen with --only


def floor(delay_ms: float, connections: int) -> float:
    """Messages per second at one round trip per message per connection."""
    return connections / (2 * delay_ms / 1000.0) if delay_ms > 0 else 0.0


def measure_round_trip(port: int, *, samples: int = _RTT_SAMPLES) -> float:
    """Seconds a NOOP takes to be answered through the proxy at `port` (median of `samples`).

    What every client really faces: the proxy's two delays, its own time and the sink's.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=_RTT_TIMEOUT) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn.makefile("rb") as replies:
            replies.readline()  # the greeting
            times: list[float] = []
            for _ in range(samples):
                asked = time.perf_counter()
                conn.sendall(b"NOOP\r\n")
                replies.readline()
                times.append(time.perf_counter() - asked)
            conn.sendall(b"QUIT\r\n")
    return statistics.median(times)


def run_wan(
    settings: WanSettings,
    peers: Peers,
    workloads: Callable[[int], Workload],
    progress: Callable[[str], None],
) -> tuple[list[Run], dict[str, str], float]:
    """Every WAN client through the proxy, `reps` times in rotating order.

    Returns the runs, why clients were skipped, and the proxy's measured round trip (s).
    """
    runs: list[Run] = []
    skipped: dict[str, str] = {}
    by_key = {c.key: c for c in BASE_CLIENTS}
    runnable: list[WanClient] = []
    for client in WAN_CLIENTS:
        if client.base not in settings.clients:
            continue
        reason = available(by_key[client.base], peers)
        if reason:
            skipped[client.key] = reason
        else:
            runnable.append(client)
    fast = next(s for s in BASE_SINKS if s.key == "fast")
    env = env_for(peers)
    with SinkProcess(sink_argv(fast, peers), env=env, cwd=ROOT) as sink:
        proxy_argv = [PY, "-m", "bench.wan_proxy", "--upstream-port", str(sink.port)]
        proxy_argv += ["--delay-ms", str(settings.delay_ms)]
        with SinkProcess(proxy_argv, env=env, cwd=ROOT) as proxy:
            round_trip = measure_round_trip(proxy.port)
            progress(f"wan {settings.delay_ms:g} ms     round trip {round_trip * 1000:.1f} ms")
            for rep in range(settings.reps):
                shift = rep % max(1, len(runnable))
                for client in runnable[shift:] + runnable[:shift]:
                    work = workloads(settings.n if client.ours else settings.peer_n)
                    argv = [*client_argv(client.base, proxy.port, work, peers), *client.extra]
                    run = measure_run(
                        sink, WAN_SINK, client.key, argv, rep, work, peers, base=client.base
                    )
                    runs.append(run)
                    shown = f"{run.rate:8.1f} msgs/s" if run.ok else f"FAILED: {run.error}"
                    progress(
                        f"wan {settings.delay_ms:g} ms     rep {rep + 1}  {client.key:18s} {shown}"
                    )
    return runs, skipped, round_trip


def _median(runs: Sequence[Run], key: str) -> float | None:
    rates = [r.rate for r in runs if r.client == key and r.ok]
    return statistics.median(rates) if rates else None


def wan_targets(runs: Sequence[Run], settings: WanSettings) -> list[tuple[str, str, bool | None]]:
    """The issue's WAN targets: (target, measured, met or None when not measured)."""
    rtt = 2 * settings.delay_ms
    out: list[tuple[str, str, bool | None]] = []
    pairs = (
        (
            "ours",
            "nodemailer-pool",
            _ONE_CONNECTION_RATIO,
            "one connection ÷ Nodemailer pool of one",
        ),
        (
            "ours-4",
            "nodemailer-pool-4",
            _FOUR_CONNECTION_RATIO,
            "4 connections ÷ Nodemailer pool of four",
        ),
    )
    for ours, peer, target, what in pairs:
        a, b = _median(runs, ours), _median(runs, peer)
        aim = f" (aim {_ONE_CONNECTION_AIM}×)" if ours == "ours" else ""
        name = f"{rtt:g} ms RTT, ours {what} ≥ {target}×{aim}"
        if a is None or b is None:
            out.append((name, "not measured", None))
        else:
            out.append((name, f"{a / b:.2f}×", a / b >= target))
    for key, connections in (("ours", 1), ("ours-4", 4)):
        rate = _median(runs, key)
        best = floor(settings.delay_ms, connections)
        name = f"ours ({connections} conn.) ≥ {_FLOOR_SHARE:.0%} of the floor ({best:.1f} msgs/s)"
        if rate is None or not best:
            out.append((name, "not measured", None))
        else:
            out.append((name, f"{rate / best:.0%}", rate / best >= _FLOOR_SHARE))
    enough = settings.n >= _OURS_MIN_N
    out.append((f"at least {_OURS_MIN_N:,} messages for ours", f"{settings.n:,}", enough))
    return out


def wan_lines(
    runs: Sequence[Run],
    settings: WanSettings,
    skipped: dict[str, str],
    *,
    round_trip: float | None = None,
) -> list[str]:
    """The WAN section of the report (`round_trip`: the proxy's, measured, in seconds)."""
    rtt = 2 * settings.delay_ms
    measured = (
        f" A NOOP through the proxy to the sink took {round_trip * 1000:.1f} ms (median of "
        f"{_RTT_SAMPLES}, before the runs): what each round trip really costs every client."
        if round_trip is not None
        else ""
    )
    lines = [
        f"## Over a network: {settings.delay_ms:g} ms each way ({rtt:g} ms round trip)",
        "",
        f"`bench/wan_proxy.py` in front of the fast sink. Ours sent {settings.n:,} messages, "
        f"the peers {settings.peer_n:,}; {settings.reps} run(s) each, taking turns. **Floor**: "
        f"messages per second at one round trip ({rtt:g} ms) per message per connection."
        + measured,
        "",
        "| Client | msgs/s (median) | min – max | floor | share of floor | ours ÷ client |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    ours = _median(runs, "ours")
    for client in WAN_CLIENTS:
        if client.base not in settings.clients:
            continue
        rates = [r.rate for r in runs if r.client == client.key and r.ok]
        if not rates:
            failed = [r.error for r in runs if r.client == client.key]
            why = skipped.get(client.key) or (failed[0] if failed else "not run")
            lines.append(f"| {client.label} | skipped: {why} | | | | |")
            continue
        median = statistics.median(rates)
        best = floor(settings.delay_ms, client.connections)
        against = _median(runs, "ours-4") if client.connections == 4 else ours
        ratio = f"{against / median:.2f}×" if against else ""
        lines.append(
            f"| {client.label} | {median:,.1f} | {min(rates):,.1f} – {max(rates):,.1f} | "
            f"{best:,.1f} | {median / best:.0%} | {ratio} |"
        )
    lines += [
        "",
        "*ours ÷ client*: the 4-connection rows are set against ours with 4 connections, the "
        "others against ours with one.",
        "",
        "| Target | Measured | Met |",
        "|---|---|---|",
    ]
    for name, measured, met in wan_targets(runs, settings):
        lines.append(
            f"| {name} | {measured} | {({True: 'yes', False: '**no**', None: '–'})[met]} |"
        )
    return [*lines, ""]
