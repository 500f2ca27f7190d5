"""DKIM: keys in the vault, messages signed by the builder, verified by dkimpy over real DNS."""

from __future__ import annotations

import base64
import email
from collections.abc import Callable, Iterator
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from core.dkim import SIGNED_HEADERS
from core.errors import InputError
from core.message import MessageBuilder
from core.models import Account, BodyFormat, Recipient, Secret, Template
from storage.dkim_keys import DkimKey, generate_key, import_key, load_key, save_key, signer_for
from storage.vault import Vault
from tests.dns_server import LocalDNS, local_dns

ACCOUNT = Account(host="smtp.example.net", port=587, sender="news@example.com", sender_name="News")
TEMPLATE = Template(
    subject="Hello {{ name }} — ünïcode",
    body="# Hi {{ name }}\n\nA line.\n.\nA [link](https://example.com/a).\n",
    format=BodyFormat.MARKDOWN,
    list_unsubscribe_url="https://example.com/unsub?u={{ email | urlencode }}",
    list_unsubscribe_mailto="unsub@example.com",
)
PEOPLE = [
    Recipient(email="bob@example.org", fields={"name": "Bob", "email": "bob@example.org"}),
    Recipient(
        email="zoë@example.org",
        fields={"name": "Zoë", "email": "zoë@example.org"},
        needs_smtputf8=True,
    ),
    Recipient(email="x@example.org", fields={"name": "X" * 300, "email": "x@example.org"}),
]


# A throwaway 768-bit key (cryptography refuses to make one; `openssl genrsa 768` did).
SHORT_RSA_KEY = b"""-----BEGIN PRIVATE KEY-----
MIIB5QIBADANBgkqhkiG9w0BAQEFAASCAc8wggHLAgEAAmEAq7tXQbdutr25mTYr
cyC0rMZ+ODL6f4dZn9owCw8OWbHc+9kSqOnQn/JUu6sfxwyjCJCPG9EN7tsusXBU
bDJ2HJtUiBdIJL5EFyEK++tBx6R7HQaSq9NVYG5PcOxGg5nzAgMBAAECYHL9d5jm
ZbjxY1SG5CMr1C8Yni2tXPSFwep6o87T3w0KPulYWdlG7s4a6sfa9uVGvM8o+YsP
H0tPFDh5y5GPC8HqK8cYnQdsXmmpv+nCs7daeiNtmG48NbvHkVFtGKq/GQIxANkX
nEfszij/8YqGw3GzJEormSp098tTHlPsXe0UeUczOVh8oK9IKwXep7tfuEPi/QIx
AMqCjXMW17n3FHtp0GIDPa2yPl8YlGGxuXiyZoIUfT8rByy2cgx6P3dI1WAYPLHb
rwIxANkLvQlAHeJp+iFImVEtDQRG0KzdIv2azYCUmle1F4fzE8t/VtvIaJNGyCYT
DlR5NQIwbvDMivNFpYQ9fUq/tSIvZPvT/YbaqxaRFBUv4S1WXAe3e4BLxJgoMrH8
6xL8FTfTAjEAk4fqHECX9eaY5m1josqs8qU4bSaVK12aEFX+qCbdBDYwMoQQDPct
uWdSh+x4SDwc
-----END PRIVATE KEY-----
"""


@pytest.fixture
def dns_server() -> Iterator[LocalDNS]:
    with local_dns() as server:
        yield server


def dnsfunc(server: LocalDNS) -> Callable[..., bytes]:
    """dkimpy's DNS hook, answered by the local DNS server through dnspython."""
    resolver = server.resolver()

    def txt(name: bytes, timeout: float = 5) -> bytes:
        answer = resolver.resolve(name.decode("ascii"), "TXT")
        return b"".join(next(iter(answer)).strings)

    return txt


@pytest.fixture(params=[False, True], ids=["rsa-2048", "ed25519"])
def key(request: pytest.FixtureRequest) -> DkimKey:
    return generate_key("Example.COM", "news2026", ed25519_key=request.param)


def signed_messages(key: DkimKey, tmp_path: Path) -> list[bytes]:
    builder = MessageBuilder(ACCOUNT, TEMPLATE, "c-1", base_dir=tmp_path, signer=key.signer())
    return [builder.build(person).payload for person in PEOPLE]


def test_every_signed_message_verifies_against_the_record_we_print(
    key: DkimKey, dns_server: LocalDNS, tmp_path: Path
) -> None:
    dns_server.add(key.zone_line())
    messages = signed_messages(key, tmp_path)
    for payload in messages:
        assert dkim.verify(payload, dnsfunc=dnsfunc(dns_server)), payload[:600]
    assert ("news2026._domainkey.example.com", "TXT") in dns_server.queries


def test_a_message_modified_after_signing_fails(
    key: DkimKey, dns_server: LocalDNS, tmp_path: Path
) -> None:
    dns_server.add(key.zone_line())
    payload = signed_messages(key, tmp_path)[0]
    body_changed = payload.replace(b"A line.", b"A lie.", 1)
    subject_changed = payload.replace(b"Subject: ", b"Subject: Re: ", 1)
    unsubscribe_changed = payload.replace(b"https://example.com/unsub", b"https://evil/unsub", 1)
    for tampered in (body_changed, subject_changed, unsubscribe_changed):
        assert tampered != payload
        assert not dkim.verify(tampered, dnsfunc=dnsfunc(dns_server))


def test_a_record_with_another_key_fails(
    key: DkimKey, dns_server: LocalDNS, tmp_path: Path
) -> None:
    other = generate_key("example.com", "news2026", ed25519_key=key.algorithm.key_type == "ed25519")
    dns_server.add(other.zone_line())
    assert not dkim.verify(signed_messages(key, tmp_path)[0], dnsfunc=dnsfunc(dns_server))


def test_signature_is_relaxed_and_covers_the_headers_that_matter(
    key: DkimKey, tmp_path: Path
) -> None:
    message = email.message_from_bytes(signed_messages(key, tmp_path)[0])
    tags = {
        name.strip(): "".join(value.split())
        for name, _, value in (p.partition("=") for p in str(message["DKIM-Signature"]).split(";"))
    }
    assert (tags["c"], tags["d"], tags["s"], tags["a"]) == (
        "relaxed/relaxed",
        "example.com",
        "news2026",
        key.algorithm.value,
    )
    assert tags["h"].split(":") == [name.lower() for name in SIGNED_HEADERS]


def test_the_printed_record_is_the_public_half(key: DkimKey) -> None:
    assert key.record_name == "news2026._domainkey.example.com"
    assert key.record_value.startswith(f"v=DKIM1; k={key.algorithm.key_type}; p=")
    raw = base64.b64decode(key.public_key_b64)
    assert len(raw) == 32 if key.algorithm.key_type == "ed25519" else len(raw) == 294
    assert all(len(part) <= 255 for part in key.zone_line().split('"')[1::2])


def _vault(tmp_path: Path) -> Vault:
    return Vault.open_default(
        passphrase=lambda new: Secret("a long master passphrase"), path=tmp_path / "vault.json"
    )


def test_key_is_kept_in_the_vault_never_in_clear(key: DkimKey, tmp_path: Path) -> None:
    vault = _vault(tmp_path)
    save_key(vault, "work", key)
    stored = (tmp_path / "vault.json").read_bytes()
    pem_body = "".join(key.private_pem.reveal().splitlines()[1:-1])
    assert pem_body[:40].encode() not in stored
    assert b"PRIVATE KEY" not in stored
    again = load_key(_vault(tmp_path), "work")
    assert again is not None
    assert (again.domain, again.selector, again.algorithm) == (
        key.domain,
        key.selector,
        key.algorithm,
    )
    assert again.public_key_b64 == key.public_key_b64
    assert "PRIVATE" not in repr(again)


def test_an_account_without_a_key_gets_no_signer_and_no_passphrase_prompt(tmp_path: Path) -> None:
    def refuse(new: bool) -> Secret:
        raise AssertionError("asked for the passphrase")

    vault = Vault.open_default(passphrase=refuse, path=tmp_path / "vault.json")
    assert signer_for(vault, "work") is None
    assert signer_for(vault, None) is None


def _pem(key: object, fmt: serialization.PrivateFormat, password: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption)  # type: ignore[attr-defined, no-any-return]


def test_import_takes_a_pkcs1_rsa_key_and_signs_with_it(
    dns_server: LocalDNS, tmp_path: Path
) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = import_key(
        _pem(private, serialization.PrivateFormat.TraditionalOpenSSL), "example.com", "old"
    )
    dns_server.add(key.zone_line())
    assert dkim.verify(signed_messages(key, tmp_path)[0], dnsfunc=dnsfunc(dns_server))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: _pem(
                rsa.generate_private_key(public_exponent=65537, key_size=2048),
                serialization.PrivateFormat.PKCS8,
                b"pw",
            ),
            "encrypted",
        ),
        (lambda: SHORT_RSA_KEY, "too short"),
        (
            lambda: _pem(
                ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.PKCS8
            ),
            "RSA or Ed25519",
        ),
        (lambda: b"not a key", "not a PEM private key"),
    ],
    ids=["encrypted", "short-rsa", "ec", "garbage"],
)
def test_import_refuses_what_cannot_sign_with_a_clear_reason(
    make: Callable[[], bytes], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        import_key(make(), "example.com", "s1", source="key.pem")


@pytest.mark.parametrize(("domain", "selector"), [("no-dot", "s1"), ("example.com", "bad_sel")])
def test_bad_domain_or_selector_is_refused(domain: str, selector: str) -> None:
    with pytest.raises(InputError):
        generate_key(domain, selector)
