"""`python -m bench` (`make bench`): throughput and memory side by side with the peers.

Starts the sinks, installs the peers into bench/.scratch if needed, runs every client as
its own process several times, alternating, and prints a Markdown report, also written to
bench/results/latest.md and a dated copy. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import os
import sys
from pathlib import Path

from bench.peers import SCRATCH, ensure_peers
from bench.report import Context, render
from bench.runner import (
    CLIENTS,
    SINKS,
    Extra,
    Run,
    Settings,
    cpu_model,
    run_extras,
    run_matrix,
)
from bench.wan import WanSettings, run_wan, wan_lines
from bench.wan_proxy import DEFAULT_DELAY_MS
from bench.workload import Workload, make_workload

__all__ = ["main", "parse_settings"]

RESULTS = Path(__file__).resolve().parent / "results"
_QUICK = {"n": 300, "slow_n": 30, "reps": 1, "big": 10_000, "wan_n": 200, "wan_peer_n": 60}
_FULL = {"n": 2_000, "slow_n": 200, "reps": 3, "big": 100_000, "wan_n": 1_000, "wan_peer_n": 300}
_WAN_REPS = {"quick": 1, "full": 2}


def _sizes(text: str) -> tuple[int, ...]:
    """`--big`: one size or several, comma-separated, ascending (100000,1000000)."""
    try:
        sizes = tuple(int(part.replace("_", "")) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or a list of numbers: {text!r}") from None
    if any(size < 0 for size in sizes) or list(sizes) != sorted(sizes):
        raise argparse.ArgumentTypeError(f"sizes must be 0 or more, ascending: {text!r}")
    return sizes


def _names(text: str, known: tuple[str, ...], what: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in known]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown)}; choose from {', '.join(known)}"
        )
    return names


def parse_settings(argv: list[str] | None = None) -> tuple[Settings, argparse.Namespace]:
    clients = tuple(c.key for c in CLIENTS)
    sinks = tuple(s.key for s in SINKS)
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small and once: a smoke run")
    parser.add_argument("--n", type=int, help=f"messages per run (default {_FULL['n']:,})")
    parser.add_argument(
        "--slow-n", type=int, help=f"messages on the 100 ms greeting sink ({_FULL['slow_n']})"
    )
    parser.add_argument("--reps", type=int, help=f"runs per client and sink ({_FULL['reps']})")
    parser.add_argument(
        "--big",
        type=_sizes,
        help=f"recipients for the import and memory runs, 0 to skip ({_FULL['big']:,}); "
        "several sizes side by side: 100000,1000000",
    )
    parser.add_argument(
        "--wan-delay-ms",
        type=float,
        default=DEFAULT_DELAY_MS,
        help=f"WAN profile: one-way delay added by the proxy ({DEFAULT_DELAY_MS}; 0 skips it)",
    )
    parser.add_argument("--wan-n", type=int, help=f"WAN: messages for ours ({_FULL['wan_n']:,})")
    parser.add_argument(
        "--wan-peer-n", type=int, help=f"WAN: messages for the peers ({_FULL['wan_peer_n']})"
    )
    parser.add_argument("--wan-reps", type=int, help=f"WAN: runs per client ({_WAN_REPS['full']})")
    parser.add_argument("--wan-only", action="store_true", help="run only the WAN profile")
    parser.add_argument("--only", default=",".join(clients), help=f"clients: {','.join(clients)}")
    parser.add_argument("--sinks", default=",".join(sinks), help=f"sinks: {','.join(sinks)}")
    parser.add_argument("--no-install", action="store_true", help="use only installed peers")
    parser.add_argument("--no-write", action="store_true", help="print, do not write results")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per process")
    args = parser.parse_args(argv)
    base = _QUICK if args.quick else _FULL
    try:
        chosen_clients = _names(args.only, clients, "client")
        chosen_sinks = _names(args.sinks, sinks, "sink")
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if "ours" not in chosen_clients:
        chosen_clients = ("ours", *chosen_clients)  # every ratio is taken against it
    settings = Settings(
        n=args.n or base["n"],
        slow_n=args.slow_n or base["slow_n"],
        reps=args.reps or base["reps"],
        clients=chosen_clients,
        sinks=chosen_sinks,
        big=base["big"] if args.big is None else args.big[0],
        bigger=() if args.big is None else tuple(args.big[1:]),
        timeout=args.timeout,
    )
    args.wan = WanSettings(
        delay_ms=args.wan_delay_ms,
        n=args.wan_n or base["wan_n"],
        peer_n=args.wan_peer_n or base["wan_peer_n"],
        reps=args.wan_reps or _WAN_REPS["quick" if args.quick else "full"],
        clients=chosen_clients,
    )
    return settings, args


def _memory() -> int:
    try:
        import psutil
    except ImportError:
        return 0
    return int(psutil.virtual_memory().total)


def main(argv: list[str] | None = None) -> int:
    settings, args = parse_settings(argv)
    wants_node = any(c.needs == "node" for c in CLIENTS if c.key in settings.clients) or any(
        s.node for s in SINKS if s.key in settings.sinks
    )
    peers = ensure_peers(
        mailmerge="mailmerge" in settings.clients, node=wants_node, install=not args.no_install
    )
    for peer, why in peers.skipped.items():
        print(f"bench: skipping {peer}: {why}", file=sys.stderr)
    cache: dict[int, Workload] = {}

    def workload(count: int) -> Workload:
        if count not in cache:
            cache[count] = make_workload(SCRATCH / "work", count)
        return cache[count]

    def progress(line: str) -> None:
        print(f"bench: {line}", file=sys.stderr, flush=True)

    runs: list[Run] = []
    skipped: dict[tuple[str, str], str] = {}
    extras: list[Extra] = []
    if not args.wan_only:
        runs, skipped = run_matrix(settings, peers, workload, progress)
        extras = run_extras(settings, peers, workload, progress)
    wan: list[str] = []
    wan_runs: list[Run] = []
    if args.wan.delay_ms > 0:
        wan_runs, wan_skipped, round_trip = run_wan(args.wan, peers, workload, progress)
        wan = wan_lines(wan_runs, args.wan, wan_skipped, round_trip=round_trip)
    versions = dict(peers.versions)
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        versions["uvloop"] = importlib.metadata.version("uvloop")
    today = datetime.date.today().isoformat()
    context = Context(
        date=today,
        cpu=cpu_model(),
        cores=os.cpu_count() or 0,
        memory=_memory(),
        versions=versions,
        settings=settings,
        skipped=skipped,
        peer_problems=peers.skipped,
    )
    text = render(context, [*runs, *wan_runs], extras, wan)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        for name in ("latest.md", f"{today}.md"):
            temporary = RESULTS / f"{name}.tmp"
            temporary.write_text(text, encoding="utf-8")
            temporary.replace(RESULTS / name)
        print(f"bench: written to {RESULTS / 'latest.md'} and {today}.md", file=sys.stderr)
    return 0 if all(run.ok for run in [*runs, *wan_runs]) else 1


if __name__ == "__main__":
    sys.exit(main())
