"""The Home screen: where things stand (account, list, message, what runs, last campaigns)."""

from __future__ import annotations

import time

from nicegui import ui

from core.diagnose import Diagnosis
from storage.journal import JournalError, history
from ui.services import sandbox
from ui.services.monitor import LogLine
from ui.services.state import SANDBOX_KEY, AppState, ConnectionTest, get_state
from ui.web.charts import grid, outcome_strip
from ui.web.layout import screen_title
from ui.web.live import CampaignWatch
from ui.web.progress_view import status_text

__all__ = ["LAST_CAMPAIGNS", "HomeScreen", "connection_test", "page"]

LAST_CAMPAIGNS = 5
CAMPAIGNS_REFRESH_SECONDS = 3.0  # the list reads every campaign's counts: not on every event
DRAFT_CHECK_SECONDS = 1.0  # a cheap comparison in memory


def connection_test(diagnosis: Diagnosis) -> ConnectionTest:
    """What Home remembers of a connection test: passed or not, and the reason in one line."""
    account = diagnosis.account
    if diagnosis.ok:
        summary = "connection, security and login fine"
    else:
        failed = next((step for step in diagnosis.steps if not step.ok), None)
        if failed is not None:
            summary = f"{failed.name} failed" + (f": {failed.detail}" if failed.detail else "")
        else:
            summary = str(diagnosis.error or "failed")
    return ConnectionTest(diagnosis.ok, summary, time.time(), account.host, account.port)


def _clock(at: float) -> str:
    return time.strftime("%H:%M", time.localtime(at))


class HomeScreen:
    """One card per thing that decides a campaign; each links to the screen that changes it."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        state.restore_draft_account()
        self._campaigns_read = 0.0
        screen_title("Bulk Mailer: where things stand")
        ui.label(
            "Send one personal message to each person on a list, through your own account."
        ).classes("text-grey-8")
        self._seen = self._draft_fingerprint()
        with grid().classes("q-mt-md"):
            self.draft_cards()
            self.running_card()
        ui.label("Last campaigns").classes("text-h6 q-mt-lg")
        self.campaigns()
        CampaignWatch(state, self._on_update)
        ui.timer(DRAFT_CHECK_SECONDS, self._check_draft)

    def _draft_fingerprint(self) -> tuple[object, ...]:
        """What the draft cards show: when it changes (another tab, a test), they redraw."""
        draft = self.state.draft
        name = draft.account_name
        return (name, id(draft.recipients), draft.template, self.state.connection_tests.get(name))

    def _check_draft(self) -> None:
        seen = self._draft_fingerprint()
        if seen != self._seen:
            self._seen = seen
            self.draft_cards.refresh()

    @ui.refreshable_method
    def draft_cards(self) -> None:
        self.account_card()
        self.list_card()
        self.message_card()

    # -- the draft --------------------------------------------------------------------------

    def account_card(self) -> None:
        draft = self.state.draft
        name = draft.account_name
        with ui.card().classes("w-full").mark("home-account"):
            ui.label("1. Account").classes("text-subtitle1 text-weight-medium")
            if name == SANDBOX_KEY:
                ui.label(
                    f"The {sandbox.SANDBOX_ACCOUNT_NAME}: messages stay on this computer "
                    "(see them in the Outbox)."
                ).mark("home-account-name")
            else:
                try:
                    account = self.state.accounts.get(name).account
                    where = f"{account.sender} through {account.host}:{account.port}"
                except Exception as exc:  # deleted or unreadable: say so, the link fixes it
                    where = f"cannot be read ({exc})"
                ui.label(f"{name}: {where}").classes("break-all").mark("home-account-name")
            test = self.state.connection_tests.get(name)
            if test is None:
                text, colour = "Not tested since the app started.", "text-grey-8"
            elif test.ok:
                text, colour = f"Last test at {_clock(test.at)}: {test.summary}.", "text-positive"
            else:
                text, colour = f"Last test at {_clock(test.at)}: {test.summary}", "text-negative"
            ui.label(text).classes(f"{colour} break-all").mark("home-account-test")
            ui.link("Choose or test an account", "/accounts").mark("home-link-accounts")

    def list_card(self) -> None:
        report = self.state.draft.recipients
        with ui.card().classes("w-full").mark("home-list"):
            ui.label("2. Recipients").classes("text-subtitle1 text-weight-medium")
            if report is None:
                ui.label("No list loaded yet.").mark("home-list-summary")
            else:
                ui.label(
                    f"{len(report.recipients):,} recipients from {report.source}: "
                    f"{len(report.rejected):,} rejected, {report.duplicate_count:,} duplicates"
                ).classes("break-all").mark("home-list-summary")
            ui.link("Load or change the list", "/recipients").mark("home-link-recipients")

    def message_card(self) -> None:
        template = self.state.draft.template
        with ui.card().classes("w-full").mark("home-message"):
            ui.label("3. Message").classes("text-subtitle1 text-weight-medium")
            subject = template.subject.strip()
            if subject:
                ui.label(f"Subject: {subject}").classes("break-all").mark("home-subject")
            elif template.body.strip():
                ui.label("No subject yet (the body is written).").mark("home-subject")
            else:
                ui.label("Not written yet.").mark("home-subject")
            ui.link("Write or change the message", "/compose").mark("home-link-compose")

    # -- what runs and what ran ---------------------------------------------------------------

    @ui.refreshable_method
    def running_card(self) -> None:
        active = self.state.active
        with ui.card().classes("w-full").mark("home-running"):
            ui.label("4. Sending").classes("text-subtitle1 text-weight-medium")
            if active is None:
                ui.label("Nothing is running.").mark("home-running-text")
                ui.link("Check and send", "/send").mark("home-link-send")
                return
            try:
                counts = self.state.journal.counts(active.campaign_id)
            except Exception as exc:  # the journal is unreadable: say so
                ui.label(f"Cannot read the journal: {exc}").classes("text-negative")
                return
            if active.running:
                status = status_text(active.monitor.tracker.status)
                text = f"{status}: {counts.done:,} of {counts.total:,} done"
            elif active.result is not None:
                text = f"{status_text(active.result.status)}: {counts.done:,} of {counts.total:,}"
            else:
                text = f"Stopped: {counts.done:,} of {counts.total:,} done"
            ui.label(text).mark("home-running-text")
            outcome_strip(counts, marker="home-running-bar")
            ui.link("Watch it on Send", "/send").mark("home-link-send")

    @ui.refreshable_method
    def campaigns(self) -> None:
        self._campaigns_read = time.monotonic()
        try:
            summaries = history.list_campaigns(self.state.journal)[:LAST_CAMPAIGNS]
        except JournalError as exc:
            ui.label(f"Cannot read the journal: {exc}").classes("text-negative")
            return
        with ui.column().classes("w-full gap-2").mark("home-campaigns"):
            if not summaries:
                ui.label("No campaigns yet.").mark("home-no-campaigns")
            for summary in summaries:
                with ui.row().classes("w-full items-center no-wrap gap-3"):
                    ui.link(summary.name or summary.id, f"/history/{summary.id}").classes(
                        "break-all"
                    ).style("min-width: 12rem; max-width: 40%").mark("home-campaign-link")
                    outcome_strip(summary.counts, marker="home-campaign-bar")
                    ui.label(status_text(summary.status)).classes("text-caption text-grey-8")
            ui.link("All campaigns in History", "/history").mark("home-link-history")

    def _on_update(self, full: bool, lines: list[LogLine]) -> None:
        self.running_card.refresh()
        if full or time.monotonic() - self._campaigns_read >= CAMPAIGNS_REFRESH_SECONDS:
            self.campaigns.refresh()


def page() -> None:
    """Build the Home screen."""
    HomeScreen(get_state())
