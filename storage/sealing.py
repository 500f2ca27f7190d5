"""AES-256-GCM sealed boxes for the vault: random 96-bit nonces, associated data, base64 JSON."""

from __future__ import annotations

import base64
import copy
import os
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "ALGORITHM",
    "CHECK_PLAINTEXT",
    "NONCE_BYTES",
    "RECORD_VERSION",
    "VAULT_FORMAT",
    "associated_data",
    "open_box",
    "seal",
    "seal_record",
]

VAULT_FORMAT = "bulk-mailer-vault"
RECORD_VERSION = 1
ALGORITHM = "AES-256-GCM"
NONCE_BYTES = 12
CHECK_PLAINTEXT = b"bulk-mailer vault key check"


def associated_data(*parts: str) -> bytes:
    """What a box is bound to: format, record version, then e.g. kind and account name."""
    return "\0".join((VAULT_FORMAT, f"v{RECORD_VERSION}", *parts)).encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not base64 text")
    return base64.b64decode(text, validate=True)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> dict[str, str]:
    """Encrypt and authenticate `plaintext`: {"nonce": b64, "ciphertext": b64 (with tag)}."""
    nonce = os.urandom(NONCE_BYTES)
    return {"nonce": _b64(nonce), "ciphertext": _b64(AESGCM(key).encrypt(nonce, plaintext, aad))}


def open_box(key: bytes, box: object, aad: bytes) -> bytes:
    """Decrypt a sealed box: `ValueError` if malformed, `InvalidTag` if it does not authenticate."""
    if not isinstance(box, dict):
        raise ValueError("not a sealed box")
    nonce, ciphertext = _unb64(box.get("nonce")), _unb64(box.get("ciphertext"))
    if len(nonce) != NONCE_BYTES:
        raise ValueError("bad nonce")
    return AESGCM(key).decrypt(nonce, ciphertext, aad)


def seal_record(
    key: bytes, params: Mapping[str, Any], kind: str, name: str, text: str
) -> dict[str, Any]:
    """One vault record: version, algorithm, the key parameters it was sealed with, the box."""
    record: dict[str, Any] = {
        "v": RECORD_VERSION,
        "alg": ALGORITHM,
        "key": copy.deepcopy(dict(params)),
    }
    return record | seal(key, text.encode("utf-8"), associated_data(kind, name))
