"""`send` and `resume`: run a campaign headless, with a plan, a confirmation and live progress."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.errors import InputError, MailerError
from core.events import CampaignFinished, CampaignStatus
from core.mailmerge import load_mailmerge
from core.models import Account, AuthMethod, Credentials, RetryPolicy, SendSettings
from core.pacing import parse_rate, suggested_settings
from core.preflight import PreflightReport
from core.presets import PRESETS, get_preset
from core.recipients import ImportReport, load_recipients
from storage.journal import JournalError, JournalStore
from storage.vault import SecretKind
from ui.campaigns import (
    CampaignSession,
    Draft,
    Prepared,
    create_campaign,
    dry_run,
    effective_settings,
    limited,
    prepare,
)
from ui.cli.common import (
    EXIT_ABORTED,
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    PASSWORD_ENV,
    CommandError,
    account_from_args,
    add_account_options,
    open_settings,
    open_vault,
    read_password,
    resolve_account,
)
from ui.cli.console import ConsoleProgress

__all__ = ["exit_code", "register", "resume_campaign"]

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
    _add_pacing_options(send)
    send.add_argument("--dry-run", action="store_true", help="render every message, send none")
    send.add_argument("--limit", type=_positive, metavar="N", help="only the first N recipients")
    send.add_argument("--yes", action="store_true", help="do not ask before sending")
    send.add_argument("--name", help="a name for the campaign (default: the template's name)")
    send.add_argument(
        "--new",
        action="store_true",
        help="start a new campaign even if one with the same inputs is unfinished",
    )
    send.add_argument("--verbose", action="store_true", help="a line per accepted message")
    send.set_defaults(func=_send)

    resume = subparsers.add_parser(
        "resume",
        help="resume an interrupted, paused or cancelled campaign",
        description="Continue a campaign where it stopped. Recipients whose result was lost "
        "in a crash are UNKNOWN and are not resent (see `resolve`).",
    )
    resume.add_argument("campaign_id", metavar="ID")
    resume.add_argument(
        "--accept-changes",
        action="store_true",
        help="resume even though the attachment files changed since the campaign started",
    )
    resume.add_argument("--verbose", action="store_true", help="a line per accepted message")
    resume.set_defaults(func=_resume)


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be zero or more")
    return value


def _add_pacing_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("pacing")
    group.add_argument(
        "--delay-ms",
        type=_not_negative,
        metavar="N",
        help="minimum time between the starts of two sends (default 1000)",
    )
    group.add_argument(
        "--jitter-ms", type=_not_negative, metavar="N", help="random extra delay, 0..N ms"
    )
    group.add_argument(
        "--max-attempts",
        type=_positive,
        metavar="N",
        help="tries per recipient on temporary failures (default 5)",
    )
    group.add_argument(
        "--daily-cap",
        type=_positive,
        metavar="N",
        help="messages per rolling 24 h (default: the provider preset's limit)",
    )
    group.add_argument(
        "--connections",
        type=_positive,
        metavar="K",
        help="parallel connections (default 1; relays allow several, personal accounts 1)",
    )
    group.add_argument(
        "--rate", type=_rate, metavar="N/s|N/min", help="at most N send starts, all connections"
    )


_PRESET_KEYS = frozenset(preset.key for preset in PRESETS)


def _rate(text: str) -> float:
    try:
        return parse_rate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _settings(args: argparse.Namespace, account: Account) -> SendSettings:
    settings = SendSettings()
    if account.preset in _PRESET_KEYS:  # a relay suggests connections, no delay and a rate
        settings = suggested_settings(settings, get_preset(account.preset))
    if args.delay_ms is not None:
        settings = replace(settings, delay_ms=args.delay_ms)
    if args.jitter_ms is not None:
        settings = replace(settings, jitter_ms=args.jitter_ms)
    if args.max_attempts is not None:
        settings = replace(settings, retry=replace(RetryPolicy(), max_attempts=args.max_attempts))
    if args.daily_cap is not None:
        settings = replace(settings, daily_cap=args.daily_cap)
    if args.connections is not None:
        settings = replace(settings, connections=args.connections)
    if args.rate is not None:
        settings = replace(settings, rate_per_minute=args.rate)
    effective = effective_settings(settings, account)
    if effective.connections < settings.connections and account.preset in _PRESET_KEYS:
        note = get_preset(account.preset).connections_note
        print(f"Using {effective.connections} connection(s). {note}", file=sys.stderr)
    return effective


def _email_column_from_to(to: str | None) -> str | None:
    match = _TO_FIELD_RE.search(to or "")
    return (match.group(1) or match.group(2)) if match else None


def _load_recipients(args: argparse.Namespace, to: str | None) -> ImportReport:
    column = args.email_column or _email_column_from_to(to)
    try:
        report = load_recipients(args.recipients, email_column=column, encoding=args.encoding)
    except InputError as exc:
        if column and not args.email_column and "column" in str(exc):
            report = load_recipients(args.recipients, encoding=args.encoding)
        else:
            raise
    print(f"Recipients: {report.summary()}", file=sys.stderr)
    for rejected in report.rejected[:_SHOW_REJECTED]:
        print(f"  rejected: {rejected}", file=sys.stderr)
    if len(report.rejected) > _SHOW_REJECTED:
        print(
            f"  ... and {len(report.rejected) - _SHOW_REJECTED} more rejected rows", file=sys.stderr
        )
    return report


def _account_without_secrets(args: argparse.Namespace) -> Account:
    if args.account:
        from storage.errors import StorageError

        try:
            base = open_settings().get_account(args.account)
        except StorageError as exc:
            raise CommandError(str(exc)) from None
        return account_from_args(args, base=base)
    return account_from_args(args)


def _print_preflight(report: PreflightReport) -> None:
    print(
        f"Pre-flight found problems for {report.recipients_with_errors:,} recipients:",
        file=sys.stderr,
    )
    for issue in report.issues[:_SHOW_ISSUES]:
        where = f"line {issue.line} ({issue.email}): " if issue.line else ""
        print(f"  {where}{issue.message}", file=sys.stderr)
    if report.missing_fields:
        fields = ", ".join(f"{name} ({count})" for name, count in report.missing_fields.items())
        print(f"  missing merge fields: {fields}", file=sys.stderr)


def _preview(prepared: Prepared) -> None:
    print(f"Plan: {prepared.plan.text}")
    if prepared.preflight.smtputf8_recipients:
        print(f"Note: {prepared.preflight.smtputf8_recipients} recipients need SMTPUTF8.")
    run = dry_run(replace(prepared.draft, recipients=prepared.draft.recipients[:1]))
    if run.first is not None:
        text = run.first.payload.decode("utf-8", "replace").replace("\r\n", "\n")
        lines = text.split("\n")
        print("First message:")
        print("  | " + "\n  | ".join(lines[:_PREVIEW_LINES]))
        if len(lines) > _PREVIEW_LINES:
            print(f"  | ... ({len(lines) - _PREVIEW_LINES} more lines)")


def _confirm(count: int) -> None:
    if not sys.stdin.isatty():
        raise CommandError("not on a terminal: pass --yes to send without confirming")
    answer = input(f"Send {count:,} messages now? [y/N] ").strip().lower()
    if answer not in {"y", "yes"}:
        raise CommandError("nothing sent", EXIT_ABORTED)


def _send(args: argparse.Namespace) -> int:
    try:
        mailmerge = load_mailmerge(args.template)
    except InputError as exc:
        raise CommandError(str(exc)) from None
    if not args.sender and not args.account and mailmerge.sender:
        args.sender = mailmerge.sender
    try:
        report = _load_recipients(args, mailmerge.template.to)
    except InputError as exc:
        raise CommandError(str(exc)) from None
    if not report.recipients:
        raise CommandError("no valid recipients to send to")
    account = _account_without_secrets(args)
    draft = Draft(
        account=account,
        template=mailmerge.template,
        recipients=limited(report.recipients, args.limit),
        settings=_settings(args, account),
        base_dir=mailmerge.base_dir or Path.cwd(),
        name=args.name or Path(args.template).stem,
        source=Path(args.recipients).name,
    )
    store = JournalStore()
    try:
        prepared = prepare(store, draft)
        if not prepared.ok:
            _print_preflight(prepared.preflight)
            return EXIT_USAGE
        if args.dry_run:
            return _dry_run(prepared)
        if prepared.unfinished and not args.new:
            ids = ", ".join(prepared.unfinished)
            raise CommandError(
                f"a campaign with the same recipients and template is unfinished ({ids}): "
                f"continue it with `python main.py resume {prepared.unfinished[-1]}`, or pass "
                "--new to start another one (people already sent to would get it again)"
            )
        _preview(prepared)
        if not args.yes:
            _confirm(len(draft.recipients))
        account, credentials = (
            resolve_account(args) if _needs_login(account) else (account, Credentials())
        )
        prepared = replace(prepared, draft=replace(draft, account=account))
        campaign_id = create_campaign(store, prepared)
        print(f"Campaign {campaign_id} created: {len(draft.recipients):,} recipients.")
        return _run(store, campaign_id, credentials, verbose=args.verbose)
    finally:
        store.close()


def _needs_login(account: Account) -> bool:
    return account.auth is not AuthMethod.NONE and bool(account.username)


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


def _run(
    store: JournalStore,
    campaign_id: str,
    credentials: Credentials | None,
    *,
    verbose: bool = False,
    accept_changes: bool = False,
) -> int:
    progress = ConsoleProgress(verbose=verbose)
    try:
        session = CampaignSession(
            store,
            campaign_id,
            credentials,
            sink=progress,
            stop_on_pause=True,
            accept_changes=accept_changes,
        )
    except (JournalError, MailerError) as exc:
        raise CommandError(str(exc)) from None
    try:
        finished = _run_event_loop(session.run())
    except KeyboardInterrupt:
        print(f"\nInterrupted. Resume with: python main.py resume {campaign_id}", file=sys.stderr)
        return 130
    return _summary(campaign_id, finished)


def _run_event_loop(main: Coroutine[Any, Any, CampaignFinished]) -> CampaignFinished:
    """Run on uvloop when it is installed (it comes with NiceGUI's uvicorn), as the app does."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - e.g. Windows
        return asyncio.run(main)
    return uvloop.run(main)


def exit_code(finished: CampaignFinished) -> int:
    """0 all accepted, 1 some failed/unknown/left, 3 aborted or cancelled."""
    if finished.status in {CampaignStatus.ABORTED, CampaignStatus.CANCELLED}:
        return EXIT_ABORTED
    if finished.failed or finished.unknown or finished.pending:
        return EXIT_SOME_FAILED
    return EXIT_OK


def _summary(campaign_id: str, finished: CampaignFinished) -> int:
    print(
        f"Campaign {campaign_id} {finished.status.value}: {finished.sent:,} accepted by the "
        f"server, {finished.failed:,} failed, {finished.unknown:,} unknown, "
        f"{finished.pending:,} not sent."
    )
    if finished.reason:
        print(f"Reason: {finished.reason}")
    if finished.hint:
        print(f"Hint: {finished.hint}")
    if finished.pending and finished.status is not CampaignStatus.ABORTED:
        print(f"Resume with: python main.py resume {campaign_id}")
    if finished.unknown:
        print(f"Unknown results: python main.py resolve {campaign_id} --resend | --mark-sent")
    if finished.failed:
        print(f"Details: python main.py export {campaign_id} --status failed --out failed.csv")
    return exit_code(finished)


def _snapshot_credentials(account: Account) -> Credentials:
    """Secrets for a stored campaign's account: env, a saved account's vault entry, a prompt."""
    if not _needs_login(account):
        return Credentials()
    if os.environ.get(PASSWORD_ENV):
        return Credentials(password=read_password())
    for saved in open_settings().list_accounts():
        same = (saved.account.host, saved.account.username) == (account.host, account.username)
        if same and saved.remember_password:
            secret = open_vault().get_secret(SecretKind.SMTP_PASSWORD, saved.name)
            if secret is not None:
                return Credentials(password=secret)
    return Credentials(password=read_password())


def _resume(args: argparse.Namespace) -> int:
    return resume_campaign(
        args.campaign_id, verbose=args.verbose, accept_changes=args.accept_changes
    )


def resume_campaign(
    campaign_id: str, *, verbose: bool = False, accept_changes: bool = False
) -> int:
    """Continue a stored campaign where it stopped; returns the exit code."""
    store = JournalStore()
    try:
        try:
            record = store.campaign(campaign_id)
        except JournalError as exc:
            raise CommandError(str(exc)) from None
        counts = store.counts(record.id)
        if not counts.remaining:
            print(
                f"Campaign {record.id}: nothing left to send ({counts.sent} accepted, "
                f"{counts.failed} failed, {counts.unknown} unknown)."
            )
            return EXIT_OK if not (counts.failed or counts.unknown) else EXIT_SOME_FAILED
        print(
            f"Resuming campaign {record.id}: {counts.remaining:,} to send, {counts.done:,} "
            "already settled."
        )
        credentials = _snapshot_credentials(record.account)
        return _run(store, record.id, credentials, verbose=verbose, accept_changes=accept_changes)
    finally:
        store.close()
