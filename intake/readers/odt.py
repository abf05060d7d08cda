"""Reads an OpenDocument text (.odt): the paragraphs and headings of content.xml, in order."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from intake.documents import ReadResult
from intake.readers.limits import ReadLimits, Unreadable
from intake.readers.zipped import open_zip

TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
LINES = {f"{{{TEXT}}}p", f"{{{TEXT}}}h"}


def _inline(element) -> str:
    """Text of one paragraph; <text:s>, <text:tab> and <text:line-break> stand for whitespace."""
    parts = [element.text or ""]
    for child in element:
        if child.tag == f"{{{TEXT}}}s":
            parts.append(" " * int(child.get(f"{{{TEXT}}}c", "1")))
        elif child.tag == f"{{{TEXT}}}tab":
            parts.append("\t")
        elif child.tag == f"{{{TEXT}}}line-break":
            parts.append("\n")
        elif child.tag not in LINES:  # a nested paragraph (in a frame or note) is its own line
            parts.append(_inline(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _lines(element, out: list[str]) -> None:
    for child in element:
        if child.tag in LINES:
            out.append(_inline(child).strip())
        _lines(child, out)


def read_odt(data: bytes, limits: ReadLimits) -> ReadResult:
    archive = open_zip(data, limits)
    try:
        content = archive.read("content.xml")
    except KeyError:
        raise Unreadable("corrupt OpenDocument file (no content.xml)") from None
    finally:
        archive.close()
    # expat refuses entity-expansion bombs ("billion laughs") since 2.4, so plain ElementTree is safe here.
    try:
        root = ET.fromstring(content)
    except ET.ParseError:
        raise Unreadable("corrupt OpenDocument file (content.xml is not XML)") from None
    lines: list[str] = []
    _lines(root, lines)
    return ReadResult(format="odt", text="\n".join(lines))
