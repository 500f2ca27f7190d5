"""`python main.py account save|list|delete`: named SMTP accounts, secrets only in the vault."""

from __future__ import annotations

import argparse
import sys

from core.errors import InputError
from core.models import Account, Credentials
from storage.accounts import AccountBook
from storage.errors import AccountNotFoundError, StorageError
from storage.settings import validate_account_name
from ui.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    PASSPHRASE_ENV,
    PASSWORD_ENV,
    CommandError,
    add_account_options,
    checked_account,
    open_settings,
    open_vault,
    read_password,
    read_proxy_password,
)

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "account",
        help="save, list or delete named SMTP accounts",
        description="Named accounts keep every setting except secrets. With "
        "--remember-password the password is stored encrypted in the vault (key from the OS "
        f"keyring, else a master passphrase from {PASSPHRASE_ENV} or a prompt).",
    )
    parser.set_defaults(func=lambda _args: _usage(parser))
    actions = parser.add_subparsers(dest="account_action", metavar="ACTION")

    save = actions.add_parser(
        "save",
        help="save an account under a name (options as in `verify`)",
        description="Save (or update) an account. Options not given keep their saved value. "
        f"--remember-password stores the password from {PASSWORD_ENV} or a prompt, encrypted; "
        "--no-remember-password deletes a stored one; neither keeps the current choice "
        "(off for a new account). --account NAME starts from another saved account.",
    )
    save.add_argument("name", metavar="NAME")
    add_account_options(save)
    save.add_argument(
        "--remember-password",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep the password (and proxy password) encrypted in the vault",
    )
    save.set_defaults(func=_save)

    listing = actions.add_parser("list", help="show the saved accounts (never a secret)")
    listing.set_defaults(func=_list)

    delete = actions.add_parser("delete", help="forget an account and its stored secrets")
    delete.add_argument("name", metavar="NAME")
    delete.set_defaults(func=_delete)

    from ui.cli import login  # account login / logout (OAuth sign-in)

    login.register_actions(actions)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _describe(account: Account) -> str:
    """One line a person can check: host:port, security, user, proxy."""
    user = f", user {account.username}" if account.username else ", no login"
    proxy = f", via {account.proxy.url()}" if account.proxy else ""
    if account.oauth is not None:
        user += f", signed in with {account.oauth.provider.value} ({account.transport.value})"
    return f"{account.host}:{account.port} ({account.security.value}){user}{proxy}"


def _save(args: argparse.Namespace) -> int:
    try:
        name = validate_account_name(args.name)
    except InputError as exc:
        raise CommandError(str(exc)) from None
    settings = open_settings()
    base_name = args.account or name
    try:
        base = settings.get_account(base_name)
    except AccountNotFoundError:
        if args.account:
            raise CommandError(f"no saved account named {args.account!r}") from None
        base = None
    except StorageError as exc:
        raise CommandError(str(exc)) from None
    account, proxy_password = checked_account(args, base=base)
    credentials = None
    if args.remember_password:
        login = None
        if account.needs_login:
            login = read_password(f"SMTP {account.login_secret_name}: ")
        if account.needs_proxy_login and not proxy_password:
            proxy_password = read_proxy_password()
        credentials = Credentials(proxy_password=proxy_password).with_login_secret(account, login)
    book = AccountBook(settings, open_vault())
    try:
        saved = book.save(
            name, account, remember_password=args.remember_password, credentials=credentials
        )
        stored = book.has_password(name)
    except (StorageError, InputError) as exc:
        raise CommandError(str(exc)) from None
    if saved.remember_password:
        note = "password kept encrypted in the vault" if stored else "no password stored"
    else:
        note = "password not remembered"
    print(f"Saved account {name!r}: {_describe(account)}; {note}.")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    settings = open_settings()
    book = AccountBook(settings, open_vault())
    already_shown = len(settings.warnings)
    accounts = book.accounts()
    for warning in settings.warnings[already_shown:]:  # damaged records found while listing
        print(f"warning: {warning}", file=sys.stderr)
    if not accounts:
        print("No saved accounts. Save one with `python main.py account save NAME ...`.")
        return EXIT_OK
    last = settings.get_preferences().last_account
    for saved in accounts:
        try:
            stored = "password saved" if book.has_password(saved.name) else "no saved password"
        except StorageError as exc:
            print(f"warning: {exc}", file=sys.stderr)
            stored = "vault unreadable"
        marker = "*" if saved.name == last else " "
        print(f"{marker} {saved.name}: {_describe(saved.account)}, {stored}")
    return EXIT_OK


def _delete(args: argparse.Namespace) -> int:
    book = AccountBook(open_settings(), open_vault())
    try:
        removed = book.delete(args.name)
    except StorageError as exc:
        raise CommandError(str(exc)) from None
    if not removed:
        raise CommandError(f"no saved account named {args.name!r} (see `account list`)")
    print(f"Deleted account {args.name.strip()!r} and its stored secrets.")
    return EXIT_OK
