"""DKIM signing cost per ~2 KB message (the bench workload's), RSA-2048 and Ed25519, in-process."""

from __future__ import annotations

import time
from pathlib import Path
from types import MappingProxyType

from bench.runner import Extra
from bench.workload import TEMPLATE
from core.mailmerge import parse_mailmerge
from core.message import MessageBuilder
from core.models import Account, Recipient
from storage.dkim_keys import generate_key

__all__ = ["measure_dkim"]


_MESSAGES = 500
_WARMUP = 20
_FIELDS = {"first_name": "Ann", "last_name": "Lee", "company": "Contoso Ltd", "city": "Lyon"}


def _payloads(count: int, base_dir: Path) -> list[bytes]:
    parsed = parse_mailmerge(TEMPLATE)
    account = Account(host="127.0.0.1", port=25, sender="sender@example.com")
    builder = MessageBuilder(account, parsed.template, "bench-dkim", base_dir=base_dir)
    return [
        builder.build(
            Recipient(
                email=f"ann.lee.{n}@example.com",
                fields=MappingProxyType({**_FIELDS, "email": f"ann.lee.{n}@example.com"}),
            )
        ).payload
        for n in range(count)
    ]


def measure_dkim(base_dir: Path, messages: int = _MESSAGES) -> list[Extra]:
    """One row per algorithm: seconds for `messages` signatures, and ms per message."""
    payloads = _payloads(messages, base_dir)
    size = sum(map(len, payloads)) / len(payloads)
    rows = []
    for ed25519 in (False, True):
        key = generate_key("example.com", "bench", ed25519_key=ed25519)
        sign = key.signer()
        for payload in payloads[:_WARMUP]:
            sign(payload)
        start = time.perf_counter()
        for payload in payloads:
            sign(payload)
        seconds = time.perf_counter() - start
        label = "RSA-2048" if not ed25519 else "Ed25519"
        extra = Extra(
            f"dkim-{key.algorithm.value}",
            f"DKIM signing, {label}, {messages:,} messages of ~{size / 1024:.1f} KB",
            seconds,
        )
        extra.detail = {"ms_per_msg": seconds / messages * 1000, "bytes": size}
        rows.append(extra)
    return rows
