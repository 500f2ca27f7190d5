"""Merging recipients into templates: strict sandbox, escaping, Markdown, merge-field errors."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest
from jinja2.sandbox import SandboxedEnvironment

from core.errors import InputError, IssueKind, MergeError
from core.models import BodyFormat, Recipient, Template
from core.templating import (
    CompiledTemplate,
    compile_errors,
    markdown_to_html_template,
    render_context,
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


def test_sample_template_asset_renders_with_its_fields() -> None:
    from core.mailmerge import load_mailmerge

    sample = load_mailmerge(ASSETS / "sample-template.md").template
    assert sample.format is BodyFormat.MARKDOWN
    compiled = CompiledTemplate(sample)
    assert compiled.fields <= {"email", "first_name", "last_name", "company", "city"}
    rendered = compiled.render(person(last_name="Doe"))
    assert rendered.html is not None and "Jane" in rendered.html and "ACME" in rendered.html


def test_the_environment_globals_work_from_a_plain_dict() -> None:
    """Each part's globals are one plain dict (Jinja2's ChainMap cost a third of a render),
    and what the environment offers (range, namespace, cycler) still renders."""
    compiled = CompiledTemplate(
        Template(
            subject="{{ first_name }}",
            body=(
                "{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}"
                "{% endfor %}{{ ns.n }} {% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}"
                " {{ company }}\n"
            ),
        )
    )
    for part in (compiled.subject, compiled.text):
        assert part is not None and part.template is not None
        assert type(part.template.globals) is dict
        assert {"range", "namespace", "cycler"} <= part.template.globals.keys()
    assert compiled.render(person()).text == "3 ab ACME\n"
    assert compiled.render(person(company="Initech")).text == "3 ab Initech\n"
