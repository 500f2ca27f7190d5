"""`campaigns`, `status`, `export`, `retry-failed`, `resolve`: the journal from the command line."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.models import RecipientStatus
from storage.journal import JournalError, JournalStore
from storage.journal.history import (
    Resolution,
    export_csv,
    list_campaigns,
    recipients,
    resolve_unknown,
    retry_failed,
    skipped_reasons,
)
from storage.journal.reasons import reason_groups
from ui.cli.common import EXIT_OK, EXIT_SOME_FAILED, CommandError
from ui.services.durations import slowest_lines

__all__ = ["register"]

_STATUS_CHOICES = [status.value for status in RecipientStatus]
_SHOW_PROBLEMS = 50


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = subparsers.add_parser("campaigns", help="list past campaigns with their counts")
    listing.set_defaults(func=_campaigns)

    status = subparsers.add_parser("status", help="one campaign: counts and problem recipients")
    status.add_argument("campaign_id", metavar="ID")
    status.set_defaults(func=_status)

    export = subparsers.add_parser("export", help="write a campaign's recipients as CSV")
    export.add_argument("campaign_id", metavar="ID")
    export.add_argument(
        "--status",
        choices=_STATUS_CHOICES,
        action="append",
        help="only these statuses (repeatable); default: all",
    )
    export.add_argument("--out", required=True, metavar="FILE", help="CSV file to write ('-')")
    export.set_defaults(func=_export)

    retry = subparsers.add_parser(
        "retry-failed", help="put failed recipients back to pending and send to them again"
    )
    retry.add_argument("campaign_id", metavar="ID")
    retry.add_argument("--no-send", action="store_true", help="only reset; resume later")
    retry.add_argument("--verbose", action="store_true")
    retry.set_defaults(func=_retry_failed, accept_changes=False)

    resolve = subparsers.add_parser(
        "resolve",
        help="decide for recipients whose result is unknown: resend or mark as sent",
        description="A recipient is UNKNOWN when the connection broke after the message was "
        "sent and before the server replied: the server may have it. Nothing is resent "
        "until you choose.",
    )
    resolve.add_argument("campaign_id", metavar="ID")
    choice = resolve.add_mutually_exclusive_group(required=True)
    choice.add_argument("--resend", action="store_true", help="send again (may duplicate)")
    choice.add_argument("--mark-sent", action="store_true", help="count it as accepted")
    resolve.add_argument(
        "--recipient",
        action="append",
        metavar="EMAIL",
        help="only this address (repeatable); default: all unknown",
    )
    resolve.set_defaults(func=_resolve)


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at))


def _campaigns(args: argparse.Namespace) -> int:
    store = JournalStore()
    try:
        rows = list_campaigns(store)
    finally:
        store.close()
    if not rows:
        print("No campaigns yet.")
        return EXIT_OK
    print(
        f"{'ID':<23} {'created':<16} {'status':<11} {'total':>7} {'sent':>7} {'failed':>7} "
        f"{'unknown':>7} {'left':>7}  name"
    )
    for row in rows:
        c = row.counts
        print(
            f"{row.id:<23} {_when(row.created):<16} {row.status.value:<11} {c.total:>7} "
            f"{c.sent:>7} {c.failed:>7} {c.unknown:>7} {c.remaining:>7}  {row.name}"
        )
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    store = JournalStore()
    try:
        try:
            record = store.campaign(args.campaign_id)
        except JournalError as exc:
            raise CommandError(str(exc)) from None
        counts = store.counts(record.id)
        print(f"Campaign {record.id} ({record.name}), created {_when(record.created)}")
        print(f"Status: {record.status.value}{': ' + record.reason if record.reason else ''}")
        print(
            f"Account: {record.account.username or '-'} via {record.account.host}:"
            f"{record.account.port} ({record.account.security.value})"
        )
        print(
            f"Recipients: {counts.total:,} — accepted {counts.sent:,}, failed "
            f"{counts.failed:,}, unknown {counts.unknown:,}, deferred {counts.deferred:,}, "
            f"pending {counts.pending:,}, skipped {counts.skipped:,}"
        )
        for reason, count in skipped_reasons(store, record.id).items():
            print(f"  skipped {count:,}: {reason}")
        groups = reason_groups(store, record.id)
        if groups:
            print("Why (grouped by reason):")
            print("\n".join(f"  {group.line}" for group in groups))
        problems = recipients(
            store,
            record.id,
            statuses=[RecipientStatus.FAILED, RecipientStatus.UNKNOWN, RecipientStatus.DEFERRED],
            limit=_SHOW_PROBLEMS,
        )
        for row in problems:
            code = f" {row.code}" if row.code else ""
            print(f"  line {row.line:>6} {row.email}: {row.status.value}{code} {row.text}")
        if counts.failed + counts.unknown + counts.deferred > _SHOW_PROBLEMS:
            print("  ... (export the rest with `export`)")
        slow = slowest_lines(store, record.id)
        if slow:
            print("Slowest replies:")
            print("\n".join(f"  {line}" for line in slow))
    finally:
        store.close()
    return EXIT_OK if not (counts.failed or counts.unknown) else EXIT_SOME_FAILED


def _export(args: argparse.Namespace) -> int:
    statuses = [RecipientStatus(s) for s in args.status] if args.status else None
    store = JournalStore()
    try:
        if args.out == "-":
            count = export_csv(store, args.campaign_id, sys.stdout, statuses=statuses)
        else:
            with Path(args.out).open("w", encoding="utf-8", newline="") as out:
                count = export_csv(store, args.campaign_id, out, statuses=statuses)
            print(f"Wrote {count:,} rows to {args.out}", file=sys.stderr)
    except JournalError as exc:
        raise CommandError(str(exc)) from None
    finally:
        store.close()
    return EXIT_OK


def _retry_failed(args: argparse.Namespace) -> int:
    from ui.cli.campaign_run import resume_campaign

    store = JournalStore()
    try:
        changed = retry_failed(store, args.campaign_id)
    except JournalError as exc:
        raise CommandError(str(exc)) from None
    finally:
        store.close()
    print(f"{changed:,} failed recipients are pending again.")
    if args.no_send or not changed:
        return EXIT_OK
    return resume_campaign(args.campaign_id, verbose=args.verbose)


def _resolve(args: argparse.Namespace) -> int:
    resolution = Resolution.RESEND if args.resend else Resolution.MARK_SENT
    store = JournalStore()
    try:
        seqs = None
        if args.recipient:
            wanted = {email.lower() for email in args.recipient}
            rows = recipients(store, args.campaign_id, statuses=[RecipientStatus.UNKNOWN])
            seqs = [row.seq for row in rows if row.email.lower() in wanted]
            missing = wanted - {row.email.lower() for row in rows}
            if missing:
                raise CommandError(f"not unknown in this campaign: {', '.join(sorted(missing))}")
        changed = resolve_unknown(store, args.campaign_id, resolution, seqs=seqs)
    except JournalError as exc:
        raise CommandError(str(exc)) from None
    finally:
        store.close()
    if resolution is Resolution.RESEND:
        print(
            f"{changed:,} recipients will be sent again: python main.py resume {args.campaign_id}"
        )
    else:
        print(f"{changed:,} recipients marked as accepted.")
    return EXIT_OK
