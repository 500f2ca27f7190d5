"""Sign-in: authorization code with PKCE in the system browser, or Microsoft's device code."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError as _AuthlibOAuthError

from core.errors import SignInRequiredError
from core.models import OAuthProvider, OAuthSettings, Secret
from core.oauth.loopback import LoopbackRedirect
from core.oauth.tokens import OAuthFlowError, TokenSet, new_client, token_set, translating_oauth

__all__ = [
    "BROWSER_TIMEOUT",
    "DEVICE_GRANT",
    "DeviceCode",
    "sign_in_browser",
    "sign_in_device",
]

BROWSER_TIMEOUT = 300.0  # seconds the person has to finish in the browser
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_VERIFIER_LENGTH = 64  # RFC 7636: 43..128 characters
_STATE_LENGTH = 32
_SLOW_DOWN_STEP = 5.0  # RFC 8628 3.5: add 5 seconds on slow_down
_DEFAULT_INTERVAL = 5.0
_POLL_ERRORS = {
    "authorization_pending",
    "slow_down",
    "expired_token",
    "access_denied",
    "authorization_declined",
}


@dataclass(frozen=True, slots=True)
class DeviceCode:
    """What to show the person: where to go and the code to type there."""

    verification_uri: str
    user_code: str
    message: str
    expires_in: float


def _extra_params(settings: OAuthSettings) -> dict[str, str]:
    if settings.provider is OAuthProvider.GOOGLE:
        # Google gives a refresh token only with access_type=offline, and again on re-consent.
        return {"access_type": "offline", "prompt": "consent"}
    return {"prompt": "select_account"}


async def sign_in_browser(
    settings: OAuthSettings,
    client_secret: Secret | None = None,
    *,
    open_browser: Callable[[str], object] | None = None,
    on_url: Callable[[str], Awaitable[None] | None] | None = None,
    timeout: float = BROWSER_TIMEOUT,
    login_hint: str | None = None,
    clock: Callable[[], float] = time.time,
    transport: httpx.AsyncBaseTransport | None = None,
) -> TokenSet:
    """Authorization code + PKCE S256 with a loopback redirect; returns the tokens.

    `on_url` gets the URL to open (the CLI prints it, the GUI shows it); `open_browser` is
    called with it unless None (`--no-browser`). The code is exchanged only when the
    redirect's `state` matches ours.
    """
    state = generate_token(_STATE_LENGTH)
    verifier = generate_token(_VERIFIER_LENGTH)
    async with LoopbackRedirect(state) as listener:
        client = new_client(
            settings, client_secret, redirect_uri=listener.redirect_uri, transport=transport
        )
        async with client:
            extra = _extra_params(settings)
            if login_hint:
                extra["login_hint"] = login_hint
            url, _ = client.create_authorization_url(
                settings.auth_uri, state=state, code_verifier=verifier, **extra
            )
            if on_url is not None:
                maybe = on_url(url)
                if maybe is not None:
                    await maybe
            if open_browser is not None:
                await asyncio.to_thread(open_browser, url)
            answer = await listener.wait(timeout)
            with translating_oauth(settings.provider):
                token = await client.fetch_token(
                    settings.token_uri,
                    authorization_response=answer,
                    code_verifier=verifier,
                    state=state,
                )
    return _complete(token_set(token, clock=clock))


def _complete(tokens: TokenSet) -> TokenSet:
    if tokens.refresh_token is None:
        raise OAuthFlowError(
            "the provider sent no refresh token: for Microsoft, the offline_access scope must "
            "be granted; for Google, remove the app's access in your Google Account and sign "
            "in again"
        )
    return tokens


async def sign_in_device(
    settings: OAuthSettings,
    *,
    on_code: Callable[[DeviceCode], Awaitable[None] | None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    transport: httpx.AsyncBaseTransport | None = None,
) -> TokenSet:
    """Microsoft's device code flow (RFC 8628): show a code, poll until the person enters it.

    `authorization_pending` keeps polling, `slow_down` adds 5 seconds to the interval,
    `expired_token` and `access_denied` end the sign-in with a clear error.
    """
    if not settings.device_uri:
        raise OAuthFlowError(f"{settings.provider.value} has no device code sign-in here")
    client = new_client(settings, None, transport=transport)
    async with client:
        with translating_oauth(settings.provider):
            response = await client.request(
                "POST",
                settings.device_uri,
                data={"client_id": settings.client_id, "scope": " ".join(settings.scopes)},
                withhold_token=True,
            )
        data: dict[str, Any] = _json(response)
        if "device_code" not in data:
            raise OAuthFlowError(
                f"device code request refused: {data.get('error', response.status_code)} "
                f"{data.get('error_description', '')}".strip()
            )
        expires_in = float(data.get("expires_in") or 900)
        code = DeviceCode(
            verification_uri=str(data.get("verification_uri") or data.get("verification_url")),
            user_code=str(data.get("user_code", "")),
            message=str(data.get("message", "")),
            expires_in=expires_in,
        )
        maybe = on_code(code)
        if maybe is not None:
            await maybe
        interval = float(data.get("interval") or _DEFAULT_INTERVAL)
        deadline = clock() + expires_in
        while True:
            await sleep(interval)
            error, token = await _poll(client, settings, str(data["device_code"]))
            if token is not None:
                return _complete(token_set(token))
            if error == "authorization_pending":
                continue
            if error == "slow_down":
                interval += _SLOW_DOWN_STEP
                continue
            if error == "expired_token" or clock() >= deadline:
                raise OAuthFlowError(
                    "the device code expired before it was entered: start the sign-in again"
                )
            if error in {"access_denied", "authorization_declined"}:
                raise OAuthFlowError("the sign-in was declined in the browser")
            raise OAuthFlowError(f"the device sign-in failed: {error}")


async def _poll(client: Any, settings: OAuthSettings, device_code: str) -> tuple[str, Any]:
    """One poll of the token endpoint (Authlib's token request): (error, None) or ("", token)."""
    try:
        with translating_oauth(settings.provider):
            try:
                token = await client.fetch_token(
                    settings.token_uri, grant_type=DEVICE_GRANT, device_code=device_code
                )
            except _AuthlibOAuthError as exc:
                if exc.error in _POLL_ERRORS:
                    return str(exc.error), None
                raise
    except SignInRequiredError:
        return "invalid_grant", None
    return "", token


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise OAuthFlowError(f"the provider answered HTTP {response.status_code} without JSON")
    return data
