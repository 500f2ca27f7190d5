"""The first worksheet of an XLSX, streamed: only cells present, only columns with a header."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, datetime, time
from types import TracebackType
from typing import Any

from core.errors import InputError

__all__ = ["MAX_CELLS", "MAX_COLUMNS", "Sheet", "cell_text"]

MAX_COLUMNS = 1_000  # named columns in the header row; past this the file is refused
MAX_CELLS = 10_000_000  # cells present in the worksheet's XML (empty styled ones count too)


def cell_text(value: object) -> str:
    """A worksheet value as the text a person sees in the cell (roughly).

    Numbers read as shown (3.0 -> "3"), dates as ISO 8601, booleans as TRUE/FALSE; the
    header row's names and the data cells go through this same function.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


_SparseRow = list[tuple[int, str]]  # (1-based column, text) for each cell present


class Sheet:
    """The first worksheet of a workbook, read once, front to back (a context manager).

    openpyxl's read-only mode is used, but not its `iter_rows`: that pads every row to
    its last cell, so one cell in column XFD makes 16,384 values per row. Here each row
    is the cells its XML holds, and only the columns whose header cell has a value are
    kept; a cell in a column without a header is not read into the table. Formulas give
    their cached result (no result: empty). Past `max_columns` named columns or
    `max_cells` cells present, `InputError` says so.
    """

    def __init__(
        self,
        data: bytes,
        *,
        source: str,
        max_columns: int = MAX_COLUMNS,
        max_cells: int = MAX_CELLS,
    ) -> None:
        self.source = source
        self.max_columns = max_columns
        self.max_cells = max_cells
        self.header_line = 0
        self.header: tuple[str, ...] = ()  # header texts of the kept columns, left to right
        self._columns: dict[int, int] = {}  # sheet column -> position in `header`
        self._cells = 0
        # Imported on use: openpyxl is slow to import and only XLSX needs it.
        from openpyxl import load_workbook

        try:
            self._workbook: Any = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # a damaged or foreign file fails in many ways inside openpyxl
            raise InputError(
                "not a readable .xlsx workbook (an old .xls file must be saved as .xlsx or CSV)",
                source=source,
            ) from exc
        try:
            if not self._workbook.worksheets:
                raise InputError("the workbook has no worksheet", source=source)
            self._rows = self._sparse_rows(self._workbook.worksheets[0])
            self._find_header()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Sheet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the workbook's file handles."""
        self._workbook.close()

    def _sparse_rows(self, sheet: Any) -> Iterator[tuple[int, _SparseRow]]:
        """(sheet row number, cells present) per row; openpyxl's errors become `InputError`."""
        from openpyxl.worksheet._reader import WorkSheetParser

        workbook = self._workbook
        line = 0
        try:
            with sheet._get_source() as src:  # what ReadOnlyWorksheet._cells_by_row reads
                parser = WorkSheetParser(
                    src,
                    sheet._shared_strings,
                    data_only=True,
                    epoch=workbook.epoch,
                    date_formats=workbook._date_formats,
                    timedelta_formats=workbook._timedelta_formats,
                )
                for line, cells in parser.parse():
                    self._cells += len(cells)
                    if self._cells > self.max_cells:
                        raise InputError(
                            f"the worksheet has more than {self.max_cells:,} cells; "
                            "delete unused rows and columns or split the file",
                            source=self.source,
                            line=line,
                        )
                    yield line, [(cell["column"], cell_text(cell["value"])) for cell in cells]
        except InputError:
            raise
        except Exception as exc:  # openpyxl raises many kinds on damaged XML
            raise InputError(
                f"damaged worksheet: {exc}", source=self.source, line=line + 1
            ) from exc

    def _find_header(self) -> None:
        """The first row with a value is the header; its named columns are the table's."""
        for line, cells in self._rows:
            named = [(column, text) for column, text in cells if text.strip()]
            if not named:
                continue
            if len(named) > self.max_columns:
                raise InputError(
                    f"the header row has {len(named):,} named columns, over the "
                    f"{self.max_columns:,}-column limit",
                    source=self.source,
                    line=line,
                )
            self.header_line = line
            self.header = tuple(text for _, text in named)
            self._columns = {column: index for index, (column, _) in enumerate(named)}
            return

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(sheet row number, one text per header column) for each row under the header."""
        width = len(self.header)
        columns = self._columns
        for line, cells in self._rows:
            values = [""] * width
            for column, text in cells:
                index = columns.get(column)
                if index is not None:
                    values[index] = text
            yield line, values
