"""ECharts options built from the journal's figures: plain dicts, tested as data, no NiceGUI."""

from __future__ import annotations

import time
from typing import Any

from core.plan_timeline import PlanTimeline
from core.ports import Counts
from storage.journal.timeline import Timeline

__all__ = [
    "COLOURS",
    "OUTCOME_SERIES",
    "campaign_chart",
    "outcome_bar",
    "outcome_segments",
    "plan_chart",
    "series_totals",
]

# Colours with at least 4.5:1 contrast on white (the legend and labels are read too).
COLOURS = {
    "sent": "#2e7d32",
    "failed": "#c62828",
    "unknown": "#b45309",
    "deferred": "#455a64",
    "skipped": "#6d4c41",
    "pending": "#9e9e9e",
    "rate": "#1565c0",
    "plan": "#1565c0",
}
# (field, legend name) of the stacked series, bottom to top
OUTCOME_SERIES = (
    ("sent", "Accepted"),
    ("failed", "Failed"),
    ("unknown", "Unknown"),
    ("deferred", "Deferred"),
)
_BAR_SERIES = (*OUTCOME_SERIES, ("skipped", "Skipped"), ("pending", "Not sent yet"))
_RATE_NAME = "Per minute"
_MINUTE = 60.0


def _label(at: float, slot_seconds: float) -> str:
    if slot_seconds >= 86400:
        fmt = "%d %b"
    elif slot_seconds >= 3600:
        fmt = "%d %b %H:%M"
    elif slot_seconds >= 60:
        fmt = "%H:%M"
    else:
        fmt = "%H:%M:%S"
    return time.strftime(fmt, time.localtime(at))


def _axis_text() -> dict[str, Any]:
    return {"color": "#424242"}


def campaign_chart(timeline: Timeline, *, title: str = "Campaign over time") -> dict[str, Any]:
    """Accepted, failed, unknown and deferred per slot, stacked; the rate per minute as a line."""
    labels = [_label(slot.start, timeline.slot_seconds) for slot in timeline.slots]
    series: list[dict[str, Any]] = [
        {
            "name": name,
            "type": "bar",
            "stack": "outcome",
            "itemStyle": {"color": COLOURS[key]},
            "data": [getattr(slot, key) for slot in timeline.slots],
        }
        for key, name in OUTCOME_SERIES
    ]
    per_minute = _MINUTE / timeline.slot_seconds
    series.append(
        {
            "name": _RATE_NAME,
            "type": "line",
            "yAxisIndex": 1,
            "smooth": True,
            "showSymbol": False,
            "itemStyle": {"color": COLOURS["rate"]},
            "data": [round(slot.answered * per_minute, 1) for slot in timeline.slots],
        }
    )
    return {
        "aria": {"enabled": True},
        "animation": False,
        "title": {"text": title, "textStyle": {"fontSize": 14, "color": "#212121"}},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 24, "textStyle": _axis_text()},
        "grid": {"top": 64, "left": 48, "right": 56, "bottom": 32},
        "xAxis": {"type": "category", "data": labels, "axisLabel": _axis_text()},
        "yAxis": [
            {"type": "value", "name": "Recipients", "minInterval": 1, "axisLabel": _axis_text()},
            {"type": "value", "name": _RATE_NAME, "axisLabel": _axis_text()},
        ],
        "series": series,
    }


def outcome_segments(counts: Counts) -> list[tuple[str, str, int]]:
    """(key, name, count) of each non-empty part of a campaign's outcome, in bar order."""
    return [(key, name, getattr(counts, key)) for key, name in _BAR_SERIES if getattr(counts, key)]


def outcome_bar(counts: Counts, *, title: str = "Outcome") -> dict[str, Any]:
    """One horizontal bar, stacked: accepted, failed, unknown, deferred, skipped, not sent."""
    return {
        "aria": {"enabled": True},
        "animation": False,
        "title": {"text": title, "textStyle": {"fontSize": 14, "color": "#212121"}},
        "tooltip": {"trigger": "item"},
        "legend": {"top": 24, "textStyle": _axis_text()},
        "grid": {"top": 56, "left": 16, "right": 16, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "value", "max": max(counts.total, 1), "axisLabel": _axis_text()},
        "yAxis": {"type": "category", "data": ["Recipients"], "show": False},
        "series": [
            {
                "name": name,
                "type": "bar",
                "stack": "total",
                "itemStyle": {"color": COLOURS[key]},
                "data": [value],
            }
            for key, name, value in outcome_segments(counts)
        ],
    }


def plan_chart(
    plan: PlanTimeline, *, title: str = "Plan: messages per time slot"
) -> dict[str, Any]:
    """How many messages go out when, up to the end (the text plan, as a picture)."""
    return {
        "aria": {"enabled": True},
        "animation": False,
        "title": {"text": title, "textStyle": {"fontSize": 14, "color": "#212121"}},
        "tooltip": {"trigger": "axis"},
        "grid": {"top": 40, "left": 56, "right": 16, "bottom": 32},
        "xAxis": {
            "type": "category",
            "data": [_label(slot.start, plan.slot_seconds) for slot in plan.slots],
            "axisLabel": _axis_text(),
        },
        "yAxis": {"type": "value", "name": "Messages", "minInterval": 1, "axisLabel": _axis_text()},
        "series": [
            {
                "name": "Messages",
                "type": "bar",
                "itemStyle": {"color": COLOURS["plan"]},
                "data": [slot.messages for slot in plan.slots],
            }
        ],
    }


def series_totals(options: dict[str, Any]) -> dict[str, float]:
    """Each series' sum, by name (what a test or a reader checks against the counts)."""
    return {series["name"]: sum(series["data"]) for series in options.get("series", [])}
