"""Storage fixtures: no test ever touches the real OS keyring; an in-memory one on request."""

from __future__ import annotations

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail


class MemoryKeyring(KeyringBackend):
    """A real-looking keyring (priority 1) that keeps its secrets in a dict."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)


class PlaintextKeyring(MemoryKeyring):
    """Stands in for keyrings.alt's PlaintextKeyring: a keyring that must be refused."""


def unregister(*classes: type[KeyringBackend]) -> None:
    """Keep test backends out of keyring's own discovery (its metaclass registers them all)."""
    registry: set[type[KeyringBackend]] = KeyringBackend._classes  # type: ignore[attr-defined]
    for cls in classes:
        registry.discard(cls)


unregister(MemoryKeyring, PlaintextKeyring)


@pytest.fixture(autouse=True)
def no_os_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process-wide keyring is the 'fail' backend unless a test installs another.

    Restored afterwards without ever running keyring's discovery of the real OS keyring.
    """
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setattr(keyring.core, "_keyring_backend", fail.Keyring())


@pytest.fixture
def memory_keyring() -> MemoryKeyring:
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    return backend
