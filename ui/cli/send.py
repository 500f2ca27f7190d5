"""`send` and `resume`: run a campaign headless, with a plan, a confirmation and live progress."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from dataclasses import replace
from pathlib import Path

from core.credentials import CredentialProvider
from core.errors import InputError, IssueKind
from core.mailmerge import load_mailmerge
from core.models import Account, Credentials
from core.preflight import PreflightReport
from core.recipients import ImportReport, load_recipients
from core.recipients.source import (
    STREAMED_SUFFIXES,
    FileRecipients,
    RecipientSource,
    first_recipient,
)
from core.schedule import LocalTime
from storage.journal import JournalStore
from ui.cli.campaign_run import run_campaign
from ui.cli.checks import print_checks
from ui.cli.common import (
    EXIT_ABORTED,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    add_account_options,
    checked_account,
    resolve_credentials,
    saved_account,
)
from ui.cli.dkim import dkim_domain_of, signer_for_account
from ui.cli.pacing_options import add_pacing_options, positive, send_settings
from ui.cli.schedule import add_schedule_options, schedule_lines, send_later
from ui.services.campaigns import (
    Draft,
    Prepared,
    dry_run,
    limited,
    prepare,
)
from ui.services.deliverability import plan_notes
from ui.services.starting import (
    Choice,
    NotStartedError,
    start_campaign,
    twin_message,
)

__all__ = ["register"]

_SHOW_REJECTED = 20
_SHOW_ISSUES = 20
_PREVIEW_LINES = 30
_TO_FIELD_RE = re.compile(r"<\s*\{\{\s*(\w+)\s*\}\}\s*>|^\s*\{\{\s*(\w+)\s*\}\}\s*$")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    send = subparsers.add_parser(
        "send",
        help="send a campaign: one message per recipient",
        description="Send one personalized message per recipient, sequentially, with the delay "
        "between sends, retries and a crash-safe journal. Shows the plan and the first message "
        "and asks before sending (unless --yes). The template is a mailmerge-style file: "
        "headers (TO, FROM, SUBJECT, ...), a blank line, the body.",
    )
    send.add_argument("--recipients", required=True, metavar="FILE", help="CSV, TXT or XLSX")
    send.add_argument("--template", required=True, metavar="FILE", help="mailmerge template")
    send.add_argument("--email-column", metavar="NAME", help="CSV column holding the address")
    send.add_argument("--encoding", metavar="ENC", help="CSV encoding if not UTF-8 (cp1252...)")
    add_account_options(send)
    add_pacing_options(send)
    add_schedule_options(send)
    send.add_argument("--dry-run", action="store_true", help="render every message, send none")
    send.add_argument(
        "--allow-empty-subject",
        action="store_true",
        help="send even though the subject is empty (otherwise a pre-flight problem)",
    )
    send.add_argument(
        "--check",
        action="store_true",
        help="spam-check the first message (SpamAssassin's local rules if installed, else "
        "built-in checks) and show the deliverability notes; only warns, never blocks",
    )
    send.add_argument("--limit", type=positive, metavar="N", help="only the first N recipients")
    send.add_argument("--yes", action="store_true", help="do not ask before sending")
    send.add_argument("--name", help="a name for the campaign (default: the template's name)")
    twin = send.add_mutually_exclusive_group()
    twin.add_argument(
        "--new",
        action="store_true",
        help="send to everyone even if an earlier campaign of this message reached some of "
        "them, or one with the same inputs is unfinished",
    )
    twin.add_argument(
        "--only-new",
        action="store_true",
        help="if an earlier campaign of this message reached some of them, send only to the others",
    )
    send.add_argument("--verbose", action="store_true", help="a line per accepted message")
    send.set_defaults(func=_send)


def _email_column_from_to(to: str | None) -> str | None:
    match = _TO_FIELD_RE.search(to or "")
    return (match.group(1) or match.group(2)) if match else None


def _read_list(
    path: Path, column: str | None, encoding: str | None
) -> tuple[RecipientSource, ImportReport]:
    """A CSV or TSV streamed from the file on each pass (bounded memory); others read whole."""
    if path.suffix.lower() in STREAMED_SUFFIXES:
        streamed = FileRecipients(path, email_column=column, encoding=encoding)
        return streamed, streamed.report
    report = load_recipients(path, email_column=column, encoding=encoding)
    return report.recipients, report


def _load_recipients(args: argparse.Namespace, to: str | None) -> RecipientSource:
    column = args.email_column or _email_column_from_to(to)
    path = Path(args.recipients)
    try:
        source, report = _read_list(path, column, args.encoding)
    except InputError as exc:
        if column and not args.email_column and "column" in str(exc):
            source, report = _read_list(path, None, args.encoding)
        else:
            raise
    print(f"Recipients: {report.summary()}", file=sys.stderr)
    for rejected in report.rejected[:_SHOW_REJECTED]:
        print(f"  rejected: {rejected}", file=sys.stderr)
    if len(report.rejected) > _SHOW_REJECTED:
        print(
            f"  ... and {len(report.rejected) - _SHOW_REJECTED} more rejected rows", file=sys.stderr
        )
    return source


def _account_for_send(args: argparse.Namespace) -> tuple[Account, Credentials]:
    """The account from the flags (over a saved `--account`), checked; a proxy URL's password."""
    saved = saved_account(args.account) if args.account else None
    account, proxy_password = checked_account(args, saved.account if saved else None)
    return account, Credentials(proxy_password=proxy_password)


def _print_preflight(report: PreflightReport) -> None:
    whom = (
        f" for {report.recipients_with_errors:,} recipients"
        if report.recipients_with_errors
        else ""
    )
    print(f"Pre-flight found problems{whom}:", file=sys.stderr)
    grouped = {problem.name for problem in report.field_problems if problem.blocking}
    for problem in report.field_problems:  # one line per merge field, not one per recipient
        print(f"  {problem.text}", file=sys.stderr)
    shown = [
        issue
        for issue in report.issues
        if not (issue.kind is IssueKind.MISSING_FIELD and set(issue.fields) <= grouped)
    ]
    for issue in shown[:_SHOW_ISSUES]:
        where = f"line {issue.line} ({issue.email}): " if issue.line else ""
        print(f"  {where}{issue.message}", file=sys.stderr)
    ungrouped = {n: c for n, c in report.missing_fields.items() if n not in grouped}
    if ungrouped:
        fields = ", ".join(f"{name} ({count})" for name, count in ungrouped.items())
        print(f"  missing merge fields: {fields}", file=sys.stderr)
    if any(issue.part == "subject" for issue in report.of_kind(IssueKind.EMPTY_PART)):
        print("  (pass --allow-empty-subject to send without a subject)", file=sys.stderr)


def _preview(
    prepared: Prepared, dkim_domain: str | None = None, start: LocalTime | None = None
) -> None:
    account = prepared.draft.account
    print(f"Account: {account.sender} through {account.host}:{account.port}")
    print(f"Recipients: {len(prepared.draft.recipients):,}")
    for extra in prepared.preflight.extra_recipients:
        print(f"NOTE: every message also goes to {extra.address} (the template's {extra.part})")
    for outside in prepared.preflight.outside_attachments:
        print(f"NOTE: attached to every message from outside the template's folder: {outside.path}")
    print(f"Plan: {prepared.plan.text}")
    for line in schedule_lines(prepared, start):
        print(line)
    for note in plan_notes(prepared.draft, dkim_domain=dkim_domain):
        print(f"Note: {note}" if not note.startswith(" ") else note)
    if prepared.preflight.smtputf8_recipients:
        print(f"Note: {prepared.preflight.smtputf8_recipients} recipients need SMTPUTF8.")
    for problem in prepared.preflight.field_problems:
        if not problem.blocking:
            print(f"Note: {problem.text}")
    first = first_recipient(prepared.draft.recipients)
    run = dry_run(replace(prepared.draft, recipients=(first,) if first else ()))
    if run.first is not None:
        text = run.first.payload.decode("utf-8", "replace").replace("\r\n", "\n")
        lines = text.split("\n")
        print("First message:")
        print("  | " + "\n  | ".join(lines[:_PREVIEW_LINES]))
        if len(lines) > _PREVIEW_LINES:
            print(f"  | ... ({len(lines) - _PREVIEW_LINES} more lines)")


def _twin_choice(prepared: Prepared, *, new: bool, only_new: bool) -> Choice:
    """A campaign that would repeat an earlier one needs an explicit choice."""
    if new:
        return Choice.EVERYONE_AGAIN
    if only_new and prepared.repeats:
        return Choice.NOT_YET_ACCEPTED
    total = len(prepared.draft.recipients)
    fresh = total - prepared.repeats
    if not sys.stdin.isatty():
        ways = ["pass --new to send to all of them again"]  # decided before anything is shown
        if prepared.repeats:
            ways.append(f"--only-new to send only to the {fresh:,} not reached yet")
        if prepared.unfinished:
            ways.append(f"continue it with `python main.py resume {prepared.unfinished[-1]}`")
        raise CommandError(f"{twin_message(prepared)}: {', or '.join(ways)}")
    print(f"Note: {twin_message(prepared)}.")
    options = f"[n] only the {fresh:,} not reached yet, " if prepared.repeats else ""
    answer = input(f"Send to {options}[a] all {total:,} again, or [c] cancel? ").strip().lower()
    if answer in {"n", "new"} and prepared.repeats:
        return Choice.NOT_YET_ACCEPTED
    if answer in {"a", "all"}:
        return Choice.EVERYONE_AGAIN
    raise CommandError("nothing sent", EXIT_ABORTED)


def _confirm(prepared: Prepared, *, yes: bool, dkim_domain: str | None = None) -> bool:
    """Show what will happen and ask (a choice about a twin was made already)."""
    _preview(prepared, dkim_domain)
    if yes:
        return True
    if not sys.stdin.isatty():
        raise CommandError("not on a terminal: pass --yes to send without confirming")
    count = len(prepared.draft.recipients)
    answer = input(f"Send {count:,} messages now? [y/N] ").strip().lower()
    if answer not in {"y", "yes"}:
        raise CommandError("nothing sent", EXIT_ABORTED)
    return True


def _send(args: argparse.Namespace) -> int:
    try:
        mailmerge = load_mailmerge(args.template)
    except InputError as exc:
        raise CommandError(str(exc)) from None
    if not args.sender and not args.account and mailmerge.sender:
        args.sender = mailmerge.sender
    account, given = _account_for_send(args)  # a bad flag fails before the list is read
    try:
        people = _load_recipients(args, mailmerge.template.to)
    except InputError as exc:
        raise CommandError(str(exc)) from None
    if not len(people):
        raise CommandError("no valid recipients to send to")
    draft = Draft(
        account=account,
        template=mailmerge.template,
        recipients=limited(people, args.limit),
        settings=send_settings(args, account),
        base_dir=mailmerge.base_dir or Path.cwd(),
        name=args.name or Path(args.template).stem,
        source=Path(args.recipients).name,
        allow_empty_subject=args.allow_empty_subject,
    )
    store = JournalStore()
    try:
        prepared = prepare(store, draft)
        if not prepared.ok:
            _print_preflight(prepared.preflight)
            return EXIT_USAGE
        if args.check:
            print_checks(prepared.draft, args.account)
        if args.dry_run:
            return _dry_run(prepared)

        async def choose(checked: Prepared) -> Choice:
            return _twin_choice(checked, new=args.new, only_new=args.only_new)

        async def confirm(checked: Prepared) -> bool:
            return _confirm(checked, yes=args.yes, dkim_domain=dkim_domain_of(args.account))

        async def secrets(account: Account) -> Credentials | CredentialProvider:
            return resolve_credentials(account, saved_name=args.account, given=given)

        def preview(checked: Prepared, start: LocalTime) -> None:
            _preview(checked, dkim_domain_of(args.account), start)

        if args.at:
            return send_later(
                args,
                store,
                draft,
                prepared,
                choose=choose,
                preview=preview,
                secrets=secrets,
                run=run_campaign,
            )
        start = start_campaign(
            store, draft, prepared=prepared, choose=choose, confirm=confirm, secrets=secrets
        )
        try:
            started = asyncio.run(start)
        except NotStartedError as exc:
            raise CommandError(str(exc)) from None
        print(f"Campaign {started.campaign_id} created: {len(draft.recipients):,} recipients.")
        signer = signer_for_account(started.prepared.draft.account, args.account)
        return run_campaign(
            store, started.campaign_id, started.credentials, verbose=args.verbose, signer=signer
        )
    finally:
        store.close()


def _dry_run(prepared: Prepared) -> int:
    print(f"Plan: {prepared.plan.text}")
    run = dry_run(prepared.draft)
    print(
        f"Dry run: {run.messages:,} messages rendered and built ({run.total_bytes:,} bytes); "
        "nothing was sent."
    )
    if run.first is not None:
        text = run.first.payload.decode("utf-8", "replace").replace("\r\n", "\n")
        print("First message:")
        print("  | " + "\n  | ".join(text.split("\n")[:_PREVIEW_LINES]))
    return EXIT_OK
