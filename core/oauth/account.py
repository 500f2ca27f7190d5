"""The account a sign-in makes: the provider's SMTP preset, XOAUTH2, SMTP or the Gmail API."""

from __future__ import annotations

from dataclasses import replace

from core.models import (
    GMAIL_API_ROOT,
    Account,
    AuthMethod,
    OAuthProvider,
    OAuthSettings,
    TransportKind,
)
from core.presets import get_preset

__all__ = ["account_for_sign_in"]

_CONSUMER_GOOGLE = ("gmail.com", "googlemail.com")
_CONSUMER_MICROSOFT = ("outlook.com", "hotmail.com", "live.com", "msn.com")


def _preset_key(provider: OAuthProvider, email: str, tenant: str) -> str:
    domain = email.rpartition("@")[2].lower()
    if provider is OAuthProvider.GOOGLE:
        return "gmail" if domain in _CONSUMER_GOOGLE else "google-workspace"
    if tenant == "consumers" or domain in _CONSUMER_MICROSOFT:
        return "outlook"
    return "microsoft-365"


def account_for_sign_in(
    settings: OAuthSettings,
    email: str,
    *,
    base: Account | None = None,
    transport: TransportKind = TransportKind.SMTP,
    api_url: str = GMAIL_API_ROOT,
    sender: str | None = None,
) -> Account:
    """The account a sign-in makes: the provider's SMTP preset (or `base`), logged in with
    XOAUTH2 as `email`, sending through SMTP or the Gmail API."""
    if base is None:
        tenant = settings.authority.rstrip("/").rsplit("/", 1)[-1] if settings.authority else ""
        preset = get_preset(_preset_key(settings.provider, email, tenant))
        base = Account(
            host=preset.host,
            port=preset.port,
            sender=sender or email,
            security=preset.security,
            preset=preset.key,
        )
    return replace(
        base,
        sender=sender or base.sender or email,
        username=email,
        auth=AuthMethod.XOAUTH2,
        transport=transport,
        oauth=settings,
        api_url=api_url,
    )
