"""`python main.py verify`: check an SMTP account step by step, sending no message."""

from __future__ import annotations

import argparse
import asyncio

from core.diagnose import diagnose
from ui.cli.common import EXIT_OK, EXIT_SOME_FAILED, add_account_options, resolve_account
from ui.cli.dkim import print_domain_check

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="check an SMTP account (DNS, TCP, TLS, login, sender) without sending",
        description="Connect, secure, log in and try MAIL FROM, then RSET and QUIT: no message "
        "is sent. The password comes from BULKMAILER_SMTP_PASSWORD, the vault (--account) or "
        "a prompt; never from the command line.",
    )
    add_account_options(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    account, credentials = resolve_account(args)
    security = account.security.value.upper()
    print(f"Checking {account.host}:{account.port} ({security}) as {account.username or '-'}")
    report = asyncio.run(diagnose(account, credentials))
    for line in report.lines():
        print(line)
    print_domain_check(account, getattr(args, "account", None))
    if report.ok:
        print("All steps passed: this account can send.")
        return EXIT_OK
    print("Verification failed.")
    return EXIT_SOME_FAILED
