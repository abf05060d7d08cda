"""Opens ZIP-based documents (OOXML, ODF) only after checking they cannot expand into a decompression bomb."""

from __future__ import annotations

import io
import zipfile

from intake.readers.limits import ReadLimits, Unreadable

MAX_RATIO = 100  # real DOCX/XLSX/ODT compress 5-20x; a bomb compresses about 1000x
RATIO_FLOOR = 10 * 1024 * 1024  # below this, a high ratio costs nothing and tiny files often have one


def open_zip(data: bytes, limits: ReadLimits) -> zipfile.ZipFile:
    """The archive, or Unreadable if its declared sizes are a bomb (zipfile never inflates past them)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise Unreadable(f"corrupt ZIP container ({type(exc).__name__})") from None
    total = sum(info.file_size for info in archive.infolist())
    if total > RATIO_FLOOR and total > MAX_RATIO * max(len(data), 1):
        raise Unreadable(f"zip bomb: expands more than {MAX_RATIO}x")
    if total > limits.memory_mb * 1024 * 1024:
        raise Unreadable(f"expands to more than {limits.memory_mb} MB")
    if any(info.flag_bits & 0x1 for info in archive.infolist()):
        raise Unreadable("password-protected ZIP container")
    return archive


def zip_format(data: bytes) -> str | None:
    """Which document a ZIP holds, from its member names: docx, xlsx, pptx, odt, ods, odp, or None."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = set(archive.namelist())
        if "word/document.xml" in names:
            return "docx"
        if "xl/workbook.xml" in names:
            return "xlsx"
        if "ppt/presentation.xml" in names:
            return "pptx"
        if "mimetype" in names and archive.getinfo("mimetype").file_size < 200:
            mimetype = archive.read("mimetype").decode("ascii", "replace").strip()
            return {
                "application/vnd.oasis.opendocument.text": "odt",
                "application/vnd.oasis.opendocument.spreadsheet": "ods",
                "application/vnd.oasis.opendocument.presentation": "odp",
            }.get(mimetype)
        if "content.xml" in names:
            return "odt"
    except (zipfile.BadZipFile, OSError, ValueError, KeyError):
        return None
    return None
