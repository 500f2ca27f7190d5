"""A local authoritative DNS server (dnslib) on 127.0.0.1, and a dnspython resolver for it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dns.resolver
from dnslib import QTYPE, RCODE, RR, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

__all__ = ["LocalDNS", "local_dns"]


class _Zone(BaseResolver):  # type: ignore[misc]
    """Answers from records given as zone-file lines; NXDOMAIN for names it does not hold."""

    def __init__(self) -> None:
        self.records: list[RR] = []
        self.queries: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        qname, qtype = request.q.qname, QTYPE[request.q.qtype]
        with self.lock:
            self.queries.append((str(qname).rstrip(".").lower(), qtype))
            known = [rr for rr in self.records if rr.rname == qname]
        for rr in known:
            if QTYPE[rr.rtype] == qtype:
                reply.add_answer(rr)
        if not known:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class LocalDNS:
    """The server's address, its records (zone-file lines) and a resolver that asks only it."""

    def __init__(self, zone: _Zone, port: int) -> None:
        self._zone = zone
        self.port = port

    def add(self, *lines: str) -> None:
        """Publish zone-file lines, e.g. `example.com. 300 IN TXT "v=spf1 -all"`."""
        records = [rr for line in lines for rr in RR.fromZone(line)]
        with self._zone.lock:
            self._zone.records.extend(records)

    def clear(self) -> None:
        with self._zone.lock:
            self._zone.records.clear()

    @property
    def queries(self) -> list[tuple[str, str]]:
        with self._zone.lock:
            return list(self._zone.queries)

    def resolver(self, *, lifetime: float = 2.0) -> dns.resolver.Resolver:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = self.port
        resolver.lifetime = lifetime
        resolver.timeout = lifetime
        return resolver


@contextmanager
def local_dns() -> Iterator[LocalDNS]:
    zone = _Zone()
    quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
    server = DNSServer(zone, port=0, address="127.0.0.1", logger=quiet)
    server.start_thread()
    try:
        yield LocalDNS(zone, server.server.server_address[1])
    finally:
        server.stop()
        server.server.server_close()
