"""`python main.py account login|logout NAME`: sign in with Google or Microsoft (OAuth 2.0)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import webbrowser
from typing import TYPE_CHECKING

from core.errors import InputError, MailerError
from core.models import (
    GMAIL_API_ROOT,
    Account,
    OAuthProvider,
    OAuthSettings,
    Secret,
    TransportKind,
)
from core.oauth.account import account_for_sign_in
from core.oauth.endpoints import check_endpoint
from storage.accounts import AccountBook
from storage.errors import AccountNotFoundError, StorageError
from storage.oauth_tokens import SignIns
from storage.settings import validate_account_name
from ui.cli.common import EXIT_ABORTED, EXIT_OK, CommandError, open_settings, open_vault

if TYPE_CHECKING:
    from core.oauth import DeviceCode, TokenSet

# The sign-in itself (Authlib, httpx) is imported by the commands that sign in, not by every
# command's start-up (`core.oauth` loads its parts on first use).

__all__ = ["register_actions"]


def register_actions(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `login` and `logout` under `account`."""
    login = actions.add_parser(
        "login",
        help="sign in with Google or Microsoft (OAuth) and save the account",
        description="Sign in in your browser (authorization code with PKCE; the answer comes "
        "back to a one-time listener on 127.0.0.1). You bring your own OAuth client: a Google "
        "Cloud 'Desktop app' client_secret.json, or a Microsoft Entra app's client ID (see "
        "the README). Only the refresh token is kept, encrypted in the vault.",
    )
    login.add_argument("name", metavar="NAME")
    login.add_argument("--provider", required=True, choices=[p.value for p in OAuthProvider])
    client = login.add_mutually_exclusive_group()
    client.add_argument("--client-secrets", metavar="FILE", help="Google's client_secret.json")
    client.add_argument("--client-id", metavar="ID", help="Microsoft application (client) ID")
    login.add_argument(
        "--tenant",
        default=None,
        help="Microsoft tenant: common (the default), consumers (Outlook.com), organizations, "
        "or your own",
    )
    login.add_argument(
        "--transport",
        choices=[t.value for t in TransportKind],
        default=None,
        help="Google: send over SMTP (XOAUTH2, scope mail.google.com) or the Gmail API "
        "(scope gmail.send)",
    )
    login.add_argument(
        "--gmail-api-url", metavar="URL", default=None, help=f"default {GMAIL_API_ROOT}"
    )
    login.add_argument(
        "--authority",
        metavar="URL",
        default=None,
        help="Microsoft authority (default https://login.microsoftonline.com/<tenant>)",
    )
    login.add_argument(
        "--no-browser", action="store_true", help="print the URL to open instead of opening it"
    )
    login.add_argument(
        "--device-code",
        action="store_true",
        help="Microsoft: sign in with a code on another device (no browser here)",
    )
    login.add_argument("--from", dest="sender", metavar="ADDR", help="sender address")
    login.set_defaults(func=_login)

    logout = actions.add_parser("logout", help="sign out: forget the account's refresh token")
    logout.add_argument("name", metavar="NAME")
    logout.set_defaults(func=_logout)


def _settings_from_args(
    args: argparse.Namespace, transport: TransportKind, base: Account | None
) -> tuple[OAuthSettings, Secret | None]:
    """The sign-in settings; options not given keep the saved account's (as `account save`)."""
    from core.oauth import google_settings, load_client_secrets, microsoft_settings

    provider = OAuthProvider(args.provider)
    saved = base.oauth if base is not None and base.oauth is not None else None
    if saved is not None and saved.provider is not provider:
        saved = None
    try:
        if provider is OAuthProvider.GOOGLE:
            if not args.client_secrets:
                raise CommandError(
                    "--client-secrets FILE is required for Google: download client_secret.json "
                    "of a 'Desktop app' OAuth client (see the README)"
                )
            secrets = load_client_secrets(args.client_secrets)
            return google_settings(secrets, transport=transport), secrets.client_secret
        if transport is TransportKind.GMAIL_API:
            raise CommandError("--transport gmail-api is for Google accounts only")
        if not args.client_id:
            raise CommandError(
                "--client-id ID is required for Microsoft: the application (client) ID of your "
                "Entra app registration (see the README)"
            )
        authority = args.authority or (saved.authority if saved and not args.tenant else None)
        return microsoft_settings(
            args.client_id, tenant=args.tenant or "common", authority=authority
        ), None
    except InputError as exc:
        raise CommandError(str(exc)) from None


def _print_url(url: str) -> None:
    print(f"Open this address to sign in (this computer only):\n  {url}", file=sys.stderr)


def _print_code(code: DeviceCode) -> None:
    print(
        code.message or f"Open {code.verification_uri} and enter {code.user_code}", file=sys.stderr
    )


def _has_browser() -> bool:
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


async def _sign_in(
    args: argparse.Namespace, settings: OAuthSettings, secret: Secret | None
) -> TokenSet:
    from core.oauth import sign_in_browser, sign_in_device

    microsoft = settings.provider is OAuthProvider.MICROSOFT
    if args.device_code and not microsoft:
        raise CommandError("--device-code is for Microsoft accounts (Google has no such flow)")
    if microsoft and (args.device_code or (not args.no_browser and not _has_browser())):
        return await sign_in_device(settings, on_code=_print_code)
    opener = None if args.no_browser else webbrowser.open
    return await sign_in_browser(settings, secret, open_browser=opener, on_url=_print_url)


def _login(args: argparse.Namespace) -> int:
    from core.oauth import OAuthFlowError

    try:
        name = validate_account_name(args.name)
    except InputError as exc:
        raise CommandError(str(exc)) from None
    store = open_settings()
    try:
        base: Account | None = store.get_account(name)
    except AccountNotFoundError:
        base = None
    except StorageError as exc:
        raise CommandError(str(exc)) from None
    transport = TransportKind(args.transport) if args.transport else None
    if transport is None:
        transport = base.transport if base is not None else TransportKind.SMTP
    try:
        api_url = check_endpoint(
            args.gmail_api_url or (base.api_url if base is not None else GMAIL_API_ROOT),
            what="gmail-api-url",
        )
    except InputError as exc:
        raise CommandError(str(exc)) from None
    settings, secret = _settings_from_args(args, transport, base)
    vault = open_vault()
    try:
        vault.unlock()  # ask for the passphrase now, not after the browser round trip
        tokens = asyncio.run(_sign_in(args, settings, secret))
    except (OAuthFlowError, MailerError, StorageError) as exc:
        raise CommandError(f"sign-in failed: {exc}", EXIT_ABORTED) from None
    email = tokens.email or args.sender
    if not email:
        raise CommandError("the provider did not say which address signed in: pass --from ADDR")
    assert tokens.refresh_token is not None
    account = account_for_sign_in(
        settings,
        email,
        base=base,
        transport=transport,
        api_url=api_url,
        sender=args.sender,
    )
    try:
        SignIns(vault).save(name, tokens.refresh_token, secret)
        AccountBook(store, vault).save(name, account, remember_password=True)
    except (StorageError, InputError) as exc:
        raise CommandError(str(exc)) from None
    via = (
        f"the Gmail API ({account.api_url})"
        if transport is TransportKind.GMAIL_API
        else f"SMTP {account.host}:{account.port}"
    )
    print(
        f"Signed in as {email}. Account {name!r} saved: sends through {via}; the refresh token "
        "is kept encrypted in the vault."
    )
    return EXIT_OK


def _logout(args: argparse.Namespace) -> int:
    vault = open_vault()
    try:
        removed = SignIns(vault).forget(args.name.strip())
    except StorageError as exc:
        raise CommandError(str(exc)) from None
    if not removed:
        raise CommandError(f"account {args.name.strip()!r} is not signed in")
    print(f"Signed out of {args.name.strip()!r}: its refresh token was deleted from the vault.")
    return EXIT_OK
