"""Turns one file into a ReadResult: recognises its format by content first, name second, and calls that reader."""

from __future__ import annotations

import os
from typing import Callable

from intake.documents import FileItem, ReadResult
from intake.readers.csv import read_csv
from intake.readers.docx import read_docx
from intake.readers.image import read_image
from intake.readers.legacy import read_ole2, read_rtf
from intake.readers.limits import DEFAULT_LIMITS, ReadLimits, Unreadable, memory_reason, read_isolated
from intake.readers.odt import read_odt
from intake.readers.pdf import read_pdf
from intake.readers.text import read_html, read_text
from intake.readers.xlsx import read_xlsx
from intake.readers.zipped import zip_format

__all__ = ["READERS", "ReadLimits", "detect_format", "read", "read_isolated"]

Reader = Callable[[FileItem, ReadLimits], ReadResult]


def _on_data(reader) -> Reader:
    return lambda item, limits: reader(item.data, limits)


# One entry per format; tests swap entries to simulate slow or crashing readers.
READERS: dict[str, Reader] = {
    "pdf": _on_data(read_pdf),
    "docx": _on_data(read_docx),
    "xlsx": _on_data(read_xlsx),
    "odt": _on_data(read_odt),
    "csv": lambda item, limits: read_csv(item.data, limits, name=item.filename or "csv"),
    "html": _on_data(read_html),
    "text": _on_data(read_text),
    "image": _on_data(read_image),
    "ole2": _on_data(read_ole2),
    "rtf": _on_data(read_rtf),
}

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
IMAGES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"GIF87a", b"GIF89a")
BY_EXTENSION = {
    ".pdf": "pdf", ".docx": "docx", ".docm": "docx", ".xlsx": "xlsx", ".xlsm": "xlsx", ".odt": "odt",
    ".csv": "csv", ".tsv": "csv", ".htm": "html", ".html": "html", ".txt": "text", ".doc": "ole2",
    ".xls": "ole2", ".rtf": "rtf", ".png": "image", ".jpg": "image", ".jpeg": "image", ".tif": "image",
    ".tiff": "image", ".gif": "image", ".bmp": "image", ".webp": "image",
}
BY_TYPE = {
    "application/pdf": "pdf", "text/csv": "csv", "text/html": "html", "text/plain": "text",
    "application/msword": "ole2", "application/vnd.ms-excel": "ole2", "application/rtf": "rtf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.oasis.opendocument.text": "odt",
}


def _is_bmp(data: bytes) -> bool:
    return data[:2] == b"BM" and len(data) > 26 and data[6:10] == b"\x00\x00\x00\x00"  # reserved bytes


def _by_content(data: bytes) -> str | None:
    head = data[:1024]
    if b"%PDF-" in head:  # the header may follow some junk; readers accept that
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return zip_format(data) or "zip"  # "zip" has no reader; read() explains it
    if data.startswith(OLE2):
        return "ole2"
    if data.startswith(IMAGES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP") or _is_bmp(data):
        return "image"
    if data.startswith(b"{\\rtf"):
        return "rtf"
    return None


def _looks_like_text(data: bytes) -> bool:
    sample = data[:8192]
    return not sample or sample.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" not in sample


def _looks_like_html(data: bytes) -> bool:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<body" in head


def detect_format(item: FileItem) -> str:
    """pdf, docx, xlsx, odt, csv, html, text, image, ole2, rtf; other names (zip, pptx, unknown) have no reader."""
    found = _by_content(item.data)
    if found:
        return found
    extension = os.path.splitext(item.filename or "")[1].lower()
    content_type = (item.content_type or "").split(";")[0].strip().lower()
    claimed = BY_EXTENSION.get(extension) or BY_TYPE.get(content_type)
    if claimed in ("csv", "html", "text"):
        return claimed if _looks_like_text(item.data) else "unknown"
    if claimed:
        return claimed  # e.g. a ".pdf" without a PDF header: its reader says what is wrong
    if _looks_like_text(item.data):
        return "html" if _looks_like_html(item.data) else "text"
    return "unknown"


def read(item: FileItem, limits: ReadLimits = DEFAULT_LIMITS) -> ReadResult:
    """What `item` says, or readable=False with a short reason; exceptions never escape and never quote content."""
    fmt = detect_format(item)
    reader = READERS.get(fmt)
    if reader is None:
        if fmt == "zip" and os.path.splitext(item.filename or "")[1].lower() in (".docx", ".xlsx", ".odt", ".pptx"):
            reason = "corrupt Word/Excel/OpenDocument file (the archive inside is damaged or cut off)"
        elif fmt == "zip":
            reason = "an archive that could not be opened (damaged, or not a real zip)"
        else:
            reason = f"unsupported file type ({fmt})"
        return ReadResult(readable=False, reason=reason, format=fmt)
    try:
        result = reader(item, limits)
    except Unreadable as exc:
        result = ReadResult(readable=False, reason=str(exc))
    except MemoryError:
        result = ReadResult(readable=False, reason=memory_reason(limits))
    except RecursionError:
        result = ReadResult(readable=False, reason=f"{fmt} file nested too deeply")
    except Exception as exc:  # a broken file can make any library raise anything
        result = ReadResult(readable=False, reason=f"could not read {fmt} file ({type(exc).__name__})")
    result.format = result.format or fmt
    if len(result.text) > limits.max_text_chars:
        result.text = result.text[: limits.max_text_chars]
    return result
