"""The credential vault: secrets encrypted with AES-256-GCM, bound to their kind and account."""

from __future__ import annotations

import binascii
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag

from core.models import Secret
from storage.errors import VaultCorruptError, VaultError, VaultLockedError, WrongPassphraseError
from storage.keys import (
    KeyringKeySource,
    KeySource,
    PassphraseKeySource,
    PassphraseProvider,
    check_new_passphrase,
    scrypt_key,
    scrypt_params,
)
from storage.locking import FileLocked, locked
from storage.paths import atomic_write_bytes, data_dir, ensure_private_dir, move_aside
from storage.sealing import (
    ALGORITHM,
    CHECK_PLAINTEXT,
    RECORD_VERSION,
    VAULT_FORMAT,
    associated_data,
    open_box,
    seal,
    seal_record,
)

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

__all__ = ["RECORD_VERSION", "VAULT_FILE", "VAULT_FORMAT", "SecretKind", "Vault"]

VAULT_FILE = "vault.json"
FILE_VERSION = 1

Header = dict[str, Any]


class SecretKind(StrEnum):
    """What a stored secret is for."""

    SMTP_PASSWORD = "smtp-password"  # noqa: S105 - a label, not a password
    OAUTH_REFRESH_TOKEN = "oauth-refresh-token"  # noqa: S105
    OAUTH_CLIENT_SECRET = "oauth-client-secret"  # noqa: S105 - a Google Desktop client's secret
    PROXY_PASSWORD = "proxy-password"  # noqa: S105
    DKIM_KEY = "dkim-key"  # the DKIM private key with its domain and selector (storage.dkim_keys)


def _canonical(params: Mapping[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)


class Vault:
    """Encrypted secrets per (kind, account name), in one 0600 JSON file.

    Every change re-reads the file under a cross-process lock, so two processes saving
    secrets at once both keep theirs.

    The key is never stored in the file: it comes from the OS keyring or is derived from a
    master passphrase (see `storage.keys`). A new vault uses the first available key source;
    an existing one uses the source its header names. Nothing asks for the key until a
    secret is actually read or written.
    """

    def __init__(self, path: Path | None = None, *, key_sources: Sequence[KeySource]) -> None:
        self.path = path if path is not None else data_dir() / VAULT_FILE
        self._sources = list(key_sources)
        self._keys: dict[str, bytes] = {}

    @classmethod
    def open_default(
        cls,
        *,
        passphrase: PassphraseProvider | None = None,
        keyring_backend: KeyringBackend | None = None,
        path: Path | None = None,
    ) -> Vault:
        """The usual vault: OS keyring if a real one exists, else the master passphrase."""
        sources: list[KeySource] = [
            KeyringKeySource(keyring_backend),
            PassphraseKeySource(passphrase),
        ]
        return cls(path, key_sources=sources)

    # -- reading the file --------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether a vault file has been written yet."""
        return self.path.exists()

    def _load(self) -> Header | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise VaultError(f"the vault file {self.path} cannot be read: {exc.strerror}") from exc
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise self._corrupt("is not valid JSON") from None
        if not isinstance(data, dict) or data.get("format") != VAULT_FORMAT:
            raise self._corrupt("is not a Bulk Mailer vault")
        if data.get("version") != FILE_VERSION:
            raise VaultError(f"the vault file {self.path} has an unknown version")
        key, records = data.get("key"), data.get("records")
        if not isinstance(key, dict) or not isinstance(data.get("check"), dict):
            raise self._corrupt("has a damaged header")
        if not isinstance(records, dict) or not all(isinstance(v, dict) for v in records.values()):
            raise self._corrupt("has a damaged record table")
        return data

    def _corrupt(self, what: str) -> VaultCorruptError:
        return VaultCorruptError(
            f"the vault file {self.path} {what}; move it aside (or reset the vault) and enter "
            "the saved passwords again"
        )

    def key_source(self) -> str | None:
        """The key source of an existing vault, "keyring" or "passphrase"; None if none yet."""
        data = self._load()
        return None if data is None else str(data["key"].get("source"))

    def has_secret(self, kind: SecretKind, name: str) -> bool:
        """Whether a secret is stored (needs no key)."""
        data = self._load()
        return data is not None and name in data["records"].get(kind.value, {})

    # -- keys ------------------------------------------------------------------------------

    def _source(self, name: object) -> KeySource:
        for source in self._sources:
            if source.name == name:
                return source
        raise self._corrupt("names a key source this app does not know")

    def _header_key(self, data: Header) -> bytes:
        params = data["key"]
        cached = self._keys.get(_canonical(params))
        if cached is not None:
            return cached
        source = self._source(params.get("source"))
        key = source.derive(params)
        try:
            open_box(key, data["check"], associated_data("check"))
        except ValueError:
            raise self._corrupt("has a damaged key check") from None
        except InvalidTag:
            source.forget()
            if source.name == PassphraseKeySource.name:
                raise WrongPassphraseError(
                    "the master passphrase is wrong (or the vault file was altered)"
                ) from None
            raise self._corrupt("does not match the key in the OS keyring") from None
        self._keys[_canonical(params)] = key
        return key

    def _record_key(self, data: Header, params: object) -> bytes:
        if not isinstance(params, dict):
            raise ValueError("no key parameters")
        header_key = self._header_key(data)  # also proves the key source is right
        if _canonical(params) == _canonical(data["key"]):
            return header_key
        cached = self._keys.get(_canonical(params))
        if cached is None:
            cached = self._keys[_canonical(params)] = self._source(params.get("source")).derive(
                params
            )
        return cached

    def unlock(self) -> None:
        """Get and check the key now (e.g. to ask for the passphrase up front)."""
        data = self._load()
        if data is not None:
            self._header_key(data)

    def lock(self) -> None:
        """Forget the key and any remembered passphrase."""
        self._keys.clear()
        for source in self._sources:
            source.forget()

    def _new_header(self) -> tuple[Header, bytes]:
        available = [source for source in self._sources if source.available()]
        if not available:
            raise VaultLockedError("no OS keyring is available and no master passphrase was given")
        key, params = available[0].create()
        self._keys[_canonical(params)] = key
        header = {"format": VAULT_FORMAT, "version": FILE_VERSION, "key": params, "records": {}}
        header["check"] = seal(key, CHECK_PLAINTEXT, associated_data("check"))
        return header, key

    def _save(self, data: Header) -> None:
        ensure_private_dir(self.path.parent)
        payload = json.dumps(data, indent=2, sort_keys=True) + "\n"
        try:
            atomic_write_bytes(self.path, payload.encode("utf-8"))
        except OSError as exc:
            raise VaultError(f"could not save the vault {self.path}: {exc.strerror}") from exc

    # -- secrets ---------------------------------------------------------------------------

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """One read-modify-write of the vault file, under its cross-process lock."""
        ensure_private_dir(self.path.parent)
        try:
            with locked(self.path):
                yield
        except FileLocked as exc:
            raise VaultError(str(exc)) from exc

    def set_secret(self, kind: SecretKind, name: str, secret: Secret) -> None:
        """Encrypt and store `secret` for account `name`, replacing any previous one."""
        data = self._load()
        if data is not None:
            self._header_key(data)  # ask for the key (passphrase) before taking the lock
        with self._changing():
            data = self._load()  # again: another process may have saved since
            if data is None:
                data, key = self._new_header()
            else:
                key = self._header_key(data)
            record = seal_record(key, data["key"], kind.value, name, secret.reveal())
            data["records"].setdefault(kind.value, {})[name] = record
            self._save(data)

    def get_secret(self, kind: SecretKind, name: str) -> Secret | None:
        """The secret stored for account `name`, or None; asks for the key only if there is one."""
        data = self._load()
        record = None if data is None else data["records"].get(kind.value, {}).get(name)
        if data is None or record is None:
            return None
        return Secret(self._decrypt(data, kind.value, name, record))

    def _decrypt(self, data: Header, kind: str, name: str, record: object) -> str:
        what = f"the saved {kind} for {name!r}"
        if not isinstance(record, dict):
            raise VaultCorruptError(f"{what} is damaged")
        if record.get("v") != RECORD_VERSION or record.get("alg") != ALGORITHM:
            raise VaultError(f"{what} was written in a format this version cannot read")
        try:
            key = self._record_key(data, record.get("key"))
            return open_box(key, record, associated_data(kind, name)).decode("utf-8")
        except (ValueError, binascii.Error):
            raise VaultCorruptError(f"{what} is damaged") from None
        except InvalidTag:
            raise VaultCorruptError(f"{what} was altered or damaged") from None

    def delete_secret(self, kind: SecretKind, name: str) -> bool:
        """Remove one stored secret (needs no key); False if there was none."""
        return self._delete(name, [kind.value]) > 0

    def delete_all(self, name: str) -> int:
        """Remove every secret stored for account `name`; returns how many there were."""
        return self._delete(name, [kind.value for kind in SecretKind])

    def _delete(self, name: str, kinds: list[str]) -> int:
        with self._changing():
            data = self._load()
            if data is None:
                return 0
            records = data["records"]
            removed = sum(records.get(kind, {}).pop(name, None) is not None for kind in kinds)
            if removed:
                data["records"] = {kind: recs for kind, recs in records.items() if recs}
                self._save(data)
        return removed

    def change_passphrase(self, old: Secret, new: Secret) -> None:
        """Re-encrypt every secret under a key from `new` (fresh salt and nonces)."""
        check_new_passphrase(new)
        with self._changing():
            self._change_passphrase(old, new)

    def _change_passphrase(self, old: Secret, new: Secret) -> None:
        data = self._load()
        if data is None:
            raise VaultError("there is no vault yet: nothing is protected by a passphrase")
        params = data["key"]
        if params.get("source") != PassphraseKeySource.name:
            raise VaultError("this vault's key is kept in the OS keyring, not a passphrase")
        old_key = scrypt_key(old, params)
        try:
            open_box(old_key, data["check"], associated_data("check"))
        except ValueError:
            raise self._corrupt("has a damaged key check") from None
        except InvalidTag:
            raise WrongPassphraseError("the current master passphrase is wrong") from None
        self.lock()
        passphrase_source = PassphraseKeySource(lambda _new: old)
        reader = Vault(self.path, key_sources=[passphrase_source])
        reader._keys[_canonical(params)] = old_key
        plain = {
            (kind, name): reader._decrypt(data, kind, name, record)
            for kind, records in data["records"].items()
            for name, record in records.items()
        }
        new_params = scrypt_params()  # today's defaults: a change also upgrades the KDF cost
        new_key = scrypt_key(new, new_params)
        fresh: Header = {"format": VAULT_FORMAT, "version": FILE_VERSION, "key": new_params}
        fresh["check"] = seal(new_key, CHECK_PLAINTEXT, associated_data("check"))
        fresh["records"] = {}
        for (kind, name), text in plain.items():
            fresh["records"].setdefault(kind, {})[name] = seal_record(
                new_key, new_params, kind, name, text
            )
        self._save(fresh)
        self._keys[_canonical(new_params)] = new_key

    def reset(self) -> Path | None:
        """Start over (e.g. a forgotten passphrase): the old file is kept aside, returned."""
        self.lock()
        with self._changing():
            if not self.path.exists():
                return None
            return move_aside(self.path, "reset")
