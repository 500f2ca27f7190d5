"""Shared CLI pieces: exit codes, account options, and reading the password safely."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from dataclasses import replace

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

__all__ = [
    "EXIT_ABORTED",
    "EXIT_OK",
    "EXIT_SOME_FAILED",
    "EXIT_USAGE",
    "PASSWORD_ENV",
    "CommandError",
    "account_from_args",
    "add_account_options",
    "read_password",
]

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_ABORTED = 3

PASSWORD_ENV = "BULKMAILER_SMTP_PASSWORD"  # noqa: S105 - the variable's name, not a secret


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
        sender_name=args.sender_name if args.sender_name is not None else (
            base.sender_name if base else ""
        ),
        auth=auth,
        tls=tls,
        proxy=proxy,
        timeouts=timeouts,
        preset=preset.key if preset else (base.preset if base else None),
        local_hostname=base.local_hostname if base else None,
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


def resolve_account(args: argparse.Namespace) -> tuple[Account, Credentials]:
    """The account and its secrets from the command line (saved accounts come with storage)."""
    account = account_from_args(args)
    return account, credentials_for(account, args)
