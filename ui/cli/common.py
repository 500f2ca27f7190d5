"""Shared CLI pieces: exit codes, account options, and reading the password safely."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from dataclasses import replace

from core.credentials import CredentialProvider
from core.errors import InputError
from core.models import (
    SMTP_STARTTLS_PORT,
    Account,
    AuthMethod,
    Credentials,
    Proxy,
    Secret,
    Security,
    Timeouts,
    TLSOptions,
    default_security_for_port,
)
from core.presets import get_preset
from storage.errors import AccountNotFoundError, StorageError
from storage.settings import SavedAccount, SettingsStore
from storage.vault import SecretKind, Vault
from ui.cli.signed_in import oauth_credentials, oauth_fields

__all__ = [
    "EXIT_ABORTED",
    "EXIT_OK",
    "EXIT_SOME_FAILED",
    "EXIT_USAGE",
    "PASSPHRASE_ENV",
    "PASSWORD_ENV",
    "CommandError",
    "account_from_args",
    "add_account_options",
    "credentials_for",
    "open_settings",
    "open_vault",
    "read_passphrase",
    "read_password",
    "resolve_account",
]

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_ABORTED = 3

PASSWORD_ENV = "BULKMAILER_SMTP_PASSWORD"  # noqa: S105 - the variable's name, not a secret
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
    group.add_argument("--ca-file", metavar="F", help="pin this CA certificate (PEM)")
    group.add_argument("--tls-server-name", metavar="N", help="name the certificate must carry")
    group.add_argument(
        "--insecure-skip-verify",
        action="store_true",
        help="do NOT check the server's certificate (dangerous; prefer --ca-file)",
    )
    group.add_argument("--proxy", metavar="URL", help="socks5://[user@]host:port or http://...")
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


def account_from_args(args: argparse.Namespace, base: Account | None = None) -> Account:
    """Build an account from a preset or saved `base`, overridden by explicit options."""
    preset = None
    if args.preset:
        try:
            preset = get_preset(args.preset)
        except KeyError as exc:
            raise CommandError(str(exc.args[0])) from None
    host = args.host or (base.host if base else None) or (preset.host if preset else None)
    if not host:
        raise CommandError("--host is required (or --preset / --account)")
    if preset is not None and preset.host_needs_region and "{region}" in host:
        raise CommandError(f"{preset.name}: pass --host with your region filled in ({host})")
    port = args.port or (base.port if base else None) or (preset.port if preset else None)
    port = port or SMTP_STARTTLS_PORT
    if args.security:
        security = Security(args.security)
    elif base is not None and not args.port:
        security = base.security
    elif preset is not None and not args.port:
        security = preset.security
    else:
        security = default_security_for_port(port)
    sender = args.sender or (base.sender if base else None) or args.user
    if not sender:
        raise CommandError("--from is required (the sender address)")
    tls = base.tls if base else TLSOptions()
    tls = replace(
        tls,
        ca_file=args.ca_file or tls.ca_file,
        server_name=args.tls_server_name or tls.server_name,
        verify=tls.verify and not args.insecure_skip_verify,
    )
    proxy = base.proxy if base else None
    if args.proxy:
        try:
            proxy, _ = Proxy.from_url(args.proxy)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
    timeouts = base.timeouts if base else Timeouts()
    timeouts = Timeouts(
        connect=args.connect_timeout or timeouts.connect,
        command=args.command_timeout or timeouts.command,
        data=args.data_timeout or timeouts.data,
    )
    username = args.user or (base.username if base else None)
    auth = AuthMethod(args.auth) if args.auth else (base.auth if base else AuthMethod.AUTO)
    if not username and auth is AuthMethod.AUTO:
        auth = AuthMethod.NONE
    return Account(
        host=host,
        port=port,
        sender=sender,
        security=security,
        username=username,
        sender_name=args.sender_name
        if args.sender_name is not None
        else (base.sender_name if base else ""),
        auth=auth,
        tls=tls,
        proxy=proxy,
        timeouts=timeouts,
        preset=preset.key if preset else (base.preset if base else None),
        local_hostname=base.local_hostname if base else None,
        **oauth_fields(base),
    )


def credentials_for(account: Account, args: argparse.Namespace) -> Credentials:
    """Secrets for `account`: the SMTP password (env or prompt) and a proxy password if any."""
    password = None
    if account.auth is not AuthMethod.NONE and account.username:
        password = read_password()
    proxy_password = None
    if args.proxy:
        _, proxy_password = Proxy.from_url(args.proxy)
    return Credentials(password=password, proxy_password=proxy_password)


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


def _vault_secret(vault: Vault, saved: SavedAccount, kind: SecretKind) -> Secret | None:
    if not saved.remember_password:
        return None
    try:
        return vault.get_secret(kind, saved.name)
    except (StorageError, InputError) as exc:
        raise CommandError(f"account {saved.name!r}: {exc}") from None


def resolve_account(args: argparse.Namespace) -> tuple[Account, Credentials | CredentialProvider]:
    """The account and its secrets: from the options, or a saved `--account` they override.

    With `--account NAME` the SMTP password comes from BULKMAILER_SMTP_PASSWORD, else the
    vault (when remembered, and the host and user were not changed), else a prompt; the proxy
    password from `--proxy`, else the vault when the saved proxy is kept.
    """
    name = getattr(args, "account", None)
    if not name:
        account = account_from_args(args)
        return account, credentials_for(account, args)
    settings = open_settings()
    try:
        saved = settings.get_saved_account(name)
    except AccountNotFoundError:
        raise CommandError(f"no saved account named {name!r} (see `account list`)") from None
    except StorageError as exc:
        raise CommandError(str(exc)) from None
    account = account_from_args(args, base=saved.account)
    vault = open_vault()
    if account.oauth is not None:  # signed in with Google / Microsoft: tokens from the vault
        return account, oauth_credentials(vault, saved.name, account, args)
    password = None
    if account.auth is not AuthMethod.NONE and account.username:
        same_login = (account.host, account.username) == (
            saved.account.host,
            saved.account.username,
        )
        if not os.environ.get(PASSWORD_ENV) and same_login:
            password = _vault_secret(vault, saved, SecretKind.SMTP_PASSWORD)
        password = password or read_password()
    proxy_password = None
    if args.proxy:
        _, proxy_password = Proxy.from_url(args.proxy)
    elif account.proxy is not None and account.proxy == saved.account.proxy:
        proxy_password = _vault_secret(vault, saved, SecretKind.PROXY_PASSWORD)
    return account, Credentials(password=password, proxy_password=proxy_password)
