"""The benchmark harness itself: the sink counts what our pipeline sends, the report renders."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.peers import Peers
from bench.procs import SinkProcess, measure
from bench.report import Context, render
from bench.runner import ROOT, Run, Settings, client_argv
from bench.workload import make_workload

N = 20


@pytest.fixture
def sink() -> Iterator[SinkProcess]:
    with SinkProcess([sys.executable, "-m", "bench.sink"], env=_env(), cwd=ROOT) as process:
        yield process


def _env(home: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NICEGUI_"))}
    env["PYTHONPATH"] = str(ROOT)
    if home is not None:
        env["BULKMAILER_HOME"] = str(home)
    return env


@pytest.mark.slow
def test_sink_counts_every_message_of_our_pipeline(sink: SinkProcess, tmp_path: Path) -> None:
    work = make_workload(tmp_path / "work", N)
    sink.reset()
    done = measure(
        client_argv("ours", sink.port, work, Peers()),
        env=_env(tmp_path / "home"),
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    stats = sink.stats()
    assert stats.count == N
    assert stats.connections == 1
    assert len(stats.starts) == N
    assert stats.window > 0
    assert done.max_rss > 0
    sink.reset()
    assert sink.stats().count == 0


def test_report_renders_ratios_and_targets() -> None:
    settings = Settings(
        n=100, slow_n=10, reps=1, clients=("ours", "smtplib"), sinks=("fast",), big=0
    )
    runs = [
        Run("fast", "ours", 0, 100, count=100, window=0.1, wall=0.5, max_rss=40 << 20),
        Run("fast", "smtplib", 0, 100, count=100, window=0.2, wall=0.4, max_rss=20 << 20),
    ]
    context = Context("2026-11-28", "cpu", 2, 0, {}, settings, {}, {})
    text = render(context, runs, [])
    assert "| 1,000 |" in text and "| 500 |" in text
    assert "2.00×" in text
    assert "not measured" in text  # no Nodemailer in this run


@pytest.mark.slow
def test_wan_proxy_carries_every_message_of_four_connections(
    sink: SinkProcess, tmp_path: Path
) -> None:
    proxy_argv = [sys.executable, "-m", "bench.wan_proxy", "--upstream-port", str(sink.port)]
    with SinkProcess([*proxy_argv, "--delay-ms", "5"], env=_env(), cwd=ROOT) as proxy:
        work = make_workload(tmp_path / "work", N)
        sink.reset()
        argv = [*client_argv("ours", proxy.port, work, Peers()), "--connections", "4"]
        done = measure(argv, env=_env(tmp_path / "home"), cwd=ROOT, timeout=120)
        assert done.returncode == 0, done.stderr
        stats = sink.stats()
        assert stats.count == N
        assert stats.connections == 4


@pytest.mark.slow
def test_wan_proxy_delays_each_chunk_both_ways_and_passes_the_end_on() -> None:
    """Every byte arrives, in order, no sooner than the delay each way; EOF goes through."""
    import socket
    import threading
    import time

    def echo(listener: socket.socket) -> None:
        conn, _ = listener.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data.upper())

    delay_ms = 30
    with socket.create_server(("127.0.0.1", 0)) as listener:
        threading.Thread(target=echo, args=(listener,), daemon=True).start()
        argv = [sys.executable, "-m", "bench.wan_proxy", "--upstream-port"]
        argv += [str(listener.getsockname()[1]), "--delay-ms", str(delay_ms)]
        with (
            SinkProcess(argv, env=_env(), cwd=ROOT) as proxy,
            socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as client,
        ):
            started = time.monotonic()
            for chunk in (b"first,", b"second,", b"third" * 30_000):
                client.sendall(chunk)
            client.shutdown(socket.SHUT_WR)
            received = bytearray()
            while data := client.recv(65536):
                if not received:
                    first_reply = time.monotonic() - started
                received += data
    assert bytes(received) == b"FIRST,SECOND," + b"THIRD" * 30_000
    assert first_reply >= 2 * delay_ms / 1000  # a round trip: the delay each way


@pytest.mark.slow
def test_round_trip_through_the_proxy_is_measured_with_the_sink(sink: SinkProcess) -> None:
    from bench.wan import measure_round_trip

    proxy_argv = [sys.executable, "-m", "bench.wan_proxy", "--upstream-port", str(sink.port)]
    with SinkProcess([*proxy_argv, "--delay-ms", "15"], env=_env(), cwd=ROOT) as proxy:
        round_trip = measure_round_trip(proxy.port, samples=5)
    assert 0.030 <= round_trip < 5.0  # the delay each way, at the least; an answer, at the most


def test_wan_report_sets_ours_against_peers_and_the_floor() -> None:
    from bench.wan import WanSettings, wan_lines

    settings = WanSettings(
        delay_ms=20, n=1000, peer_n=300, reps=1, clients=("ours", "nodemailer-pool")
    )
    runs = [
        Run("wan", "ours", 0, 1000, count=1000, window=50.0),  # 20 msgs/s, floor 25
        Run("wan", "ours-4", 0, 1000, count=1000, window=12.5),  # 80 msgs/s, floor 100
        Run("wan", "nodemailer-pool", 0, 300, count=300, window=30.0),  # 10 msgs/s
    ]
    text = "\n".join(wan_lines(runs, settings, {}, round_trip=0.0408))
    assert "one round trip (40 ms)" in text and "took 40.8 ms (median of 20" in text
    assert "| 25.0 | 80% |" in text and "| 100.0 | 80% |" in text
    assert "2.00×" in text  # ours ÷ Nodemailer pool of one
    assert "Nodemailer pool of four ≥ 2.0× | not measured" in text


def test_big_lists_of_two_sizes_are_reported_side_by_side_with_the_linear_target() -> None:
    from bench.runner import Extra

    settings = Settings(
        n=100, slow_n=10, reps=1, clients=("ours",), sinks=("fast",), big=1000, bigger=(10_000,)
    )
    mib = 1 << 20
    extras = [
        Extra("import", "import 1,000 (upload)", 1.5, 40 * mib, size=1000),
        Extra("import-streamed", "import 1,000", 2.0, 50 * mib, size=1000),
        Extra("dry-run", "dry 1,000", 3.0, 60 * mib, size=1000),
        Extra("big-send", "send 1,000", 4.0, 70 * mib, size=1000),
        Extra("import-streamed", "import 10,000", 23.0, 80 * mib, size=10_000),
        Extra("dry-run", "dry 10,000", 30.0, 310 * mib, size=10_000),
        Extra("big-send", "send 10,000", 40.0, 90 * mib, size=10_000),
    ]
    text = render(Context("2026-12-02", "cpu", 2, 0, {}, settings, {}, {}), [], extras)
    assert "| 1,000 | 2.0 s, 50 MB | 3.0 s, 60 MB | 4.0 s, 70 MB |" in text
    assert "| 10,000 | 23.0 s, 80 MB | 30.0 s, 310 MB | 40.0 s, 90 MB |" in text
    assert "| a 10,000-row CSV imports and validates in at most 11× the 1,000-row time | " in text
    assert "11.5× (23.0 s vs 2.0 s) | **no** |" in text
    assert "| 10,000-recipient dry run under 300 MB peak RSS | 310 MB | **no** |" in text
    assert "| 10,000-recipient campaign sent under 300 MB peak RSS | 90 MB | yes |" in text


@pytest.mark.parametrize("streamed", [False, True])
def test_the_import_client_reads_the_list_as_the_app_or_the_cli_does(
    tmp_path: Path, streamed: bool
) -> None:
    import json

    work = make_workload(tmp_path, 50)
    argv = [sys.executable, "-m", "bench.clients.import_csv", "--recipients", str(work.recipients)]
    argv += ["--streamed"] if streamed else []
    done = measure(argv, env=dict(os.environ), cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["recipients"], result["rejected"], result["duplicates"]) == (50, 0, 0)


def test_big_sizes_on_the_command_line() -> None:
    from bench.__main__ import _sizes

    assert _sizes("100000") == (100_000,)
    assert _sizes("100_000,1000000") == (100_000, 1_000_000)
    with pytest.raises(argparse.ArgumentTypeError, match="ascending"):
        _sizes("1000000,100000")
    with pytest.raises(argparse.ArgumentTypeError, match="not a number"):
        _sizes("lots")


def test_the_whole_process_target_compares_end_to_end_rates() -> None:
    settings = Settings(
        n=100, slow_n=10, reps=1, clients=("ours", "nodemailer-pool"), sinks=("fast",), big=0
    )
    runs = [  # ours: faster on the wire (1,000 vs 500 msgs/s), but 1.6x end to end only
        Run("fast", "ours", 0, 100, count=100, window=0.1, wall=0.5, max_rss=40 << 20),
        Run("fast", "nodemailer-pool", 0, 100, count=100, window=0.2, wall=0.8, max_rss=1 << 20),
    ]
    text = render(Context("2026-12-02", "cpu", 2, 0, {}, settings, {}, {}), runs, [])
    assert "over the whole process (end-to-end), fast sink, one connection, durable journal" in text
    assert "| 1.60× | yes |" in text
