"""Building message bytes: headers, MIME layout, encodings, the fast path and header safety."""

from __future__ import annotations

import email
import email.policy
import hashlib
import os
import re
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.errors import InputError, IssueKind, MergeError
from core.headers import MAX_LINE_OCTETS, fold_header, parse_address_list
from core.message import BuiltMessage, MessageBuilder, message_id_for
from core.models import Account, BodyFormat, Credentials, Recipient, Security, Template
from core.transport import SMTPTransport
from tests.conftest import account_for
from tests.smtpd import ServerHandle

ACCOUNT = Account(host="smtp.example.com", port=587, sender="news@example.com", sender_name="News")
NOW = 1_700_000_000.0
HYPOTHESIS = settings(  # HYPOTHESIS_EXAMPLES=5000 for a deeper local run
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def clock() -> float:
    return NOW


def builder(template: Template, tmp_path: Path, **kwargs: Any) -> MessageBuilder:
    return MessageBuilder(ACCOUNT, template, "campaign-1", base_dir=tmp_path, clock=clock, **kwargs)


def person(email: str = "jane@example.com", name: str = "Jane Doe", **fields: str) -> Recipient:
    values = {"first_name": "Jane", "company": "ACME", **fields}
    return Recipient(email=email, name=name, fields=MappingProxyType(values), line=2)


def parse(payload: bytes) -> EmailMessage:
    message = email.message_from_bytes(payload, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def content(part: MIMEPart) -> Any:
    """A part's decoded content, with CRLF line endings read as LF (str parts)."""
    value = part.get_content()
    return value.replace("\r\n", "\n") if isinstance(value, str) else value


def assert_sendable(payload: bytes) -> None:
    """CRLF only, no line over 998 octets."""
    assert b"\r\n" in payload
    assert b"\n" not in payload.replace(b"\r\n", b"")
    assert b"\r" not in payload.replace(b"\r\n", b"")
    assert max(len(line) for line in payload.split(b"\r\n")) <= MAX_LINE_OCTETS


def header_names(payload: bytes) -> list[str]:
    block = payload.partition(b"\r\n\r\n")[0]
    return [
        line.partition(b":")[0].decode().lower()
        for line in block.split(b"\r\n")
        if line[:1] not in (b" ", b"\t")
    ]


def summary(payload: bytes) -> tuple[list[tuple[str, str]], list[tuple[Any, ...]]]:
    """What a mail reader sees: decoded headers (boundaries aside) and each part's content.

    Header whitespace is left out: at a fold between encoded-words the stdlib folder sometimes
    doubles a space and sometimes drops it (hypothesis found `X \x80` coming back as `X\x80`);
    the fast path is checked for exactness separately.
    """
    message = parse(payload)
    headers = [
        (name.lower(), "".join(str(value).split()))
        for name, value in message.items()
        if name.lower() not in {"content-type", "content-transfer-encoding"}
    ]
    headers.append(("content-type", message.get_content_type()))
    parts: list[tuple[Any, ...]] = []
    for part in message.walk():
        if part.is_multipart():
            parts.append((part.get_content_type(),))
        else:
            parts.append(
                (
                    part.get_content_type(),
                    part.get_content_charset(),
                    part.get_filename(),
                    part.get("Content-Disposition"),
                    content(part),
                )
            )
    return headers, parts


# -- headers ---------------------------------------------------------------------------------


def test_plain_message_has_every_header_and_parses_back(tmp_path: Path) -> None:
    template = Template(subject="Hello {{ first_name }}", body="Hi {{ first_name }},\nBye\n")
    built = builder(template, tmp_path).build(person())
    assert_sendable(built.payload)
    assert built.size == len(built.payload)
    message = parse(built.payload)
    assert message["From"] == "News <news@example.com>"
    assert message["To"] == "Jane Doe <jane@example.com>"
    assert message["Subject"] == "Hello Jane"
    assert message["Date"] == "Tue, 14 Nov 2023 22:13:20 +0000"
    assert message["Message-ID"] == built.message_id
    assert message["MIME-Version"] == "1.0"
    assert message.get_content_type() == "text/plain"
    assert message["Content-Transfer-Encoding"] == "7bit"
    assert content(message) == "Hi Jane,\nBye\n"
    assert built.envelope_recipients == ("jane@example.com",)
    assert not built.smtputf8


def test_template_from_name_overrides_account_display_name(tmp_path: Path) -> None:
    template = Template(subject="s", body="b", from_name="Jöran from Sales")
    message = parse(builder(template, tmp_path).build(person()).payload)
    assert message["From"].addresses[0] == Address("Jöran from Sales", "news", "example.com")


def test_message_id_is_derived_from_campaign_and_recipient(tmp_path: Path) -> None:
    digest = hashlib.sha256(b"campaign-1\0jane@example.com").hexdigest()[:32]
    assert message_id_for("campaign-1", "jane@example.com", "a@Example.COM") == (
        f"<{digest}@example.com>"
    )
    first = builder(Template(subject="s", body="b"), tmp_path).build(person())
    again = builder(Template(subject="s", body="b"), tmp_path).build(person())
    assert first.message_id == again.message_id == f"<{digest}@example.com>"
    assert message_id_for("campaign-2", "jane@example.com", "a@example.com") != first.message_id
    assert message_id_for("campaign-1", "joe@example.com", "a@example.com") != first.message_id


def test_idn_sender_domain_becomes_a_label_in_message_id() -> None:
    assert message_id_for("c", "x@y.z", "info@bücher.example").endswith("@xn--bcher-kva.example>")


def test_non_ascii_subject_and_names_are_rfc2047_encoded(tmp_path: Path) -> None:
    template = Template(subject="Grüße, {{ first_name }} — 🎉", body="b")
    built = builder(template, tmp_path).build(person(name="Zoë Ñúñez", first_name="Zoë"))
    built.payload.decode("ascii")  # every header byte is ASCII
    assert b"=?utf-8?" in built.payload
    message = parse(built.payload)
    assert message["Subject"] == "Grüße, Zoë — 🎉"
    assert message["To"].addresses[0] == Address("Zoë Ñúñez", "jane", "example.com")


def test_long_subject_is_folded_under_78_columns(tmp_path: Path) -> None:
    subject = "A fairly long subject line that keeps going " * 4
    built = builder(Template(subject=subject, body="b"), tmp_path).build(person())
    block = built.payload.partition(b"\r\n\r\n")[0]
    assert max(len(line) for line in block.split(b"\r\n")) <= 78
    assert parse(built.payload)["Subject"] == subject.strip()


def test_cc_and_reply_to_are_headers_and_bcc_only_envelope(tmp_path: Path) -> None:
    template = Template(
        subject="s",
        body="b",
        cc=("Boss <boss@example.com>", "{{ assistant }}"),
        bcc=("archive@example.com",),
        reply_to="Help Desk <help@example.com>",
    )
    built = builder(template, tmp_path).build(person(assistant="asst@example.org"))
    message = parse(built.payload)
    assert [a.addr_spec for a in message["Cc"].addresses] == [
        "boss@example.com",
        "asst@example.org",
    ]
    assert message["Reply-To"] == "Help Desk <help@example.com>"
    assert "bcc" not in header_names(built.payload)
    assert b"archive@example.com" not in built.payload
    assert built.envelope_recipients == (
        "jane@example.com",
        "boss@example.com",
        "asst@example.org",
        "archive@example.com",
    )


def test_envelope_is_deduplicated_case_insensitively(tmp_path: Path) -> None:
    template = Template(subject="s", body="b", cc=("JANE@example.com",), bcc=("x@example.com",))
    built = builder(template, tmp_path).build(person())
    assert built.envelope_recipients == ("jane@example.com", "x@example.com")


def test_mailmerge_style_to_template_is_rendered(tmp_path: Path) -> None:
    template = Template(
        subject="s", body="b", to="{{ first_name }} <{{ email }}>, team@example.com"
    )
    built = builder(template, tmp_path).build(person())
    message = parse(built.payload)
    assert [str(a) for a in message["To"].addresses] == [
        "Jane <jane@example.com>",
        "team@example.com",
    ]
    assert built.envelope_recipients == ("jane@example.com", "team@example.com")


def test_list_unsubscribe_with_url_adds_one_click_post(tmp_path: Path) -> None:
    template = Template(
        subject="s",
        body="b",
        list_unsubscribe_mailto="unsubscribe@example.com?subject=stop%20{{ email }}",
        list_unsubscribe_url=(
            "https://example.com/unsubscribe?e={{ email|urlencode }}"
            "&list=a-rather-long-list-identifier"
        ),
    )
    built = builder(template, tmp_path).build(person(email="a+b@example.com"))
    message = parse(built.payload)
    assert message["List-Unsubscribe"] == (
        "<mailto:unsubscribe@example.com?subject=stop%20a+b@example.com>, "
        "<https://example.com/unsubscribe?e=a%2Bb%40example.com&list=a-rather-long-list-identifier>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert b"=?" not in built.payload  # long URLs are never turned into encoded-words


def test_list_unsubscribe_mailto_alone_has_no_post_header(tmp_path: Path) -> None:
    template = Template(subject="s", body="b", list_unsubscribe_mailto="mailto:u@example.com")
    message = parse(builder(template, tmp_path).build(person()).payload)
    assert message["List-Unsubscribe"] == "<mailto:u@example.com>"
    assert message["List-Unsubscribe-Post"] is None


@pytest.mark.parametrize(
    "url",
    ["http://example.com/u", "https://example.com/u?e={{ company }}", "https://ex.com/<x>"],
)
def test_list_unsubscribe_url_must_be_plain_https(tmp_path: Path, url: str) -> None:
    template = Template(subject="s", body="b", list_unsubscribe_url=url)
    with pytest.raises(MergeError) as caught:
        builder(template, tmp_path).build(person(company="Big Corp"))
    assert caught.value.kind is IssueKind.INVALID_HEADER


def test_smtputf8_recipient_gets_utf8_headers(tmp_path: Path) -> None:
    template = Template(subject="Grüße", body="Hallo")
    recipient = Recipient(email="jöran@bücher.example", name="Jöran", needs_smtputf8=True)
    built = builder(template, tmp_path).build(recipient)
    assert built.smtputf8
    assert built.envelope_recipients == ("jöran@bücher.example",)
    assert "To: Jöran <jöran@bücher.example>".encode() in built.payload
    assert_sendable(built.payload)
    message = email.message_from_string(built.payload.decode(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["To"].addresses[0].username == "jöran"
    assert content(message) == "Hallo\n"


def test_invalid_recipient_address_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        builder(Template(subject="s", body="b"), tmp_path).build(person(email="no at sign"))


# -- bodies ----------------------------------------------------------------------------------


def test_html_makes_multipart_alternative_with_text_first(tmp_path: Path) -> None:
    template = Template(
        subject="s",
        body="<p>Hi {{ first_name }}</p>",
        format=BodyFormat.HTML,
        text_alternative="Hi {{ first_name }}",
    )
    message = parse(builder(template, tmp_path).build(person()).payload)
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert (text.get_content_type(), content(text)) == ("text/plain", "Hi Jane\n")
    assert (html.get_content_type(), content(html)) == ("text/html", "<p>Hi Jane</p>\n")


def test_html_without_alternative_is_a_single_part(tmp_path: Path) -> None:
    template = Template(subject="s", body="<p>Hi</p>", format=BodyFormat.HTML)
    message = parse(builder(template, tmp_path).build(person()).payload)
    assert message.get_content_type() == "text/html"


def test_markdown_sends_source_as_text_and_rendered_html(tmp_path: Path) -> None:
    template = Template(subject="s", body="# Hi {{ company }}\n", format=BodyFormat.MARKDOWN)
    message = parse(
        builder(template, tmp_path).build(person(company="<img src=x onerror=alert(1)>")).payload
    )
    text, html = message.iter_parts()
    assert content(text) == "# Hi <img src=x onerror=alert(1)>\n"
    assert "<h1>Hi &lt;img src=x onerror=alert(1)&gt;</h1>" in content(html)


def test_non_ascii_body_is_quoted_printable_utf8(tmp_path: Path) -> None:
    template = Template(subject="s", body="Grüße aus {{ city }}\n")
    built = builder(template, tmp_path).build(person(city="Zürich"))
    message = parse(built.payload)
    assert message["Content-Transfer-Encoding"] == "quoted-printable"
    assert message.get_content_charset() == "utf-8"
    assert content(message) == "Grüße aus Zürich\n"
    built.payload.decode("ascii")


def test_long_lines_are_wrapped_by_quoted_printable(tmp_path: Path) -> None:
    body = "word " * 400 + "\n" + "x" * 3000
    built = builder(Template(subject="s", body=body), tmp_path).build(person())
    assert_sendable(built.payload)
    assert content(parse(built.payload)) == body + "\n"


def test_lone_dot_line_round_trips_as_one_body(tmp_path: Path) -> None:
    body = "before\n.\nafter\n..\n.\n"
    built = builder(Template(subject="s", body=body), tmp_path).build(person())
    assert_sendable(built.payload)
    assert content(parse(built.payload)) == body


def test_body_line_endings_are_normalized_to_crlf(tmp_path: Path) -> None:
    built = builder(Template(subject="s", body="a\r\nb\rc\nd"), tmp_path).build(person())
    assert_sendable(built.payload)
    assert content(parse(built.payload)) == "a\nb\nc\nd\n"


def test_body_containing_the_boundary_still_parses(tmp_path: Path) -> None:
    make = builder(
        Template(subject="s", body="x", format=BodyFormat.HTML, text_alternative="t"), tmp_path
    )
    boundary = re.search(rb'boundary="([^"]+)"', make.build(person()).payload)
    assert boundary is not None
    evil = f"--{boundary.group(1).decode()}\nContent-Type: text/html\n\n<b>forged</b>\n"
    template = Template(
        subject="s", body="{{ a }}", format=BodyFormat.HTML, text_alternative="{{ a }}"
    )
    message = parse(builder(template, tmp_path).build(person(a=evil)).payload)
    assert len(list(message.iter_parts())) == 2
    assert content(next(message.iter_parts())) == evil


# -- attachments -----------------------------------------------------------------------------


def test_shared_and_per_recipient_attachments(tmp_path: Path) -> None:
    (tmp_path / "brochure.pdf").write_bytes(b"%PDF-1.4 brochure \x00\xff")
    (tmp_path / "invoices").mkdir()
    (tmp_path / "invoices" / "42.txt").write_bytes(b"Invoice 42: \xe2\x82\xac 10\n")
    template = Template(
        subject="s",
        body="See attached, {{ first_name }}.",
        format=BodyFormat.HTML,
        text_alternative="See attached.",
        attachments=("brochure.pdf",),
        recipient_attachment="invoices/{{ invoice }}.txt",
    )
    built = builder(template, tmp_path).build(person(invoice="42"))
    assert_sendable(built.payload)
    message = parse(built.payload)
    assert message.get_content_type() == "multipart/mixed"
    body, *files = message.iter_parts()
    assert body.get_content_type() == "multipart/alternative"
    assert [(f.get_filename(), f.get_content_type(), content(f)) for f in files] == [
        ("brochure.pdf", "application/pdf", b"%PDF-1.4 brochure \x00\xff"),
        ("42.txt", "text/plain", "Invoice 42: € 10\n"),
    ]
    assert all(f.get_content_disposition() == "attachment" for f in files)


def test_shared_attachment_uses_the_fast_path(tmp_path: Path) -> None:
    (tmp_path / "a b ü.bin").write_bytes(bytes(range(256)) * 10)
    template = Template(subject="s", body="b", attachments=("a b ü.bin",))
    make = builder(template, tmp_path)
    message = parse(make.build(person()).payload)
    [_, attached] = list(message.iter_parts())
    assert attached.get_filename() == "a b ü.bin"
    assert content(attached) == bytes(range(256)) * 10
    assert make.fast_builds == 1


def test_missing_shared_attachment_fails_when_the_builder_is_made(tmp_path: Path) -> None:
    with pytest.raises(MergeError) as caught:
        builder(Template(subject="s", body="b", attachments=("nope.pdf",)), tmp_path)
    assert caught.value.kind is IssueKind.MISSING_ATTACHMENT


@pytest.mark.parametrize(
    ("value", "kind"),
    [("gone", IssueKind.MISSING_ATTACHMENT), ("../../etc/passwd", IssueKind.UNSAFE_PATH)],
)
def test_bad_per_recipient_attachment_fails_that_recipient(
    tmp_path: Path, value: str, kind: IssueKind
) -> None:
    template = Template(subject="s", body="b", recipient_attachment="{{ file }}")
    with pytest.raises(MergeError) as caught:
        builder(template, tmp_path).build(person(file=value))
    assert caught.value.kind is kind
    assert caught.value.email == "jane@example.com"


# -- the fast path ---------------------------------------------------------------------------

PRINTABLE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=80)
NAMES = st.text(
    st.one_of(st.sampled_from(list(" \"\\,.:;<>()@=?_-'")), st.characters(codec="utf-8")),
    max_size=40,
)
VALUES = st.text(st.characters(codec="utf-8"), max_size=120)
EMAILS = st.sampled_from(
    [
        "jane@example.com",
        "o'brien+tag@sub.example.org",
        "x@example.co.uk",
        "first.last@example.museum",
        "UPPER@Example.COM",
    ]
)


@HYPOTHESIS
@given(st.sampled_from(["Subject", "X-Test", "List-Unsubscribe"]), PRINTABLE)
def test_quick_header_bytes_equal_the_stdlib_folder(name: str, value: str) -> None:
    policy = email.policy.SMTP
    if name == "List-Unsubscribe":  # URLs are folded only past 998 octets
        policy = policy.clone(max_line_length=MAX_LINE_OCTETS)
    expected = policy.fold_binary(name, policy.header_factory(name, value))
    assert fold_header(name, value) == expected


@HYPOTHESIS
@given(NAMES, EMAILS)
def test_quick_address_header_decodes_like_the_stdlib_one(name: str, addr: str) -> None:
    try:
        address = Address(" ".join(name.split()), addr_spec=addr)
        ours = fold_header("To", [address])
    except (ValueError, MergeError):
        return
    policy = email.policy.SMTP
    theirs = policy.fold_binary("To", policy.header_factory("To", [address]))
    if b"=?" not in ours:
        assert ours == theirs

    def addresses(folded: bytes) -> Any:
        value = folded.decode("ascii").removeprefix("To:").replace("\r\n", "").strip()
        return email.policy.default.header_factory("To", value).addresses

    assert addresses(ours) == addresses(theirs)


TEMPLATES = st.sampled_from(
    [
        Template(subject="Hi {{ a }}", body="Dear {{ name }},\n{{ b }}\n.\nBye"),
        Template(
            subject="{{ a }} and {{ b }}",
            body="<p>{{ b }}</p>",
            format=BodyFormat.HTML,
            text_alternative="{{ b }}",
            reply_to="Support <help@example.com>",
            cc=("team@example.com",),
        ),
        Template(subject="News", body="<b>{{ a }}</b>", format=BodyFormat.HTML),
        Template(
            subject="{{ a }}",
            body="# {{ a }}\n\n* {{ b }}\n",
            format=BodyFormat.MARKDOWN,
            list_unsubscribe_url="https://example.com/u?e={{ email|urlencode }}",
            list_unsubscribe_mailto="mailto:u@example.com",
            from_name="Zoë",
        ),
        Template(
            subject="Files for {{ a }}",
            body="{{ b }}",
            attachments=("hypothesis-shared.txt", "hypothesis-shared.bin"),
        ),
    ]
)


@HYPOTHESIS
@given(TEMPLATES, EMAILS, NAMES, VALUES, VALUES)
def test_fast_path_matches_the_email_message_path(
    tmp_path_factory: pytest.TempPathFactory,
    template: Template,
    addr: str,
    name: str,
    a: str,
    b: str,
) -> None:
    base = tmp_path_factory.getbasetemp()
    (base / "hypothesis-shared.txt").write_text("Grüße\n.\nline two\n", encoding="utf-8")
    (base / "hypothesis-shared.bin").write_bytes(bytes(range(256)))
    recipient = Recipient(email=addr, name=name, fields=MappingProxyType({"a": a, "b": b}))
    fast = MessageBuilder(ACCOUNT, template, "c", base_dir=base, clock=clock)
    slow = MessageBuilder(ACCOUNT, template, "c", base_dir=base, clock=clock, fast_path=False)
    outcomes: list[BuiltMessage | str] = []
    for make in (fast, slow):
        try:
            outcomes.append(make.build(recipient))
        except InputError as exc:
            outcomes.append(f"refused: {getattr(exc, 'kind', '')}")
    quick, reference = outcomes
    if isinstance(quick, str) or isinstance(reference, str):
        event("refused by both")
        assert quick == reference
        return
    event("built by both")
    assert fast.fast_builds == 1 and slow.slow_builds == 1
    assert_sendable(quick.payload)
    quick.payload.decode("ascii")
    assert summary(quick.payload) == summary(reference.payload)
    assert quick.message_id == reference.message_id
    assert quick.envelope_recipients == reference.envelope_recipients
    # And the fast path is exact: the subject and display name come back as merged. (Python's
    # parser keeps the space between two encoded-words of a long display name, against
    # RFC 2047 6.2, for either path: spaces are left out of that comparison.)
    message = parse(quick.payload)
    assert message["Subject"] == " ".join(fast.compiled.render(recipient).subject.split())
    [to] = message["To"].addresses
    assert to.addr_spec == addr
    assert to.display_name.replace(" ", "") == "".join(name.split())


def test_fast_path_is_taken_for_many_recipients(tmp_path: Path) -> None:
    make = builder(Template(subject="Hi {{ first_name }}", body="Hello {{ company }}"), tmp_path)
    for n in range(200):
        make.build(person(email=f"p{n}@example.com", first_name=f"P{n}"))
    assert (make.fast_builds, make.slow_builds) == (200, 0)


# -- header safety ---------------------------------------------------------------------------

INJECTIONS = [
    "x\r\nBcc: victim@example.org",
    "x\nX-Evil: 1",
    "x\rX-Evil: 1",
    "x\x00y",
    "=?utf-8?q?a=0D=0AX-Evil:_1?=",  # an encoded-word hiding CRLF (CVE-2024-6923)
    "x =?utf-8?b?DQpYLUV2aWw6IDE=?=",
]


@pytest.mark.parametrize("value", INJECTIONS)
@pytest.mark.parametrize("where", ["subject", "name", "reply_to", "unsubscribe", "cc"])
def test_header_injection_from_csv_is_refused(tmp_path: Path, value: str, where: str) -> None:
    template = Template(
        subject="Hi {{ a }}" if where == "subject" else "Hi",
        body="b",
        reply_to="{{ a }} <r@example.com>" if where == "reply_to" else None,
        list_unsubscribe_url="https://example.com/u?{{ a }}" if where == "unsubscribe" else None,
        cc=("{{ a }} <c@example.com>",) if where == "cc" else (),
    )
    recipient = person(name=value if where == "name" else "Jane", a=value)
    with pytest.raises(InputError):
        builder(template, tmp_path).build(recipient)
    with pytest.raises(InputError):
        builder(template, tmp_path, fast_path=False).build(recipient)


HOSTILE = st.lists(
    st.one_of(
        st.sampled_from(["\r", "\n", "\r\n", "\x00", "=?utf-8?q?", "=0D=0A", "?=", ":", " "]),
        st.characters(codec="utf-8"),
    ),
    max_size=30,
).map("".join)
EXPECTED_HEADERS = {
    "from",
    "to",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
}


@HYPOTHESIS
@given(HOSTILE, HOSTILE, HOSTILE, HOSTILE, st.booleans())
def test_arbitrary_values_never_add_headers(
    tmp_path_factory: pytest.TempPathFactory, name: str, a: str, b: str, c: str, fast: bool
) -> None:
    template = Template(
        subject="Hello {{ a }}",
        body="{{ b }}",
        reply_to="{{ c }} <reply@example.com>",
        list_unsubscribe_url="https://example.com/u?id={{ c }}",
        bcc=("hidden@example.com",),
    )
    recipient = Recipient(
        email="jane@example.com", name=name, fields=MappingProxyType({"a": a, "b": b, "c": c})
    )
    make = MessageBuilder(
        ACCOUNT,
        template,
        "c",
        base_dir=tmp_path_factory.getbasetemp(),
        clock=clock,
        fast_path=fast,
    )
    try:
        built = make.build(recipient)
    except InputError:
        event("refused")
        return
    event("built")
    assert set(header_names(built.payload)) == EXPECTED_HEADERS
    message = parse(built.payload)
    assert {name.lower() for name in message} == EXPECTED_HEADERS
    assert [a.addr_spec for a in message["To"].addresses] == ["jane@example.com"]
    assert b"hidden@example.com" not in built.payload


def test_parse_address_list_validates_each_address() -> None:
    assert [str(a) for a in parse_address_list("A <a@x.com>, b@Bücher.example", part="cc")] == [
        "A <a@x.com>",
        "b@xn--bcher-kva.example",
    ]
    for bad in ["a@b@c", "not an address", "a@", "x@localhost"]:
        with pytest.raises(MergeError) as caught:
            parse_address_list(bad, part="cc")
        assert caught.value.kind is IssueKind.INVALID_ADDRESS


# -- end to end ------------------------------------------------------------------------------


async def test_body_with_dot_lines_arrives_as_exactly_one_message(
    plain_server: ServerHandle, tmp_path: Path
) -> None:
    body = "Hi {{ first_name }}\n.\nstill the same message\n.\n..\nend"
    built = builder(Template(subject="dots", body=body), tmp_path).build(person())
    transport = SMTPTransport(account_for(plain_server, Security.NONE), Credentials())
    await transport.connect()
    try:
        reply = await transport.send(ACCOUNT.sender, "jane@example.com", built.payload)
    finally:
        await transport.close()
    assert reply.code == 250
    [received] = plain_server.recorder.parsed()
    assert received["Message-ID"] == built.message_id
    assert content(received) == ("Hi Jane\n.\nstill the same message\n.\n..\nend\n")
