"""Shared CLI pieces: exit codes, account options, and reading the password safely."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from core.account_check import account_values, check_account, with_sign_in
from core.credentials import CredentialProvider
from core.models import (
    SMTP_STARTTLS_PORT,
    Account,
    AuthMethod,
    Credentials,
    Secret,
    Security,
    default_security_for_port,
)
from core.presets import get_preset
from storage.accounts import AccountBook
from storage.errors import AccountNotFoundError, StorageError
from storage.settings import SavedAccount, SettingsStore
from storage.vault import Vault
from ui.services.credentials import (
    PASSWORD_ENV,
    PROXY_PASSWORD_ENV,
    CredentialResolver,
    CredentialsError,
    SecretRequest,
)

__all__ = [
    "EXIT_ABORTED",
    "EXIT_OK",
    "EXIT_SOME_FAILED",
    "EXIT_USAGE",
    "PASSPHRASE_ENV",
    "PASSWORD_ENV",
    "PROXY_PASSWORD_ENV",
    "CommandError",
    "account_from_args",
    "account_values_from_args",
    "add_account_options",
    "checked_account",
    "cli_resolver",
    "open_settings",
    "open_vault",
    "read_passphrase",
    "read_password",
    "read_proxy_password",
    "resolve_account",
    "resolve_credentials",
    "saved_account",
]

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_ABORTED = 3

PASSPHRASE_ENV = "BULKMAILER_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret


class CommandError(Exception):
    """A CLI failure with the exit code it should produce."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def add_account_options(parser: argparse.ArgumentParser) -> None:
    """The options that describe an SMTP account (the password never comes from argv)."""
    group = parser.add_argument_group("account")
    group.add_argument("--account", metavar="NAME", help="a saved account (see `account list`)")
    group.add_argument("--preset", metavar="NAME", help="gmail, outlook, yahoo, ... or custom")
    group.add_argument("--host", help="SMTP server host name")
    group.add_argument("--port", type=int, help="SMTP port (587 STARTTLS, 465 TLS)")
    group.add_argument(
        "--security",
        choices=[s.value for s in Security],
        help="starttls (required), tls (implicit, port 465) or none (no encryption at all)",
    )
    group.add_argument("--user", help="login user name")
    group.add_argument("--from", dest="sender", metavar="ADDR", help="sender address")
    group.add_argument("--from-name", dest="sender_name", default=None, help="sender's name")
    group.add_argument(
        "--auth", choices=[a.value for a in AuthMethod], default=None, help="login mechanism"
    )
    group.add_argument(
        "--ca-file",
        metavar="F",
        action="append",
        help="trust this CA certificate (PEM file, or a folder of them); repeat for several",
    )
    group.add_argument("--tls-server-name", metavar="N", help="name the certificate must carry")
    group.add_argument(
        "--insecure-skip-verify",
        action="store_true",
        help="do NOT check the server's certificate (dangerous; prefer --ca-file)",
    )
    group.add_argument(
        "--proxy",
        metavar="URL",
        help="socks5://[user@]host:port, socks4://host:port or http://... (default: "
        "ALL_PROXY from the environment, if set); its password from "
        "BULKMAILER_PROXY_PASSWORD or asked on a terminal",
    )
    group.add_argument("--connect-timeout", type=float, metavar="S")
    group.add_argument("--command-timeout", type=float, metavar="S")
    group.add_argument("--data-timeout", type=float, metavar="S")


def read_password(prompt: str = "SMTP password: ", *, required: bool = True) -> Secret | None:
    """The password from BULKMAILER_SMTP_PASSWORD, or a prompt on a terminal; never from argv."""
    value = os.environ.get(PASSWORD_ENV)
    if value:
        return Secret(value)
    if not sys.stdin.isatty():
        if required:
            raise CommandError(
                f"no password: set {PASSWORD_ENV} or run on a terminal to be asked", EXIT_USAGE
            )
        return None
    entered = getpass.getpass(prompt)
    return Secret(entered) if entered else None


# argparse dest -> the one account validation's field name
_FLAG_FIELDS = {
    "host": "host",
    "port": "port",
    "security": "security",
    "user": "username",
    "sender": "sender",
    "sender_name": "sender_name",
    "auth": "auth",
    "ca_file": "ca_file",
    "tls_server_name": "server_name",
    "proxy": "proxy_url",
    "connect_timeout": "connect_timeout",
    "command_timeout": "command_timeout",
    "data_timeout": "data_timeout",
}
_FIELD_FLAGS = {field: "--" + dest.replace("_", "-") for dest, field in _FLAG_FIELDS.items()}
_FIELD_FLAGS.update(sender="--from", sender_name="--from-name", username="--user")


def _preset_values(name: str | None) -> dict[str, object]:
    if not name:
        return {"port": SMTP_STARTTLS_PORT}
    try:
        preset = get_preset(name)
    except KeyError as exc:
        raise CommandError(str(exc.args[0])) from None
    return {
        "host": preset.host,
        "port": preset.port,
        "security": preset.security.value,
        "auth": preset.auth.value,
        "preset": preset.key,
    }


def account_values_from_args(
    args: argparse.Namespace, base: Account | None = None
) -> dict[str, object]:
    """The account's field values: a saved `base` or a preset, overridden by the flags."""
    values = account_values(base) if base is not None else _preset_values(args.preset)
    if base is not None and args.preset:
        values.update(_preset_values(args.preset))
    for dest, key in _FLAG_FIELDS.items():
        value = getattr(args, dest, None)
        if value is not None:
            values[key] = value
    if args.port is not None and not args.security:  # a new port: the security it implies
        values["security"] = default_security_for_port(args.port).value
    if not values.get("sender"):
        values["sender"] = values.get("username") or ""
    if getattr(args, "insecure_skip_verify", False):
        values["verify"] = False
    if not values.get("username") and values.get("auth") in (None, AuthMethod.AUTO.value):
        values["auth"] = AuthMethod.NONE.value
    return values


def checked_account(
    args: argparse.Namespace, base: Account | None = None
) -> tuple[Account, Secret | None]:
    """The account the flags describe, checked like the form does: exit 2 with one line."""
    if not (args.host or base is not None or args.preset):
        raise CommandError("--host is required (or --preset / --account)")
    result = check_account(account_values_from_args(args, base))
    if result.account is None:
        key, message = next(iter(result.errors.items()))
        raise CommandError(f"{_FIELD_FLAGS.get(key, key)}: {message}")
    return with_sign_in(result.account, base), result.proxy_password


def read_proxy_password() -> Secret | None:
    """The proxy password from BULKMAILER_PROXY_PASSWORD, or a prompt on a terminal."""
    value = os.environ.get(PROXY_PASSWORD_ENV)
    if value:
        return Secret(value)
    if not sys.stdin.isatty():
        return None
    entered = getpass.getpass("Proxy password: ")
    return Secret(entered) if entered else None


def account_from_args(args: argparse.Namespace, base: Account | None = None) -> Account:
    """Build an account from a preset or saved `base`, overridden by explicit options."""
    return checked_account(args, base)[0]


def _ask_on_terminal(request: SecretRequest) -> Credentials:
    login = proxy = None
    if request.ask_login:
        label = "SMTP password" if request.login_label == "password" else request.login_label
        login = read_password(f"{label}: ")
    if request.ask_proxy:
        proxy = read_proxy_password()
    return Credentials(proxy_password=proxy).with_login_secret(request.account, login)


def cli_resolver() -> CredentialResolver:
    """The CLI's credential resolver: the vault opens with BULKMAILER_PASSPHRASE or a prompt."""
    book: AccountBook | None = None

    def open_book() -> AccountBook:
        nonlocal book
        if book is None:
            book = AccountBook(open_settings(), open_vault())
        return book

    return CredentialResolver(book=open_book)


def resolve_credentials(
    account: Account, *, saved_name: str | None = None, given: Credentials | None = None
) -> Credentials | CredentialProvider:
    """The secrets for `account` in the one resolver's order (a signed-in account's token
    provider); a prompt only on a terminal."""
    ask = _ask_on_terminal if sys.stdin.isatty() else None
    try:
        return cli_resolver().secrets_now(account, saved_name=saved_name, given=given, ask=ask)
    except CredentialsError as exc:
        raise CommandError(str(exc)) from None


def saved_account(name: str) -> SavedAccount:
    """The saved account `name`, or exit 2 naming what is wrong."""
    try:
        return open_settings().get_saved_account(name)
    except AccountNotFoundError:
        raise CommandError(f"no saved account named {name!r} (see `account list`)") from None
    except StorageError as exc:
        raise CommandError(str(exc)) from None


def resolve_account(
    args: argparse.Namespace,
) -> tuple[Account, Credentials | CredentialProvider]:
    """The account and its secrets: from the options, or a saved `--account` they override.

    Secrets come from the one credential resolver: a password inside `--proxy`, the
    environment, the vault (only for the saved host, user and proxy), then a prompt.
    """
    name = getattr(args, "account", None)
    saved = saved_account(name) if name else None
    account, proxy_password = checked_account(args, saved.account if saved else None)
    given = Credentials(proxy_password=proxy_password)
    return account, resolve_credentials(account, saved_name=name, given=given)


def read_passphrase(new: bool) -> Secret:
    """The vault's master passphrase: BULKMAILER_PASSPHRASE, or asked on a terminal.

    `new` is True when a passphrase is being chosen: then it is asked twice.
    """
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return Secret(value)
    if not sys.stdin.isatty():
        raise CommandError(
            f"the vault needs the master passphrase: set {PASSPHRASE_ENV} or run on a terminal "
            "to be asked"
        )
    if not new:
        return Secret(getpass.getpass("Master passphrase: "))
    print(
        "Choose a master passphrase: it protects saved passwords and cannot be recovered.",
        file=sys.stderr,
    )
    first = getpass.getpass("New master passphrase: ")
    if getpass.getpass("Repeat it: ") != first:
        raise CommandError("the two passphrases differ")
    return Secret(first)


def open_settings() -> SettingsStore:
    """The settings store, with anything it had to repair printed as a warning."""
    try:
        settings = SettingsStore()
    except StorageError as exc:
        raise CommandError(str(exc)) from None
    for warning in settings.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return settings


def open_vault() -> Vault:
    """The vault: OS keyring if a real one exists, else the master passphrase (env or prompt)."""
    return Vault.open_default(passphrase=read_passphrase)
