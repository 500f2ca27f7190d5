"""How a page watches the running campaign: one cheap listener, screen updates twice a second.

The engine may emit hundreds of events per second. The listener a page subscribes to the
campaign's monitor does no UI work: it marks the view dirty and keeps the new log lines. A
timer (every `REFRESH_SECONDS`) then updates the page once, only if something changed. The
listener is unsubscribed when the page's elements go away (another screen, the tab closed) and
while the browser is disconnected; on reconnect it subscribes again and redraws everything
from the monitor, which keeps the whole state of the run.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from nicegui import context, ui

from core.events import Event
from ui.services.monitor import CampaignMonitor, LogLine
from ui.services.state import ActiveCampaign, AppState
from ui.web.nicegui_internals import DeleteHook

__all__ = ["REFRESH_SECONDS", "SHOWN_LOG_LINES", "CampaignWatch"]

REFRESH_SECONDS = 0.5
SHOWN_LOG_LINES = 500  # lines kept in the page's log (the monitor keeps more)

# on_update(full, new_lines): `full` means "redraw from the monitor" (another campaign, reconnect)
UpdateHandler = Callable[[bool, list[LogLine]], None]


class CampaignWatch:
    """Follows `state.active`: a listener on its monitor and a throttled refresh of the page.

    Create it inside the page's layout: when the page goes away it stops and unsubscribes.
    """

    def __init__(self, state: AppState, on_update: UpdateHandler) -> None:
        self._state = state
        self._on_update = on_update
        self._campaign: ActiveCampaign | None = state.active
        self._unsubscribe: Callable[[], None] | None = None
        self._lines: deque[LogLine] = deque(maxlen=SHOWN_LOG_LINES)
        self._dirty = False
        self._was_running = bool(self._campaign and self._campaign.running)
        self._deleted = False
        with DeleteHook(self._teardown):
            self.timer = ui.timer(REFRESH_SECONDS, self.tick)
        self._client = context.client
        self._client.on_disconnect(self._detach)
        self._client.on_connect(self._reattach)
        self._subscribe()

    @property
    def campaign(self) -> ActiveCampaign | None:
        """The campaign this page shows now."""
        return self._campaign

    @property
    def subscribed(self) -> bool:
        return self._unsubscribe is not None

    def _listen(self, event: Event, line: LogLine | None) -> None:
        """Called by the engine for every event: no UI work here, only bookkeeping."""
        if self._deleted:
            self._detach()
            return
        self._dirty = True
        if line is not None:
            self._lines.append(line)

    def _subscribe(self) -> None:
        if self._unsubscribe is None and self._campaign is not None and not self._deleted:
            monitor: CampaignMonitor = self._campaign.monitor
            self._unsubscribe = monitor.subscribe(self._listen)

    def _detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _reattach(self) -> None:
        if self._deleted or self._unsubscribe is not None or self._campaign is None:
            return  # nothing was missed
        self._subscribe()
        self._redraw()

    def _redraw(self) -> None:
        self._lines.clear()
        self._dirty = False
        self._on_update(True, [])

    def tick(self) -> None:
        """Update the page now if anything changed (the timer calls this twice a second)."""
        if self._deleted:
            return
        if self._state.active is not self._campaign:  # another campaign started (any tab)
            self._detach()
            self._campaign = self._state.active
            self._subscribe()
            self._was_running = bool(self._campaign and self._campaign.running)
            self._redraw()
            return
        running = bool(self._campaign and self._campaign.running)
        if running != self._was_running:  # the task ended (maybe without a last event)
            self._was_running = running
            self._dirty = True
        if not self._dirty:
            return
        lines = list(self._lines)
        self._lines.clear()
        self._dirty = False
        self._on_update(False, lines)

    def _teardown(self) -> None:
        self._deleted = True
        self._detach()
        for handlers, handler in (
            (self._client.disconnect_handlers, self._detach),
            (self._client.connect_handlers, self._reattach),
        ):
            if handler in handlers:
                handlers.remove(handler)
