"""Merging recipients into templates, and the pre-flight report over a whole campaign."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType

import pytest
from jinja2.sandbox import SandboxedEnvironment

from core.errors import InputError
from core.models import Account, BodyFormat, Recipient, Template
from core.templating import (
    CompiledTemplate,
    IssueKind,
    MergeError,
    compile_errors,
    markdown_to_html_template,
    preflight,
    render_context,
    resolve_attachment,
)

XSS = "<img src=x onerror=alert(1)>"
ASSETS = Path(__file__).resolve().parents[2] / "assets"


def person(email: str = "jane@example.com", line: int = 2, **fields: str) -> Recipient:
    values = {"first_name": "Jane", "company": "ACME", "city": "Zürich", **fields}
    return Recipient(email=email, fields=MappingProxyType(values), line=line, source="list.csv")


# -- rendering -------------------------------------------------------------------------------


def test_render_merges_fields_into_subject_and_text() -> None:
    compiled = CompiledTemplate(
        Template(subject="Hi {{ first_name }}", body="Dear {{ first_name }} of {{ company }}\n")
    )
    rendered = compiled.render(person())
    assert rendered.subject == "Hi Jane"
    assert rendered.text == "Dear Jane of ACME\n"
    assert rendered.html is None
    assert rendered.to is None


def test_html_body_escapes_merge_values_but_subject_and_text_do_not() -> None:
    compiled = CompiledTemplate(
        Template(
            subject="For {{ company }}",
            body="<p>Hello {{ company }}</p>",
            format=BodyFormat.HTML,
            text_alternative="Hello {{ company }}",
        )
    )
    rendered = compiled.render(person(company=XSS))
    assert rendered.html == "<p>Hello &lt;img src=x onerror=alert(1)&gt;</p>"
    assert rendered.text == f"Hello {XSS}"
    assert rendered.subject == f"For {XSS}"


def test_markdown_renders_html_with_escaped_values_and_keeps_source_as_plain_part() -> None:
    body = (
        "# Hello {{ first_name }}\n\nYou work at **{{ company }}**.\n\n"
        "[Unsubscribe](https://x.test/u?e={{ email }})\n"
    )
    compiled = CompiledTemplate(Template(subject="s", body=body, format=BodyFormat.MARKDOWN))
    rendered = compiled.render(person(company=XSS, first_name="*not emphasis*"))
    assert rendered.html is not None and rendered.text is not None
    assert "<h1>Hello *not emphasis*</h1>" in rendered.html
    assert "<strong>&lt;img src=x onerror=alert(1)&gt;</strong>" in rendered.html
    assert '<a href="https://x.test/u?e=jane@example.com">Unsubscribe</a>' in rendered.html
    assert "<img" not in rendered.html
    assert rendered.text.startswith("# Hello *not emphasis*\n")  # the Markdown source itself
    assert f"**{XSS}**" in rendered.text


def test_markdown_keeps_block_tags_working() -> None:
    body = (
        "Hi {{ first_name }}\n\n{% if company == 'ACME' %}\nYou are a customer.\n{% endif %}\n\nBye"
    )
    compiled = CompiledTemplate(Template(subject="s", body=body, format=BodyFormat.MARKDOWN))
    html_acme = compiled.render(person()).html or ""
    html_other = compiled.render(person(company="Other")).html or ""
    assert "You are a customer." in html_acme
    assert "You are a customer." not in html_other
    assert "{%" not in html_acme


def test_markdown_conversion_leaves_placeholders_nowhere() -> None:
    html = markdown_to_html_template("A {{ a }} *b* {% if x %}c{% endif %} `{{ code }}`\n")
    assert "{{ a }}" in html and "{% if x %}" in html and "{{ code }}" in html
    assert "jinjaslot" not in html
    assert html.startswith("<!DOCTYPE html>")


def test_each_template_compiles_once_per_campaign(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    original = SandboxedEnvironment.from_string

    def counting(self: SandboxedEnvironment, *args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(SandboxedEnvironment, "from_string", counting)
    compiled = CompiledTemplate(
        Template(subject="Hi {{ first_name }}", body="**{{ city }}**", format=BodyFormat.MARKDOWN)
    )
    after_compile = calls
    for n in range(50):
        compiled.render(person(email=f"p{n}@example.com"))
    assert after_compile == 3  # subject, Markdown source, HTML from the Markdown
    assert calls == after_compile


def test_static_parts_are_not_compiled_at_all() -> None:
    compiled = CompiledTemplate(Template(subject="Plain subject", body="No fields here."))
    assert compiled.subject.template is None
    assert compiled.render(person()).subject == "Plain subject"


def test_missing_field_names_field_line_and_email() -> None:
    compiled = CompiledTemplate(Template(subject="Hi", body="Line one\nHi {{ nickname }}\n"))
    with pytest.raises(MergeError) as caught:
        compiled.render(person(line=7))
    error = caught.value
    assert isinstance(error, InputError)
    assert error.kind is IssueKind.MISSING_FIELD
    assert error.fields == ("nickname",)
    assert error.line == 7
    assert error.email == "jane@example.com"
    assert error.template_line == 2
    assert "nickname" in str(error) and "line 7" in str(error)


def test_collect_mode_lists_every_missing_field_once() -> None:
    compiled = CompiledTemplate(
        Template(subject="{{ a }}", body="{{ a }} {{ b }}", format=BodyFormat.MARKDOWN)
    )
    problems: list[MergeError] = []
    assert compiled.render_collect(person(), problems) is None
    assert len(problems) == 1
    assert problems[0].fields == ("a", "b")


def test_syntax_errors_report_part_and_template_line() -> None:
    with pytest.raises(MergeError) as caught:
        CompiledTemplate(Template(subject="Hi {{ name", body="ok\nstill ok\n{% if %}\n"))
    errors = compile_errors(caught.value)
    assert [(e.part, e.template_line, e.kind) for e in errors] == [
        ("subject", 1, IssueKind.SYNTAX_ERROR),
        ("body", 3, IssueKind.SYNTAX_ERROR),
    ]


def test_sandbox_refuses_unsafe_attribute_access() -> None:
    compiled = CompiledTemplate(Template(subject="x", body="{{ email.__class__.__mro__ }}"))
    with pytest.raises(MergeError) as caught:
        compiled.render(person())
    assert caught.value.kind is IssueKind.RENDER_ERROR


@pytest.mark.parametrize("value", ["Jane\r\nBcc: evil@x.test", "Jane\nX: y", "Jane\rX", "Ja\x00ne"])
def test_header_value_with_line_break_or_nul_is_refused(value: str) -> None:
    compiled = CompiledTemplate(Template(subject="Hi {{ first_name }}", body="body"))
    with pytest.raises(MergeError) as caught:
        compiled.render(person(first_name=value))
    assert caught.value.kind is IssueKind.HEADER_INJECTION
    assert caught.value.part == "subject"


def test_header_template_must_be_one_line() -> None:
    with pytest.raises(MergeError) as caught:
        CompiledTemplate(Template(subject="Hi\nthere", body="b"))
    assert caught.value.kind is IssueKind.SYNTAX_ERROR


def test_context_adds_email_and_name_without_overriding_fields() -> None:
    recipient = Recipient(email="a@x.test", name="Ann", fields=MappingProxyType({"name": "Field"}))
    assert render_context(recipient) == {"email": "a@x.test", "name": "Field"}
    assert render_context(Recipient(email="b@x.test")) == {"email": "b@x.test"}


# -- attachment paths ------------------------------------------------------------------------


def test_per_recipient_path_resolves_inside_base_dir(tmp_path: Path) -> None:
    (tmp_path / "inv").mkdir()
    assert resolve_attachment(tmp_path, "inv/1.pdf", from_data=True) == (
        tmp_path.resolve() / "inv" / "1.pdf"
    )


@pytest.mark.parametrize(
    "value", ["/etc/passwd", "../secret.txt", "inv/../../secret", "~/x", "\\\\server\\share\\x"]
)
def test_per_recipient_path_may_not_leave_base_dir(tmp_path: Path, value: str) -> None:
    with pytest.raises(MergeError) as caught:
        resolve_attachment(tmp_path, value, from_data=True)
    assert caught.value.kind is IssueKind.UNSAFE_PATH


def test_per_recipient_path_through_symlink_out_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    base = tmp_path / "base"
    base.mkdir()
    os.symlink(outside, base / "link")
    with pytest.raises(MergeError) as caught:
        resolve_attachment(base, "link/file.pdf", from_data=True)
    assert caught.value.kind is IssueKind.UNSAFE_PATH


def test_author_paths_may_be_absolute_or_relative(tmp_path: Path) -> None:
    assert resolve_attachment(tmp_path, "/srv/a.pdf", from_data=False) == Path("/srv/a.pdf")
    assert resolve_attachment(tmp_path, "a.pdf", from_data=False) == tmp_path / "a.pdf"


# -- pre-flight ------------------------------------------------------------------------------


def test_preflight_of_good_campaign_is_ok(tmp_path: Path) -> None:
    template = Template(subject="Hi {{ first_name }}", body="Hello {{ city }}")
    report = preflight(
        template,
        [person(), person(email="b@example.com", line=3)],
        base_dir=tmp_path,
        max_attachment_bytes=10_000,
    )
    assert report.ok
    assert report.recipients == 2
    assert report.recipients_with_errors == 0
    assert 0 < report.largest_message_bytes < 10_000
    assert report.largest_message_email in {"jane@example.com", "b@example.com"}


def test_preflight_reports_missing_fields_with_line_and_email(tmp_path: Path) -> None:
    template = Template(subject="Hi {{ first_name }}", body="{{ coupon }} in {{ city }}")
    recipients = [
        person(line=2, coupon="A1"),
        Recipient(email="x@example.com", fields=MappingProxyType({"city": "Oslo"}), line=3),
        Recipient(email="y@example.com", fields=MappingProxyType({}), line=4),
    ]
    report = preflight(template, recipients, base_dir=tmp_path, max_attachment_bytes=10**6)
    assert not report.ok
    assert report.recipients_with_errors == 2
    assert dict(report.missing_fields) == {"first_name": 2, "coupon": 2, "city": 1}
    issues = report.of_kind(IssueKind.MISSING_FIELD)
    assert [(i.line, i.email) for i in issues] == [(3, "x@example.com"), (4, "y@example.com")]
    assert set(issues[1].fields) == {"first_name", "coupon", "city"}


def test_preflight_reports_syntax_errors_with_template_line(tmp_path: Path) -> None:
    template = Template(subject="ok", body="line 1\n{{ broken \n")
    report = preflight(template, [person()], base_dir=tmp_path, max_attachment_bytes=10**6)
    [issue] = report.of_kind(IssueKind.SYNTAX_ERROR)
    assert issue.part == "body"
    assert issue.template_line is not None and issue.template_line >= 2
    assert report.recipients == 1


def test_preflight_reports_attachment_problems(tmp_path: Path) -> None:
    (tmp_path / "shared.pdf").write_bytes(b"%PDF shared")
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "1.pdf").write_bytes(b"%PDF one")
    template = Template(
        subject="s",
        body="b",
        attachments=("shared.pdf", "gone.pdf"),
        recipient_attachment="inv/{{ invoice }}.pdf",
    )
    recipients = [
        person(line=2, invoice="1"),
        person(email="b@example.com", line=3, invoice="2"),
        person(email="c@example.com", line=4, invoice="../../etc/passwd"),
    ]
    report = preflight(template, recipients, base_dir=tmp_path, max_attachment_bytes=10**6)
    missing = report.of_kind(IssueKind.MISSING_ATTACHMENT)
    assert missing[0].path is not None and missing[0].path.endswith("gone.pdf")
    assert missing[0].line is None  # shared: not about one recipient
    assert (missing[1].line, missing[1].email) == (3, "b@example.com")
    [unsafe] = report.of_kind(IssueKind.UNSAFE_PATH)
    assert (unsafe.line, unsafe.email) == (4, "c@example.com")
    assert report.recipients_with_errors == 3  # a missing shared file fails everyone


def test_preflight_compares_largest_message_with_the_limit(tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(b"\0" * 30_000)
    (tmp_path / "small.bin").write_bytes(b"\0" * 3_000)
    template = Template(subject="s", body="b", recipient_attachment="{{ file }}")
    recipients = [
        person(line=2, file="big.bin"),
        person(email="small@example.com", line=3, file="small.bin"),
    ]
    report = preflight(template, recipients, base_dir=tmp_path, max_attachment_bytes=20_000)
    assert report.largest_message_bytes > 40_000  # base64 grows 30 kB to 40 kB
    assert report.largest_message_line == 2
    [issue] = report.of_kind(IssueKind.TOO_LARGE)
    assert (issue.line, issue.email) == (2, "jane@example.com")


def test_preflight_counts_smtputf8_recipients_and_header_injection(tmp_path: Path) -> None:
    template = Template(subject="Hi {{ first_name }}", body="b")
    recipients = [
        Recipient(
            email="jöran@example.com",
            fields=MappingProxyType({"first_name": "Jöran"}),
            line=2,
            needs_smtputf8=True,
        ),
        person(email="evil@example.com", line=3, first_name="x\r\nBcc: all@example.com"),
    ]
    report = preflight(template, recipients, base_dir=tmp_path, max_attachment_bytes=10**6)
    assert report.smtputf8_recipients == 1
    assert report.smtputf8_examples == ("jöran@example.com",)
    [issue] = report.of_kind(IssueKind.HEADER_INJECTION)
    assert (issue.line, issue.email, issue.part) == (3, "evil@example.com", "subject")


def test_preflight_reports_invalid_rendered_addresses(tmp_path: Path) -> None:
    template = Template(subject="s", body="b", cc=("{{ boss }}",))
    recipients = [person(boss="boss@example.com"), person(email="b@example.com", boss="nope")]
    report = preflight(template, recipients, base_dir=tmp_path, max_attachment_bytes=10**6)
    [issue] = report.of_kind(IssueKind.INVALID_ADDRESS)
    assert issue.email == "b@example.com"


def _many(count: int) -> Iterator[Recipient]:
    for n in range(count):
        fields = {"first_name": f"P{n}"} if n % 2 else {}  # every other row lacks the field
        yield Recipient(email=f"p{n}@example.com", fields=MappingProxyType(fields), line=n + 2)


@pytest.mark.slow
def test_preflight_streams_100k_recipients_keeping_only_capped_examples(tmp_path: Path) -> None:
    template = Template(subject="Hi {{ first_name }}", body="Hello {{ first_name }}!")
    report = preflight(template, _many(100_000), base_dir=tmp_path, max_attachment_bytes=10**6)
    assert report.recipients == 100_000
    assert report.recipients_with_errors == 50_000
    assert report.issue_counts[IssueKind.MISSING_FIELD] == 50_000
    assert dict(report.missing_fields) == {"first_name": 50_000}
    assert len(report.issues) == report.max_examples
    assert report.issues[-1].line == 2 * report.max_examples  # the first ones, in order


def _peak_bytes(count: int, base_dir: Path) -> int:
    template = Template(subject="Hi {{ first_name }}", body="Hello {{ first_name }}!")
    tracemalloc.start()
    try:
        preflight(template, _many(count), base_dir=base_dir, max_attachment_bytes=10**6)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_preflight_memory_does_not_grow_with_recipients(tmp_path: Path) -> None:
    _peak_bytes(100, tmp_path)  # imports and first-use caches out of the way
    small = _peak_bytes(1_000, tmp_path)
    large = _peak_bytes(10_000, tmp_path)
    # Keeping anything per recipient would cost hundreds of bytes each; a flat peak costs ~0.
    assert (large - small) / 9_000 < 64


def test_sample_template_asset_renders_with_its_fields() -> None:
    from core.mailmerge import load_mailmerge

    sample = load_mailmerge(ASSETS / "sample-template.md").template
    assert sample.format is BodyFormat.MARKDOWN
    compiled = CompiledTemplate(sample)
    assert compiled.fields <= {"email", "first_name", "last_name", "company", "city"}
    rendered = compiled.render(person(last_name="Doe"))
    assert rendered.html is not None and "Jane" in rendered.html and "ACME" in rendered.html


def test_preflight_uses_the_given_account_for_size(tmp_path: Path) -> None:
    template = Template(subject="s", body="b")
    account = Account(host="h", port=587, sender="a-much-longer-sender-name@example.org")
    short = preflight(template, [person()], base_dir=tmp_path, max_attachment_bytes=10**6)
    longer = preflight(
        template, [person()], base_dir=tmp_path, max_attachment_bytes=10**6, account=account
    )
    assert longer.largest_message_bytes > short.largest_message_bytes
