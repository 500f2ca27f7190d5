"""`OAuthCredentials`: a credential provider that keeps a fresh access token in memory."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx

from core.models import Credentials, OAuthSettings, Secret
from core.oauth.tokens import TokenSet, new_client, token_set, translating_oauth

__all__ = ["MAX_LEEWAY", "OAuthCredentials", "RotateHook"]

MAX_LEEWAY = 60.0  # refresh this many seconds before expiry (less for very short tokens)
_LEEWAY_SHARE = 0.25  # ... but never more than a quarter of the token's life

RotateHook = Callable[[Secret], Awaitable[None] | None]


class OAuthCredentials:
    """Access tokens for one signed-in account, refreshed with the refresh token.

    `current()` gives credentials with an access token valid for a while yet (refreshing it
    when it is within its leeway of expiry); `refresh()` forces one refresh, after a server
    refused the token (XOAUTH2 334/535, HTTP 401). A refused refresh token raises
    `SignInRequiredError`. A new refresh token (Microsoft rotates them) is handed to
    `on_rotate`, which stores it in the vault. The access token is never stored.
    """

    def __init__(
        self,
        settings: OAuthSettings,
        refresh_token: Secret,
        *,
        client_secret: Secret | None = None,
        base: Credentials | None = None,
        on_rotate: RotateHook | None = None,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self._refresh_token = refresh_token
        self._client_secret = client_secret
        self._base = base or Credentials()
        self._on_rotate = on_rotate
        self._clock = clock
        self._transport = transport
        self._token: TokenSet | None = None
        self._lock = asyncio.Lock()
        self.refreshes = 0  # how many times a token was fetched (for the UI and tests)

    @property
    def email(self) -> str:
        """The signed-in address, once a token brought an ID token."""
        return self._token.email if self._token else ""

    def _fresh(self) -> bool:
        token = self._token
        if token is None:
            return False
        leeway = min(MAX_LEEWAY, token.lifetime * _LEEWAY_SHARE)
        return self._clock() < token.expires_at - leeway

    def _credentials(self) -> Credentials:
        assert self._token is not None
        return Credentials(
            password=None,
            oauth_token=self._token.access_token,
            proxy_password=self._base.proxy_password,
        )

    async def current(self) -> Credentials:
        async with self._lock:
            if not self._fresh():
                await self._refresh()
            return self._credentials()

    async def refresh(self) -> Credentials:
        stale = self._token
        async with self._lock:
            if self._token is stale or not self._fresh():  # nobody refreshed meanwhile
                await self._refresh()
            return self._credentials()

    async def _refresh(self) -> None:
        client = new_client(self.settings, self._client_secret, transport=self._transport)
        async with client:
            with translating_oauth(self.settings.provider):
                token = await client.refresh_token(
                    self.settings.token_uri, refresh_token=self._refresh_token.reveal()
                )
        fresh = token_set(token, clock=self._clock)
        self.refreshes += 1
        email = fresh.email or (self._token.email if self._token else "")
        self._token = TokenSet(fresh.access_token, fresh.expires_at, fresh.lifetime, None, email)
        rotated = fresh.refresh_token
        if rotated is not None and rotated != self._refresh_token:
            self._refresh_token = rotated
            if self._on_rotate is not None:
                maybe = self._on_rotate(rotated)
                if maybe is not None:
                    await maybe
