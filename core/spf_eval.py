"""SPF evaluated by pyspf (RFC 7208, 10-lookup limit) with our resolver, not string matching."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from core.dns_lookup import DnsLookup, DnsUnavailable

__all__ = ["SpfResult", "evaluate_spf"]

# pyspf looks up DNS through its module-level `DNSLookup`: it is pointed at our resolver for
# the length of one evaluation, one evaluation at a time.
_PYSPF_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class SpfResult:
    """pyspf's verdict for one connecting address: pass, fail, softfail, neutral, none, ..."""

    ip: str
    result: str
    explanation: str


def _pyspf() -> Any:  # pyspf has no type hints
    """pyspf, imported at the first check: it brings dnspython, which start-up need not load."""
    import spf

    return spf


def _lookup_for(lookup: DnsLookup) -> Any:
    spf = _pyspf()

    def dns_lookup(name: str, qtype: str, strict: object = True, timeout: object = None) -> Any:
        try:
            records = lookup.raw(name, qtype)
        except DnsUnavailable as exc:
            raise spf.TempError(f"DNS {exc}") from None
        key = (name, qtype)
        if qtype in {"TXT", "SPF"}:
            return [(key, parts) for parts in records]
        if qtype == "MX":
            return [(key, (int(parts[0]), parts[1].decode("ascii"))) for parts in records]
        return [(key, parts[0].decode("ascii")) for parts in records]

    return dns_lookup


@contextmanager
def _pyspf_using(lookup: DnsLookup) -> Iterator[None]:
    spf = _pyspf()
    with _PYSPF_LOCK:
        saved = spf.DNSLookup
        spf.DNSLookup = _lookup_for(lookup)
        try:
            yield
        finally:
            spf.DNSLookup = saved


def evaluate_spf(lookup: DnsLookup, *, ip: str, sender: str, helo: str) -> SpfResult:
    """What a receiver would conclude for mail from `sender` arriving from `ip`."""
    with _pyspf_using(lookup):
        query = _pyspf().query(i=ip, s=sender, h=helo, strict=True, timeout=lookup.remaining())
        result, _code, explanation = query.check()
    return SpfResult(ip=ip, result=str(result), explanation=str(explanation))
