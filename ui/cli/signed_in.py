"""What the CLI's account resolution needs for signed-in (OAuth) accounts, kept apart."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from core.errors import SignInRequiredError
from core.models import Account, Credentials, Proxy
from core.oauth import OAuthCredentials
from storage.errors import StorageError
from storage.oauth_tokens import SignIns, signed_in_name
from storage.settings import SettingsStore
from storage.vault import Vault

__all__ = ["oauth_credentials", "oauth_fields", "snapshot_provider"]


def oauth_fields(base: Account | None) -> dict[str, Any]:
    """The sign-in fields a rebuilt account keeps from the saved one."""
    if base is None:
        return {}
    return {"transport": base.transport, "oauth": base.oauth, "api_url": base.api_url}


def _command_error(message: str) -> Exception:
    from ui.cli.common import CommandError  # common imports this module

    return CommandError(message)


def oauth_credentials(
    vault: Vault, name: str, account: Account, args: argparse.Namespace | None = None
) -> OAuthCredentials:
    """The provider for the signed-in account `name` (proxy password from `--proxy`)."""
    proxy = getattr(args, "proxy", None) if args is not None else None
    base = Credentials(proxy_password=Proxy.from_url(proxy)[1] if proxy else None)
    try:
        return SignIns(vault).provider(name, account, base=base)
    except (StorageError, SignInRequiredError) as exc:
        raise _command_error(str(exc)) from None


def snapshot_provider(
    settings: SettingsStore, open_vault: Callable[[], Vault], account: Account
) -> OAuthCredentials:
    """The provider for a stored campaign's signed-in account, found by client and user."""
    saved = signed_in_name(settings, account)
    if saved is None:
        raise _command_error(
            f"no saved account is signed in as {account.username}: sign in again with "
            "python main.py account login NAME, then resume"
        )
    return oauth_credentials(open_vault(), saved.name, account)
