"""The first half of the Send screen: pacing numbers, the pre-flight report, a test message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from nicegui import ui

from core.errors import IssueKind
from core.models import Account, SendSettings
from core.preflight import PreflightReport
from core.presets import Preset, get_preset
from ui.services import runs
from ui.services.deliverability import signer_of
from ui.services.state import AppState
from ui.web.credentials import ask_credentials, draft_account

__all__ = [
    "ISSUE_LABELS",
    "LIMITS",
    "PacingForm",
    "TestMessage",
    "preset_of",
    "show_field_problems",
    "show_preflight",
]

# field -> (label, minimum, maximum); all whole numbers
LIMITS: dict[str, tuple[str, int, int]] = {
    "delay_ms": ("Delay between messages (ms)", 0, 24 * 3600 * 1000),
    "jitter_ms": ("Random extra delay, up to (ms)", 0, 3600 * 1000),
    "max_attempts": ("Tries per recipient (temporary failures)", 1, 50),
    "max_reconnects": ("Reconnects in a row before pausing", 0, 100),
    "daily_cap": ("Daily cap (messages per 24 h)", 1, 10_000_000),
    "connections": ("Parallel connections", 1, 50),
    "rate_per_minute": ("At most N sends a minute (all connections)", 1, 1_000_000),
}
_OPTIONAL = frozenset({"daily_cap", "rate_per_minute"})
ISSUE_LABELS = {
    IssueKind.SYNTAX_ERROR: "The template has a syntax error",
    IssueKind.MISSING_FIELD: "A merge field is missing for some recipients",
    IssueKind.RENDER_ERROR: "The template fails for some recipients",
    IssueKind.HEADER_INJECTION: "A value would break a header (line break or control character)",
    IssueKind.INVALID_HEADER: "A header value cannot be sent",
    IssueKind.INVALID_ADDRESS: "An address in the message is not valid",
    IssueKind.MISSING_ATTACHMENT: "An attachment is missing",
    IssueKind.UNSAFE_PATH: "An attachment path leaves the attachments folder",
    IssueKind.TOO_LARGE: "A message is too large",
    IssueKind.EMPTY_PART: "The subject or the body is empty",
}
# Problems that can come from the list as much as from the template.
_LIST_KINDS = frozenset({IssueKind.MISSING_FIELD, IssueKind.HEADER_INJECTION})


def _whole(value: Any) -> int | None:
    if value is None or value == "":
        return None
    number = float(value)
    return int(number) if number.is_integer() else None


def _valid(field: str, value: Any) -> bool:
    _, low, high = LIMITS[field]
    if value is None or value == "":
        return field in _OPTIONAL
    try:
        number = _whole(value)
    except (TypeError, ValueError):
        return False
    return number is not None and low <= number <= high


def _rule(field: str) -> dict[str, Callable[[Any], bool]]:
    _, low, high = LIMITS[field]
    optional = ", or empty" if field in _OPTIONAL else ""
    return {f"A whole number from {low:,} to {high:,}{optional}": lambda v: _valid(field, v)}


def preset_of(account: Account | None) -> Preset | None:
    """The provider preset of an account, if it names a known one."""
    if account is None or not account.preset:
        return None
    try:
        return get_preset(account.preset)
    except KeyError:
        return None


class PacingForm:
    """Delay, jitter, tries, reconnects and daily cap: validated whole numbers."""

    def __init__(self, settings: SendSettings, on_change: Callable[[], None]) -> None:
        values = {
            "delay_ms": settings.delay_ms,
            "jitter_ms": settings.jitter_ms,
            "max_attempts": settings.retry.max_attempts,
            "max_reconnects": settings.retry.max_reconnects,
            "daily_cap": settings.daily_cap,
            "connections": settings.connections,
            "rate_per_minute": settings.rate_per_minute,
        }
        self.inputs: dict[str, ui.number] = {}
        with ui.row().classes("w-full items-start gap-4"):
            for field, (label, low, high) in LIMITS.items():
                number = ui.number(
                    label,
                    value=values[field],
                    min=low,
                    max=high,
                    step=1,
                    precision=0,
                    validation=_rule(field),
                    on_change=on_change,
                ).classes("w-56")
                marker = f"send-{field.replace('_', '-')}"
                number.mark(marker).props(f"data-testid={marker}")
                self.inputs[field] = number
        self.note = ui.label().classes("text-caption text-grey-8").mark("send-pacing-note")

    def read(self, base: SendSettings) -> SendSettings | None:
        """`base` with the numbers typed, or None while one is not valid."""
        if not all(_valid(field, number.value) for field, number in self.inputs.items()):
            return None
        values = {field: _whole(number.value) for field, number in self.inputs.items()}
        return replace(
            base,
            delay_ms=values["delay_ms"] or 0,
            jitter_ms=values["jitter_ms"] or 0,
            retry=replace(
                base.retry,
                max_attempts=values["max_attempts"] or 1,
                max_reconnects=values["max_reconnects"] or 0,
            ),
            daily_cap=values["daily_cap"],
            connections=values["connections"] or 1,
            rate_per_minute=float(values["rate_per_minute"] or 0) or None,
        )

    def explain(self, account: Account | None, effective: SendSettings | None) -> None:
        """Say which provider limits apply (the preset's documented caps)."""
        preset = preset_of(account)
        notes = []
        if preset and preset.daily_cap:
            notes.append(
                f"{preset.name} allows about {preset.daily_cap:,} messages per day; with the "
                "daily cap empty, that limit is used."
            )
        if preset and preset.per_minute_cap and effective is not None:
            notes.append(
                f"{preset.name} allows {preset.per_minute_cap} per minute: at most "
                f"{effective.rate_per_minute or preset.per_minute_cap:g} sends a minute, all "
                "connections together."
            )
        if preset:
            notes.append(preset.connections_note)
        self.note.text = " ".join(notes)


def show_field_problems(report: PreflightReport, *, marker: str) -> set[str]:
    """One line per merge field that does not fit the list; returns the blocking fields."""
    for problem in report.field_problems:
        ui.label(problem.text).classes(
            "break-all " + ("text-negative" if problem.blocking else "text-warning")
        ).mark(marker)
    return {problem.name for problem in report.field_problems if problem.blocking}


def show_preflight(report: PreflightReport, count: int) -> None:
    """The pre-flight result where the caller is: all fine, or what to fix and where."""
    if report.ok:
        text = f"Pre-flight: all {count:,} messages build fine."
        if report.largest_message_email:
            size = report.largest_message_bytes / 1024
            text += f" Largest: {size:,.1f} KB ({report.largest_message_email})."
        ui.label(text).classes("text-positive").mark("send-preflight-ok")
        show_field_problems(report, marker="send-field-problem")
        if report.smtputf8_recipients:
            ui.label(
                f"{report.smtputf8_recipients:,} addresses have non-ASCII local parts: "
                "the server must offer SMTPUTF8, or they fail."
            ).classes("text-warning")
        return
    ui.label(
        f"Pre-flight found problems for {report.recipients_with_errors:,} of "
        f"{count:,} recipients. Nothing is sent until they are fixed:"
    ).classes("text-negative text-weight-medium").mark("send-preflight-errors")
    grouped = show_field_problems(report, marker="send-field-problem")
    for kind, how_many in report.issue_counts.items():
        if not how_many or (
            kind is IssueKind.MISSING_FIELD and grouped >= set(report.missing_fields)
        ):
            continue
        ui.label(f"{ISSUE_LABELS.get(kind, kind.value)}: {how_many:,}").classes(
            "text-weight-medium"
        )
        for issue in report.of_kind(kind):
            where = f"line {issue.line} ({issue.email}): " if issue.line else ""
            part = f" [{issue.part}]" if issue.part else ""
            ui.label(f"{where}{issue.message}{part}").classes("text-body2 q-ml-md break-all").mark(
                "send-issue"
            )
    ungrouped = {name: n for name, n in report.missing_fields.items() if name not in grouped}
    if ungrouped:
        fields = ", ".join(f"{name} ({n:,} recipients)" for name, n in ungrouped.items())
        ui.label(f"Missing merge fields: {fields}").mark("send-missing-fields")
    kinds = {kind for kind, n in report.issue_counts.items() if n}
    with ui.row().classes("gap-4"):
        ui.link("Fix the message in Compose", "/compose").mark("send-fix-compose")
        if kinds & _LIST_KINDS:
            ui.link("Fix the list in Recipients", "/recipients").mark("send-fix-recipients")


class TestMessage:
    """ "Send a test to me": the first recipient's message, to an address the person types."""

    __test__ = False  # not a pytest class, despite the name

    def __init__(self, state: AppState) -> None:
        self.state = state
        with ui.expansion("Send a test to me", icon="science").classes("w-full").mark("send-test"):
            ui.label(
                "One message built for the first recipient, sent only to the address below "
                "(its subject starts with [Test]; Cc and Bcc are not sent to). It is not part "
                "of any campaign."
            ).classes("text-caption text-grey-8")
            with ui.row().classes("items-center"):
                self.address = ui.input("Your address").classes("w-72")
                self.address.props("type=email").mark("send-test-address")
                self.button = ui.button("Send the test", on_click=self.send)
                self.button.mark("send-test-button")
            self.result = ui.label().classes("whitespace-pre-wrap break-all")
            self.result.mark("send-test-result")

    def _show(self, text: str, *, ok: bool | None = None) -> None:
        self.result.text = text
        self.result.classes(remove="text-negative text-positive")
        if ok is not None:
            self.result.classes(add="text-positive" if ok else "text-negative")

    async def send(self) -> None:
        draft = self.state.draft
        address = str(self.address.value or "").strip()
        if not address:
            self._show("Type the address the test should go to.")
            return
        if draft.recipients is None or not draft.recipients.recipients:
            self._show("Add recipients first: the test is built for the first one.")
            return
        host = ""
        self.button.disable()
        try:
            account = draft_account()
            host = account.host
            credentials = await ask_credentials(draft.account_name)
            if credentials is None:
                self._show("Not sent: no password given.", ok=False)
                return
            self._show(f"Sending a test to {address}…")
            reply = await runs.send_test(
                account,
                credentials,
                draft.template,
                draft.recipients.recipients[0],
                address,
                base_dir=str(draft.base_dir()),
                signer=signer_of(self.state.vault, draft.account_name),
            )
        except Exception as exc:  # shown as the next step, never as a stack trace
            self._show(f"Test not sent: {runs.describe_failure(exc, host=host)}", ok=False)
        else:
            reply_text = f"{reply.code} {reply.text}"
            self._show(f"Test accepted by the server for {address}: {reply_text}", ok=True)
        finally:
            if not self.button.is_deleted:
                self.button.enable()
