"""Sign in with Google or Microsoft (OAuth 2.0 for installed apps) and keep tokens fresh.

- `endpoints`: the providers' real endpoints and scopes; `client_secret.json`.
- `flow`: authorization code + PKCE in the system browser, Microsoft's device code.
- `loopback`: the one-shot redirect listener on 127.0.0.1.
- `provider`: `OAuthCredentials`, the credential provider transports log in with.
- `tokens`: the one place that talks to Authlib, and its errors translated.
"""

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
