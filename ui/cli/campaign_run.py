"""Running a stored campaign in the terminal (live progress, the summary, the exit code), and
the `resume` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from core.credentials import CredentialProvider
from core.errors import MailerError
from core.events import CampaignFinished, CampaignStatus
from core.models import Credentials
from storage.journal import JournalError, JournalStore
from ui.cli.common import (
    EXIT_ABORTED,
    EXIT_OK,
    EXIT_SOME_FAILED,
    CommandError,
    resolve_credentials,
)
from ui.cli.console import ConsoleProgress
from ui.cli.dkim import signer_for_account
from ui.services.campaigns import CampaignSession

__all__ = ["exit_code", "register", "resume_campaign", "run_campaign"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def run_campaign(
    store: JournalStore,
    campaign_id: str,
    credentials: Credentials | CredentialProvider | None,
    *,
    verbose: bool = False,
    accept_changes: bool = False,
    signer: Callable[[bytes], bytes] | None = None,
) -> int:
    """Run a stored campaign to its end with live progress; the summary's exit code.

    `send` runs the campaign it just created, `resume` one that stopped, and the scheduled
    start (`run-due`) one it claimed, all this way."""
    progress = ConsoleProgress(verbose=verbose)
    try:
        session = CampaignSession(
            store,
            campaign_id,
            credentials,
            sink=progress,
            stop_on_pause=True,
            accept_changes=accept_changes,
            signer=signer,
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
        + (f" {finished.skipped:,} skipped (suppression list)." if finished.skipped else "")
    )
    if finished.reason:
        print(f"Reason: {finished.reason}")
    if finished.hint:
        print(f"Hint: {finished.hint}")
    if finished.pending:
        print(f"Resume with: python main.py resume {campaign_id}")
    if finished.unknown:
        print(f"Unknown results: python main.py resolve {campaign_id} --resend | --mark-sent")
    if finished.failed:
        print(f"Details: python main.py export {campaign_id} --status failed --out failed.csv")
    return exit_code(finished)


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
        credentials = resolve_credentials(record.account)
        signer = signer_for_account(record.account)
        return run_campaign(
            store,
            record.id,
            credentials,
            verbose=verbose,
            accept_changes=accept_changes,
            signer=signer,
        )
    finally:
        store.close()
