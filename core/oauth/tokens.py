"""The one place that talks to Authlib: token requests, and its errors translated into ours."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.base_client.errors import OAuthError as _AuthlibOAuthError

from core.errors import AuthError, ConnectError, MailerError, Phase, SignInRequiredError
from core.models import OAuthProvider, OAuthSettings, Secret

with warnings.catch_warnings():
    # Authlib 1.9 prefers the `httpx2` package and warns once when it falls back to httpx,
    # which works the same and is what NiceGUI already brings.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import AsyncOAuth2Client

__all__ = [
    "SIGN_IN_AGAIN",
    "TOKEN_TIMEOUT",
    "OAuthFlowError",
    "TokenSet",
    "new_client",
    "token_set",
    "translating_oauth",
]

TOKEN_TIMEOUT = 30.0  # seconds for one request to the token endpoint

SIGN_IN_AGAIN = (
    "the sign-in has expired or was revoked (invalid_grant): sign in again "
    "(python main.py account login NAME, or Accounts > Sign in)."
)
_GOOGLE_NOTE = (
    " Google OAuth clients left in 'Testing' get refresh tokens that expire after 7 days: "
    "publish the app (OAuth consent screen > Publish) to keep them. "
    "https://mail.google.com/ is a restricted scope: fine for your own client, Google shows "
    "an 'unverified app' warning."
)


class OAuthFlowError(MailerError):
    """A sign-in did not complete: refused, cancelled, timed out, or the state did not match."""


@dataclass(frozen=True, slots=True)
class TokenSet:
    """What a sign-in or a refresh brings back. The access token lives only in memory."""

    access_token: Secret
    expires_at: float  # on the clock the caller gave
    lifetime: float  # seconds the token was valid for when it came
    refresh_token: Secret | None = None  # None: keep the one we have
    email: str = ""


def new_client(
    settings: OAuthSettings,
    client_secret: Secret | None,
    *,
    redirect_uri: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Any:
    """An Authlib client (an `httpx.AsyncClient`) for this provider, PKCE S256 on."""
    options: dict[str, Any] = {"timeout": TOKEN_TIMEOUT}
    if transport is not None:
        options["transport"] = transport
    return AsyncOAuth2Client(
        client_id=settings.client_id,
        client_secret=client_secret.reveal() if client_secret else None,
        token_endpoint_auth_method="client_secret_post" if client_secret else "none",
        scope=" ".join(settings.scopes),
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        **options,
    )


def _claims(id_token: object) -> Mapping[str, Any]:
    """The claims of an ID token received straight from the token endpoint over TLS.

    OpenID Connect Core 3.1.3.7 allows skipping the signature check in that case; the
    address is only shown and used as the login name, which the server checks anyway.
    """
    if not isinstance(id_token, str) or id_token.count(".") != 2:
        return {}
    payload = id_token.split(".")[1]
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def token_set(token: Mapping[str, Any], *, clock: Callable[[], float] = time.time) -> TokenSet:
    """Our view of an Authlib token response (expiry measured on `clock`)."""
    access = token.get("access_token")
    if not isinstance(access, str) or not access:
        raise AuthError("the token endpoint sent no access token", phase=Phase.AUTH)
    lifetime = float(token.get("expires_in") or 3600)
    refresh = token.get("refresh_token")
    claims = _claims(token.get("id_token"))
    email = claims.get("email") or claims.get("preferred_username") or ""
    return TokenSet(
        access_token=Secret(access),
        expires_at=clock() + lifetime,
        lifetime=lifetime,
        refresh_token=Secret(refresh) if isinstance(refresh, str) and refresh else None,
        email=email if isinstance(email, str) else "",
    )


@contextlib.contextmanager
def translating_oauth(provider: OAuthProvider) -> Iterator[None]:
    """Authlib and httpx errors from the token endpoint, as ours; secrets never in the text.

    `invalid_grant` -> `SignInRequiredError`; other OAuth errors -> `AuthError` (settings);
    network errors and 5xx -> `ConnectError` (retried with backoff like any connect failure).
    """
    try:
        yield
    except _AuthlibOAuthError as exc:
        error = str(exc.error or "oauth_error")
        description = str(exc.description or "")
        if error == "invalid_grant":
            note = _GOOGLE_NOTE if provider is OAuthProvider.GOOGLE else ""
            raise SignInRequiredError(
                f"{provider.value}: {SIGN_IN_AGAIN}{note}", provider=provider.value
            ) from None
        raise AuthError(
            f"{provider.value} refused the token request: {error} {description}".strip(),
            phase=Phase.AUTH,
        ) from None
    except httpx.HTTPStatusError as exc:
        raise ConnectError(
            f"{provider.value} token endpoint answered HTTP {exc.response.status_code}",
            phase=Phase.AUTH,
        ) from None
    except httpx.HTTPError as exc:
        raise ConnectError(
            f"cannot reach the {provider.value} token endpoint: {type(exc).__name__}",
            phase=Phase.AUTH,
        ) from None
    except ValueError as exc:  # a token endpoint that did not send JSON
        raise ConnectError(f"{provider.value} token endpoint: {exc}", phase=Phase.AUTH) from None
