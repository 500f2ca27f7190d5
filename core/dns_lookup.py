"""DNS answers for the sender-domain check: one resolver, a time budget, a cache per run."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # dnspython is imported when a lookup is made (the CLI starts without it)
    import dns.resolver

__all__ = ["DEFAULT_BUDGET", "DnsLookup", "DnsUnavailable"]

DEFAULT_BUDGET = 2.0  # seconds of DNS per domain checked
_MIN_QUERY_TIME = 0.05


class DnsUnavailable(Exception):
    """DNS did not answer (offline, timeout, no server): the check is a warning, not an error."""


class DnsLookup:
    """TXT and address lookups through one injectable resolver, cached for the whole run.

    Each domain gets `budget` seconds (`start(domain)` opens its budget); a query past it
    raises `DnsUnavailable`, as does a timeout or a server that does not answer.
    A name that does not exist, or has no record of that type, is an empty answer.
    """

    def __init__(
        self,
        resolver: dns.resolver.Resolver | None = None,
        *,
        budget: float = DEFAULT_BUDGET,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.resolver = resolver or _system_resolver()
        self.budget = budget
        self._clock = clock
        self._deadline = clock() + budget
        self._cache: dict[tuple[str, str], tuple[tuple[bytes, ...], ...] | DnsUnavailable] = {}

    def start(self, domain: str) -> None:
        """Give the next checks (of `domain`) a fresh time budget."""
        self._deadline = self._clock() + self.budget

    def remaining(self) -> float:
        return self._deadline - self._clock()

    def raw(self, name: str, rdtype: str) -> tuple[tuple[bytes, ...], ...]:
        """Each record's data: TXT as its strings, A/AAAA the address, MX (preference, host)."""
        key = (name.rstrip(".").lower(), rdtype)
        cached = self._cache.get(key)
        if isinstance(cached, DnsUnavailable):
            raise cached
        if cached is not None:
            return cached
        try:
            answer = self._query(key[0], rdtype)
        except DnsUnavailable as exc:
            self._cache[key] = exc
            raise
        self._cache[key] = answer
        return answer

    def _query(self, name: str, rdtype: str) -> tuple[tuple[bytes, ...], ...]:
        import dns.exception
        import dns.resolver

        left = self.remaining()
        if left < _MIN_QUERY_TIME:
            raise DnsUnavailable(f"no time left to look up {rdtype} {name}")
        try:
            answer = self.resolver.resolve(name, rdtype, lifetime=left, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return ()
        except (dns.exception.Timeout, dns.resolver.NoNameservers, OSError) as exc:
            raise DnsUnavailable(f"DNS did not answer for {rdtype} {name} ({exc})") from None
        except dns.exception.DNSException as exc:
            raise DnsUnavailable(f"DNS lookup of {rdtype} {name} failed ({exc})") from None
        out: list[tuple[bytes, ...]] = []
        for rdata in answer:
            if rdtype in {"TXT", "SPF"}:
                out.append(tuple(rdata.strings))
            elif rdtype in {"A", "AAAA"}:
                out.append((rdata.address.encode("ascii"),))
            elif rdtype == "MX":
                exchange = rdata.exchange.to_text(omit_final_dot=True).encode("ascii")
                out.append((str(rdata.preference).encode("ascii"), exchange))
            elif rdtype == "PTR":
                out.append((rdata.target.to_text(omit_final_dot=True).encode("ascii"),))
            else:
                out.append((rdata.to_text().encode("utf-8"),))
        return tuple(out)

    def txt(self, name: str) -> list[str]:
        """Each TXT record's strings joined (as RFC 7208 3.3 and RFC 6376 3.6.2.2 say)."""
        return [b"".join(parts).decode("utf-8", "replace") for parts in self.raw(name, "TXT")]

    def addresses(self, host: str) -> list[str]:
        """The host's IPv4 and IPv6 addresses."""
        return [
            parts[0].decode("ascii") for rdtype in ("A", "AAAA") for parts in self.raw(host, rdtype)
        ]


def _system_resolver() -> dns.resolver.Resolver:
    """The system's resolver; one with no server (every lookup a warning) if there is none."""
    import dns.resolver

    try:
        return dns.resolver.Resolver()
    except dns.resolver.NoResolverConfiguration:
        return dns.resolver.Resolver(configure=False)
