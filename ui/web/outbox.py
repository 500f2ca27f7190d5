"""The Outbox screen: what the sandbox caught, shown as the recipient would see it.

Everything taken from a message (addresses, subject, text, file names) is shown as text:
labels and table cells. The HTML part is the one exception, and it is shown only inside an
`<iframe sandbox="">` (no scripts, no forms, no popups, an opaque origin) whose document
starts with a Content-Security-Policy that blocks every fetch, so nothing leaves this
computer and nothing reaches this app.
"""

from __future__ import annotations

import base64
import email
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message

from nicegui import Event, ui

from storage.outbox import ENVELOPE_FROM_HEADER, ENVELOPE_TO_HEADER, OutboxEntry, OutboxStore
from ui.services import sandbox
from ui.web.layout import screen_title

__all__ = [
    "SHOWN_HEADERS",
    "AttachmentInfo",
    "MessageView",
    "build_srcdoc",
    "human_size",
    "message_page",
    "outbox_changed",
    "page",
    "parse_message",
]

# Fired after each message the sandbox captures (and by this screen after clearing it).
outbox_changed: Event[[]] = Event()
SHOWN_HEADERS = ("From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID")
SOURCE_PREVIEW_LIMIT = 256 * 1024  # characters of raw source shown on the page
PREVIEW_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
    "media-src data:; form-action 'none'"
)
_CID_REFERENCE = re.compile(r"cid:([^\s\"'>)]+)", re.IGNORECASE)
_COLUMNS = [
    {"name": "received", "label": "Received", "field": "received", "align": "left"},
    {"name": "from", "label": "From (envelope)", "field": "from", "align": "left"},
    {"name": "to", "label": "To (envelope)", "field": "to", "align": "left"},
    {"name": "subject", "label": "Subject", "field": "subject", "align": "left"},
    {"name": "size", "label": "Size", "field": "size", "align": "right"},
]
# A Vue template: values reach the DOM through {{ }} text interpolation only (escaped).
_SUBJECT_CELL = r"""
<q-td :props="props">
  <a :href="'/outbox/' + props.row.id" class="text-primary">{{ props.value || '(no subject)' }}</a>
</q-td>
"""


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """A non-body part: a file, an inline image or an attached message."""

    name: str
    content_type: str
    size: int
    disposition: str  # "attachment" or "inline"


@dataclass(frozen=True, slots=True)
class MessageView:
    """A captured message taken apart for display."""

    headers: tuple[tuple[str, str], ...]  # (name, value) for the SHOWN_HEADERS present
    envelope_from: str
    envelope_to: tuple[str, ...]
    text: str | None
    html: str | None
    inline_images: dict[str, str]  # Content-ID -> data: URL (images only)
    attachments: tuple[AttachmentInfo, ...]

    def header(self, name: str) -> str:
        """One shown header's value, or ''."""
        return next((value for key, value in self.headers if key.lower() == name.lower()), "")


def parse_message(raw: bytes) -> MessageView:
    """Split a stored message into headers, envelope, text, HTML and attachments."""
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    headers = tuple(
        (name, value) for name in SHOWN_HEADERS if (value := _header(message, name)) is not None
    )
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    body_parts = [part for part in (text_part, html_part) if part is not None]
    attachments: list[AttachmentInfo] = []
    inline_images: dict[str, str] = {}
    for part in _leaves(message):
        if any(part is body for body in body_parts):
            continue
        payload = _payload_bytes(part)
        attachments.append(
            AttachmentInfo(
                name=part.get_filename() or "(no name)",
                content_type=part.get_content_type(),
                size=len(payload),
                disposition=part.get_content_disposition() or "inline",
            )
        )
        content_id = str(part.get("Content-ID", "") or "").strip().strip("<>")
        if content_id and part.get_content_maintype() == "image":
            encoded = base64.b64encode(payload).decode("ascii")
            inline_images[content_id] = f"data:{part.get_content_type()};base64,{encoded}"
    envelope_to = _header(message, ENVELOPE_TO_HEADER) or ""
    return MessageView(
        headers=headers,
        envelope_from=_header(message, ENVELOPE_FROM_HEADER) or "",
        envelope_to=tuple(a.strip() for a in envelope_to.split(",") if a.strip()),
        text=_part_text(text_part) if text_part is not None else None,
        html=_part_text(html_part) if html_part is not None else None,
        inline_images=inline_images,
        attachments=tuple(attachments),
    )


def build_srcdoc(html: str, inline_images: dict[str, str] | None = None) -> str:
    """The iframe document: a fetch-blocking CSP first, then the message's HTML.

    `cid:` references to inline images become `data:` URLs. The result is set as the
    iframe's `srcdoc` DOM property (through NiceGUI's JSON props), never pasted into markup,
    so no attribute quoting is involved; a CSP in the first `<meta>` cannot be loosened by
    anything that follows it.
    """
    images = inline_images or {}

    def inline(match: re.Match[str]) -> str:
        return images.get(match.group(1), match.group(0))

    body = _CID_REFERENCE.sub(inline, html) if images else html
    csp = PREVIEW_CSP.replace('"', "&quot;")
    return (
        "<!DOCTYPE html>"
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta charset="utf-8"><meta name="referrer" content="no-referrer">'
        f"{body}"
    )


def human_size(size: int) -> str:
    """1234 -> '1.2 KB'."""
    value = float(size)
    for unit in ("bytes", "KB", "MB"):
        if value < 1024 or unit == "MB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def page() -> None:
    """The list of captured messages, newest first."""
    store = OutboxStore()
    with ui.row().classes("w-full items-center"):
        screen_title("Outbox")
        ui.space()
        clear_button = ui.button("Clear outbox", icon="delete_sweep").props(
            "outline color=negative"
        )
        clear_button.mark("outbox-clear")
    ui.label(_sandbox_description()).classes("text-grey-8").mark("outbox-sandbox-address")
    count = ui.label().mark("outbox-count")
    table = ui.table(columns=_COLUMNS, rows=[], row_key="id").classes("w-full")
    table.props("flat bordered wrap-cells no-data-label='No captured messages yet.'")
    table.add_slot("body-cell-subject", _SUBJECT_CELL)
    table.mark("outbox-table")

    def refresh() -> None:
        if table.is_deleted:  # the user navigated away (same tab, so no client deletion)
            outbox_changed.unsubscribe(refresh)
            return
        entries = store.entries()
        table.rows = [_row(entry) for entry in entries]
        count.text = _count_text(len(entries))

    with ui.dialog() as confirm, ui.card():
        ui.label("Delete every captured message from the Outbox?")
        with ui.row():
            ui.button("Cancel", on_click=confirm.close).props("flat").mark("outbox-clear-cancel")

            def clear() -> None:
                removed = store.clear()
                confirm.close()
                ui.notify(f"Outbox cleared ({removed} removed)")
                outbox_changed.emit()

            ui.button("Delete all", on_click=clear).props("color=negative").mark(
                "outbox-clear-confirm"
            )
    clear_button.on_click(confirm.open)
    outbox_changed.subscribe(refresh)
    refresh()


def message_page(message_id: str) -> None:
    """One captured message: headers, text, HTML preview, attachments, source."""
    ui.link("← Outbox", "/outbox").mark("outbox-back")
    try:
        raw = OutboxStore().read(message_id)
    except KeyError:
        screen_title("Message not found")
        ui.label("This message is no longer in the Outbox.").mark("outbox-missing")
        return
    view = parse_message(raw)
    screen_title(view.header("Subject") or "(no subject)").mark("outbox-subject")

    with ui.grid(columns="auto 1fr").classes("gap-x-4 gap-y-1 q-mb-md").mark("outbox-headers"):
        for name, value in view.headers:
            ui.label(f"{name}:").classes("text-weight-medium text-grey-8")
            ui.label(value).classes("break-all").mark(f"outbox-header-{name.lower()}")
        ui.label("Envelope:").classes("text-weight-medium text-grey-8")
        ui.label(
            f"from {view.envelope_from or '<>'} to {', '.join(view.envelope_to) or '(nobody)'}"
        ).classes("break-all text-grey-8").mark("outbox-envelope")

    if view.html is not None:
        ui.label("HTML part").classes("text-h6")
        ui.label("Remote images and fonts are not loaded in this preview.").classes(
            "text-caption text-grey-7"
        )
        frame = ui.element("iframe").classes("w-full bg-white").mark("outbox-html")
        # `sandbox` first, so it is in place before `srcdoc` makes the frame load anything.
        frame.props["sandbox"] = ""
        frame.props["referrerpolicy"] = "no-referrer"
        frame.props["title"] = "HTML part of the message"
        frame.props["srcdoc"] = build_srcdoc(view.html, view.inline_images)
        frame.style("height: 60vh; border: 1px solid #ddd")

    ui.label("Text part").classes("text-h6 q-mt-md")
    if view.text is not None:
        ui.label(view.text).classes("whitespace-pre-wrap font-mono text-body2").mark("outbox-text")
    else:
        ui.label("(this message has no plain-text part)").classes("text-grey-7").mark("outbox-text")

    ui.label("Attachments").classes("text-h6 q-mt-md")
    with ui.column().classes("gap-1").mark("outbox-attachments"):
        if not view.attachments:
            ui.label("(none)").classes("text-grey-7")
        for attachment in view.attachments:
            ui.label(
                f"{attachment.name} · {attachment.content_type} · {human_size(attachment.size)}"
                + (" · inline" if attachment.disposition == "inline" else "")
            ).mark("outbox-attachment")

    with ui.expansion("Message source").classes("w-full q-mt-md").mark("outbox-source"):
        source = raw.decode("utf-8", errors="replace")
        if len(source) > SOURCE_PREVIEW_LIMIT:
            source = source[:SOURCE_PREVIEW_LIMIT] + "\n… (truncated)"
        ui.label(source).classes("whitespace-pre-wrap font-mono text-caption break-all")


def _sandbox_description() -> str:
    server = sandbox.current()
    if server is None or not server.running:
        return "The sandbox SMTP server is not running."
    return (
        f"Messages sent to the sandbox SMTP server at {sandbox.SANDBOX_HOST}:{server.port} "
        "(no encryption, no login) land here. Nothing leaves this computer."
    )


def _count_text(count: int) -> str:
    return "No captured messages." if count == 0 else f"{count} captured message(s)"


def _row(entry: OutboxEntry) -> dict[str, str]:
    recipients = ", ".join(entry.rcpt_tos[:3])
    if len(entry.rcpt_tos) > 3:
        recipients += f" (+{len(entry.rcpt_tos) - 3})"
    return {
        "id": entry.id,
        "received": entry.received.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
        "from": entry.mail_from or "<>",
        "to": recipients,
        "subject": entry.subject,
        "size": human_size(entry.size),
    }


def _header(message: Message, name: str) -> str | None:
    try:
        value = message.get(name)
    except Exception:  # the email package raises many kinds on malformed headers
        return "(unreadable header)"
    return None if value is None else str(value)


def _leaves(part: Message) -> Iterator[Message]:
    """Non-multipart parts, depth first; an attached message counts as one part."""
    if part.get_content_maintype() == "multipart":
        for sub in part.get_payload():
            if isinstance(sub, Message):
                yield from _leaves(sub)
    else:
        yield part


def _payload_bytes(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    return part.as_bytes()  # message/rfc822 and friends


def _part_text(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, UnicodeError, ValueError):
        content = None
    if isinstance(content, str):
        return content
    payload = part.get_payload(decode=True)
    return payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
