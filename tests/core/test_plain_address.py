"""The plain-address fast paths skip a parser only where the parser would change nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from aiosmtplib.email import quote_address
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InputError
from core.recipients import is_plain_address
from core.recipients.address import _PLAIN_ADDRESS, _SPECIAL_USE, _plainly_valid, validate_address
from core.suppression import suppression_key
from core.transport.pipeline import envelope_groups

ROOT = Path(__file__).resolve().parents[2]
plain = st.from_regex(_PLAIN_ADDRESS, fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(plain)
def test_an_smtp_path_of_a_plain_address_is_what_aiosmtplib_makes(address: str) -> None:
    assert is_plain_address(address)
    assert quote_address(address) == f"<{address}>"


@settings(max_examples=200, deadline=None)
@given(plain)
def test_the_suppression_key_of_a_plain_address_is_its_lowercase(address: str) -> None:
    try:
        key = suppression_key(address)
    except InputError:
        return  # not an address: `SuppressionList.get` then matches nothing either way
    assert key == address.lower()


def test_what_is_not_plain_goes_through_the_parsers() -> None:
    for address in (
        '"john doe"@example.com',
        "Ann <ann@example.com>",
        "ann@example.com ",
        "ann@bücher.de",
        "ann..b@example.com",
        "ann@example..com",
        "ann@-example.com",
    ):
        assert not is_plain_address(address), address
    groups = envelope_groups(
        quoted_sender=b"<me@example.com>",
        sender="me@example.com",
        recipient="Ann <ann@example.com>",
        extra_recipients=(),
        smtputf8=False,
        pipelining=True,
    )
    assert groups[0][1].command == b"RCPT TO:<ann@example.com>\r\n"


# -- validation: the fast path says yes only where email-validator does, with its answer ---------

_ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
_EDGE_LABELS = ["xn--bcher-kva", "ab--cd", "a-b", "a" * 63, "b" * 64, "123", "Example", "x"]
_TOPS = ["com", "COM", "io", "c0m", "123", "xn--p1ai", "a" * 63, "a" * 64, *sorted(_SPECIAL_USE)]
_local = st.one_of(
    st.from_regex(
        r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*", fullmatch=True
    ),
    st.text(alphabet=_ATEXT, min_size=60, max_size=70),
)
_label = st.one_of(
    st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,70}[A-Za-z0-9])?", fullmatch=True),
    st.sampled_from(_EDGE_LABELS),
)
_domain = st.builds(
    lambda labels, top: ".".join([*labels, top]),
    st.lists(_label, min_size=0, max_size=6),
    st.one_of(st.sampled_from(_TOPS), _label),
)
_address = st.builds(lambda local, domain: f"{local}@{domain}", _local, _domain)


def _email_validator(address: str) -> str | None:
    try:
        checked = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return None
    return f"{checked.local_part}@{checked.ascii_domain}"


def _agrees_with_email_validator(address: str) -> None:
    """The fast path says yes only as email-validator does; `validate_address` answers as it."""
    expected = _email_validator(address)
    fast = _plainly_valid(address)
    assert fast is None or fast == expected
    if expected is None:
        with pytest.raises(InputError):
            validate_address(address)
    else:
        assert validate_address(address) == (expected, False)


@settings(max_examples=1500, deadline=None)
@given(_address)
def test_the_fast_path_accepts_only_what_email_validator_accepts_and_as_it_does(
    address: str,
) -> None:
    _agrees_with_email_validator(address)


def test_the_reserved_names_are_email_validators() -> None:
    assert frozenset(SPECIAL_USE_DOMAIN_NAMES) == _SPECIAL_USE


@pytest.mark.parametrize(
    ("address", "normalized"),
    [
        ("alice.smith@Example.COM", "alice.smith@example.com"),
        ("Alice+News@mail.example.org", "Alice+News@mail.example.org"),
        ("o'brien@example.co.uk", "o'brien@example.co.uk"),
    ],
)
def test_common_addresses_take_the_fast_path(address: str, normalized: str) -> None:
    assert _plainly_valid(address) == normalized
    assert validate_address(address) == (normalized, False)


def _long(total: int, label: int = 63) -> str:
    """An address `total` characters long whose domain labels are at most `label` long."""
    domain = "example.com"
    while len(domain) + 2 + label < total:
        domain = f"{'d' * label}.{domain}"
    return "a" * (total - 1 - len(domain)) + "@" + domain


@pytest.mark.parametrize(
    "address",
    [
        _long(254),
        _long(255),
        _long(120, label=64),
        "a" * 70 + "@example.com",  # email-validator allows a long local part (not strict)
        "a@b.co",
        "a@b.c0",
        "a@xn--bcher-kva.de",
        "a@x.test",
        "a@localhost",
    ],
)
def test_the_edges_agree_with_email_validator(address: str) -> None:
    _agrees_with_email_validator(address)


def test_a_list_of_common_addresses_does_not_load_email_validator() -> None:
    """email-validator (14 ms to import) loads for the first address that needs it only."""
    code = (
        "import sys; from core.recipients.address import validate_address; "
        "validate_address('alice@example.com'); print('email_validator' in sys.modules); "
        "validate_address('ann@bücher.de'); print('email_validator' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.split() == ["False", "True"]
