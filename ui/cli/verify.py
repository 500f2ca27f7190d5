"""`python main.py verify`: check an SMTP account step by step, sending no message."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from core.diagnose import diagnose
from core.diagnose_report import report_markdown
from ui.cli.common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    CommandError,
    add_account_options,
    resolve_account,
)
from ui.cli.dkim import print_domain_check

__all__ = ["register"]

_STDOUT = "-"
_PRIVATE_FILE = 0o600


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="check an SMTP account (DNS, TCP, TLS, login, sender) without sending",
        description="Connect, secure, log in and try MAIL FROM, then RSET and QUIT: no message "
        "is sent. The password comes from BULKMAILER_SMTP_PASSWORD, the vault (--account) or "
        "a prompt; never from the command line.",
    )
    add_account_options(parser)
    parser.add_argument(
        "--report",
        metavar="FILE",
        nargs="?",
        const=_STDOUT,
        help="print the check as Markdown for a support request (secrets and the user name's "
        "local part redacted); with FILE, write it there instead",
    )
    parser.set_defaults(func=_run)


def _write_report(text: str, target: str) -> None:
    if target == _STDOUT:
        print(text)
        return
    path = Path(target).expanduser()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _PRIVATE_FILE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise CommandError(f"cannot write the report to {target!r}: {exc}") from None
    print(f"Report written to {path}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    account, credentials = resolve_account(args)
    security = account.security.value.upper()
    markdown_only = args.report == _STDOUT
    if not markdown_only:
        print(f"Checking {account.host}:{account.port} ({security}) as {account.username or '-'}")
    report = asyncio.run(diagnose(account, credentials))
    if args.report is not None:
        _write_report(report_markdown(report), args.report)
    if markdown_only:
        return EXIT_OK if report.ok else EXIT_SOME_FAILED
    for line in report.lines():
        print(line)
    print_domain_check(account, getattr(args, "account", None))
    if report.ok:
        print("All steps passed: this account can send.")
        return EXIT_OK
    print("Verification failed.")
    return EXIT_SOME_FAILED
