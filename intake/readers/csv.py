"""Reads a CSV or TSV file: charset guessed, delimiter sniffed, rows bounded like a spreadsheet's."""

from __future__ import annotations

import csv
import io

from intake.documents import ReadResult
from intake.readers.limits import ReadLimits
from intake.readers.text import decode
from intake.readers.xlsx import flat_text, trim

DELIMITERS = ";,\t|"  # Swedish Excel writes ';' because ',' is the decimal separator


def _dialect(sample: str):
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS)
    except csv.Error:
        first = sample.split("\n", 1)[0]
        best = max(DELIMITERS, key=first.count)

        class Fallback(csv.excel):
            delimiter = best

        return Fallback


def read_csv(data: bytes, limits: ReadLimits, name: str = "csv") -> ReadResult:
    text = decode(data[: limits.max_text_chars * 4])
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text[:20_000]))
    rows = []
    for row in reader:
        if len(rows) >= limits.max_rows:
            break
        rows.append([cell.strip() for cell in row[: limits.max_cols]])
    sheets = {name: trim(rows)}
    return ReadResult(format="csv", sheets=sheets, text=flat_text(sheets))
