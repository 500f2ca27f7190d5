"""Reading mailmerge's template files unchanged, and sending what they describe."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage, MIMEPart
from pathlib import Path
from types import MappingProxyType

import pytest

from core.errors import InputError
from core.mailmerge import load_mailmerge, parse_mailmerge
from core.message import MessageBuilder
from core.models import Account, BodyFormat, Recipient

README_EXAMPLE = """TO: {{email}}
SUBJECT: Testing mailmerge
FROM: My Self <myself@mydomain.com>

Hi, {{name}},

Your number is {{number}}.
"""

ACCOUNT = Account(host="smtp.example.com", port=587, sender="account@example.com")


def row(email: str = "bob@bobdomain.com", **fields: str) -> Recipient:
    values = {"email": email, "name": "Bob", "number": "42", **fields}
    return Recipient(email=email, fields=MappingProxyType(values), line=3)


def build(text: str, base_dir: Path, recipient: Recipient | None = None) -> EmailMessage:
    parsed = parse_mailmerge(text)
    account = Account(host="smtp.example.com", port=587, sender=parsed.sender or ACCOUNT.sender)
    maker = MessageBuilder(account, parsed.template, "mm", base_dir=base_dir)
    built = maker.build(recipient or row())
    message = email.message_from_bytes(built.payload, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(part: MIMEPart) -> str:
    value = part.get_content()
    assert isinstance(value, str)
    return value.replace("\r\n", "\n")


def test_readme_example_parses_into_a_template() -> None:
    parsed = parse_mailmerge(README_EXAMPLE)
    template = parsed.template
    assert template.to == "{{email}}"
    assert template.subject == "Testing mailmerge"
    assert template.body == "Hi, {{name}},\n\nYour number is {{number}}.\n"
    assert template.format is BodyFormat.TEXT
    assert parsed.sender == "myself@mydomain.com"
    assert parsed.sender_name == "My Self"
    assert template.from_name == "My Self"
    assert parsed.ignored_headers == ()


def test_readme_example_builds_the_message_mailmerge_would(tmp_path: Path) -> None:
    message = build(README_EXAMPLE, tmp_path)
    assert message["To"] == "bob@bobdomain.com"
    assert message["From"] == "My Self <myself@mydomain.com>"
    assert message["Subject"] == "Testing mailmerge"
    assert text_of(message) == "Hi, Bob,\n\nYour number is 42.\n"


def test_markdown_variant_sends_text_and_html(tmp_path: Path) -> None:
    text = """TO: {{email}}
SUBJECT: Testing mailmerge
FROM: Bob <bob@bobdomain.com>
CONTENT-TYPE: text/markdown

Hi, **{{name}}**,

- Emphasis with *asterisks*.
- Your number is `{{number}}`.
"""
    parsed = parse_mailmerge(text)
    assert parsed.template.format is BodyFormat.MARKDOWN
    message = build(text, tmp_path)
    plain, html = message.iter_parts()
    assert text_of(plain).startswith("Hi, **Bob**,")
    assert "<strong>Bob</strong>" in text_of(html)
    assert "<code>42</code>" in text_of(html)


def test_attachment_variant_sends_shared_and_per_recipient_files(tmp_path: Path) -> None:
    (tmp_path / "attachment_1.txt").write_text("shared one\n")
    (tmp_path / "attachment_42.txt").write_text("for number 42\n")
    template_file = tmp_path / "mailmerge_template.txt"
    template_file.write_text(
        """TO: {{email}}
SUBJECT: Testing mailmerge
FROM: My Self <myself@mydomain.com>
ATTACHMENT: attachment_1.txt
ATTACHMENT: attachment_{{number}}.txt

Hi, {{name}},

Your number is {{number}}.
"""
    )
    loaded = load_mailmerge(template_file)
    assert loaded.template.attachments == ("attachment_1.txt",)
    assert loaded.template.recipient_attachment == "attachment_{{number}}.txt"
    assert loaded.base_dir == tmp_path.resolve()
    assert loaded.base_dir is not None
    maker = MessageBuilder(ACCOUNT, loaded.template, "mm", base_dir=loaded.base_dir)
    message = email.message_from_bytes(maker.build(row()).payload, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    body, *files = message.iter_parts()
    assert text_of(body) == "Hi, Bob,\n\nYour number is 42.\n"
    assert [(f.get_filename(), text_of(f)) for f in files] == [
        ("attachment_1.txt", "shared one\n"),
        ("attachment_42.txt", "for number 42\n"),
    ]


def test_html_variant(tmp_path: Path) -> None:
    text = """TO: {{email}}
SUBJECT: Testing mailmerge
FROM: My Self <myself@mydomain.com>
Content-Type: text/html

<html><body><p>Hi, {{name}},</p></body></html>
"""
    assert parse_mailmerge(text).template.format is BodyFormat.HTML
    message = build(text, tmp_path, row(name="<b>Bob</b>"))
    assert message.get_content_type() == "text/html"
    assert "<p>Hi, &lt;b&gt;Bob&lt;/b&gt;,</p>" in text_of(message)


def test_multipart_alternative_variant(tmp_path: Path) -> None:
    text = """TO: {{email}}
SUBJECT: Testing mailmerge
FROM: My Self <myself@mydomain.com>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="boundary"

This is a MIME-encoded message. If you are seeing this, your mail
reader is old.

--boundary
Content-Type: text/plain; charset=us-ascii

Hi, {{name}},

Your number is {{number}}.

--boundary
Content-Type: text/html; charset=us-ascii

<html>
<body>
<p>Hi, {{name}},</p>
<p>Your number is {{number}}.</p>
</body>
</html>
"""
    parsed = parse_mailmerge(text)
    assert parsed.template.format is BodyFormat.HTML
    assert parsed.template.text_alternative == "Hi, {{name}},\n\nYour number is {{number}}.\n"
    assert parsed.ignored_headers == ()  # MIME-Version is understood, not passed on
    message = build(text, tmp_path)
    plain, html = message.iter_parts()
    assert text_of(plain) == "Hi, Bob,\n\nYour number is 42.\n"
    assert "<p>Your number is 42.</p>" in text_of(html)


def test_cc_bcc_reply_to_and_header_case(tmp_path: Path) -> None:
    text = """to: {{email}}
Subject: Hello
From: My Self <myself@mydomain.com>
CC: My Colleague <mycolleague@mydomain.com>
BCC: Secret <secret@mydomain.com>
Reply-To: help@mydomain.com
X-Custom: kept out

Body
"""
    parsed = parse_mailmerge(text)
    assert parsed.template.cc == ("My Colleague <mycolleague@mydomain.com>",)
    assert parsed.template.bcc == ("Secret <secret@mydomain.com>",)
    assert parsed.template.reply_to == "help@mydomain.com"
    assert parsed.ignored_headers == ("x-custom",)
    maker = MessageBuilder(ACCOUNT, parsed.template, "mm", base_dir=tmp_path)
    built = maker.build(row())
    assert built.envelope_recipients == (
        "bob@bobdomain.com",
        "mycolleague@mydomain.com",
        "secret@mydomain.com",
    )
    assert b"secret" not in built.payload.lower()


def test_folded_header_lines_are_joined() -> None:
    parsed = parse_mailmerge("TO: {{email}}\nSUBJECT: A long\n  subject\n\nbody\n")
    assert parsed.template.subject == "A long subject"


def test_load_accepts_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(b"\xef\xbb\xbfTO: {{email}}\r\nSUBJECT: Hi\r\n\r\nHello\r\n")
    loaded = load_mailmerge(path)
    assert loaded.template.subject == "Hi"
    assert loaded.template.body == "Hello\n"
    assert loaded.sender is None
    assert loaded.template.from_name is None


def test_load_reports_non_utf8_with_line(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(b"TO: {{email}}\nSUBJECT: Hi\n\nGr\xfc\xdfe\n")
    with pytest.raises(InputError) as caught:
        load_mailmerge(path)
    assert caught.value.line == 4


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("TO: {{email}}\n\nno subject\n", 1),
        ("TO: {{email}}\nSUBJECT: a\nSUBJECT: b\n\nbody\n", 3),
        ("TO: {{email}}\nSUBJECT: a\nFROM: {{sender}}\n\nbody\n", 3),
        ("TO: {{email}}\nSUBJECT: a\nFROM: not an address\n\nbody\n", 3),
        ("TO: {{email}}\nSUBJECT: a\nthis is not a header\n\nbody\n", 3),
        ("TO: {{email}}\nSUBJECT: a\nATTACHMENT:\n\nbody\n", 3),
        ("TO: x\nSUBJECT: a\nATTACHMENT: {{a}}\nATTACHMENT: {{b}}\n\nbody\n", 4),
        ("TO: x\nSUBJECT: a\nContent-Type: application/pdf\n\nbody\n", 3),
        ("TO: x\nSUBJECT: a\nContent-Type: multipart/alternative\n\nno parts\n", 3),
    ],
)
def test_bad_templates_say_what_and_where(text: str, line: int) -> None:
    with pytest.raises(InputError) as caught:
        parse_mailmerge(text, source="mailmerge_template.txt")
    assert caught.value.line == line
    assert "mailmerge_template.txt" in str(caught.value)
