"""Reads a DOCX with python-docx: headers, then body paragraphs and table rows in document order, then footers."""

from __future__ import annotations

import io

import docx
from docx.oxml.ns import qn
from docx.table import Table
from docx.text.paragraph import Paragraph

from intake.documents import ReadResult
from intake.readers.limits import ReadLimits
from intake.readers.zipped import open_zip


def _blocks(element, parent) -> list[str]:
    """Lines of one container: a paragraph is a line, a table row is a line of tab-separated cells."""
    lines = []
    for child in element.iterchildren():
        if child.tag == qn("w:p"):
            lines.append(Paragraph(child, parent).text)
        elif child.tag == qn("w:tbl"):
            lines.extend(_table(Table(child, parent)))
        elif child.tag == qn("w:sdt"):  # content controls: where Word forms keep their answers
            content = child.find(qn("w:sdtContent"))
            if content is not None:
                lines.extend(_blocks(content, parent))
    return lines


def _table(table: Table) -> list[str]:
    lines = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is returned once per grid column it spans
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(line for line in _blocks(cell._tc, cell) if line.strip()))
        lines.append("\t".join(cells))
    return lines


def _parts(sections, attr: str) -> list[str]:
    lines = []
    for section in sections:
        part = getattr(section, attr)
        if not part.is_linked_to_previous:  # a linked header repeats the previous section's
            lines.extend(_blocks(part._element, part))
    return lines


def read_docx(data: bytes, limits: ReadLimits) -> ReadResult:
    """All visible text of the document; tables keep one row per line."""
    open_zip(data, limits).close()  # refuse a bomb before python-docx inflates it
    document = docx.Document(io.BytesIO(data))
    lines = _parts(document.sections, "header")
    lines += _blocks(document.element.body, document._body)
    lines += _parts(document.sections, "footer")
    return ReadResult(format="docx", text="\n".join(line.rstrip() for line in lines))
