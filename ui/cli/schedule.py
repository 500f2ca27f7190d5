"""Send later from the command line: `send --at`, batches and windows, and `run-due`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace

from core.errors import InputError
from core.events import CampaignStatus
from core.models import Account, SendSettings
from core.pacing import format_duration
from core.ports import SystemClock
from core.schedule import (
    LocalTime,
    SendingWindow,
    format_local,
    local_zone,
    parse_duration,
    parse_start,
    zone_named,
)
from storage.errors import StorageError
from storage.journal import JournalError, JournalStore
from storage.journal.scheduling import (
    Claim,
    cancel_scheduled,
    scheduled_campaigns,
    start_time,
)
from ui.cli.common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    CommandError,
    cli_resolver,
    open_vault,
)
from ui.cli.dkim import signer_for_account
from ui.services.campaigns import Draft, Prepared
from ui.services.credentials import CredentialsError
from ui.services.scheduling import (
    LATE_AFTER,
    StartRefusedError,
    claim_due,
    due_now,
    google_token_warning,
    plan_lines,
    schedule_campaign,
    unattended_problem,
    wait_for_start,
)
from ui.services.starting import Choice, NotStartedError, Secrets

__all__ = [
    "add_schedule_options",
    "register",
    "schedule_lines",
    "scheduled_settings",
    "send_later",
]

RunCampaign = Callable[..., int]


def add_schedule_options(parser: argparse.ArgumentParser) -> None:
    """`--at`, `--zone`, `--no-wait`, `--late-ok`, and the batch and window options of `send`."""
    later = parser.add_argument_group("send later")
    later.add_argument(
        "--at",
        metavar="TIME",
        help="start at this time: 'YYYY-MM-DD HH:MM' (local time) or ISO 8601 with an offset; "
        "waits with a countdown (Ctrl-C leaves it scheduled for the app or `run-due`)",
    )
    later.add_argument(
        "--zone", metavar="TZ", help="time zone of --at and --window (default: this computer's)"
    )
    later.add_argument(
        "--no-wait",
        action="store_true",
        help="with --at: schedule and exit; the app or `python main.py run-due` starts it",
    )
    later.add_argument(
        "--late-ok",
        action="store_true",
        help="start even when more than an hour late (the computer slept past the time)",
    )
    batches = parser.add_argument_group("batches and sending window")
    batches.add_argument("--batch-size", type=_positive, metavar="N", help="N messages, then...")
    batches.add_argument(
        "--batch-pause", metavar="DURATION", help="...this pause: 30s, 30m or 2h (default 30m)"
    )
    batches.add_argument(
        "--window", metavar="HH:MM-HH:MM", help="send only between these times (may span midnight)"
    )
    batches.add_argument("--days", metavar="DAYS", help="and on these days: mon-fri, sat,sun ...")


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def _zone(args: argparse.Namespace) -> str:
    try:
        return zone_named(args.zone, field="--zone").key if args.zone else local_zone().key
    except InputError as exc:
        raise CommandError(str(exc)) from None


def scheduled_settings(args: argparse.Namespace, settings: SendSettings) -> SendSettings:
    """The send settings with the batch and window options applied."""
    try:
        if args.batch_size:
            pause = parse_duration(args.batch_pause or "30m", field="--batch-pause")
            settings = replace(settings, batch_size=args.batch_size, batch_pause=pause)
        elif args.batch_pause:
            raise CommandError("--batch-pause needs --batch-size")
        if args.window:
            window = SendingWindow.parse(args.window, days=args.days or "", zone=_zone(args))
            settings = replace(settings, window=window)
        elif args.days:
            window = SendingWindow.parse("00:00-24:00", days=args.days, zone=_zone(args))
            settings = replace(settings, window=window)
    except InputError as exc:
        raise CommandError(str(exc)) from None
    return settings


def schedule_lines(prepared: Prepared, start: LocalTime | None) -> list[str]:
    """The start, the batches and the end, when the campaign is scheduled or in batches."""
    settings = prepared.draft.settings
    if start is None:
        if not (settings.batch_size or settings.window):
            return []
        start = LocalTime(_now(), local_zone().key)
    return plan_lines(len(prepared.draft.recipients), settings, start)


def _unattended(saved_name: str | None) -> Callable[[Account], str | None]:
    def check(account: Account) -> str | None:
        resolver = cli_resolver()
        try:
            saved = resolver.saved_for(account, saved_name)
            vault = open_vault() if saved is not None else None
        except (CredentialsError, StorageError) as exc:
            return str(exc)
        return unattended_problem(account, saved, vault)

    return check


def send_later(
    args: argparse.Namespace,
    store: JournalStore,
    draft: Draft,
    prepared: Prepared,
    *,
    choose: Callable[[Prepared], Awaitable[Choice]],
    preview: Callable[[Prepared, LocalTime], None],
    secrets: Secrets,
    run: RunCampaign,
) -> int:
    """`send --at`: check and schedule the campaign, then wait for it (or leave it)."""
    try:
        start = parse_start(args.at, zone=zone_named(_zone(args)))
    except InputError as exc:
        raise CommandError(str(exc)) from None

    async def confirm(checked: Prepared) -> bool:
        preview(checked, start)
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise CommandError("not on a terminal: pass --yes to schedule without confirming")
        count = len(checked.draft.recipients)
        answer = input(f"Schedule {count:,} messages for {start.text()}? [y/N] ").strip().lower()
        return answer in {"y", "yes"}

    schedule = schedule_campaign(
        store,
        draft,
        start,
        unattended=_unattended(args.account),
        confirm=confirm,
        secrets=secrets,
        choose=choose,
        prepared=prepared,
    )
    try:
        started = asyncio.run(schedule)
    except NotStartedError as exc:
        raise CommandError(str(exc)) from None
    campaign_id = started.campaign_id
    print(f"Campaign {campaign_id} scheduled for {start.text()}.")
    warning = google_token_warning(draft.account, start.at, _now())
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    if args.no_wait:
        print("The app or `python main.py run-due` starts it when due (see the README for cron).")
        return EXIT_OK
    try:
        due = asyncio.run(wait_for_start(store, campaign_id, tick=_countdown()))
    except KeyboardInterrupt:
        print(
            f"\nStill scheduled for {start.text()}: the app or `python main.py run-due` starts "
            f"it. Cancel it with `python main.py cancel {campaign_id}`.",
            file=sys.stderr,
        )
        return EXIT_OK
    if not due:
        status = store.campaign(campaign_id).status
        if status in {CampaignStatus.RUNNING, CampaignStatus.PAUSED}:
            print(f"Campaign {campaign_id} is already running (started elsewhere).")
        else:
            print(f"Campaign {campaign_id} is no longer scheduled ({status.value}).")
        return EXIT_OK
    return _start_one(store, campaign_id, late_ok=args.late_ok, run=run)


def _now() -> float:
    return SystemClock().now()


def _countdown() -> Callable[[float], None]:
    on_terminal = sys.stderr.isatty()
    shown: list[int] = []

    def tick(left: float) -> None:
        if on_terminal:
            text = f"\rStarts in {format_duration(left):>12} (Ctrl-C: leave it scheduled) "
            print(text, end="", file=sys.stderr, flush=True)
        elif not shown or shown[-1] - int(left) >= 3600:  # a line an hour in a log
            shown.append(int(left))
            print(f"Starts in {format_duration(left)}.", flush=True)

    return tick


def _start_one(store: JournalStore, campaign_id: str, *, late_ok: bool, run: RunCampaign) -> int:
    """Claim a due campaign, check it again, and run it in the foreground."""
    when = start_time(store, campaign_id)
    late_by = _now() - when[0] if when is not None else 0.0
    if late_by > LATE_AFTER and not late_ok:
        late = format_duration(late_by)
        if not sys.stdin.isatty():
            print(
                f"Campaign {campaign_id} is {late} late: skipped (nobody here to decide). Start "
                f"it with `python main.py run-due --late-ok` or from History.",
                file=sys.stderr,
            )
            return EXIT_SOME_FAILED
        answer = input(f"Campaign {campaign_id} is {late} late. Start it now? [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            print(f"Campaign {campaign_id} left scheduled.")
            return EXIT_SOME_FAILED
    try:
        claimed = claim_due(store, campaign_id)
    except StartRefusedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SOME_FAILED
    if claimed is Claim.ALREADY_RUNNING:
        print(f"Campaign {campaign_id} is already running.")
        return EXIT_OK
    if claimed is not Claim.WON:
        print(f"Campaign {campaign_id} is no longer scheduled.")
        return EXIT_OK
    record = store.campaign(campaign_id)
    print(f"\nStarting campaign {campaign_id} ({record.name}).")
    try:
        credentials = cli_resolver().secrets_now(record.account)
    except CredentialsError as exc:
        store.set_status(campaign_id, CampaignStatus.ABORTED, f"not started: {exc}")
        raise CommandError(f"campaign {campaign_id} not started: {exc}") from None
    return int(run(store, campaign_id, credentials, signer=signer_for_account(record.account)))


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    due = subparsers.add_parser(
        "run-due",
        help="start the scheduled campaigns that are due (for cron or a systemd timer)",
        description="Start every scheduled campaign whose time has come, one after the other. "
        "One more than an hour late is skipped without a terminal (exit 1) unless --late-ok. "
        "A campaign the app or another process started already is left to it (exit 0).",
    )
    due.add_argument("--late-ok", action="store_true", help="start campaigns that are late too")
    due.set_defaults(func=_run_due)
    scheduled = subparsers.add_parser("scheduled", help="list the scheduled campaigns")
    scheduled.set_defaults(func=_list_scheduled)
    cancel = subparsers.add_parser("cancel", help="cancel a scheduled campaign before it starts")
    cancel.add_argument("campaign_id", metavar="ID")
    cancel.set_defaults(func=_cancel)


def _run_due(args: argparse.Namespace) -> int:
    from ui.cli.campaign_run import run_campaign

    store = JournalStore()
    try:
        due = due_now(store, _now())
        if not due:
            print("Nothing is due.")
            return EXIT_OK
        code = EXIT_OK
        for item in due:
            result = _start_one(store, item.campaign.id, late_ok=args.late_ok, run=run_campaign)
            code = max(code, result)
        return code
    except JournalError as exc:
        raise CommandError(str(exc)) from None
    finally:
        store.close()


def _list_scheduled(_: argparse.Namespace) -> int:
    store = JournalStore()
    try:
        campaigns = scheduled_campaigns(store)
        if not campaigns:
            print("No campaign is scheduled.")
        for campaign in campaigns:
            when = format_local(campaign.start_at, campaign.zone or "UTC")
            print(f"{campaign.id}  {when}  {campaign.total:,} recipients  {campaign.name}")
        return EXIT_OK
    finally:
        store.close()


def _cancel(args: argparse.Namespace) -> int:
    store = JournalStore()
    try:
        if cancel_scheduled(store, args.campaign_id):
            print(f"Campaign {args.campaign_id} cancelled; it stays in History (resumable).")
            return EXIT_OK
        raise CommandError(f"campaign {args.campaign_id} is not scheduled")
    finally:
        store.close()
