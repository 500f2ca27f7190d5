"""The running campaign on a page: progress bar, counts, rate and ETA, and the live log."""

from __future__ import annotations

import time
from collections.abc import Iterable

from nicegui import ui

from core.events import CampaignStatus
from core.pacing import describe_pacing, format_duration
from core.ports import Counts
from storage.journal import JournalError, JournalStore
from ui.services.durations import slowest_lines
from ui.services.monitor import LogLine
from ui.services.state import ActiveCampaign
from ui.web.charts import outcome_strip
from ui.web.live import SHOWN_LOG_LINES
from ui.web.signin import sign_in_again_button, stopped_for_sign_in

__all__ = ["PROBLEM_LEVELS", "LogView", "ProgressView", "status_text"]

PROBLEM_LEVELS = frozenset({"warn", "error"})
_LEVEL_CLASSES = {
    "info": "text-grey-9",
    "ok": "text-positive",
    "warn": "text-warning",
    "error": "text-negative",
}
_STATUS_WORDS = {
    CampaignStatus.DRAFT: "Not started",
    CampaignStatus.SCHEDULED: "Scheduled",
    CampaignStatus.RUNNING: "Sending",
    CampaignStatus.PAUSED: "Paused",
    CampaignStatus.FINISHED: "Finished",
    CampaignStatus.CANCELLED: "Cancelled",
    CampaignStatus.ABORTED: "Stopped (aborted)",
    CampaignStatus.INTERRUPTED: "Interrupted",
}


def status_text(status: CampaignStatus) -> str:
    return _STATUS_WORDS.get(status, status.value)


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


class ProgressView:
    """Bar, done/total, counts, rate, ETA and the reason a campaign stopped."""

    def __init__(self, store: JournalStore) -> None:
        self.store = store
        with ui.column().classes("w-full gap-1"):
            with ui.row().classes("w-full items-center gap-3"):
                self.status = ui.label().classes("text-subtitle1 text-weight-medium")
                self.status.mark("send-status").props("data-testid=send-status")
                self.done = ui.label().classes("text-subtitle1").mark("send-done")
                self.done.props("data-testid=send-done")
            self.bar = ui.linear_progress(value=0.0, show_value=False, size="12px")
            self.bar.props("instant-feedback data-testid=send-progress").mark("send-progress")
            self.strip = ui.element("div").classes("w-full")  # failures in their own colour
            self.counts = ui.label().classes("text-body2").mark("send-counts")
            self.speed = ui.label().classes("text-body2 text-grey-8").mark("send-rate")
            self.note = ui.label().classes("text-body2 text-warning").mark("send-note")
            self.reason = ui.label().classes("text-body2 text-negative whitespace-pre-wrap")
            self.reason.mark("send-reason")
            self.slowest = ui.label().classes("text-caption text-grey-8 whitespace-pre-wrap")
            self.slowest.mark("send-slowest")
            self._slowest_for: str | None = None
            self.sign_in = sign_in_again_button()  # shown when the sign-in stopped it

    def _show_slowest(self, campaign_id: str) -> None:
        """The slowest replies of a finished run, read once (the journal no longer changes)."""
        if self._slowest_for != campaign_id:
            self._slowest_for = campaign_id
            self.slowest.text = _slowest_text(self.store, campaign_id)

    def update(self, active: ActiveCampaign) -> None:
        tracker = active.monitor.tracker
        try:
            counts = self.store.counts(active.campaign_id)
        except JournalError:
            counts = Counts(
                total=tracker.total,
                sent=tracker.sent,
                failed=tracker.failed,
                unknown=tracker.unknown,
                deferred=tracker.deferred,
            )
        total = counts.total or tracker.total
        done = counts.done
        self.bar.value = round(done / total, 4) if total else 0.0
        self.done.text = f"{done:,}/{total:,}"
        self.strip.clear()
        with self.strip:
            outcome_strip(counts, marker="send-outcome-bar", height="8px")
        self.counts.text = (
            f"Accepted {counts.sent:,} · Failed {counts.failed:,} · Unknown {counts.unknown:,}"
            f" · Deferred {counts.deferred:,} · Not sent yet {counts.pending:,}"
        )
        result, error = active.result, active.error
        if active.running:
            status = tracker.status
            self.status.text = f"{status_text(status)}: campaign {active.campaign_id}"
            rate = tracker.rate
            eta = tracker.eta_seconds
            parts = [f"{rate * 60:,.0f} per minute" if rate else "rate: measuring"]
            parts.append(describe_pacing(active.session.record.settings))
            if eta is not None and status is CampaignStatus.RUNNING:
                parts.append(f"about {format_duration(eta)} left")
            elif tracker.waiting_until is not None:
                parts.append(f"waiting until {_clock(tracker.waiting_until)}")
            if tracker.current:
                parts.append(f"now: {tracker.current}")
            self.speed.text = " · ".join(parts)
            until = tracker.paused_until
            resumes = f" (resumes by itself at {_clock(until)})" if until else ""
            self.note.text = tracker.note + resumes
            self.reason.text = ""
        elif result is not None:
            self.status.text = f"{status_text(result.status)}: campaign {active.campaign_id}"
            self.speed.text = ""
            self.note.text = ""
            self.reason.text = _ending(result.status, result.reason, result.hint, counts)
            self.sign_in.set_visibility(stopped_for_sign_in(result.reason))
            self._show_slowest(active.campaign_id)
        elif error is not None:
            self.status.text = f"Stopped by an error: campaign {active.campaign_id}"
            self.speed.text = ""
            self.note.text = ""
            self.reason.text = (
                f"{error}\nEvery recipient's state is in the journal: resume it from History "
                "once the problem is fixed."
            )
        else:
            self.status.text = f"Starting campaign {active.campaign_id}"


def _slowest_text(store: JournalStore, campaign_id: str) -> str:
    try:
        lines = slowest_lines(store, campaign_id)
    except JournalError:
        return ""
    return "Slowest replies:\n" + "\n".join(lines) if lines else ""


def _ending(status: CampaignStatus, reason: str, hint: str, counts: Counts) -> str:
    lines = []
    if status is not CampaignStatus.FINISHED and reason:
        lines.append(f"Why: {reason}")
    if hint:
        lines.append(f"What to do: {hint}")
    if counts.remaining and status is not CampaignStatus.FINISHED:
        lines.append(f"{counts.remaining:,} not sent yet: resume it from History.")
    if counts.unknown:
        lines.append(
            f"{counts.unknown:,} unknown (the reply was lost after sending): decide in History "
            "whether to resend or mark them as sent."
        )
    if counts.failed:
        lines.append(f"{counts.failed:,} failed: see the table below, or retry them in History.")
    return "\n".join(lines)


class LogView:
    """The live log as text lines, newest last, with an "all / problems only" filter."""

    def __init__(self, *, max_lines: int = SHOWN_LOG_LINES) -> None:
        self._source: Iterable[LogLine] = ()
        self._max_lines = max_lines
        with ui.row().classes("w-full items-center"):
            ui.label("Log").classes("text-subtitle1")
            ui.space()
            self.filter = ui.toggle(
                {"all": "All", "problems": "Problems only"}, value="all", on_change=self._refilter
            ).props("dense no-caps")
            self.filter.mark("send-log-filter")
        self.log = ui.log(max_lines=max_lines).classes("w-full h-64 text-caption")
        self.log.mark("send-log")

    @property
    def problems_only(self) -> bool:
        return bool(self.filter.value == "problems")

    def show(self, lines: Iterable[LogLine]) -> None:
        """Replace the log with `lines` (a full redraw)."""
        self._source = lines
        self.log.clear()
        self.push(lines)

    def push(self, lines: Iterable[LogLine]) -> None:
        """Append lines that pass the filter (only the newest that fit)."""
        shown = [line for line in lines if self._passes(line)][-self._max_lines :]
        for line in shown:
            self.log.push(
                f"{_clock(line.at)}  {line.text}",
                classes=_LEVEL_CLASSES.get(line.level, "text-grey-9"),
            )

    def _passes(self, line: LogLine) -> bool:
        return not self.problems_only or line.level in PROBLEM_LEVELS

    def _refilter(self) -> None:
        self.show(self._source)
