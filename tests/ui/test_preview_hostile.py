"""The Compose preview on hostile rows: a problem to show, never an exception."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from core.models import Account, Recipient, Template
from ui.web.compose_preview import render_preview

ACCOUNT = Account(host="smtp.example.com", port=587, sender="news@example.com")
TEMPLATE = Template(
    subject="Hi {{ name }}", body="b", to="{{ name }} <{{ email }}>", cc=("{{ cc }}",)
)


@pytest.mark.parametrize("name", [".", " .", "Bob: victim@evil.com;", "Bob <victim@evil.com>, x"])
def test_a_hostile_name_previews_as_a_quoted_name(name: str) -> None:
    row = Recipient(
        email="jane@example.com", fields=MappingProxyType({"name": name, "cc": ""}), line=2
    )
    shown = render_preview(TEMPLATE, row, ACCOUNT)
    assert shown.error == ""
    assert shown.view is not None


@pytest.mark.parametrize("cc", [". <x@y.com>", " . <x@y.com>", "Bob: v@e.com; <x@y.com>"])
def test_a_value_the_parser_chokes_on_is_the_rows_problem(cc: str) -> None:
    row = Recipient(
        email="jane@example.com", fields=MappingProxyType({"name": "Jane", "cc": cc}), line=2
    )
    shown = render_preview(TEMPLATE, row, ACCOUNT)
    assert shown.view is None
    assert shown.error.startswith("line 2, field 'cc[0]'")
