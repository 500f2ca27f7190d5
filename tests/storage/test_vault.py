"""The vault: AES-GCM records, a key never stored beside them, clear errors on any damage."""

from __future__ import annotations

import base64
import json
import stat
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backends import fail, null

from core.errors import InputError
from core.models import Secret
from storage.errors import (
    StorageError,
    VaultCorruptError,
    VaultError,
    VaultLockedError,
    WrongPassphraseError,
)
from storage.keys import KEYRING_SERVICE, KeyringKeySource, PassphraseKeySource, keyring_usable
from storage.vault import SecretKind, Vault
from tests.storage.conftest import MemoryKeyring, PlaintextKeyring, unregister

PASSPHRASE = "correct horse battery"
SECRET = "s3cret-Pässword-\U0001f511"
FAST_N = 2**14
SMTP = SecretKind.SMTP_PASSWORD


class Asker:
    """A passphrase provider that counts how often it is asked."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers) or [PASSPHRASE]
        self.calls: list[bool] = []

    def __call__(self, new: bool) -> Secret:
        self.calls.append(new)
        return Secret(self.answers[min(len(self.calls), len(self.answers)) - 1])


def passphrase_vault(asker: Callable[[bool], Secret] | None = None) -> Vault:
    return Vault(key_sources=[PassphraseKeySource(asker or Asker(), n=FAST_N)])


def vault_json(home: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((home / "vault.json").read_text("utf-8"))
    return result


def write_vault_json(home: Path, data: dict[str, Any]) -> None:
    (home / "vault.json").write_text(json.dumps(data), "utf-8")


def flip(text: str, index: int = 0) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.fixture
def filled(data_home: Path) -> Path:
    vault = passphrase_vault()
    vault.set_secret(SMTP, "work", Secret(SECRET))
    vault.set_secret(SMTP, "home", Secret("other-secret"))
    vault.set_secret(SecretKind.PROXY_PASSWORD, "work", Secret("proxy-secret"))
    return data_home


def test_round_trip_through_a_fresh_vault_object(filled: Path) -> None:
    asker = Asker()
    vault = passphrase_vault(asker)
    assert vault.get_secret(SMTP, "work") == Secret(SECRET)
    assert vault.get_secret(SecretKind.PROXY_PASSWORD, "work") == Secret("proxy-secret")
    assert vault.get_secret(SMTP, "home") == Secret("other-secret")
    assert asker.calls == [False]  # asked once, then the key is kept in memory
    assert vault.key_source() == "passphrase"


def test_file_holds_no_plaintext_and_is_private(filled: Path) -> None:
    path = filled / "vault.json"
    raw = path.read_bytes()
    for needle in (SECRET, "other-secret", "proxy-secret", PASSPHRASE):
        assert needle.encode() not in raw
        assert base64.b64encode(needle.encode()) not in raw
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(filled.stat().st_mode) == 0o700


def test_records_carry_version_algorithm_and_kdf_parameters(filled: Path) -> None:
    data = vault_json(filled)
    assert data["format"] == "bulk-mailer-vault"
    assert data["key"]["kdf"] == "scrypt"
    assert data["key"]["n"] == FAST_N
    assert len(base64.b64decode(data["key"]["salt"])) == 16
    record = data["records"]["smtp-password"]["work"]
    assert record["v"] == 1
    assert record["alg"] == "AES-256-GCM"
    assert record["key"] == data["key"]
    assert len(base64.b64decode(record["nonce"])) == 12


def test_the_key_is_asked_for_only_when_a_secret_is_there(filled: Path) -> None:
    asker = Asker()
    vault = passphrase_vault(asker)
    assert vault.get_secret(SMTP, "nobody") is None
    assert vault.has_secret(SMTP, "work") is True
    assert vault.delete_secret(SecretKind.PROXY_PASSWORD, "work") is True
    assert vault.delete_all("home") == 1
    assert vault.delete_all("home") == 0
    assert asker.calls == []
    assert vault.get_secret(SMTP, "work") == Secret(SECRET)


def test_an_empty_vault_needs_no_key(data_home: Path) -> None:
    vault = Vault.open_default(passphrase=None)
    assert vault.get_secret(SMTP, "work") is None
    assert vault.key_source() is None
    assert not (data_home / "vault.json").exists()


def test_wrong_passphrase_is_a_clear_error(filled: Path) -> None:
    vault = passphrase_vault(Asker("not the passphrase"))
    with pytest.raises(WrongPassphraseError, match="passphrase is wrong") as caught:
        vault.get_secret(SMTP, "work")
    assert SECRET not in str(caught.value)
    assert "not the passphrase" not in str(caught.value)
    with pytest.raises(WrongPassphraseError):
        vault.set_secret(SMTP, "new", Secret("x"))
    assert "new" not in vault_json(filled)["records"]["smtp-password"]


def test_after_a_wrong_passphrase_it_asks_again(filled: Path) -> None:
    asker = Asker("typo", PASSPHRASE)
    vault = passphrase_vault(asker)
    with pytest.raises(WrongPassphraseError):
        vault.unlock()
    assert vault.get_secret(SMTP, "work") == Secret(SECRET)
    assert asker.calls == [False, False]


def test_passphrase_is_unicode_normalized(data_home: Path) -> None:
    composed = unicodedata.normalize("NFC", "Crème brûlée 2024")
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    passphrase_vault(Asker(composed)).set_secret(SMTP, "work", Secret(SECRET))
    assert passphrase_vault(Asker(decomposed)).get_secret(SMTP, "work") == Secret(SECRET)


def test_flipped_ciphertext_byte_is_detected(filled: Path) -> None:
    data = vault_json(filled)
    record = data["records"]["smtp-password"]["work"]
    record["ciphertext"] = flip(record["ciphertext"], 3)
    write_vault_json(filled, data)
    vault = passphrase_vault()
    with pytest.raises(VaultCorruptError, match="'work' was altered or damaged") as caught:
        vault.get_secret(SMTP, "work")
    assert SECRET not in str(caught.value)
    assert vault.get_secret(SMTP, "home") == Secret("other-secret")  # others still open


@pytest.mark.parametrize("field", ["nonce", "ciphertext"])
def test_flipped_tag_or_nonce_is_detected(filled: Path, field: str) -> None:
    data = vault_json(filled)
    record = data["records"]["smtp-password"]["work"]
    record[field] = flip(record[field], -1)
    write_vault_json(filled, data)
    with pytest.raises(VaultCorruptError):
        passphrase_vault().get_secret(SMTP, "work")


def test_a_record_copied_to_another_account_does_not_open(filled: Path) -> None:
    data = vault_json(filled)
    data["records"]["smtp-password"]["home"] = data["records"]["smtp-password"]["work"]
    data["records"]["proxy-password"]["home"] = data["records"]["smtp-password"]["work"]
    write_vault_json(filled, data)
    vault = passphrase_vault()
    with pytest.raises(VaultCorruptError):
        vault.get_secret(SMTP, "home")
    with pytest.raises(VaultCorruptError):
        vault.get_secret(SecretKind.PROXY_PASSWORD, "home")


def test_a_tampered_key_check_reads_as_a_wrong_passphrase(filled: Path) -> None:
    data = vault_json(filled)
    data["check"]["ciphertext"] = flip(data["check"]["ciphertext"])
    write_vault_json(filled, data)
    with pytest.raises(WrongPassphraseError, match="altered"):
        passphrase_vault().get_secret(SMTP, "work")


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d["key"].update(n=3),
        lambda d: d["key"].update(n=2**30),
        lambda d: d["key"].update(n=2**20, r=32),
        lambda d: d["key"].update(p=16, n=2**18),
        lambda d: d["key"].update(n="many"),
        lambda d: d["key"].update(salt="%%%"),
        lambda d: d["key"].update(salt=base64.b64encode(b"short").decode()),
        lambda d: d["key"].pop("r"),
        lambda d: d["key"].update(kdf="md5"),
        lambda d: d["key"].update(source="sticky-note"),
        lambda d: d.update(check="nope"),
        lambda d: d["records"].update({"smtp-password": ["x"]}),
        lambda d: d["records"]["smtp-password"].update(work="garbage"),
        lambda d: d["records"]["smtp-password"]["work"].update(nonce="AAAA"),
        lambda d: d["records"]["smtp-password"]["work"].update(ciphertext=17),
    ],
)
def test_damaged_structure_is_a_corrupt_vault(filled: Path, damage: Any) -> None:
    data = vault_json(filled)
    damage(data)
    write_vault_json(filled, data)
    with pytest.raises(VaultCorruptError):
        passphrase_vault().get_secret(SMTP, "work")


def test_a_record_from_a_newer_format_is_refused_clearly(filled: Path) -> None:
    data = vault_json(filled)
    data["records"]["smtp-password"]["work"]["v"] = 2
    write_vault_json(filled, data)
    with pytest.raises(VaultError, match="format this version cannot read"):
        passphrase_vault().get_secret(SMTP, "work")


@pytest.mark.parametrize("content", [b"", b"{not json", b"[]", b'{"format": "other"}'])
def test_an_unreadable_vault_file_is_a_corrupt_vault(data_home: Path, content: bytes) -> None:
    data_home.mkdir()
    (data_home / "vault.json").write_bytes(content)
    vault = passphrase_vault()
    for action in (
        lambda: vault.get_secret(SMTP, "work"),
        lambda: vault.set_secret(SMTP, "work", Secret(SECRET)),
        lambda: vault.has_secret(SMTP, "work"),
    ):
        with pytest.raises(VaultCorruptError, match="move it aside"):
            action()
    assert (data_home / "vault.json").read_bytes() == content  # never overwritten


def test_truncated_vault_file_is_a_corrupt_vault(filled: Path) -> None:
    path = filled / "vault.json"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(VaultCorruptError):
        passphrase_vault().get_secret(SMTP, "work")


def test_change_passphrase_re_encrypts_everything(filled: Path) -> None:
    before = vault_json(filled)
    vault = passphrase_vault()
    vault.change_passphrase(Secret(PASSPHRASE), Secret("a brand new passphrase"))
    after = vault_json(filled)
    assert after["key"]["salt"] != before["key"]["salt"]
    for kind, records in before["records"].items():
        for name, record in records.items():
            assert after["records"][kind][name]["nonce"] != record["nonce"]
            assert after["records"][kind][name]["key"] == after["key"]
    assert vault.get_secret(SMTP, "work") == Secret(SECRET)  # still unlocked, new key
    with pytest.raises(WrongPassphraseError):
        passphrase_vault().get_secret(SMTP, "work")
    fresh = passphrase_vault(Asker("a brand new passphrase"))
    assert fresh.get_secret(SMTP, "work") == Secret(SECRET)
    assert fresh.get_secret(SecretKind.PROXY_PASSWORD, "work") == Secret("proxy-secret")


def test_change_passphrase_checks_both_passphrases(filled: Path) -> None:
    before = (filled / "vault.json").read_bytes()
    vault = passphrase_vault()
    with pytest.raises(WrongPassphraseError):
        vault.change_passphrase(Secret("wrong one!"), Secret("a brand new passphrase"))
    with pytest.raises(InputError, match="at least"):
        vault.change_passphrase(Secret(PASSPHRASE), Secret("short"))
    assert (filled / "vault.json").read_bytes() == before


def test_a_new_passphrase_must_not_be_too_short(data_home: Path) -> None:
    with pytest.raises(InputError, match="at least"):
        passphrase_vault(Asker("1234")).set_secret(SMTP, "work", Secret(SECRET))
    assert not (data_home / "vault.json").exists()


def test_creating_a_vault_asks_for_a_new_passphrase(data_home: Path) -> None:
    asker = Asker()
    passphrase_vault(asker).set_secret(SMTP, "work", Secret(SECRET))
    assert asker.calls == [True]


def test_reset_keeps_the_old_file_aside(filled: Path) -> None:
    vault = passphrase_vault(Asker("forgotten..."))
    aside = vault.reset()
    assert aside is not None
    assert aside.name.startswith("vault.json.reset-")
    assert not (filled / "vault.json").exists()
    vault.set_secret(SMTP, "work", Secret("new"))
    assert vault.get_secret(SMTP, "work") == Secret("new")


# -- the key source: a real keyring, or the passphrase; never plaintext --------------------


def test_a_real_keyring_holds_the_key_and_the_file_does_not(
    data_home: Path, memory_keyring: MemoryKeyring
) -> None:
    asker = Asker()
    vault = Vault.open_default(passphrase=asker)
    vault.set_secret(SMTP, "work", Secret(SECRET))
    assert asker.calls == []
    assert vault.key_source() == "keyring"
    ((service, key_id), stored_key) = next(iter(memory_keyring.entries.items()))
    assert service == KEYRING_SERVICE
    assert len(base64.b64decode(stored_key)) == 32
    raw = (data_home / "vault.json").read_bytes()
    assert stored_key.encode() not in raw
    assert base64.b64decode(stored_key).hex().encode() not in raw
    assert SECRET.encode() not in raw
    assert vault_json(data_home)["key"] == {
        "source": "keyring",
        "service": KEYRING_SERVICE,
        "key_id": key_id,
    }
    assert Vault.open_default().get_secret(SMTP, "work") == Secret(SECRET)


def test_a_keyring_vault_without_its_keyring_is_locked(
    data_home: Path, memory_keyring: MemoryKeyring
) -> None:
    Vault.open_default().set_secret(SMTP, "work", Secret(SECRET))
    keyring.set_keyring(fail.Keyring())
    with pytest.raises(VaultLockedError, match="not available"):
        Vault.open_default(passphrase=Asker()).get_secret(SMTP, "work")
    keyring.set_keyring(memory_keyring)
    memory_keyring.entries.clear()
    with pytest.raises(VaultLockedError, match="missing"):
        Vault.open_default().get_secret(SMTP, "work")


def test_a_keyring_vault_has_no_passphrase_to_change(
    data_home: Path, memory_keyring: MemoryKeyring
) -> None:
    vault = Vault.open_default()
    vault.set_secret(SMTP, "work", Secret(SECRET))
    with pytest.raises(VaultError, match="keyring"):
        vault.change_passphrase(Secret(PASSPHRASE), Secret("a brand new passphrase"))


@pytest.mark.parametrize(
    "backend",
    [fail.Keyring(), null.Keyring(), PlaintextKeyring()],
    ids=["fail", "null", "plaintext"],
)
def test_without_a_real_keyring_the_passphrase_is_used_never_plaintext(
    data_home: Path, backend: Any
) -> None:
    keyring.set_keyring(backend)
    asker = Asker()
    vault = Vault.open_default(passphrase=asker)
    vault.set_secret(SMTP, "work", Secret(SECRET))
    assert asker.calls == [True]
    assert vault.key_source() == "passphrase"
    assert getattr(backend, "entries", {}) == {}
    assert SECRET.encode() not in (data_home / "vault.json").read_bytes()


def test_without_keyring_or_passphrase_nothing_is_stored(data_home: Path) -> None:
    with pytest.raises(VaultLockedError, match="no master passphrase"):
        Vault.open_default().set_secret(SMTP, "work", Secret(SECRET))
    assert not (data_home / "vault.json").exists()


def test_a_passphrase_vault_stays_one_when_a_keyring_appears(
    filled: Path, memory_keyring: MemoryKeyring
) -> None:
    assert Vault.open_default(passphrase=Asker()).get_secret(SMTP, "work") == Secret(SECRET)
    assert memory_keyring.entries == {}


class BrokenPriority(MemoryKeyring):
    @classmethod
    def _boom(cls) -> float:
        raise RuntimeError("no D-Bus here")

    priority = property(lambda self: self._boom())  # type: ignore[assignment]


unregister(BrokenPriority)


def test_keyring_usable_refuses_everything_but_a_real_backend() -> None:
    assert keyring_usable(MemoryKeyring())
    assert not keyring_usable(fail.Keyring())
    assert not keyring_usable(null.Keyring())
    assert not keyring_usable(PlaintextKeyring())
    assert not keyring_usable(BrokenPriority())
    assert KeyringKeySource(fail.Keyring()).available() is False


def test_vault_errors_share_the_mailer_root() -> None:
    from core.errors import MailerError

    for error in (VaultCorruptError, VaultLockedError, WrongPassphraseError):
        assert issubclass(error, StorageError)
        assert issubclass(error, MailerError)
