"""The Outbox screen: the list, one message as the recipient sees it, clearing, live updates."""

from __future__ import annotations

import asyncio
import smtplib
from pathlib import Path

from nicegui import ui
from nicegui.testing import User

from storage.outbox import OutboxStore
from tests.ui.mail import make_message
from ui.services.sandbox import SandboxServer
from ui.web import outbox as outbox_screen
from ui.web.outbox import PREVIEW_CSP, build_srcdoc, human_size, outbox_changed, parse_message

HOSTILE = "<img src=x onerror=alert(1)>"


def _store(outbox: OutboxStore, subject: str = "Hello", **kwargs: object) -> str:
    message = make_message(subject, **kwargs)  # type: ignore[arg-type]
    entry = outbox.add(
        message.as_bytes(), mail_from="alice@example.com", rcpt_tos=["bob@example.com"]
    )
    return entry.id


def _table_rows(user: User) -> list[dict[str, str]]:
    table = next(iter(user.find(marker="outbox-table").elements))
    assert isinstance(table, ui.table)
    return list(table.rows)


async def test_empty_outbox_says_so(user: User, outbox: OutboxStore) -> None:
    await user.open("/outbox")
    await user.should_see("No captured messages.", marker="outbox-count")
    await user.should_see("The sandbox SMTP server is not running.")
    assert _table_rows(user) == []


async def test_list_shows_envelope_subject_and_size_newest_first(
    user: User, outbox: OutboxStore
) -> None:
    older = _store(outbox, "First")
    newer = _store(outbox, "Second")
    await user.open("/outbox")
    await user.should_see("2 captured message(s)", marker="outbox-count")
    rows = _table_rows(user)
    assert [row["id"] for row in rows] == [newer, older]
    assert rows[0]["subject"] == "Second"
    assert rows[0]["from"] == "alice@example.com"
    assert rows[0]["to"] == "bob@example.com"
    assert rows[0]["size"].endswith(("bytes", "KB"))


async def test_message_view_shows_headers_text_and_attachments(
    user: User, outbox: OutboxStore
) -> None:
    message_id = _store(
        outbox,
        "Invoice 42",
        html="<p>Hi <b>Bob</b></p>",
        attachments=(("invoice.pdf", "application/pdf", b"%PDF-1.4 " + b"x" * 2000),),
    )
    await user.open(f"/outbox/{message_id}")
    await user.should_see("Invoice 42", marker="outbox-subject")
    await user.should_see("alice@example.com", marker="outbox-header-from")
    await user.should_see("bob@example.com", marker="outbox-header-to")
    await user.should_see("<test-1@example.com>", marker="outbox-header-message-id")
    await user.should_see("Sat, 28 Nov 2026", marker="outbox-header-date")
    await user.should_see("from alice@example.com to bob@example.com", marker="outbox-envelope")
    await user.should_see("Hi Bob,", marker="outbox-text")
    await user.should_see("invoice.pdf · application/pdf · 2.0 KB", marker="outbox-attachment")


async def test_html_part_only_inside_a_script_free_sandboxed_iframe(
    user: User, outbox: OutboxStore
) -> None:
    html = '<p onclick="x()">Hi</p><script>alert(1)</script><img src="https://tracker.example/p">'
    message_id = _store(outbox, "Styled", html=html)
    await user.open(f"/outbox/{message_id}")
    frames = list(user.find(marker="outbox-html").elements)
    assert len(frames) == 1
    frame = frames[0]
    assert frame.tag == "iframe"
    assert next(iter(frame.props)) == "sandbox"  # set before srcdoc
    assert frame.props["sandbox"] == ""  # no allow-scripts, no allow-same-origin, nothing
    srcdoc = frame.props["srcdoc"]
    assert srcdoc.startswith('<!DOCTYPE html><meta http-equiv="Content-Security-Policy"')
    assert html in srcdoc
    # nothing from the message is rendered as HTML, Markdown or JavaScript anywhere else
    kinds = (ui.html, ui.markdown, ui.mermaid)
    assert not [e for e in user.client.elements.values() if isinstance(e, kinds)]
    assert [e for e in user.client.elements.values() if e.tag == "iframe"] == [frame]


async def test_hostile_subject_and_addresses_are_plain_text(
    user: User, outbox: OutboxStore
) -> None:
    message = make_message(HOSTILE, sender=f'"{HOSTILE}" <eve@example.com>')
    entry = outbox.add(message.as_bytes(), mail_from="eve@example.com", rcpt_tos=["b@example.com"])
    await user.open("/outbox")
    assert _table_rows(user)[0]["subject"] == HOSTILE  # a table cell: Vue renders it as text
    await user.open(f"/outbox/{entry.id}")
    await user.should_see(HOSTILE, marker="outbox-subject")
    subject = next(iter(user.find(marker="outbox-subject").elements))
    assert isinstance(subject, ui.label)
    sender = next(iter(user.find(marker="outbox-header-from").elements))
    assert isinstance(sender, ui.label)
    assert HOSTILE in sender.text


async def test_missing_or_malformed_message_id_shows_not_found(
    user: User, outbox: OutboxStore
) -> None:
    await user.open("/outbox/0000000000000000001-deadbeef")
    await user.should_see(marker="outbox-missing")
    await user.open("/outbox/..secrets")
    await user.should_see(marker="outbox-missing")


async def test_clear_asks_then_empties_the_outbox(user: User, outbox: OutboxStore) -> None:
    _store(outbox, "One")
    _store(outbox, "Two")
    await user.open("/outbox")
    await user.should_see("2 captured message(s)")
    user.find(marker="outbox-clear").click()
    await user.should_see("Delete every captured message from the Outbox?")
    user.find(marker="outbox-clear-cancel").click()
    assert outbox.count() == 2
    user.find(marker="outbox-clear").click()
    user.find(marker="outbox-clear-confirm").click()
    await user.should_see("No captured messages.", marker="outbox-count")
    assert outbox.count() == 0
    assert _table_rows(user) == []


async def test_message_sent_to_the_sandbox_appears_without_reload(
    user: User, running_sandbox: SandboxServer
) -> None:
    await user.open("/outbox")
    await user.should_see(f"127.0.0.1:{running_sandbox.port}", marker="outbox-sandbox-address")
    message = make_message("Live one")

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", running_sandbox.port, timeout=10) as client:
            client.send_message(message)

    await asyncio.to_thread(send)
    await user.should_see("1 captured message(s)", marker="outbox-count", retries=50)
    assert _table_rows(user)[0]["subject"] == "Live one"


def test_srcdoc_starts_with_a_csp_that_blocks_every_fetch() -> None:
    srcdoc = build_srcdoc('<img src="https://tracker.example/p.gif">')
    head, _, body = srcdoc.partition("<img")
    assert PREVIEW_CSP in head
    assert "default-src 'none'" in PREVIEW_CSP
    assert "script-src" not in PREVIEW_CSP  # falls back to default-src 'none'
    assert body.startswith(' src="https://tracker.example/p.gif"')


def test_inline_cid_images_become_data_urls() -> None:
    message = make_message("Logo", text=None, html='<img src="cid:logo@x">')
    html_part = message.get_body(preferencelist=("html",))
    assert html_part is not None
    html_part.add_related(b"\x89PNG fake", maintype="image", subtype="png", cid="<logo@x>")
    view = parse_message(message.as_bytes())
    assert view.inline_images["logo@x"].startswith("data:image/png;base64,")
    assert 'src="data:image/png;base64,' in build_srcdoc(view.html or "", view.inline_images)
    assert [a.content_type for a in view.attachments] == ["image/png"]


def test_parse_tolerates_garbage() -> None:
    view = parse_message(b"\xff\xfe not really\r\nan email\r\n\r\n\x00\x01")
    assert view.html is None
    assert view.attachments == ()
    view = parse_message(
        b"Subject: =?bogus-charset?q?x?=\r\nContent-Type: text/plain; charset=nope\r\n\r\nbody"
    )
    assert "body" in (view.text or "")


def test_human_size() -> None:
    assert human_size(12) == "12 bytes"
    assert human_size(2048) == "2.0 KB"
    assert human_size(5 * 1024 * 1024) == "5.0 MB"


def test_outbox_screen_module_never_renders_html_elements() -> None:
    source = outbox_screen.__file__
    assert source is not None
    text = Path(source).read_text(encoding="utf-8")
    for forbidden in ("ui.html(", "ui.markdown(", "run_javascript(", "ui.add_head_html"):
        assert forbidden not in text


async def test_leaving_the_outbox_stops_its_live_updates(
    user: User, running_sandbox: SandboxServer
) -> None:
    await user.open("/outbox")
    await user.should_see(marker="outbox-table")
    router = user.client.sub_pages_router
    with user.client:  # what the browser does on a link click: routing inside the same page
        await router._handle_open("/accounts")
        await router._handle_open("/outbox")
    await user.should_see(marker="outbox-table")
    assert len(outbox_changed.callbacks) == 2  # the first table is gone, not its callback
    running_sandbox.store.add(b"Subject: x\r\n\r\n", mail_from="a@x", rcpt_tos=["b@x"])
    outbox_changed.emit()
    await user.should_see("1 captured message(s)", marker="outbox-count", retries=50)
    assert len(outbox_changed.callbacks) == 1  # the stale one unsubscribed itself
