"""The command-line face of Bulk Mailer: argparse subcommands over the same core."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from core.errors import JournalWriteError
from ui.cli import account, campaign_run, dkim, history, schedule, send, suppress, verify
from ui.cli.common import EXIT_ABORTED, EXIT_USAGE, CommandError

__all__ = ["COMMANDS", "build_parser", "run"]

# Each module exposes `register(subparsers)`, which adds its subcommand(s) and sets `func`.
_MODULES = (verify, send, campaign_run, history, account, suppress, dkim, schedule)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python main.py",
        description="Bulk Mailer: send one personalized message per recipient through your "
        "own SMTP account. Without a command, the app opens in your browser.",
        epilog="The app: python main.py [--port N] [--no-browser] [--native]. "
        "Passwords never go on the command line: set BULKMAILER_SMTP_PASSWORD, save the "
        "account with --remember-password, or type it when asked.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _MODULES:
        module.register(subparsers)
    return parser


def _command_names() -> frozenset[str]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return frozenset(action.choices)
    return frozenset()


COMMANDS = _command_names()


def run(argv: Sequence[str]) -> int:
    """Run one CLI command; returns the process exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except JournalWriteError as exc:  # e.g. a full disk while the campaign is created
        print(f"error: {exc}; free some disk space and try again", file=sys.stderr)
        return EXIT_ABORTED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
