"""The email-column menu offers exactly the names the import gives the columns."""

from __future__ import annotations

import io
from datetime import datetime

import openpyxl

from core.recipients import parse_bytes
from ui.web.recipient_import import Loaded, header_columns


def test_menu_names_are_the_parsers_column_names_for_typed_header_cells() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Work", datetime(2024, 5, 1), True, 2.5, 7, "=1+1", "Home"])
    sheet.append(["a@work.com", "", "", "", "", "", "a@home.com"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    loaded = Loaded("typed.xlsx", buffer.getvalue())
    report = parse_bytes(loaded.data, filename=loaded.name, email_column="Home")
    assert header_columns(loaded) == report.columns
    assert report.columns == ("Work", "2024-05-01", "TRUE", "2.5", "7", "Home")
