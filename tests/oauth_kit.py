"""Test kit for OAuth: a scripted "browser", settings pointing at the local OAuth server."""

from __future__ import annotations

from pathlib import Path

import httpx

from core.models import OAuthSettings, TransportKind
from core.oauth import google_settings, load_client_secrets, microsoft_settings
from tests.oauth_server import MICROSOFT_CLIENT, OAuthServer

__all__ = ["Browser", "google", "microsoft"]


class Browser:
    """Plays the person's browser: opens the URL, follows the provider's redirect home.

    `tamper(url)` may change the redirect before it is followed (a forged `state`).
    """

    def __init__(self, tamper: object = None) -> None:
        self.opened: list[str] = []
        self.landed: list[httpx.Response] = []
        self.tamper = tamper

    def __call__(self, url: str) -> bool:
        self.opened.append(url)
        with httpx.Client(timeout=10) as client:
            answer = client.get(url)
            location = answer.headers.get("location")
            if answer.status_code != httpx.codes.FOUND or not location:
                self.landed.append(answer)
                return True
            if callable(self.tamper):
                location = self.tamper(location)
            self.landed.append(client.get(location))
        return True


def google(
    server: OAuthServer, tmp_path: Path, transport: TransportKind = TransportKind.SMTP
) -> tuple[OAuthSettings, object]:
    secrets = load_client_secrets(server.client_secrets_file(tmp_path / "client_secret.json"))
    return google_settings(secrets, transport=transport), secrets.client_secret


def microsoft(server: OAuthServer, tenant: str = "consumers") -> OAuthSettings:
    return microsoft_settings(MICROSOFT_CLIENT, authority=server.authority(tenant))
