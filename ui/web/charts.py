"""Chart elements: a small stacked outcome bar, and ECharts that redraw at a bounded rate."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from nicegui import ui

from core.pacing import describe_plan
from core.plan_timeline import PlanTimeline, plan_timeline
from core.ports import Counts
from storage.journal import JournalError, JournalStore
from storage.journal.timeline import Timeline, outcome_timeline
from ui.web.chart_options import COLOURS, campaign_chart, outcome_segments, plan_chart

__all__ = [
    "CHART_REFRESH_SECONDS",
    "CampaignChart",
    "LiveChart",
    "PlanChart",
    "grid",
    "outcome_strip",
    "segments",
    "strip_text",
]

PLAN_CHART_MIN_SECONDS = 120.0  # a plan shorter than this needs no picture
CHART_REFRESH_SECONDS = 1.0  # at most one chart redraw a second, whatever the send rate


def grid(min_width: str = "18rem") -> ui.element:
    """A responsive grid: as many columns of at least `min_width` as fit, then wrap."""
    return (
        ui.element("div")
        .classes("w-full")
        .style(
            "display: grid; gap: 1rem; "
            f"grid-template-columns: repeat(auto-fit, minmax(min({min_width}, 100%), 1fr))"
        )
    )


def strip_text(counts: Counts) -> str:
    """What the bar shows, in words (its accessible name)."""
    parts = [f"{value:,} {name.lower()}" for _, name, value in outcome_segments(counts)]
    return f"{counts.total:,} recipients: " + (", ".join(parts) if parts else "none yet")


def segments(counts: Counts) -> list[dict[str, object]]:
    """The parts of an outcome bar as plain data (for a table cell's template)."""
    total = max(counts.total, 1)
    return [
        {
            "key": key,
            "title": f"{name}: {value:,}",
            "width": round(100 * value / total, 3),
            "colour": COLOURS[key],
        }
        for key, name, value in outcome_segments(counts)
    ]


def outcome_strip(counts: Counts, *, marker: str, height: str = "10px") -> ui.element:
    """A thin stacked bar of a campaign's outcome (plain HTML: cheap in long lists)."""
    total = max(counts.total, 1)
    strip = ui.element("div").classes("w-full row no-wrap rounded-borders overflow-hidden")
    strip.style(f"height: {height}; background: #eeeeee; min-width: 6rem")
    strip.props(f'role="img" aria-label="{strip_text(counts)}"').mark(marker)
    with strip:
        for key, name, value in outcome_segments(counts):
            part = ui.element("div").style(
                f"width: {100 * value / total:.3f}%; background: {COLOURS[key]}; height: 100%"
            )
            part.props(f'title="{name}: {value:,}"')
    return strip


class LiveChart:
    """An ECharts element redrawn from `build()` at most once per `min_interval` seconds."""

    def __init__(
        self,
        build: Callable[[], dict[str, Any]],
        *,
        marker: str,
        height: str = "16rem",
        min_interval: float = CHART_REFRESH_SECONDS,
    ) -> None:
        self.build = build
        self.min_interval = min_interval
        self.pushes = 0  # redraws sent to the browser (a test measures their rate)
        self._last = 0.0
        self.chart = ui.echart(build()).classes("w-full").style(f"height: {height}")
        self.chart.mark(marker)

    def refresh(self, *, force: bool = False) -> bool:
        """Redraw if the last redraw is old enough (or `force`); True when it pushed."""
        now = time.monotonic()
        if self.chart.is_deleted or (not force and now - self._last < self.min_interval):
            return False
        self._last = now
        self.chart.options.update(self.build())  # one change: one update of the element
        self.pushes += 1
        return True


class PlanChart:
    """The plan as a picture: messages per time slot up to the end, shown when it spans time."""

    def __init__(self, *, marker: str, min_seconds: float = PLAN_CHART_MIN_SECONDS) -> None:
        self.min_seconds = min_seconds
        self.chart = ui.echart(plan_chart(PlanTimeline(1.0, ()))).classes("w-full")
        self.chart.style("height: 14rem").mark(marker)
        self.chart.set_visibility(False)

    def show(
        self, messages: int, *, delay_ms: int, daily_cap: int | None, sent_in_window: int
    ) -> None:
        """Draw the plan; hidden when it all goes out within `min_seconds`."""
        plan = describe_plan(
            messages, delay_ms=delay_ms, daily_cap=daily_cap, sent_in_window=sent_in_window
        )
        if plan.seconds < self.min_seconds:
            self.chart.set_visibility(False)
            return
        timeline = plan_timeline(
            messages,
            delay_ms=delay_ms,
            daily_cap=daily_cap,
            sent_in_window=sent_in_window,
            start=time.time(),
        )
        self.chart.options.update(plan_chart(timeline))
        self.chart.set_visibility(True)

    def show_timeline(self, timeline: PlanTimeline) -> None:
        """Draw a timeline made elsewhere (a campaign sent later or in batches)."""
        self.chart.options.update(plan_chart(timeline))
        self.chart.update()
        self.chart.set_visibility(bool(timeline.slots))


class CampaignChart(LiveChart):
    """A campaign over time from the journal: stacked outcomes per slot, the rate as a line."""

    def __init__(self, store: JournalStore, campaign_id: str, *, marker: str) -> None:
        self.store = store
        self.campaign_id = campaign_id
        super().__init__(self._options, marker=marker)

    def _options(self) -> dict[str, Any]:
        try:
            return campaign_chart(outcome_timeline(self.store, self.campaign_id))
        except JournalError:
            return campaign_chart(Timeline(1.0, ()))
