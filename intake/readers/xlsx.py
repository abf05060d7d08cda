"""Reads an XLSX with openpyxl in read-only mode: each sheet's rows as text cells, bounded in rows and columns."""

from __future__ import annotations

import datetime as dt
import io

import openpyxl

from intake.documents import ReadResult
from intake.readers.limits import ReadLimits
from intake.readers.zipped import open_zip


def cell_text(value) -> str:
    """A cell as people would read it: dates without a midnight time, whole numbers without '.0'."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def trim(rows: list[list[str]]) -> list[list[str]]:
    """Rows without trailing empty cells, and without the empty rows formatting leaves at the end."""
    rows = [row[: max((i + 1 for i, cell in enumerate(row) if cell), default=0)] for row in rows]
    while rows and not rows[-1]:
        rows.pop()
    return rows


def flat_text(sheets: dict[str, list[list[str]]]) -> str:
    lines = []
    for name, rows in sheets.items():
        lines.append(name)
        lines.extend("\t".join(row) for row in rows if row)
        lines.append("")
    return "\n".join(lines).strip()


def read_xlsx(data: bytes, limits: ReadLimits) -> ReadResult:
    """Cached values (data_only), so formulas show what Excel last computed, not the formula."""
    open_zip(data, limits).close()  # refuse a bomb before openpyxl inflates it
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheets = {}
        for sheet in book.worksheets:
            rows = sheet.iter_rows(max_row=limits.max_rows, max_col=limits.max_cols, values_only=True)
            sheets[sheet.title] = trim([[cell_text(v) for v in row] for row in rows])
    finally:
        book.close()
    return ReadResult(format="xlsx", sheets=sheets, text=flat_text(sheets))
