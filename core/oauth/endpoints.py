"""Providers' real endpoints and scopes, and the settings a sign-in starts from."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from core.errors import InputError
from core.models import OAuthProvider, OAuthSettings, Secret, TransportKind

__all__ = [
    "GMAIL_SEND_SCOPE",
    "GMAIL_SMTP_SCOPE",
    "GOOGLE_AUTH_URI",
    "GOOGLE_TOKEN_URI",
    "MICROSOFT_AUTHORITY_ROOT",
    "MICROSOFT_SMTP_SCOPE",
    "ClientSecrets",
    "check_endpoint",
    "google_settings",
    "load_client_secrets",
    "microsoft_authority",
    "microsoft_settings",
    "parse_client_secrets",
]

GOOGLE_AUTH_URI = "https://accounts.google.com/o/oauth2/auth"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
GMAIL_SMTP_SCOPE = "https://mail.google.com/"  # restricted scope: SMTP XOAUTH2 needs it
GMAIL_SEND_SCOPE = "https://www.googleapis.com/auth/gmail.send"  # enough for messages.send
GOOGLE_IDENTITY_SCOPES = ("openid", "email")

MICROSOFT_AUTHORITY_ROOT = "https://login.microsoftonline.com"
MICROSOFT_SMTP_SCOPE = "https://outlook.office.com/SMTP.Send"
MICROSOFT_IDENTITY_SCOPES = ("openid", "email", "offline_access")
MICROSOFT_TENANTS = ("common", "consumers", "organizations")

_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def check_endpoint(url: str, *, what: str) -> str:
    """`url` if it is HTTPS (or plain HTTP on this machine, for local test servers)."""
    parts = urlsplit(url.strip())
    if not parts.netloc:
        raise InputError(f"{what}: {url!r} is not a URL", field=what)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS):
        return url.strip().rstrip("/")
    raise InputError(f"{what}: {url!r} must use https://", field=what)


@dataclass(frozen=True, slots=True)
class ClientSecrets:
    """What a Google "Desktop app" client's `client_secret.json` carries."""

    client_id: str
    client_secret: Secret | None
    auth_uri: str
    token_uri: str


def load_client_secrets(path: str | Path) -> ClientSecrets:
    """Read Google's `client_secret.json` (the `installed` object of a Desktop app client)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"not a client_secret.json file: {exc}", source=source) from None
    return parse_client_secrets(text, source=source)


def parse_client_secrets(text: str, *, source: str = "client_secret.json") -> ClientSecrets:
    """`client_secret.json`'s content (e.g. uploaded in the GUI, never written to disk)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not a client_secret.json file: {exc}", source=source) from None
    if not isinstance(data, dict):
        raise InputError("not a client_secret.json file", source=source)
    client = data.get("installed")
    if not isinstance(client, dict):
        kind = next(iter(data), "nothing")
        raise InputError(
            f"expected a Desktop app client ('installed'), found {kind!r}: create an OAuth "
            "client of type 'Desktop app' in Google Cloud",
            source=source,
        )
    values: dict[str, str] = {}
    for name in ("client_id", "auth_uri", "token_uri"):
        value = client.get(name)
        if not isinstance(value, str) or not value:
            raise InputError("missing or empty", source=source, field=f"installed.{name}")
        values[name] = value
    secret = client.get("client_secret")
    return ClientSecrets(
        client_id=values["client_id"],
        client_secret=Secret(secret) if isinstance(secret, str) and secret else None,
        auth_uri=check_endpoint(values["auth_uri"], what="auth_uri"),
        token_uri=check_endpoint(values["token_uri"], what="token_uri"),
    )


def google_settings(
    client: ClientSecrets, *, transport: TransportKind = TransportKind.SMTP
) -> OAuthSettings:
    """Sign-in settings for Gmail: `mail.google.com` for SMTP, `gmail.send` for the API."""
    scope = GMAIL_SEND_SCOPE if transport is TransportKind.GMAIL_API else GMAIL_SMTP_SCOPE
    return OAuthSettings(
        provider=OAuthProvider.GOOGLE,
        client_id=client.client_id,
        auth_uri=client.auth_uri,
        token_uri=client.token_uri,
        scopes=(*GOOGLE_IDENTITY_SCOPES, scope),
        has_client_secret=client.client_secret is not None,
    )


def microsoft_authority(tenant: str = "common", authority: str | None = None) -> str:
    """`https://login.microsoftonline.com/<tenant>`, or the given authority URL."""
    if authority:
        return check_endpoint(authority, what="authority")
    tenant = tenant.strip() or "common"
    if "/" in tenant or not tenant.replace("-", "").replace(".", "").isalnum():
        raise InputError(f"{tenant!r} is not a tenant name or ID", field="tenant")
    return f"{MICROSOFT_AUTHORITY_ROOT}/{tenant}"


def microsoft_settings(
    client_id: str, *, tenant: str = "common", authority: str | None = None
) -> OAuthSettings:
    """Sign-in settings for Outlook.com / Microsoft 365 SMTP (a public client: no secret)."""
    client_id = client_id.strip()
    if not client_id:
        raise InputError("the application (client) ID is required", field="client-id")
    base = microsoft_authority(tenant, authority)
    return OAuthSettings(
        provider=OAuthProvider.MICROSOFT,
        client_id=client_id,
        auth_uri=f"{base}/oauth2/v2.0/authorize",
        token_uri=f"{base}/oauth2/v2.0/token",
        device_uri=f"{base}/oauth2/v2.0/devicecode",
        scopes=(*MICROSOFT_IDENTITY_SCOPES, MICROSOFT_SMTP_SCOPE),
        authority=base,
    )
