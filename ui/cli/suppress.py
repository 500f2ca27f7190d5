"""`python main.py suppress add|import|list|remove|export`: addresses never to mail again."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.errors import InputError
from core.suppression import SuppressionReason
from storage.errors import StorageError
from storage.suppression import ImportResult, SuppressionList
from ui.cli.common import EXIT_OK, EXIT_SOME_FAILED, CommandError

__all__ = ["register"]

_SHOW_REJECTED = 20
_REASONS = [reason.value for reason in SuppressionReason]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "suppress",
        help="the suppression list: addresses no campaign will ever mail",
        description="Addresses on this list are skipped by every campaign (journaled as "
        "skipped, with the reason). A permanent 'no such user' reply adds an address by "
        "itself; bounces that arrive later by email reach the list only by `suppress import`.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="add addresses")
    add.add_argument("emails", nargs="+", metavar="EMAIL")
    add.add_argument("--reason", choices=_REASONS, default=SuppressionReason.MANUAL.value)
    add.add_argument("--note", default="", help="a note kept with each address")
    add.set_defaults(func=_add)

    imp = actions.add_parser(
        "import",
        help="import a CSV/TXT/XLSX file, or pasted addresses from standard input ('-')",
        description="A file with an email column (an optional 'reason' and 'date' column win "
        "over --reason), or '-' to read addresses from standard input.",
    )
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--reason", choices=_REASONS, default=SuppressionReason.MANUAL.value)
    imp.set_defaults(func=_import)

    lst = actions.add_parser("list", help="show the list, newest first")
    lst.set_defaults(func=_list)

    remove = actions.add_parser("remove", help="take addresses off the list")
    remove.add_argument("emails", nargs="+", metavar="EMAIL")
    remove.set_defaults(func=_remove)

    export = actions.add_parser("export", help="write the list as CSV (email, reason, date, note)")
    export.add_argument("--out", metavar="FILE", help="default: standard output")
    export.set_defaults(func=_export)


def _open() -> SuppressionList:
    try:
        return SuppressionList()
    except StorageError as exc:
        raise CommandError(str(exc)) from None


def _add(args: argparse.Namespace) -> int:
    reason = SuppressionReason(args.reason)
    bad = 0
    with _open() as listed:
        for email in args.emails:
            try:
                added = listed.add(email, reason, note=args.note)
            except InputError as exc:
                print(f"error: {email!r}: {exc.message}", file=sys.stderr)
                bad += 1
                continue
            print(f"{email}: {'added' if added else 'already on the list'}")
    return EXIT_SOME_FAILED if bad else EXIT_OK


def _import(args: argparse.Namespace) -> int:
    reason = SuppressionReason(args.reason)
    with _open() as listed:
        try:
            if args.file == "-":
                result = listed.import_text(sys.stdin.read(), reason=reason)
            else:
                path = Path(args.file)
                result = listed.import_file(path.read_bytes(), filename=path.name, reason=reason)
        except OSError as exc:
            raise CommandError(f"{args.file}: {exc.strerror}") from None
        except InputError as exc:
            raise CommandError(str(exc)) from None
    return _report(result)


def _report(result: ImportResult) -> int:
    print(
        f"Imported: {result.added:,} added, {result.already:,} already on the list, "
        f"{len(result.rejected):,} rejected."
    )
    for rejected in result.rejected[:_SHOW_REJECTED]:
        print(f"  rejected: {rejected}", file=sys.stderr)
    if len(result.rejected) > _SHOW_REJECTED:
        print(f"  ... and {len(result.rejected) - _SHOW_REJECTED} more", file=sys.stderr)
    return EXIT_SOME_FAILED if result.rejected else EXIT_OK


def _list(args: argparse.Namespace) -> int:
    with _open() as listed:
        entries = listed.entries()
    if not entries:
        print("The suppression list is empty.")
        return EXIT_OK
    print(f"{'date':<10}  {'reason':<12}  email")
    for entry in entries:
        note = f"  ({entry.note})" if entry.note else ""
        print(f"{entry.date:<10}  {entry.reason.value:<12}  {entry.email}{note}")
    print(f"{len(entries):,} addresses.")
    return EXIT_OK


def _remove(args: argparse.Namespace) -> int:
    missing = 0
    with _open() as listed:
        for email in args.emails:
            if listed.remove(email):
                print(f"{email}: removed")
            else:
                print(f"{email}: not on the list", file=sys.stderr)
                missing += 1
    return EXIT_SOME_FAILED if missing else EXIT_OK


def _export(args: argparse.Namespace) -> int:
    with _open() as listed:
        if not args.out:
            count = listed.export_csv(sys.stdout)
        else:
            try:
                with open(args.out, "w", encoding="utf-8", newline="") as out:
                    count = listed.export_csv(out)
            except OSError as exc:
                raise CommandError(f"{args.out}: {exc.strerror}") from None
    stamp = time.strftime("%H:%M:%S")
    print(f"{stamp} exported {count:,} addresses", file=sys.stderr)
    return EXIT_OK
