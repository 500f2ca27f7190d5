"""The benchmark's DKIM row: both algorithms measured, their signatures valid, targets shown."""

from __future__ import annotations

from pathlib import Path

import dkim

from bench.dkim_cost import _payloads, measure_dkim
from bench.report import targets
from storage.dkim_keys import generate_key


def test_dkim_rows_measure_both_algorithms_and_reach_the_targets_table(tmp_path: Path) -> None:
    rows = measure_dkim(tmp_path, messages=20)
    assert [row.key for row in rows] == ["dkim-rsa-sha256", "dkim-ed25519-sha256"]
    assert all(row.seconds > 0 and row.detail["ms_per_msg"] > 0 for row in rows)
    assert 1800 < rows[0].detail["bytes"] < 2400  # the workload's ~2 KB messages
    named = {t.name: t for t in targets([], rows)}
    dkim_targets = [t for name, t in named.items() if name.startswith("DKIM signing")]
    assert len(dkim_targets) == 2 and all(t.met is not None for t in dkim_targets)


def test_the_benchmarked_messages_are_what_gets_signed_and_verify(tmp_path: Path) -> None:
    key = generate_key("example.com", "bench")
    payload = key.signer()(_payloads(1, tmp_path)[0])
    record = key.record_value.encode()
    assert dkim.verify(payload, dnsfunc=lambda name, timeout=5: record)
