"""Terminal progress for a campaign: a live bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from core.events import (
    CampaignFinished,
    Event,
    MessageDeferred,
    MessageFailed,
    MessageSending,
    MessageSent,
    MessageUnknown,
)
from core.pacing import format_duration
from ui.services.monitor import CampaignMonitor, LogLine

__all__ = ["ConsoleProgress"]

_BAR_WIDTH = 30
_REDRAW_EVERY = 0.1  # seconds between bar redraws


class ConsoleProgress:
    """The engine's sink for the CLI: every problem on its own line, a bar or per-send lines."""

    def __init__(
        self, out: TextIO | None = None, *, interactive: bool | None = None, verbose: bool = False
    ) -> None:
        self.out = out or sys.stdout
        self.interactive = self.out.isatty() if interactive is None else interactive
        self.verbose = verbose
        self.monitor = CampaignMonitor(max_lines=100)
        self._drawn = False
        self._last_draw = 0.0

    def __call__(self, event: Event) -> None:
        self.monitor(event)
        line = (
            self.monitor.log[-1] if self.monitor.log and self.monitor.last_event is event else None
        )
        if isinstance(event, MessageSending):
            self._maybe_draw()
            return
        quiet = isinstance(event, MessageSent) and (self.interactive or not self.verbose)
        if line is not None and not quiet:
            self._print(line)
        elif isinstance(event, MessageSent) and not self.interactive:
            self._plain_progress()
        if isinstance(event, CampaignFinished):
            self._clear_bar()
        else:
            self._maybe_draw(
                force=isinstance(event, MessageFailed | MessageDeferred | MessageUnknown)
            )

    def _print(self, line: LogLine) -> None:
        self._clear_bar()
        stamp = time.strftime("%H:%M:%S", time.localtime(line.at))
        mark = {"ok": " ", "info": " ", "warn": "!", "error": "x"}.get(line.level, " ")
        print(f"{stamp} {mark} {line.text}", file=self.out, flush=True)

    def _plain_progress(self) -> None:
        tracker = self.monitor.tracker
        every = max(1, tracker.total // 20)
        if tracker.done % every == 0 or tracker.done == tracker.total:
            print(
                f"  {tracker.done}/{tracker.total} done ({tracker.sent} accepted, "
                f"{tracker.failed} failed, {tracker.unknown} unknown)",
                file=self.out,
                flush=True,
            )

    def _maybe_draw(self, *, force: bool = False) -> None:
        if not self.interactive:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < _REDRAW_EVERY:
            return
        self._last_draw = now
        tracker = self.monitor.tracker
        filled = int(_BAR_WIDTH * tracker.fraction)
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        eta = tracker.eta_seconds
        eta_text = f" ETA {format_duration(eta)}" if eta else ""
        rate = f" {tracker.rate:.1f}/s" if tracker.rate else ""
        text = (
            f"\r[{bar}] {tracker.done}/{tracker.total} ok {tracker.sent} failed "
            f"{tracker.failed} unknown {tracker.unknown}{rate}{eta_text}"
        )
        self.out.write(text[:200] + "\x1b[K")
        self.out.flush()
        self._drawn = True

    def _clear_bar(self) -> None:
        if self._drawn:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self._drawn = False
