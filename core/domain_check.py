"""The sender-domain check: SPF for the relay's addresses, DMARC and alignment, the DKIM record."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from publicsuffixlist import PublicSuffixList

from core.dkim import normalize_domain
from core.dns_lookup import DnsLookup, DnsUnavailable
from core.spf_eval import SpfResult, evaluate_spf

__all__ = [
    "DkimPublished",
    "DomainChecker",
    "DomainReport",
    "Finding",
    "Level",
    "aligned",
    "parse_tags",
]


class Level(StrEnum):
    OK = "ok"
    INFO = "info"
    WARN = "warn"  # mail may land in spam, or DNS could not be asked
    FAIL = "fail"  # receivers will reject or junk the mail


_MARK = {Level.OK: "ok  ", Level.INFO: "info", Level.WARN: "warn", Level.FAIL: "FAIL"}


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of the check: what was found and what to change."""

    topic: str  # SPF, DMARC, alignment, DKIM
    level: Level
    text: str
    fix: str = ""

    def line(self) -> str:
        fix = f" Fix: {self.fix}" if self.fix else ""
        return f"[{_MARK[self.level]}] {self.topic}: {self.text}.{fix}"


@dataclass(frozen=True, slots=True)
class DkimPublished:
    """Our DKIM key as it should be published (from `storage.dkim_keys.DkimKey`)."""

    domain: str
    selector: str
    record_name: str
    record_value: str  # v=DKIM1; k=...; p=...
    public_key_b64: str


@dataclass(frozen=True, slots=True)
class DomainReport:
    domain: str
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        """No finding says receivers would refuse or junk the mail."""
        return all(finding.level is not Level.FAIL for finding in self.findings)

    def lines(self) -> list[str]:
        return [f"Sender domain {self.domain}:"] + [f"  {f.line()}" for f in self.findings]

    def of(self, topic: str) -> Finding:
        return next(f for f in self.findings if f.topic == topic)


def parse_tags(record: str) -> dict[str, str]:
    """`v=DMARC1; p=none` -> {'v': 'DMARC1', 'p': 'none'} (tag names lowercased)."""
    tags: dict[str, str] = {}
    for part in record.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags[name.strip().lower()] = (
                "".join(value.split()) if name.strip() == "p" else value.strip()
            )
    return tags


@functools.cache
def _suffixes() -> PublicSuffixList:
    """The Public Suffix List the package ships (no download), read on first use."""
    return PublicSuffixList()


def _org_domain(domain: str) -> str:
    """The organizational domain (RFC 7489 3.2): the registrable name under a public suffix,
    `example.co.uk` for `mail.example.co.uk`; a bare suffix stands for itself."""
    name = domain.lower().rstrip(".")
    return _suffixes().privatesuffix(name) or name


def aligned(from_domain: str, dkim_domain: str, *, strict: bool) -> bool:
    """DMARC identifier alignment (RFC 7489 3.1.1): equal (strict) or same org domain."""
    if strict:
        return from_domain == dkim_domain
    return _org_domain(from_domain) == _org_domain(dkim_domain)


def _unavailable(topic: str, exc: DnsUnavailable) -> Finding:
    return Finding(
        topic, Level.WARN, f"not checked: {exc}", "check again when DNS answers (offline?)"
    )


class DomainChecker:
    """Checks sender domains; DNS answers and reports are kept for the whole run."""

    def __init__(self, lookup: DnsLookup | None = None) -> None:
        self.lookup = lookup or DnsLookup()
        self._reports: dict[tuple[str, str, DkimPublished | None], DomainReport] = {}

    def check(
        self, *, sender: str, relay_host: str, dkim: DkimPublished | None = None
    ) -> DomainReport:
        """SPF, DMARC, alignment and DKIM for the From address `sender` sent via `relay_host`."""
        domain = normalize_domain(sender.rpartition("@")[2])
        key = (domain, relay_host.lower(), dkim)
        if key not in self._reports:
            self.lookup.start(domain)
            steps: list[Callable[[], Finding]] = [
                lambda: self._spf(domain, sender, relay_host),
                lambda: self._dmarc(domain),
                lambda: self._alignment(domain, dkim),
                lambda: self._dkim(dkim),
            ]
            findings = []
            for topic, step in zip(("SPF", "DMARC", "alignment", "DKIM"), steps, strict=True):
                try:
                    findings.append(step())
                except DnsUnavailable as exc:
                    findings.append(_unavailable(topic, exc))
            self._reports[key] = DomainReport(domain, tuple(findings))
        return self._reports[key]

    # -- SPF ------------------------------------------------------------------------------

    def _relay_addresses(self, relay_host: str) -> list[str]:
        try:
            return [str(ipaddress.ip_address(relay_host.strip("[]")))]
        except ValueError:
            return self.lookup.addresses(relay_host)

    def _spf(self, domain: str, sender: str, relay_host: str) -> Finding:
        addresses = self._relay_addresses(relay_host)
        if not addresses:
            return Finding("SPF", Level.WARN, f"{relay_host} has no address to evaluate SPF for")
        results = [
            evaluate_spf(self.lookup, ip=ip, sender=sender, helo=relay_host) for ip in addresses
        ]
        return _spf_finding(domain, relay_host, results)

    # -- DMARC ----------------------------------------------------------------------------

    def _dmarc_record(self, domain: str) -> tuple[str, dict[str, str]] | None:
        for name in dict.fromkeys((domain, _org_domain(domain))):
            for text in self.lookup.txt(f"_dmarc.{name}"):
                if text.strip().lower().startswith("v=dmarc1"):
                    return name, parse_tags(text)
        return None

    def _dmarc(self, domain: str) -> Finding:
        found = self._dmarc_record(domain)
        if found is None:
            return Finding(
                "DMARC",
                Level.WARN,
                f"no DMARC record at _dmarc.{domain} (Gmail and Yahoo require one of bulk senders)",
                f'publish TXT _dmarc.{domain} "v=DMARC1; p=none; rua=mailto:dmarc@{domain}"',
            )
        where, tags = found
        policy = tags.get("p", "").lower()
        if policy not in {"none", "quarantine", "reject"}:
            return Finding(
                "DMARC",
                Level.FAIL,
                f"the record at _dmarc.{where} has no valid policy (p={policy or '-'})",
                "set p=none, p=quarantine or p=reject",
            )
        if policy == "none":
            return Finding(
                "DMARC",
                Level.OK,
                f"present at _dmarc.{where}, policy none (reports only)",
                "",
            )
        return Finding("DMARC", Level.OK, f"present at _dmarc.{where}, policy {policy}")

    def _alignment(self, domain: str, dkim: DkimPublished | None) -> Finding:
        found = self._dmarc_record(domain)
        strict = found is not None and found[1].get("adkim", "r").lower() == "s"
        if dkim is None:
            return Finding(
                "alignment",
                Level.WARN,
                f"no DKIM key of ours signs for {domain}; DMARC passes only if the relay signs "
                "with your domain or SPF aligns",
                "generate a key: python main.py dkim generate --account NAME "
                f"--domain {domain} --selector SELECTOR",
            )
        if aligned(domain, dkim.domain, strict=strict):
            mode = "strict" if strict else "relaxed"
            return Finding(
                "alignment", Level.OK, f"DKIM d={dkim.domain} aligns with From {domain} ({mode})"
            )
        return Finding(
            "alignment",
            Level.FAIL,
            f"DKIM d={dkim.domain} does not align with From {domain}"
            + (" (adkim=s wants the exact domain)" if strict else ""),
            f"sign with a key for {domain} (dkim generate --domain {domain})",
        )

    # -- DKIM -----------------------------------------------------------------------------

    def _dkim(self, dkim: DkimPublished | None) -> Finding:
        if dkim is None:
            return Finding("DKIM", Level.INFO, "this account has no DKIM key of its own")
        publish = f'publish TXT {dkim.record_name} "{dkim.record_value}"'
        records = [t for t in self.lookup.txt(dkim.record_name) if "p=" in t]
        if not records:
            return Finding("DKIM", Level.FAIL, f"no key published at {dkim.record_name}", publish)
        keys = [parse_tags(text).get("p", "") for text in records]
        if dkim.public_key_b64 in keys:
            return Finding("DKIM", Level.OK, f"{dkim.record_name} holds our key")
        if keys == [""]:
            text = f"the key at {dkim.record_name} is revoked (empty p=)"
        else:
            text = f"{dkim.record_name} holds another key than ours"
        return Finding("DKIM", Level.FAIL, text, publish)


def _spf_finding(domain: str, relay_host: str, results: list[SpfResult]) -> Finding:
    by = {r.result for r in results}
    ips = ", ".join(r.ip for r in results)
    allow = " ".join(
        f"ip6:{r.ip}" if ":" in r.ip else f"ip4:{r.ip}" for r in results if r.result != "pass"
    )
    if by == {"pass"}:
        return Finding("SPF", Level.OK, f"passes for {relay_host} ({ips})")
    if "permerror" in by:
        why = next(r.explanation for r in results if r.result == "permerror")
        return Finding(
            "SPF",
            Level.FAIL,
            f"the record of {domain} is broken: {why}",
            "fix the record; at most 10 DNS-querying terms (include, a, mx, ptr, exists, "
            "redirect) in all, counting nested includes",
        )
    if "temperror" in by:
        why = next(r.explanation for r in results if r.result == "temperror")
        return Finding("SPF", Level.WARN, f"not checked: {why}", "check again when DNS answers")
    if by == {"none"}:
        return Finding(
            "SPF",
            Level.WARN,
            f"{domain} publishes no SPF record",
            f'publish TXT {domain} "v=spf1 include:<your provider\'s SPF> ~all" '
            f'(or "v=spf1 {allow} ~all")',
        )
    worst = next(result for result in ("fail", "softfail", "neutral", "none") if result in by)
    level = Level.FAIL if worst == "fail" else Level.WARN
    failing = ", ".join(r.ip for r in results if r.result != "pass")
    return Finding(
        "SPF",
        level,
        f"{worst} for {relay_host} ({failing}): {domain}'s record does not allow this relay",
        f"add the relay to the SPF record of {domain}: include: what your provider documents, "
        f"or {allow}",
    )
