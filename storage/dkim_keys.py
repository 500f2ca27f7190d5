"""DKIM keys: generated or imported with `cryptography`, kept in the vault, never in clear."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa, utils

from core.dkim import DkimAlgorithm, DkimSigner, dns_record_name, dns_record_value, txt_strings
from core.dkim import normalize_domain as _normalize_domain
from core.errors import InputError
from core.models import Secret
from storage.errors import VaultCorruptError
from storage.vault import SecretKind, Vault

__all__ = [
    "MIN_RSA_BITS",
    "RSA_BITS",
    "DkimKey",
    "delete_key",
    "generate_key",
    "has_key",
    "import_key",
    "load_key",
    "save_key",
    "signer_for",
]

RSA_BITS = 2048
MIN_RSA_BITS = 1024  # receivers ignore shorter keys (RFC 8301)
_RSA_EXPONENT = 65537
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True, slots=True)
class DkimKey:
    """A DKIM private key with where its public half is published."""

    domain: str
    selector: str
    algorithm: DkimAlgorithm
    private_pem: Secret = field(repr=False)

    def _private(self) -> PrivateKey:
        loaded = serialization.load_pem_private_key(
            self.private_pem.reveal().encode("ascii"), password=None
        )
        if not isinstance(loaded, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
            raise VaultCorruptError("the saved DKIM key is neither RSA nor Ed25519")
        return loaded

    @property
    def public_key_b64(self) -> str:
        """The p= value: RSA as SubjectPublicKeyInfo DER, Ed25519 as its raw 32 bytes."""
        public = self._private().public_key()
        if isinstance(public, ed25519.Ed25519PublicKey):
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        else:
            raw = public.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        return base64.b64encode(raw).decode("ascii")

    @property
    def record_name(self) -> str:
        return dns_record_name(self.selector, self.domain)

    @property
    def record_value(self) -> str:
        return dns_record_value(self.algorithm, self.public_key_b64)

    def zone_line(self) -> str:
        """The record as a zone-file line, cut into 255-character strings."""
        quoted = " ".join(f'"{part}"' for part in txt_strings(self.record_value))
        return f"{self.record_name}. 3600 IN TXT {quoted}"

    def signer(self) -> DkimSigner:
        """A signer for the message builder; the private key stays inside its closure."""
        key = self._private()
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return DkimSigner(self.domain, self.selector, self.algorithm, key.sign)
        prehashed = utils.Prehashed(hashes.SHA256())

        def sign(digest: bytes) -> bytes:
            return key.sign(digest, padding.PKCS1v15(), prehashed)

        return DkimSigner(self.domain, self.selector, self.algorithm, sign)


def _pem(key: PrivateKey) -> Secret:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),  # only ever written inside the vault's AES-GCM box
    )
    return Secret(data.decode("ascii"))


def _names(domain: str, selector: str) -> tuple[str, str]:
    try:
        name = dns_record_name(selector, domain)
        return _normalize_domain(domain), name.split("._domainkey.", 1)[0]
    except ValueError as exc:
        raise InputError(str(exc), field="domain" if "domain" in str(exc) else "selector") from None


def generate_key(domain: str, selector: str, *, ed25519_key: bool = False) -> DkimKey:
    """A new RSA-2048 key (or Ed25519, RFC 8463) for `selector._domainkey.domain`."""
    domain, selector = _names(domain, selector)
    if ed25519_key:
        return DkimKey(
            domain,
            selector,
            DkimAlgorithm.ED25519_SHA256,
            _pem(ed25519.Ed25519PrivateKey.generate()),
        )
    key = rsa.generate_private_key(public_exponent=_RSA_EXPONENT, key_size=RSA_BITS)
    return DkimKey(domain, selector, DkimAlgorithm.RSA_SHA256, _pem(key))


def import_key(pem: bytes, domain: str, selector: str, *, source: str = "key file") -> DkimKey:
    """A key from an unencrypted PEM file (PKCS#1 or PKCS#8, RSA >= 1024 bits or Ed25519)."""
    domain, selector = _names(domain, selector)
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise InputError(
            f"{source}: the key is encrypted; export it without a passphrase (the vault "
            "encrypts it)"
        ) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InputError(f"{source}: not a PEM private key ({exc})") from None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return DkimKey(domain, selector, DkimAlgorithm.ED25519_SHA256, _pem(key))
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InputError(f"{source}: DKIM keys are RSA or Ed25519, not {type(key).__name__}")
    if key.key_size < MIN_RSA_BITS:
        raise InputError(f"{source}: an RSA key of {key.key_size} bits is too short (min 1024)")
    return DkimKey(domain, selector, DkimAlgorithm.RSA_SHA256, _pem(key))


def save_key(vault: Vault, account: str, key: DkimKey) -> None:
    """Keep `key` in the vault for account `account` (replacing its previous key)."""
    record = {
        "domain": key.domain,
        "selector": key.selector,
        "algorithm": key.algorithm.value,
        "private_key": key.private_pem.reveal(),
    }
    vault.set_secret(SecretKind.DKIM_KEY, account, Secret(json.dumps(record)))


def has_key(vault: Vault, account: str) -> bool:
    """Whether account `account` has a DKIM key (asks for no passphrase)."""
    return vault.has_secret(SecretKind.DKIM_KEY, account)


def load_key(vault: Vault, account: str) -> DkimKey | None:
    """The DKIM key of account `account`, or None."""
    secret = vault.get_secret(SecretKind.DKIM_KEY, account)
    if secret is None:
        return None
    try:
        record = json.loads(secret.reveal())
        return DkimKey(
            record["domain"],
            record["selector"],
            DkimAlgorithm(record["algorithm"]),
            Secret(record["private_key"]),
        )
    except (ValueError, KeyError, TypeError):
        raise VaultCorruptError(f"the saved DKIM key of {account!r} is damaged") from None


def delete_key(vault: Vault, account: str) -> bool:
    return vault.delete_secret(SecretKind.DKIM_KEY, account)


def signer_for(vault: Vault, account: str | None) -> DkimSigner | None:
    """The signer for a saved account with a DKIM key; None without one (nothing is asked)."""
    if not account or not has_key(vault, account):
        return None
    key = load_key(vault, account)
    return None if key is None else key.signer()
