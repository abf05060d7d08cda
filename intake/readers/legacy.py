"""Recognises files this service does not read (old binary Office, RTF, other containers) and says why."""

from __future__ import annotations

from intake.documents import ReadResult
from intake.readers.limits import ReadLimits, Unreadable

OLD_OFFICE = "old Word/Excel format (.doc/.xls): please send as PDF, DOCX or XLSX"


def read_ole2(data: bytes, limits: ReadLimits) -> ReadResult:
    """OLE2 is .doc/.xls, but also a password-protected DOCX/XLSX, which Office wraps in the same container."""
    if "EncryptedPackage".encode("utf-16-le") in data:
        raise Unreadable("password-protected Office document")
    raise Unreadable(OLD_OFFICE)


def read_rtf(data: bytes, limits: ReadLimits) -> ReadResult:
    raise Unreadable("RTF format: please send as PDF, DOCX or XLSX")
