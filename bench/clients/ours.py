"""Our full pipeline, exactly as a campaign runs: prepare, snapshot, CampaignSession.run().

`python -m bench.clients.ours --host H --port P --recipients CSV --template T [--delay-ms N]
[--connections K]`
loads the CSV and the mailmerge template as the CLI does, builds a `Draft`, pre-flights it,
snapshots it in the journal (under `$BULKMAILER_HOME`, which the harness points at a scratch
folder) and runs it to the end against the server: Jinja2 render, message build, the
durable data-start commit before each final dot. Prints one JSON line: the phases' seconds
and what the campaign reported.

`--loop app` (the default) runs the campaign on the event loop the app gives it: the app
serves its pages with uvicorn, whose "auto" loop is uvloop when it is installed (it comes
with NiceGUI's `uvicorn[standard]` on Linux and macOS). `--loop asyncio` uses the stdlib
loop, as `python main.py send` does today.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

from core.mailmerge import load_mailmerge
from core.models import Account, AuthMethod, Credentials, Security, SendSettings
from core.recipients import load_recipients
from storage.journal import JournalStore
from ui.services.campaigns import CampaignSession, Draft, create_campaign, prepare

__all__ = ["app_loop_factory", "main", "run_campaign"]


LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def app_loop_factory() -> tuple[str, LoopFactory | None]:
    """The loop uvicorn's "auto" setting picks, as the app runs: uvloop if installed."""
    try:
        import uvloop
    except ImportError:
        return "asyncio", None
    return "uvloop", uvloop.new_event_loop


def run_campaign(
    *,
    host: str,
    port: int,
    recipients: Path,
    template: Path,
    delay_ms: int = 0,
    connections: int = 1,
    loop_factory: LoopFactory | None = None,
) -> dict[str, object]:
    """Send the workload through our pipeline; returns timings and the campaign's counts."""
    started = time.perf_counter()
    merge = load_mailmerge(template)
    report = load_recipients(recipients)
    account = Account(
        host=host,
        port=port,
        sender=merge.sender or "sender@example.com",
        security=Security.NONE,
        auth=AuthMethod.NONE,
    )
    draft = Draft(
        account=account,
        template=merge.template,
        recipients=report.recipients,
        settings=SendSettings(delay_ms=delay_ms, connections=connections),
        base_dir=merge.base_dir or template.parent,
        name="bench",
        source=recipients.name,
    )
    loaded = time.perf_counter()
    store = JournalStore()
    try:
        prepared = prepare(store, draft)
        if not prepared.ok:
            raise SystemExit(f"pre-flight failed: {prepared.preflight.issues[:3]}")
        prepared_at = time.perf_counter()
        campaign_id = create_campaign(store, prepared)
        created = time.perf_counter()
        session = CampaignSession(store, campaign_id, Credentials())
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            finished = runner.run(session.run())
        done = time.perf_counter()
    finally:
        store.close()
    return {
        "sent": finished.sent,
        "failed": finished.failed,
        "unknown": finished.unknown,
        "status": finished.status.value,
        "load_s": loaded - started,
        "prepare_s": prepared_at - loaded,
        "snapshot_s": created - prepared_at,
        "run_s": done - created,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.clients.ours", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--recipients", type=Path, required=True)
    parser.add_argument("--template", type=Path, required=True)
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--loop", choices=("app", "asyncio"), default="app")
    args = parser.parse_args(argv)
    loop_name, factory = app_loop_factory() if args.loop == "app" else ("asyncio", None)
    result = run_campaign(
        host=args.host,
        port=args.port,
        recipients=args.recipients,
        template=args.template,
        delay_ms=args.delay_ms,
        connections=args.connections,
        loop_factory=factory,
    )
    print(json.dumps({**result, "loop": loop_name}))


if __name__ == "__main__":
    main()
