"""The plain-address fast paths skip a parser only where the parser would change nothing."""

from __future__ import annotations

from aiosmtplib.email import quote_address
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InputError
from core.recipients import is_plain_address
from core.recipients.address import _PLAIN_ADDRESS
from core.suppression import suppression_key
from core.transport.pipeline import envelope_groups

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
