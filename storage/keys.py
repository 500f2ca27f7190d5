"""Where the vault key comes from: the OS keyring when a real one exists, else a passphrase."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import unicodedata
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from core.errors import InputError
from core.models import Secret
from storage.errors import VaultCorruptError, VaultLockedError

if TYPE_CHECKING:  # keyring finds its backends when first asked, not at every start-up
    from keyring.backend import KeyringBackend

__all__ = [
    "KEYRING_SERVICE",
    "KEY_BYTES",
    "MIN_PASSPHRASE_LENGTH",
    "SALT_BYTES",
    "SCRYPT_N",
    "SCRYPT_P",
    "SCRYPT_R",
    "KeySource",
    "KeyringKeySource",
    "PassphraseKeySource",
    "PassphraseProvider",
    "check_new_passphrase",
    "keyring_usable",
    "scrypt_key",
    "scrypt_params",
]

KEY_BYTES = 32  # AES-256
SALT_BYTES = 16
SCRYPT_N = 2**15  # ~32 MiB and ~0.1 s per derivation
SCRYPT_R = 8
SCRYPT_P = 1
MIN_PASSPHRASE_LENGTH = 8
KEYRING_SERVICE = "bulk-mailer-vault"

# Bounds accepted when reading parameters back, so a damaged file cannot ask for absurd work.
_N_RANGE = (2**10, 2**22)
_R_RANGE = (1, 32)
_P_RANGE = (1, 16)
_SALT_RANGE = (SALT_BYTES, 64)
_MAX_SCRYPT_WORK = 256 * 1024 * 1024  # 128 * n * r * p: memory (and time) a file may ask for

# Called with True when a new passphrase is being chosen (ask twice), False to open the vault.
PassphraseProvider = Callable[[bool], Secret]


class KeySource(Protocol):
    """Makes a new vault key (and the parameters to find it again) or recovers an old one."""

    @property
    def name(self) -> str: ...

    def available(self) -> bool: ...

    def create(self) -> tuple[bytes, dict[str, Any]]: ...

    def derive(self, params: Mapping[str, Any]) -> bytes: ...

    def forget(self) -> None: ...


def keyring_usable(backend: KeyringBackend) -> bool:
    """True for a real OS keyring; False for fail/null, plaintext, keyrings.alt, priority <= 0."""
    from keyring.backends import chainer, fail, null

    if isinstance(backend, chainer.ChainerBackend):
        members = list(backend.backends)
        return bool(members) and all(keyring_usable(member) for member in members)
    if isinstance(backend, fail.Keyring | null.Keyring):
        return False
    kind = type(backend)
    if kind.__module__.startswith("keyrings.alt") or "plaintext" in (
        f"{kind.__module__}.{kind.__qualname__}".lower()
    ):
        return False
    try:
        return float(backend.priority) > 0
    except Exception:  # a backend signals "not here" by raising from `priority`
        return False


class KeyringKeySource:
    """A random 256-bit key kept in the OS keyring; the vault file stores only its id."""

    name = "keyring"

    def __init__(
        self, backend: KeyringBackend | None = None, *, service: str = KEYRING_SERVICE
    ) -> None:
        self._given = backend
        self.service = service

    def backend(self) -> KeyringBackend:
        if self._given is not None:
            return self._given
        import keyring

        return keyring.get_keyring()

    def available(self) -> bool:
        try:
            return keyring_usable(self.backend())
        except Exception:
            return False

    def create(self) -> tuple[bytes, dict[str, Any]]:
        key = secrets.token_bytes(KEY_BYTES)
        key_id = secrets.token_hex(16)
        try:
            self.backend().set_password(self.service, key_id, base64.b64encode(key).decode())
        except Exception as exc:
            raise VaultLockedError(f"the OS keyring refused to store the vault key: {exc}") from exc
        return key, {"source": self.name, "service": self.service, "key_id": key_id}

    def derive(self, params: Mapping[str, Any]) -> bytes:
        service, key_id = params.get("service"), params.get("key_id")
        if not (isinstance(service, str) and isinstance(key_id, str)):
            raise VaultCorruptError("the vault file's key reference is damaged")
        if not self.available():
            raise VaultLockedError(
                "this vault's key is kept in the OS keyring, which is not available now"
            )
        try:
            stored = self.backend().get_password(service, key_id)
        except Exception as exc:
            raise VaultLockedError(f"the OS keyring could not be read: {exc}") from exc
        if stored is None:
            raise VaultLockedError("the vault's key is missing from the OS keyring")
        try:
            key = base64.b64decode(stored, validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != KEY_BYTES:
            raise VaultCorruptError("the vault key in the OS keyring is damaged")
        return key

    def forget(self) -> None:
        """Nothing to forget: the key lives in the keyring."""


class PassphraseKeySource:
    """A key derived from a master passphrase with scrypt (random salt, parameters stored)."""

    name = "passphrase"

    def __init__(self, provider: PassphraseProvider | None, *, n: int = SCRYPT_N) -> None:
        self._provider = provider
        self._n = n
        self._passphrase: Secret | None = None

    def available(self) -> bool:
        return self._provider is not None

    def _ask(self, new: bool) -> Secret:
        if self._passphrase is not None:
            return self._passphrase
        if self._provider is None:
            raise VaultLockedError("no OS keyring is available and no master passphrase was given")
        passphrase = self._provider(new)
        if new:
            check_new_passphrase(passphrase)
        self._passphrase = passphrase
        return passphrase

    def create(self) -> tuple[bytes, dict[str, Any]]:
        params = scrypt_params(n=self._n)
        return scrypt_key(self._ask(True), params), params

    def derive(self, params: Mapping[str, Any]) -> bytes:
        return scrypt_key(self._ask(False), params)

    def forget(self) -> None:
        self._passphrase = None


def check_new_passphrase(passphrase: Secret) -> None:
    """`InputError` if a new master passphrase is too short."""
    if len(passphrase.reveal()) < MIN_PASSPHRASE_LENGTH:
        raise InputError(
            f"the master passphrase needs at least {MIN_PASSPHRASE_LENGTH} characters",
            field="passphrase",
        )


def scrypt_params(*, n: int = SCRYPT_N) -> dict[str, Any]:
    """Fresh scrypt parameters with a random salt, as stored in the vault file."""
    return {
        "source": PassphraseKeySource.name,
        "kdf": "scrypt",
        "salt": base64.b64encode(os.urandom(SALT_BYTES)).decode(),
        "n": n,
        "r": SCRYPT_R,
        "p": SCRYPT_P,
        "length": KEY_BYTES,
    }


def scrypt_key(passphrase: Secret, params: Mapping[str, Any]) -> bytes:
    """The key for `passphrase` under stored `params`; `VaultCorruptError` if they are damaged."""
    try:
        salt = base64.b64decode(params["salt"], validate=True)
        n, r, p, length = (params[k] for k in ("n", "r", "p", "length"))
    except (KeyError, TypeError, binascii.Error, ValueError):
        raise VaultCorruptError("the vault file's key parameters are damaged") from None
    well_typed = params.get("kdf") == "scrypt" and all(type(v) is int for v in (n, r, p, length))
    if not (
        well_typed
        and _N_RANGE[0] <= n <= _N_RANGE[1]
        and n & (n - 1) == 0
        and _R_RANGE[0] <= r <= _R_RANGE[1]
        and _P_RANGE[0] <= p <= _P_RANGE[1]
        and 128 * n * r * p <= _MAX_SCRYPT_WORK
        and length == KEY_BYTES
        and _SALT_RANGE[0] <= len(salt) <= _SALT_RANGE[1]
    ):
        raise VaultCorruptError("the vault file's key parameters are damaged")
    text = unicodedata.normalize("NFC", passphrase.reveal()).encode("utf-8")
    try:
        return Scrypt(salt=salt, length=length, n=n, r=r, p=p).derive(text)
    except (MemoryError, ValueError) as exc:
        raise VaultCorruptError(f"the vault's key cannot be derived here: {exc}") from None
