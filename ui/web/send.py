"""The Send screen: pacing, plan and pre-flight, a test message, then the campaign, live."""

from __future__ import annotations

import time
from dataclasses import replace

from nicegui import ui

from core.errors import InputError
from core.events import CampaignStatus
from core.models import Account, SendSettings
from core.pacing import DAY, describe_plan
from storage.journal import JournalError, account_key
from ui.services import runs
from ui.services.campaigns import Draft, Prepared, effective_settings, prepare_in_background
from ui.services.deliverability import dkim_key_of
from ui.services.monitor import LogLine
from ui.services.starting import Choice, NotStartedError, start_campaign
from ui.services.state import ActiveCampaign, AppState, get_state
from ui.web.charts import CampaignChart, PlanChart, grid
from ui.web.credentials import ask_credentials, draft_account, resolve_credentials
from ui.web.deliverability_view import (
    SpamCheckPanel,
    first_message_of_draft,
    show_domain_check,
    show_plan_notes,
)
from ui.web.layout import screen_title
from ui.web.live import CampaignWatch
from ui.web.progress_view import LogView, ProgressView
from ui.web.reason_view import ReasonList
from ui.web.recipient_table import RecipientTable
from ui.web.send_confirm import confirm_dialog, show_twins
from ui.web.send_draft import PacingForm, TestMessage, show_preflight
from ui.web.send_later import SendLaterPanel

__all__ = ["SendScreen", "page"]

_NAME_LENGTH = 60  # characters of the subject a campaign is named after


class SendScreen:
    """Everything on /send. The campaign itself lives in `AppState.active`, not here."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.store = state.journal
        self.prepared: Prepared | None = None
        self.account: Account | None = None
        self.sent_today = 0
        self.progress: ProgressView | None = None
        self.log: LogView | None = None
        self.table: RecipientTable | None = None
        self.reasons: ReasonList | None = None
        self.chart: CampaignChart | None = None
        self._was_running = bool(state.active and state.active.running)

        screen_title("Send")
        self.client = ui.context.client  # dialogs live in its content, never cleared
        self.busy = ui.label().classes("text-warning").mark("send-busy")
        # A campaign's progress goes first, where a person looks; with none, it goes last.
        self.top = ui.column().classes("w-full").mark("send-top")
        with ui.card().classes("w-full"):
            ui.label("Before you send").classes("text-h6")
            self.summary = ui.column().classes("gap-0").mark("send-summary")
            self.pacing = PacingForm(state.draft.settings, self._settings_changed)
            self.later = SendLaterPanel(state, self._checked_for_later)
            self.plan = ui.label().classes("text-body1").mark("send-plan")
            self.plan_chart = PlanChart(marker="send-plan-chart")
            self.preflight = ui.column().classes("w-full gap-1").mark("send-preflight")
            self.twin = ui.column().classes("w-full gap-1").mark("send-twin")
            self.notes = ui.column().classes("w-full gap-0").mark("send-notes")
            SpamCheckPanel(lambda: first_message_of_draft(self._draft()), marker="send-spam")
            self.test_message = TestMessage(state)
            with ui.row().classes("items-center gap-2"):
                self.start_button = ui.button("Start sending", icon="send", on_click=self.start)
                self.start_button.mark("send-start").props("data-testid=send-start")
                ui.button("Check again", icon="refresh", on_click=self.check).props("flat").mark(
                    "send-check"
                )
            self.error = ui.label().classes("text-negative whitespace-pre-wrap").mark("send-error")
            self.error.props("data-testid=send-error")
        self.bottom = ui.column().classes("w-full").mark("send-bottom")
        with self.bottom, ui.card().classes("w-full") as self.campaign_card:
            self.campaign_box = ui.column().classes("w-full gap-2").mark("send-campaign")
        self.watch = CampaignWatch(state, self._on_update)
        self._build_campaign()
        self._update_controls()

    # -- pacing -----------------------------------------------------------------------------

    def _read_settings(self) -> SendSettings | None:
        """The settings in the inputs, or None while one is not a valid number."""
        return self.pacing.read(self.state.draft.settings)

    def _settings_changed(self) -> None:
        settings = self._read_settings()
        if settings is not None:
            self.state.draft.settings = settings
        self._show_plan()
        self._update_controls()

    def effective(self) -> SendSettings | None:
        settings = self._read_settings()
        if settings is None or self.account is None:
            return settings
        return effective_settings(settings, self.account)

    def _show_plan(self) -> None:
        settings = self.effective()
        recipients = self.state.draft.recipients
        count = len(recipients.recipients) if recipients else 0
        self.pacing.explain(self.account, settings)
        if settings is None:
            self.plan.text = "Fix the pacing numbers above to see the plan."
            return
        plan = describe_plan(
            count,
            delay_ms=settings.delay_ms,
            daily_cap=settings.daily_cap,
            sent_in_window=self.sent_today,
            connections=settings.connections,
            rate_per_minute=settings.rate_per_minute,
        )
        self.plan.text = f"Plan: {plan.text}"
        self.plan_chart.show(
            count,
            delay_ms=settings.delay_ms,
            daily_cap=settings.daily_cap,
            sent_in_window=self.sent_today,
        )

    # -- checking the draft -----------------------------------------------------------------

    def _draft(self) -> Draft | None:
        """The draft as the campaign services take it; None (and the reason shown) if incomplete."""
        draft = self.state.draft
        self.summary.clear()
        with self.summary:
            try:
                self.account = draft_account()
            except Exception as exc:  # no account usable: say so, nothing else to check
                self.account = None
                ui.label(f"Account: cannot be used ({exc}).").mark("send-account")
                ui.link("Choose an account in Accounts", "/accounts").mark("send-fix-account")
                return None
            who = draft.account_name or "the sandbox (nothing leaves this computer)"
            ui.label(
                f"Account: {who}, sending as {self.account.sender} through "
                f"{self.account.host}:{self.account.port}"
            ).mark("send-account")
            report = draft.recipients
            if report is None or not report.recipients:
                ui.label("Recipients: none yet.").mark("send-recipients")
                return None
            ui.label(f"Recipients: {report.summary()} (from {report.source})").mark(
                "send-recipients"
            )
            subject = draft.template.subject.strip()
            ui.label(f"Subject: {subject or '(empty)'}").mark("send-subject")
            if not subject and not draft.template.body.strip():
                return None
        settings = self.effective() or draft.settings
        return Draft(
            account=self.account,
            template=draft.template,
            recipients=report.recipients,
            settings=settings,
            base_dir=draft.base_dir(),
            name=(subject or report.source or "campaign")[:_NAME_LENGTH],
            source=report.source,
        )

    async def check(self) -> Prepared | None:
        """Pre-flight every message, state the plan, look for unfinished twins."""
        self.prepared = None
        self.error.text = ""
        draft = self._draft()
        self.preflight.clear()
        self.twin.clear()
        if draft is None:
            self._show_missing()
            self._show_plan()
            self._update_controls()
            return None
        with self.preflight:
            ui.label("Checking every message…").classes("text-grey-8")
        try:
            self.sent_today, _ = self.store.sends_in_window(
                account_key(draft.account), time.time() - DAY
            )
            prepared = await prepare_in_background(self.store, draft)
        except (JournalError, OSError) as exc:
            self.preflight.clear()
            with self.preflight:
                ui.label(f"Cannot check the draft: {exc}").classes("text-negative")
            return None
        if self.preflight.is_deleted:
            return None
        self.prepared = prepared
        self.preflight.clear()
        with self.preflight:
            show_preflight(prepared.preflight, len(draft.recipients))
        with self.twin:
            show_twins(self.store, prepared, start=self.start_with, resume=self.resume_twin)
        self._show_plan()
        self._update_controls()
        key = dkim_key_of(self.state.vault, self.state.draft.account_name)
        await show_plan_notes(self.notes, draft, dkim_domain=key.domain if key else None)
        if not runs.is_sandbox(draft.account):  # what the sender domain's DNS says, too
            await show_domain_check(self.notes, draft.account, key)
        return prepared

    def _show_missing(self) -> None:
        with self.preflight:
            draft = self.state.draft
            if self.account is None:
                return
            if draft.recipients is None or not draft.recipients.recipients:
                ui.label("Nothing to send yet: add recipients first.").mark("send-missing")
                ui.link("Go to Recipients", "/recipients").mark("send-fix-recipients")
            elif not draft.template.subject.strip() and not draft.template.body.strip():
                ui.label("The message is empty: write it first.").mark("send-missing")
                ui.link("Go to Compose", "/compose").mark("send-fix-compose")

    # -- starting ---------------------------------------------------------------------------

    async def start_with(self, choice: Choice) -> None:
        """Start after the person chose what to do about an earlier campaign."""
        await self.start(choice=choice)

    async def start(self, *, choice: Choice | None = None) -> None:
        self.error.text = ""
        busy = runs.busy_reason(self.state)
        if busy:
            self.error.text = busy
            return
        self.start_button.disable()
        try:
            prepared = await self.check()
            settings = self.effective()
            if prepared is None or settings is None:
                self.error.text = (
                    "Not started: fix the pacing numbers first."
                    if prepared is not None
                    else "Not started: the draft is incomplete (see above)."
                )
                return
            try:
                settings = self.later.apply(settings)
            except InputError as exc:
                self.error.text = f"Not started: {exc}"
                return
            draft = replace(prepared.draft, settings=settings)
            started = await start_campaign(
                self.store,
                draft,
                prepared=replace(prepared, draft=draft),
                choice=choice,
                confirm=lambda checked: confirm_dialog(
                    checked, account_name=self.state.draft.account_name, host=self.client.content
                ),
                secrets=lambda _: ask_credentials(self.state.draft.account_name),
                busy=lambda: runs.busy_reason(self.state),  # another tab may have started one
            )
            runs.launch(self.state, started.campaign_id, started.credentials)
            self.watch.tick()
        except NotStartedError as exc:
            self.error.text = f"Not started: {exc}."
        except runs.LaunchError as exc:
            self.error.text = f"Not started: {exc}"
        finally:
            self._update_controls()

    async def _checked_for_later(self) -> Prepared | None:
        """The checked draft with the pacing entered (for Schedule); None if not ready."""
        prepared = await self.check()
        settings = self.effective()
        if prepared is None or settings is None or not prepared.ok:
            return None
        return replace(prepared, draft=replace(prepared.draft, settings=settings))

    async def resume_twin(self, campaign_id: str) -> None:
        self.error.text = ""
        try:
            record = self.store.campaign(campaign_id)
            credentials = await runs.campaign_credentials(record, resolve_credentials)
            if credentials is None:
                self.error.text = "Not resumed: no password given."
                return
            runs.launch(self.state, campaign_id, credentials)
            self.watch.tick()
        except runs.LaunchError as exc:
            self.error.text = f"Not resumed: {exc}"
            return
        except JournalError as exc:
            self.error.text = f"Not resumed: {exc}"
            return
        self.twin.clear()

    # -- the campaign -----------------------------------------------------------------------

    def _build_campaign(self) -> None:
        self.campaign_box.clear()
        self.progress = self.log = self.table = None
        self.reasons = None
        self.chart = None
        active = self.state.active
        self.campaign_card.move(self.top if active is not None else self.bottom)
        with self.campaign_box:
            ui.label("Campaign").classes("text-h6")
            if active is None:
                ui.label(
                    "No campaign started since the app opened. Past campaigns are in History."
                ).classes("text-grey-8").mark("send-no-campaign")
                return
            with grid("22rem"):
                with ui.column().classes("w-full"):
                    self.progress = ProgressView(self.store)
                self.chart = CampaignChart(self.store, active.campaign_id, marker="send-chart")
            with ui.row().classes("gap-2"):
                self.pause_button = ui.button("Pause", icon="pause", on_click=self.pause)
                self.pause_button.mark("send-pause")
                self.resume_button = ui.button("Resume", icon="play_arrow", on_click=self.resume)
                self.resume_button.mark("send-resume")
                self.cancel_button = ui.button("Cancel", icon="stop", on_click=self.cancel)
                self.cancel_button.props("outline color=negative").mark("send-cancel")
                ui.link("Open in History", f"/history/{active.campaign_id}").classes(
                    "self-center"
                ).mark("send-history-link")
            self.log = LogView()
            reasons_box = ui.column().classes("w-full")
            ui.label("Recipients").classes("text-subtitle1")
            self.table = RecipientTable(self.store, active.campaign_id, marker="send-table")
            with reasons_box:
                self.reasons = ReasonList(
                    self.store, active.campaign_id, self.table, marker="send-reasons"
                )
        self.log.show(active.monitor.log)
        self._refresh_campaign(active)

    def _refresh_campaign(self, active: ActiveCampaign) -> None:
        if self.progress is not None:
            self.progress.update(active)
        if self.chart is not None:  # redrawn at most once a second; the end always shows
            self.chart.refresh(force=not active.running)
        if self.reasons is not None:  # first: a group the table shows keeps its count
            self.reasons.refresh()
        if self.table is not None:
            self.table.refresh()
        self._update_controls()

    def _on_update(self, full: bool, lines: list[LogLine]) -> None:
        active = self.state.active
        if full or active is None or self.progress is None:
            self._build_campaign()
        else:
            if self.log is not None:
                self.log.push(lines)
            self._refresh_campaign(active)
        running = bool(active and active.running)
        if self._was_running and not running:  # it ended: the twins and today's sends changed
            self._was_running = False
            ui.timer(0, self.check, once=True)
        self._was_running = running

    def _update_controls(self) -> None:
        active = self.state.active
        running = bool(active and active.running)
        busy = runs.busy_reason(self.state)
        self.busy.text = busy or ""
        can_start = (
            not running
            and self.prepared is not None
            and self.prepared.ok
            and self._read_settings() is not None
        )
        self.start_button.set_enabled(can_start)
        if self.progress is None or active is None:
            return
        tracker = active.monitor.tracker
        # A pause with an end time (daily cap, rate limit) resumes by itself; Pause still works.
        held = running and tracker.status is CampaignStatus.PAUSED and not tracker.paused_until
        self.pause_button.set_enabled(running and not held)
        self.resume_button.set_enabled(held)
        self.cancel_button.set_enabled(running)

    def pause(self) -> None:
        if self.state.active is not None and self.state.active.running:
            self.state.active.session.pause()

    def resume(self) -> None:
        if self.state.active is not None and self.state.active.running:
            self.state.active.session.resume()

    def cancel(self) -> None:
        if self.state.active is not None and self.state.active.running:
            self.state.active.session.cancel()


async def page() -> None:
    """Build the Send screen and check the draft."""
    screen = SendScreen(get_state())
    await screen.check()
