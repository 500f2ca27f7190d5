"""The sender-domain check against a local authoritative DNS server on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from core.dns_lookup import DnsLookup
from core.domain_check import DkimPublished, DomainChecker, Level, aligned, parse_tags
from storage.dkim_keys import DkimKey, generate_key
from tests.dns_server import LocalDNS, local_dns

RELAY = "relay.example.net"
SENDER = "news@example.com"
ZONE_RELAY = (
    f"{RELAY}. 300 IN A 192.0.2.10",
    f"{RELAY}. 300 IN AAAA 2001:db8::10",
)
GOOD_SPF = (
    'example.com. 300 IN TXT "v=spf1 include:_spf.example.net -all"',
    '_spf.example.net. 300 IN TXT "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/64 -all"',
)
DMARC_QUARANTINE = (
    '_dmarc.example.com. 300 IN TXT "v=DMARC1; p=quarantine; rua=mailto:d@example.com"'
)


@pytest.fixture
def dns_server() -> Iterator[LocalDNS]:
    with local_dns() as server:
        yield server


@pytest.fixture(scope="module")
def key() -> DkimKey:
    return generate_key("example.com", "s1", ed25519_key=True)


def published(key: DkimKey) -> DkimPublished:
    return DkimPublished(
        key.domain, key.selector, key.record_name, key.record_value, key.public_key_b64
    )


def checker(server: LocalDNS) -> DomainChecker:
    return DomainChecker(DnsLookup(server.resolver()))


def test_a_domain_set_up_right_passes_every_line(dns_server: LocalDNS, key: DkimKey) -> None:
    dns_server.add(*ZONE_RELAY, *GOOD_SPF, DMARC_QUARANTINE, key.zone_line())
    report = checker(dns_server).check(sender=SENDER, relay_host=RELAY, dkim=published(key))
    assert [f.level for f in report.findings] == [Level.OK] * 4, report.lines()
    assert report.ok
    assert "192.0.2.10, 2001:db8::10" in report.of("SPF").text
    assert "policy quarantine" in report.of("DMARC").text
    assert len(report.lines()) == 5


def test_spf_that_leaves_out_the_relay_fails_with_the_addresses_to_add(
    dns_server: LocalDNS,
) -> None:
    # The include is there, but the record it names does not cover the relay: string matching
    # would call this fine, a real evaluation does not.
    dns_server.add(
        *ZONE_RELAY,
        'example.com. 300 IN TXT "v=spf1 include:_spf.example.net -all"',
        '_spf.example.net. 300 IN TXT "v=spf1 ip4:198.51.100.0/24 -all"',
    )
    finding = checker(dns_server).check(sender=SENDER, relay_host=RELAY).of("SPF")
    assert finding.level is Level.FAIL
    assert "fail" in finding.text
    assert "ip4:192.0.2.10" in finding.fix and "ip6:2001:db8::10" in finding.fix


def test_softfail_is_a_warning(dns_server: LocalDNS) -> None:
    dns_server.add(*ZONE_RELAY, 'example.com. 300 IN TXT "v=spf1 ip4:198.51.100.1 ~all"')
    finding = checker(dns_server).check(sender=SENDER, relay_host=RELAY).of("SPF")
    assert (finding.level, finding.text.split()[0]) == (Level.WARN, "softfail")


def test_spf_over_ten_lookups_is_a_broken_record(dns_server: LocalDNS) -> None:
    chain = ['example.com. 300 IN TXT "v=spf1 include:i1.example.com -all"']
    chain += [
        f'i{n}.example.com. 300 IN TXT "v=spf1 include:i{n + 1}.example.com -all"'
        for n in range(1, 12)
    ]
    chain.append('i12.example.com. 300 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"')
    dns_server.add(*ZONE_RELAY, *chain)
    finding = checker(dns_server).check(sender=SENDER, relay_host=RELAY).of("SPF")
    assert finding.level is Level.FAIL
    assert "lookups" in finding.text.lower()
    assert "10" in finding.fix


def test_nothing_published_gives_a_warning_with_the_record_to_publish_for_each(
    dns_server: LocalDNS,
) -> None:
    dns_server.add(*ZONE_RELAY)
    report = checker(dns_server).check(sender=SENDER, relay_host=RELAY)
    spf, dmarc = report.of("SPF"), report.of("DMARC")
    assert (spf.level, dmarc.level) == (Level.WARN, Level.WARN)
    assert 'publish TXT example.com "v=spf1' in spf.fix
    assert 'publish TXT _dmarc.example.com "v=DMARC1; p=none' in dmarc.fix
    assert report.of("alignment").level is Level.WARN
    assert "dkim generate" in report.of("alignment").fix
    assert report.of("DKIM").level is Level.INFO


def test_dkim_record_missing_or_another_key_fails_with_the_exact_record(
    dns_server: LocalDNS, key: DkimKey
) -> None:
    dns_server.add(*ZONE_RELAY, *GOOD_SPF, DMARC_QUARANTINE)
    missing = checker(dns_server).check(sender=SENDER, relay_host=RELAY, dkim=published(key))
    assert missing.of("DKIM").level is Level.FAIL
    assert missing.of("DKIM").fix == f'publish TXT {key.record_name} "{key.record_value}"'
    dns_server.add(generate_key("example.com", "s1", ed25519_key=True).zone_line())
    other = checker(dns_server).check(sender=SENDER, relay_host=RELAY, dkim=published(key))
    assert other.of("DKIM").level is Level.FAIL
    assert "another key" in other.of("DKIM").text


def test_revoked_dkim_key_fails(dns_server: LocalDNS, key: DkimKey) -> None:
    dns_server.add(f'{key.record_name}. 300 IN TXT "v=DKIM1; k=ed25519; p="')
    report = checker(dns_server).check(sender=SENDER, relay_host=RELAY, dkim=published(key))
    assert "revoked" in report.of("DKIM").text


def test_dkim_domain_that_does_not_align_with_from_fails(dns_server: LocalDNS) -> None:
    other = generate_key("other.org", "s1", ed25519_key=True)
    dns_server.add(*ZONE_RELAY, DMARC_QUARANTINE)
    report = checker(dns_server).check(sender=SENDER, relay_host=RELAY, dkim=published(other))
    finding = report.of("alignment")
    assert finding.level is Level.FAIL
    assert "d=other.org" in finding.text and "--domain example.com" in finding.fix


def test_strict_alignment_wants_the_exact_domain(dns_server: LocalDNS) -> None:
    sub = generate_key("mail.example.com", "s1", ed25519_key=True)
    dns_server.add('_dmarc.example.com. 300 IN TXT "v=DMARC1; p=reject; adkim=s"')
    finding = (
        checker(dns_server)
        .check(sender=SENDER, relay_host=RELAY, dkim=published(sub))
        .of("alignment")
    )
    assert finding.level is Level.FAIL and "adkim=s" in finding.text


def test_dmarc_of_the_organizational_domain_applies_to_a_subdomain(dns_server: LocalDNS) -> None:
    dns_server.add(DMARC_QUARANTINE)
    report = checker(dns_server).check(sender="a@news.example.com", relay_host=RELAY)
    assert report.of("DMARC").level is Level.OK
    assert "_dmarc.example.com" in report.of("DMARC").text


def test_answers_are_cached_for_the_run(dns_server: LocalDNS, key: DkimKey) -> None:
    dns_server.add(*ZONE_RELAY, *GOOD_SPF, DMARC_QUARANTINE, key.zone_line())
    check = checker(dns_server)
    first = check.check(sender=SENDER, relay_host=RELAY, dkim=published(key))
    asked = len(dns_server.queries)
    again = check.check(sender="other@example.com", relay_host=RELAY, dkim=published(key))
    assert again.of("DMARC") == first.of("DMARC")
    assert len(dns_server.queries) == asked  # the SPF record, DMARC and DKIM came from the cache


@pytest.fixture
def silent_dns() -> Iterator[int]:
    """A UDP port that takes queries and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_offline_is_a_warning_on_every_line_not_an_error(silent_dns: int, key: DkimKey) -> None:
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = silent_dns
    report = DomainChecker(DnsLookup(resolver, budget=0.3)).check(
        sender=SENDER, relay_host=RELAY, dkim=published(key)
    )
    assert [f.level for f in report.findings] == [Level.WARN] * 4, report.lines()
    assert all("not checked" in f.text for f in report.findings)
    assert report.ok


def test_tags_and_alignment_rules() -> None:
    assert parse_tags("v=DMARC1; p = reject ;adkim=s") == {
        "v": "DMARC1",
        "p": "reject",
        "adkim": "s",
    }
    assert parse_tags("v=DKIM1; p=MIIB AQAB")["p"] == "MIIBAQAB"
    assert aligned("news.example.com", "example.com", strict=False)
    assert not aligned("news.example.com", "example.com", strict=True)
    assert not aligned("example.com", "example.org", strict=False)


def test_a_resolver_without_servers_is_offline_not_an_error(key: DkimKey) -> None:
    import dns.resolver

    report = DomainChecker(DnsLookup(dns.resolver.Resolver(configure=False))).check(
        sender=SENDER, relay_host=RELAY, dkim=published(key)
    )
    assert [f.level for f in report.findings] == [Level.WARN] * 4, report.lines()


def test_relaxed_alignment_uses_the_public_suffix_list() -> None:
    from core.domain_check import aligned

    assert aligned("news.example.co.uk", "example.co.uk", strict=False)
    assert not aligned("shop.co.uk", "other.co.uk", strict=False)  # two owners under co.uk
    assert aligned("a.example.com", "b.example.com", strict=False)
    assert not aligned("a.example.com", "b.example.com", strict=True)
