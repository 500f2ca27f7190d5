"""The Compose screen: merge fields, draft saving, preview, pre-flight, attachments."""

from __future__ import annotations

from pathlib import Path

from nicegui import ui
from nicegui.testing import User

from core.models import BodyFormat
from core.recipients import parse_csv, parse_text
from tests.ui.screen import element, set_value, texts, until, upload
from ui.services.state import get_state
from ui.web.attachments import UPLOADS_DIR, remove_stored, safe_filename, store_upload
from ui.web.compose import SAMPLE_TEMPLATE, insert_at, load_template_text, usable_field

HOSTILE = "<img src=x onerror=alert(1)>"


def _use_recipients(csv_text: str) -> None:
    get_state().draft.recipients = parse_csv(csv_text.encode(), source="people.csv")


async def _open(user: User) -> None:
    await user.open("/compose")
    await user.should_see("Compose", marker="screen-title")


async def test_typing_saves_the_template_into_the_draft(user: User) -> None:
    await _open(user)
    user.find(marker="compose-subject").type("Hello")
    user.find(marker="compose-body").type("Dear all")
    set_value(user, "compose-format", "markdown")
    user.find(marker="compose-reply-to").type("help@example.com")
    user.find(marker="compose-unsubscribe-url").type("https://example.com/u")
    template = get_state().draft.template
    assert (template.subject, template.body) == ("Hello", "Dear all")
    assert template.format is BodyFormat.MARKDOWN
    assert template.reply_to == "help@example.com"
    assert template.list_unsubscribe_url == "https://example.com/u"
    await user.open("/recipients")
    await user.open("/compose")
    assert element(user, "compose-subject").value == "Hello"
    assert element(user, "compose-body").value == "Dear all"


async def test_merge_field_chips_insert_at_the_cursor_or_append(user: User) -> None:
    _use_recipients("email,first_name,last name\nann@example.com,Ann,Lee\n")
    await _open(user)
    assert element(user, "compose-field-last-name").enabled is False  # not a usable name
    user.find(marker="compose-body").type("Hello !")
    user.find(marker="compose-body").trigger("blur", {"start": 6, "end": 6})
    user.find(marker="compose-field-first-name").click()
    assert element(user, "compose-body").value == "Hello {{ first_name }}!"
    user.find(marker="compose-subject").type("For")
    user.find(marker="compose-subject").trigger("blur", {"start": None, "end": None})
    user.find(marker="compose-field-email").click()
    assert element(user, "compose-subject").value == "For {{ email }}"
    assert get_state().draft.template.subject == "For {{ email }}"


async def test_preflight_names_the_missing_field_once_with_the_lists_columns(user: User) -> None:
    _use_recipients("email,first_name,compnay\nann@example.com,Ann,A\nbob@example.org,Bob,B\n")
    await _open(user)
    user.find(marker="compose-subject").type("Hi {{ first_name }}")
    user.find(marker="compose-body").type("Your company: {{ company }}")
    await user.should_see("2 of 2 recipient(s) have problems", retries=50)
    missing = texts(user, "compose-preflight-missing")
    assert missing == [
        "merge field `company` (used in body) is not a column of the list; its columns are "
        "email, first_name, compnay; did you mean `compnay`?"
    ]
    await user.should_not_see(marker="compose-preflight-issue")
    await user.should_not_see("more of the same kinds")
    await user.should_see("company", marker="compose-preview-error")


async def test_preflight_reports_syntax_errors_with_the_template_line(user: User) -> None:
    await _open(user)
    user.find(marker="compose-subject").type("Hi")
    user.find(marker="compose-body").type("Line one\nLine two {{ name \n")
    await user.should_see(marker="compose-preflight-syntax", retries=50)
    assert "template line 2" in texts(user, "compose-preflight-syntax")[0]


async def test_preview_steps_through_recipients_and_shows_headers(user: User) -> None:
    _use_recipients(
        f"email,name\nann@example.com,Ann\nbob@example.org,{HOSTILE}\ncid@example.net,Cid\n"
    )
    await _open(user)
    user.find(marker="compose-subject").type("Hello {{ name }}")
    user.find(marker="compose-body").type("Hi {{ name }}")
    await user.should_see("Recipient 1 of 3, line 2", retries=50)
    await user.should_see("Hello Ann", marker="compose-preview-subject", retries=50)
    await user.should_see("ann@example.com", marker="compose-preview-to")
    await user.should_see("you@sandbox.local", marker="compose-preview-from")
    assert not element(user, "compose-preview-html").visible  # plain text: no HTML part
    user.find(marker="compose-preview-next").click()
    await user.should_see("Recipient 2 of 3", retries=50)
    await user.should_see(f"Hello {HOSTILE}", marker="compose-preview-subject", retries=50)
    await user.should_see(f"Hi {HOSTILE}", marker="compose-preview-text")
    user.find(marker="compose-preview-next").click()
    await user.should_see("Recipient 3 of 3", retries=50)
    assert element(user, "compose-preview-next").enabled is False
    user.find(marker="compose-preview-prev").click()
    await user.should_see("Recipient 2 of 3", retries=50)


async def test_html_is_only_rendered_inside_the_sandboxed_iframe(user: User) -> None:
    _use_recipients(f"email,name\nann@example.com,{HOSTILE}\n")
    await _open(user)
    set_value(user, "compose-format", "html")
    assert element(user, "compose-text-alternative").visible is not None
    user.find(marker="compose-subject").type("Hi")
    user.find(marker="compose-body").type("<p>Hello {{ name }}</p><script>alert(2)</script>")
    await until(lambda: bool(element(user, "compose-preview-html").props.get("srcdoc")))
    frame = element(user, "compose-preview-html")
    assert frame.tag == "iframe"
    assert next(iter(frame.props)) == "sandbox" and frame.props["sandbox"] == ""
    srcdoc = frame.props["srcdoc"]
    assert srcdoc.startswith('<!DOCTYPE html><meta http-equiv="Content-Security-Policy"')
    assert "&lt;img src=x onerror=alert(1)&gt;" in srcdoc  # merge values are escaped
    kinds = (ui.html, ui.markdown)
    assert not [e for e in user.client.elements.values() if isinstance(e, kinds)]


async def test_sample_template_with_sample_recipients_is_ready(user: User) -> None:
    from ui.web.recipient_import import import_loaded, load_sample

    get_state().draft.recipients = import_loaded(load_sample()).report
    await _open(user)
    user.find("Load the sample template").click()
    await user.should_see("Ready: 10 message(s), no problems found.", retries=80)
    template = get_state().draft.template
    assert template.format is BodyFormat.MARKDOWN
    assert element(user, "compose-subject").value == template.subject
    await user.should_see("Ann", marker="compose-preview-subject")
    await user.should_see("Largest message", marker="compose-preflight-size")
    assert "Ann" in element(user, "compose-preview-html").props["srcdoc"]


async def test_preflight_counts_recipients_that_need_smtputf8(user: User) -> None:
    _use_recipients("email\nann@example.com\njosé@example.com\n")
    await _open(user)
    user.find(marker="compose-subject").type("Hi")
    await user.should_see("1 recipient(s) need", marker="compose-preflight-smtputf8", retries=80)
    await user.should_see("josé@example.com", marker="compose-preflight-smtputf8")


async def test_shared_attachment_upload_is_stored_under_a_generated_folder(
    user: User,
) -> None:
    _use_recipients("email\nann@example.com\n")
    await _open(user)
    user.find(marker="compose-subject").type("Files")
    user.find(marker="compose-body").type("See the file.")  # an empty body is a problem
    await upload(user, "compose-attachments-upload", "../../evil name?.pdf", b"%PDF-1.4", "x")
    await user.should_see("evil name?.pdf", marker="compose-attachment", retries=50)
    draft = get_state().draft
    (relative,) = draft.template.attachments
    parts = Path(relative).parts
    assert parts[0] == UPLOADS_DIR and parts[2] == "evil name_.pdf"
    stored = draft.base_dir() / relative
    assert stored.read_bytes() == b"%PDF-1.4"
    assert stored.resolve().is_relative_to(draft.base_dir().resolve())
    await user.should_see("Ready: 1 message(s)", retries=80)
    await user.should_see("Attached: evil name?.pdf", marker="compose-preview-attachment")
    user.find(marker="compose-attachment-remove").click()
    assert draft.template.attachments == ()
    assert not stored.exists()


async def test_per_recipient_attachment_pattern_reports_missing_files(user: User) -> None:
    _use_recipients("email,id\nann@example.com,7\nbob@example.org,8\n")
    folder = get_state().draft.base_dir() / "invoices"
    folder.mkdir()
    (folder / "7.pdf").write_bytes(b"%PDF")
    await _open(user)
    user.find(marker="compose-subject").type("Invoice")
    user.find(marker="compose-recipient-attachment").type("invoices/{{ id }}.pdf")
    await user.should_see(marker="compose-preflight-attachment", retries=80)
    (problem,) = texts(user, "compose-preflight-attachment")
    assert "line 3, bob@example.org" in problem and "8.pdf" in problem
    assert get_state().draft.template.recipient_attachment == "invoices/{{ id }}.pdf"


def test_helpers() -> None:
    assert insert_at("Hello !", "X", 6, 6) == ("Hello X!", 7)
    assert insert_at("Hello world", "X", 6, 11) == ("Hello X", 7)
    assert insert_at("Hello", "X", None, None) == ("Hello X", 7)
    assert insert_at("", "X", 99, 99) == ("X", 1)
    assert usable_field("first_name") and not usable_field("first name")
    assert not usable_field("for") and not usable_field("true")
    sample = load_template_text(SAMPLE_TEMPLATE.read_text(encoding="utf-8"), source="s.md")
    assert sample.format is BodyFormat.MARKDOWN and "{{ first_name }}" in sample.body
    own = load_template_text("SUBJECT: Hi\n\nBody {{ x }}\n", source="t.txt")
    assert (own.subject, own.format) == ("Hi", BodyFormat.TEXT)
    assert safe_filename("../../a/b\\c:d*.pdf") == "c_d_.pdf"
    assert safe_filename("...") == "attachment"


def test_store_and_remove_stay_inside_the_folder(tmp_path: Path) -> None:
    relative = store_upload(tmp_path, "/etc/passwd", b"x")
    assert relative.startswith(f"{UPLOADS_DIR}/") and relative.endswith("/passwd")
    assert (tmp_path / relative).read_bytes() == b"x"
    outside = tmp_path.parent / "keep.txt"
    outside.write_text("keep")
    remove_stored(tmp_path, "../keep.txt")
    remove_stored(tmp_path, f"{UPLOADS_DIR}/../../keep.txt")
    assert outside.exists()
    remove_stored(tmp_path, relative)
    assert not (tmp_path / relative).exists()
    assert parse_text("a@example.com").recipients  # imported helpers stay in use


def test_screen_modules_never_render_data_as_html_or_script() -> None:
    import ui

    folder = Path(ui.__file__).parent / "web"
    mine = [
        "accounts.py",
        "account_form.py",
        "credentials.py",
        "recipients.py",
        "recipient_import.py",
        "compose.py",
        "compose_preview.py",
        "attachments.py",
        "widgets.py",
    ]
    for name in mine:
        text = (folder / name).read_text(encoding="utf-8")
        for forbidden in ("ui.html(", "ui.markdown(", "run_javascript(", "add_head_html", "v-html"):
            assert forbidden not in text, (name, forbidden)
