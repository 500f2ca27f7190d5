"""Property tests: any input gives a report or an InputError; nothing accepted breaks a header."""

from __future__ import annotations

import csv
import io

from email_validator import validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import InputError
from core.recipients import (
    ImportReport,
    parse_csv,
    parse_text,
    parse_xlsx,
    validate_address,
)

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# Characters the parsers treat specially, mixed with ordinary and hostile ones.
_INTERESTING = [
    *"abcAZ09.-_+'@<>\",;: \t\r\n\x00\x0b\x0c\x1b\x7f\x85\u2028\u00a0éü用",
    *("xn--", "@example.com", "bücher.de", "\r\n", "\ufeff"),
]
address_like = st.lists(st.sampled_from(_INTERESTING), max_size=40).map("".join)
any_text = st.one_of(st.text(max_size=300), address_like)


def is_forbidden(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F or char in "\u2028\u2029"


def assert_clean(report: ImportReport) -> None:
    """No accepted value can forge a header, and every address is already normalized."""
    seen: set[str] = set()
    for recipient in report.recipients:
        for value in (recipient.email, recipient.name, *recipient.fields.values()):
            assert isinstance(value, str)
            assert not any(is_forbidden(char) for char in value), repr(value)
        checked = validate_email(recipient.email, check_deliverability=False)
        assert f"{checked.local_part}@{checked.ascii_domain}" == recipient.email
        assert validate_address(recipient.email) == (recipient.email, recipient.needs_smtputf8)
        assert recipient.email.split("@")[1].isascii()
        assert recipient.email not in seen
        seen.add(recipient.email)
    for reject in report.rejected:
        assert reject.reason
        assert reject.line >= 1


@PROPERTY_SETTINGS
@given(any_text)
def test_validate_address_accepts_only_stable_clean_addresses(value: str) -> None:
    try:
        email, smtputf8 = validate_address(value)
    except InputError:
        return
    assert not any(is_forbidden(char) for char in email)
    assert validate_address(email) == (email, smtputf8)
    assert smtputf8 == (not email.split("@")[0].isascii())


@PROPERTY_SETTINGS
@given(st.emails())
def test_generated_addresses_round_trip(value: str) -> None:
    try:
        email, smtputf8 = validate_address(value)
    except InputError:
        return  # st.emails() allows some forms email-validator refuses (special-use domains)
    assert email.casefold() == value.casefold() or not value.isascii()
    assert validate_address(email) == (email, smtputf8)


@PROPERTY_SETTINGS
@given(st.lists(any_text, max_size=8).map("\n".join))
def test_parse_text_never_crashes_and_accepts_only_clean(text: str) -> None:
    try:
        report = parse_text(text)
    except InputError:
        return
    assert_clean(report)
    assert [r.line for r in report.recipients] == sorted(r.line for r in report.recipients)


@PROPERTY_SETTINGS
@given(st.binary(max_size=400), st.sampled_from([None, "cp1252", "latin-1"]))
def test_parse_csv_on_any_bytes_raises_only_input_error(data: bytes, encoding: str | None) -> None:
    try:
        report = parse_csv(data, source="fuzz.csv", encoding=encoding)
    except InputError as exc:
        error: InputError | None = exc
    else:
        error = None
        assert_clean(report)
    assert error is None or error.source == "fuzz.csv"


@PROPERTY_SETTINGS
@given(st.text(max_size=400))
def test_parse_csv_on_any_text_raises_only_input_error(text: str) -> None:
    try:
        report = parse_csv(("email,name\n" + text).encode(), source="f.csv")
    except InputError:
        return
    assert_clean(report)


@PROPERTY_SETTINGS
@given(
    st.lists(
        st.tuples(any_text, any_text, any_text),
        min_size=1,
        max_size=10,
    ),
    st.sampled_from([",", ";", "\t"]),
)
def test_written_csv_keeps_row_order_and_only_clean_values(
    rows: list[tuple[str, str, str]], delimiter: str
) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(["email", "name", "notes"])
    writer.writerows(rows)
    try:
        report = parse_csv(buffer.getvalue().encode(), source="w.csv")
    except InputError:
        return
    assert_clean(report)
    for recipient in report.recipients:
        assert set(recipient.fields) == {"email", "name", "notes"}
    total = len(report.recipients) + len(report.rejected) + report.duplicate_count
    assert total <= len(rows)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200))
def test_parse_xlsx_on_any_bytes_raises_only_input_error(data: bytes) -> None:
    try:
        report = parse_xlsx(data, source="fuzz.xlsx")
    except InputError:
        return
    assert_clean(report)
