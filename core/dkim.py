"""DKIM signing (RFC 6376, RFC 8463): dkimpy canonicalizes and hashes, an injected key signs."""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dkim.canonicalization import CanonicalizationPolicy

__all__ = [
    "DKIM_HEADER",
    "SIGNED_HEADERS",
    "DkimAlgorithm",
    "DkimSigner",
    "SignDigest",
    "dns_record_name",
    "dns_record_value",
    "normalize_domain",
    "txt_strings",
]

DKIM_HEADER = b"DKIM-Signature"
# The headers that matter to receivers (RFC 6376 5.4.1, RFC 8058 for List-Unsubscribe-Post).
SIGNED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)
_CANONICALIZATION = b"relaxed/relaxed"
_PLACEHOLDER = b"0" * 60  # puts b= on its own folded line, as dkimpy does
_TXT_STRING_MAX = 255  # one character-string in a TXT record (RFC 1035 3.3)
_SELECTOR_RE = re.compile(
    r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_LINESEP = b"\r\n"


@functools.cache
def _dkimpy() -> tuple[ModuleType, CanonicalizationPolicy]:
    """dkimpy and our canonicalization, imported when the first message is signed: it brings
    dnspython with it, which a campaign without DKIM (and the CLI's start-up) need not load."""
    import dkim
    from dkim.canonicalization import CanonicalizationPolicy

    return dkim, CanonicalizationPolicy.from_c_value(_CANONICALIZATION)


SignDigest = Callable[[bytes], bytes]  # SHA-256 digest of the signed headers -> signature


class DkimAlgorithm(StrEnum):
    """The signing algorithms we offer: RSA (every receiver) and Ed25519 (RFC 8463)."""

    RSA_SHA256 = "rsa-sha256"
    ED25519_SHA256 = "ed25519-sha256"

    @property
    def key_type(self) -> str:
        """The k= tag of the DNS record."""
        return "rsa" if self is DkimAlgorithm.RSA_SHA256 else "ed25519"


def normalize_domain(domain: str) -> str:
    """A signing domain in lowercase A-labels; `ValueError` if it is not a domain name."""
    name = domain.strip().rstrip(".").lower()
    try:
        ascii_name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError as exc:
        raise ValueError(f"{domain!r} is not a domain name") from exc
    if "." not in ascii_name or not _SELECTOR_RE.match(ascii_name):
        raise ValueError(f"{domain!r} is not a domain name")
    return ascii_name


def _check_selector(selector: str) -> str:
    name = selector.strip().lower()
    if not _SELECTOR_RE.match(name):
        raise ValueError(f"{selector!r} is not a DKIM selector (letters, digits, '-' and '.')")
    return name


def dns_record_name(selector: str, domain: str) -> str:
    """Where the public key is published: `selector._domainkey.domain`."""
    return f"{_check_selector(selector)}._domainkey.{normalize_domain(domain)}"


def dns_record_value(algorithm: DkimAlgorithm, public_key_b64: str) -> str:
    """The TXT record's text: `v=DKIM1; k=rsa; p=...`."""
    return f"v=DKIM1; k={algorithm.key_type}; p={public_key_b64}"


def txt_strings(value: str) -> list[str]:
    """The record's text cut into the 255-character strings one TXT record is made of."""
    return [value[i : i + _TXT_STRING_MAX] for i in range(0, len(value), _TXT_STRING_MAX)]


@dataclass(frozen=True, slots=True)
class DkimSigner:
    """Adds a DKIM-Signature to a built message (relaxed/relaxed, SHA-256).

    dkimpy parses the message, canonicalizes the body and the headers and hashes them, the
    same code its verifier runs; `sign_digest` (the key, held by `storage.dkim_keys`) signs
    the SHA-256 of the signed headers: PKCS#1 v1.5 for RSA, Ed25519 for RFC 8463.
    """

    domain: str
    selector: str
    algorithm: DkimAlgorithm
    sign_digest: SignDigest = field(repr=False)
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        object.__setattr__(self, "domain", normalize_domain(self.domain))
        object.__setattr__(self, "selector", _check_selector(self.selector))

    @property
    def record_name(self) -> str:
        return dns_record_name(self.selector, self.domain)

    def __call__(self, payload: bytes) -> bytes:
        """`payload` with its DKIM-Signature header in front."""
        return self.header(payload) + payload

    def header(self, payload: bytes) -> bytes:
        """The DKIM-Signature header line (folded, ending in CRLF) for `payload`."""
        dkim, policy = _dkimpy()
        headers, body = dkim.rfc822_parse(payload)
        present = {name.lower() for name, _ in headers}
        include = [name.lower().encode("ascii") for name in SIGNED_HEADERS]
        include = [name for name in include if name in present]
        body_hash = base64.b64encode(hashlib.sha256(policy.canonicalize_body(body)).digest())
        fields = [
            (b"v", b"1"),
            (b"a", self.algorithm.value.encode("ascii")),
            (b"c", _CANONICALIZATION),
            (b"d", self.domain.encode("ascii")),
            (b"s", self.selector.encode("ascii")),
            (b"t", str(int(self.clock())).encode("ascii")),
            (b"h", b" : ".join(include)),
            (b"bh", body_hash),
            (b"b", _PLACEHOLDER),
        ]
        unsigned = dkim.fold(b"; ".join(b"=".join(f) for f in fields), namelen=len(DKIM_HEADER))
        unsigned = dkim.RE_BTAG.sub(b"\\1", unsigned)
        hasher = hashlib.sha256()
        dkim.hash_headers(
            hasher,
            policy,
            policy.canonicalize_headers(headers),
            include,
            (DKIM_HEADER, b" " + unsigned),
            None,
        )
        fields[-1] = (b"b", base64.b64encode(self.sign_digest(hasher.digest())))
        value = b"; ".join(b"=".join(f) for f in fields) + _LINESEP
        folded: bytes = dkim.fold(value, namelen=len(DKIM_HEADER), linesep=_LINESEP)
        return DKIM_HEADER + b": " + folded
