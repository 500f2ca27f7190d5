"""The credential provider port: where a transport gets its secrets, fresh for each login."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from core.models import Credentials

__all__ = ["CredentialProvider", "StaticCredentials", "as_provider"]


@runtime_checkable
class CredentialProvider(Protocol):
    """Secrets for one account, asked for at each login rather than frozen at start.

    `current()` gives what to log in with now (an OAuth provider refreshes an access token
    that is about to expire); `refresh()` is called once after the server refused the login
    (XOAUTH2 `334`/`535`, HTTP `401`) and returns new credentials, or None when there is
    nothing to refresh (a password): then the refusal stands.
    """

    async def current(self) -> Credentials: ...

    async def refresh(self) -> Credentials | None: ...


class StaticCredentials:
    """A provider for secrets that do not change during a run (a password, a pasted token)."""

    __slots__ = ("_credentials",)

    def __init__(self, credentials: Credentials | None = None) -> None:
        self._credentials = credentials or Credentials()

    async def current(self) -> Credentials:
        return self._credentials

    async def refresh(self) -> Credentials | None:
        return None


def as_provider(credentials: Credentials | CredentialProvider | None) -> CredentialProvider:
    """Accept either plain credentials or a provider (the transports take both)."""
    if isinstance(credentials, Credentials) or credentials is None:
        return StaticCredentials(credentials)
    return credentials
