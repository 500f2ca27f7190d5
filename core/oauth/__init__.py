"""Sign in with Google or Microsoft (OAuth 2.0 for installed apps) and keep tokens fresh.

- `endpoints`: the providers' real endpoints and scopes; `client_secret.json`.
- `flow`: authorization code + PKCE in the system browser, Microsoft's device code.
- `loopback`: the one-shot redirect listener on 127.0.0.1.
- `provider`: `OAuthCredentials`, the credential provider transports log in with.
- `tokens`: the one place that talks to Authlib, and its errors translated.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.oauth.endpoints import (
        GMAIL_SEND_SCOPE,
        GMAIL_SMTP_SCOPE,
        MICROSOFT_SMTP_SCOPE,
        ClientSecrets,
        google_settings,
        load_client_secrets,
        microsoft_settings,
    )
    from core.oauth.flow import DeviceCode, sign_in_browser, sign_in_device
    from core.oauth.provider import OAuthCredentials
    from core.oauth.tokens import SIGN_IN_AGAIN, OAuthFlowError, TokenSet

# Loaded on first use: Authlib and httpx cost every CLI command's start-up otherwise, and
# only a sign-in or a signed-in account needs them.
_HOMES = {
    "GMAIL_SEND_SCOPE": "endpoints",
    "GMAIL_SMTP_SCOPE": "endpoints",
    "MICROSOFT_SMTP_SCOPE": "endpoints",
    "ClientSecrets": "endpoints",
    "google_settings": "endpoints",
    "load_client_secrets": "endpoints",
    "microsoft_settings": "endpoints",
    "DeviceCode": "flow",
    "sign_in_browser": "flow",
    "sign_in_device": "flow",
    "OAuthCredentials": "provider",
    "SIGN_IN_AGAIN": "tokens",
    "OAuthFlowError": "tokens",
    "TokenSet": "tokens",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"core.oauth.{home}"), name)


__all__ = [
    "GMAIL_SEND_SCOPE",
    "GMAIL_SMTP_SCOPE",
    "MICROSOFT_SMTP_SCOPE",
    "SIGN_IN_AGAIN",
    "ClientSecrets",
    "DeviceCode",
    "OAuthCredentials",
    "OAuthFlowError",
    "TokenSet",
    "google_settings",
    "load_client_secrets",
    "microsoft_settings",
    "sign_in_browser",
    "sign_in_device",
]
