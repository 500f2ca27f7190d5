"""The pacing flags of `send` (delay, jitter, retries, daily cap, connections, rate) and the
settings they make, over what the account's provider preset suggests."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from core.models import Account, SendSettings
from core.pacing import parse_rate, suggested_settings
from core.presets import PRESETS, get_preset
from ui.cli.schedule import scheduled_settings
from ui.services.campaigns import effective_settings

__all__ = ["add_pacing_options", "positive", "send_settings"]


def positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be zero or more")
    return value


def add_pacing_options(parser: argparse.ArgumentParser) -> None:
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
        type=positive,
        metavar="N",
        help="tries per recipient on temporary failures (default 5)",
    )
    group.add_argument(
        "--max-reconnects",
        type=_not_negative,
        metavar="N",
        help="reconnects in a row before the campaign pauses (default 5)",
    )
    group.add_argument(
        "--daily-cap",
        type=positive,
        metavar="N",
        help="messages per rolling 24 h (default: the provider preset's limit)",
    )
    group.add_argument(
        "--connections",
        type=positive,
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


def send_settings(args: argparse.Namespace, account: Account) -> SendSettings:
    """The settings the flags ask for, over the preset's suggestions, as the account allows."""
    settings = SendSettings()
    if account.preset in _PRESET_KEYS:  # a relay suggests connections, no delay and a rate
        settings = suggested_settings(settings, get_preset(account.preset))
    if args.delay_ms is not None:
        settings = replace(settings, delay_ms=args.delay_ms)
    if args.jitter_ms is not None:
        settings = replace(settings, jitter_ms=args.jitter_ms)
    if args.max_attempts is not None:
        settings = replace(settings, retry=replace(settings.retry, max_attempts=args.max_attempts))
    if args.max_reconnects is not None:
        retry = replace(settings.retry, max_reconnects=args.max_reconnects)
        settings = replace(settings, retry=retry)
    if args.daily_cap is not None:
        settings = replace(settings, daily_cap=args.daily_cap)
    settings = scheduled_settings(args, settings)
    if args.connections is not None:
        settings = replace(settings, connections=args.connections)
    if args.rate is not None:
        settings = replace(settings, rate_per_minute=args.rate)
    effective = effective_settings(settings, account)
    if effective.connections < settings.connections and account.preset in _PRESET_KEYS:
        note = get_preset(account.preset).connections_note
        print(f"Using {effective.connections} connection(s). {note}", file=sys.stderr)
    return effective
