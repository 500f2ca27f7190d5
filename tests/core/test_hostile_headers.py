"""Address headers merged from hostile data: names stay names, each value is one address at most."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path
from types import MappingProxyType

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core.address_fields import LiteralRecipient, literal_recipients
from core.errors import InputError, IssueKind, MergeError
from core.headers import MAX_LINE_OCTETS
from core.message import MessageBuilder
from core.models import Account, Recipient, Template
from core.preflight import preflight
from core.recipients.address import identity, validate_address

ACCOUNT = Account(host="smtp.example.com", port=587, sender="news@example.com", sender_name="News")
NAME_TO = "{{ name }} <{{ email }}>"
HOSTILE_NAMES = [
    ".",
    " .",
    "Bob: victim@evil.com;",
    "Bob <victim@evil.com>, x",
    "victim@evil.com",
    '"',
    "a\\",
    "Bob, Ann",
    "=?utf-8?q?victim=40evil.com?=",
    "<victim@evil.com>",
]


def row(email: str = "jane@example.com", line: int = 2, **fields: str) -> Recipient:
    return Recipient(email=email, fields=MappingProxyType(fields), line=line)


def build(
    template: Template, recipient: Recipient, tmp_path: Path
) -> tuple[EmailMessage, tuple[str, ...]]:
    built = MessageBuilder(ACCOUNT, template, "c1", base_dir=tmp_path).build(recipient)
    parsed = email.message_from_bytes(built.payload, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed, built.envelope_recipients


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_name_from_data_stays_a_quoted_name_in_a_merged_to(name: str, tmp_path: Path) -> None:
    message, envelope = build(Template(subject="s", body="b", to=NAME_TO), row(name=name), tmp_path)
    assert envelope == ("jane@example.com",)
    [address] = message["To"].addresses
    assert address.addr_spec == "jane@example.com"
    if "=?" not in name:  # a reader decodes an encoded-word written as a name: still a name
        assert address.display_name in (name, name.strip())


def test_a_merged_to_that_is_not_the_rows_recipient_is_refused(tmp_path: Path) -> None:
    template = Template(subject="s", body="b", to="{{ boss }}")
    with pytest.raises(MergeError) as info:
        build(template, row(boss="boss@example.com"), tmp_path)
    assert info.value.kind is IssueKind.INVALID_ADDRESS
    assert (info.value.part, info.value.line) == ("to", 2)


def test_a_merged_to_in_other_letter_case_is_the_rows_recipient(tmp_path: Path) -> None:
    template = Template(subject="s", body="b", to="{{ name }} <{{ address }}>")
    message, envelope = build(template, row(name="Jane", address="JANE@Example.com"), tmp_path)
    assert envelope == ("jane@example.com",)
    assert message["To"].addresses[0].display_name == "Jane"


@pytest.mark.parametrize(
    ("part", "template"),
    [
        ("cc[0]", Template(subject="s", body="b", cc=("{{ other }}",))),
        ("bcc[0]", Template(subject="s", body="b", bcc=("{{ other }}",))),
        ("reply_to", Template(subject="s", body="b", reply_to="{{ other }}")),
        ("cc[0]", Template(subject="s", body="b", cc=("Boss <{{ other }}>",))),
        ("cc[0]", Template(subject="s", body="b", cc=("{{ other }}@example.com",))),
    ],
)
@pytest.mark.parametrize(
    "value",
    ["a@example.com, victim@evil.com", "a@example.com victim@evil.com", "x: victim@evil.com;"],
)
def test_a_value_from_data_giving_several_addresses_is_a_row_problem(
    part: str, template: Template, value: str, tmp_path: Path
) -> None:
    with pytest.raises(MergeError) as info:
        build(template, row(other=value), tmp_path)
    assert (info.value.kind, info.value.part, info.value.line) == (
        IssueKind.INVALID_ADDRESS,
        part,
        2,
    )


def test_each_value_from_data_in_cc_gives_one_address(tmp_path: Path) -> None:
    template = Template(
        subject="s", body="b", cc=("{{ boss_name }} <{{ boss }}>, {{ assistant }}",)
    )
    recipient = row(
        boss_name="Big, Boss <x@evil.com>", boss="boss@example.com", assistant="a@x.com"
    )
    message, envelope = build(template, recipient, tmp_path)
    assert envelope == ("jane@example.com", "boss@example.com", "a@x.com")
    assert [(a.display_name, a.addr_spec) for a in message["Cc"].addresses] == [
        ("Big, Boss <x@evil.com>", "boss@example.com"),
        ("", "a@x.com"),
    ]


def test_an_empty_cc_value_from_data_adds_nobody(tmp_path: Path) -> None:
    template = Template(subject="s", body="b", cc=("{{ cc }}",))
    message, envelope = build(template, row(cc=""), tmp_path)
    assert envelope == ("jane@example.com",)
    assert message["Cc"] is None


def test_addresses_written_in_the_template_stay_allowed_and_are_listed(tmp_path: Path) -> None:
    template = Template(
        subject="s",
        body="b",
        cc=("{{ boss }}, Archive <archive@example.org>",),
        bcc=("audit@example.org",),
    )
    _, envelope = build(template, row(boss="boss@example.com"), tmp_path)
    assert envelope == (
        "jane@example.com",
        "boss@example.com",
        "archive@example.org",
        "audit@example.org",
    )
    assert literal_recipients(to=template.to, cc=template.cc, bcc=template.bcc) == (
        LiteralRecipient("cc[0]", "archive@example.org"),
        LiteralRecipient("bcc[0]", "audit@example.org"),
    )


def test_literal_recipients_skip_merged_items_and_list_conditional_ones() -> None:
    found = literal_recipients(
        to=NAME_TO,
        cc=("{% if vip %}vip@example.org{% endif %}", "{{ a }}@example.com"),
        bcc=("x@example.org, {{ b }}",),
    )
    assert found == (
        LiteralRecipient("cc[0]", "vip@example.org"),
        LiteralRecipient("bcc[0]", "x@example.org"),
    )


def test_preflight_reports_parser_crashes_per_row_and_goes_on(tmp_path: Path) -> None:
    template = Template(subject="s", body="b", to=NAME_TO, cc=("{{ cc }}",))
    values = [". <x@y.com>", " . <x@y.com>", "Bob: victim@evil.com; <x@y.com>", "ok@example.com"]
    recipients = [
        row(email=f"r{i}@example.com", line=i + 2, name=name, cc=cc)
        for i, (name, cc) in enumerate(zip(HOSTILE_NAMES[:4], values, strict=True))
    ]
    report = preflight(template, recipients, base_dir=tmp_path, max_attachment_bytes=10**6)
    assert report.recipients == 4
    assert report.recipients_with_errors == 3
    assert [(issue.line, issue.part) for issue in report.issues] == [
        (2, "cc[0]"),
        (3, "cc[0]"),
        (4, "cc[0]"),
    ]


# --- properties ----------------------------------------------------------------------------

HYPOTHESIS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
header_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300) | st.sampled_from(
    HOSTILE_NAMES
)


@HYPOTHESIS
@given(
    name=header_text,
    subject=header_text | st.text(min_size=800, max_size=1_200),  # around the header cap
    cc=header_text | st.emails(),
    address=st.emails(),
)
def test_any_merged_row_builds_or_is_refused_and_never_adds_a_stranger(
    name: str, subject: str, cc: str, address: str
) -> None:
    try:
        email_address, utf8 = validate_address(address)
    except InputError:
        assume(False)
        raise
    recipient = Recipient(
        email=email_address,
        fields=MappingProxyType({"name": name, "subject": subject, "cc": cc}),
        line=7,
        needs_smtputf8=utf8,
    )
    template = Template(
        subject="{{ subject }}",
        body="Hello {{ name }}",
        to=NAME_TO,
        cc=("{{ cc }}",),
        bcc=("archive@example.org",),
    )
    builder = MessageBuilder(ACCOUNT, template, "c1", base_dir=".")
    try:
        built = builder.build(recipient)
    except MergeError as exc:  # the row's pre-flight problem: nothing else may escape
        refused_line = exc.line
    else:
        refused_line = None
    if refused_line is not None:
        assert refused_line == 7
        return
    header_block = built.payload.partition(b"\r\n\r\n")[0]
    assert max(len(line) for line in header_block.split(b"\r\n")) <= MAX_LINE_OCTETS
    allowed = {identity(email_address), "archive@example.org"}
    strangers = [a for a in built.envelope_recipients if identity(a) not in allowed]
    assert len(strangers) <= 1  # at most the one address the row's cc value names
    if strangers:
        assert strangers[0].rpartition("@")[0].lower() in cc.lower()
    parsed = email.message_from_bytes(built.payload, policy=email.policy.default)
    assert [a.addr_spec for a in parsed["To"].addresses] == [email_address]
