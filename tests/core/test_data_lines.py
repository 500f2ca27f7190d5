"""What DATA puts on the wire: CRLF line ends, leading dots doubled, a final CRLF.

`data_lines` skips its substitutions when they would change nothing; Hypothesis checks it
against the plain two-substitution definition, on bytes rich in CR, LF and dots.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.transport.pipeline import data_lines


def reference(payload: bytes) -> bytes:
    data = re.sub(rb"\r\n|\r|\n", b"\r\n", payload)
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


@pytest.mark.parametrize(
    ("payload", "wire"),
    [
        (b"Subject: x\r\n\r\nbody\r\n", b"Subject: x\r\n\r\nbody\r\n"),
        (b"a\nb\n", b"a\r\nb\r\n"),  # bare LF
        (b"a\rb", b"a\r\nb\r\n"),  # bare CR, no final line end
        (b"a\r\n\r\r\nb\r\n", b"a\r\n\r\n\r\nb\r\n"),  # a CR alone between CRLFs
        (b".hidden\r\n", b"..hidden\r\n"),  # a dot opening the message
        (b"a\r\n.\r\nb\r\n", b"a\r\n..\r\nb\r\n"),  # a lone dot would end the message
        (b"a\n.b", b"a\r\n..b\r\n"),  # both at once
        (b"", b"\r\n"),
    ],
)
def test_wire_form(payload: bytes, wire: bytes) -> None:
    assert data_lines(payload) == wire


PIECES = st.sampled_from([b"\r", b"\n", b"\r\n", b".", b"a", b" ", b"\xc3\xa9"])


@settings(max_examples=500)
@given(st.lists(PIECES).map(b"".join))
def test_same_as_the_substitutions(payload: bytes) -> None:
    assert data_lines(payload) == reference(payload)


@given(st.binary(max_size=200))
def test_same_as_the_substitutions_on_any_bytes(payload: bytes) -> None:
    assert data_lines(payload) == reference(payload)
