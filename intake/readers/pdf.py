"""Reads a PDF: text by pdfium (pypdf as fallback); fields, signatures, encryption by pypdf; OCR for scans."""

from __future__ import annotations

import io
import logging

import pypdf
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from intake.documents import ReadResult
from intake.readers import ocr
from intake.readers.limits import ReadLimits, Unreadable

# pypdf logs about every broken file it repairs; that is noise in our logs, and the result says enough.
logging.getLogger("pypdf").setLevel(logging.ERROR)

LOCKED = "password-protected PDF"
SCANNED_CHARS = 20  # fewer visible characters than this on a page with an image: treat the page as a scan
DPI = 200


def _pdfium_reason(exc: Exception) -> str:
    """pdfium's error names are fixed strings such as 'Data format error', safe to show."""
    detail = str(exc).partition("(PDFium: ")[2].rstrip(").") or type(exc).__name__
    return detail.lower()


def _open_pypdf(data: bytes) -> tuple[pypdf.PdfReader | None, bool]:
    """(reader, locked): the reader is None when pypdf cannot parse or decrypt it."""
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            # An empty user password is how "no copying" PDFs are made; they open for anyone.
            if reader.decrypt("") == pypdf.PasswordType.NOT_DECRYPTED:
                return None, True
        return reader, False
    except Exception:  # pypdf raises many types for broken files; pdfium decides if the file is readable
        return None, False


def _fields(reader: pypdf.PdfReader, result: ReadResult) -> None:
    """Filled AcroForm fields into form_fields; signed /Sig fields into signatures."""
    for name, field in (reader.get_fields() or {}).items():
        value = field.get("/V")
        if field.get("/FT") == "/Sig":
            if value is not None:
                result.signatures.append(f"PDF digital signature in field '{name}'")
            continue
        if value is None:
            continue
        if isinstance(value, list):
            text = ", ".join(str(v).lstrip("/") for v in value)
        else:
            text = str(value.get_object() if hasattr(value, "get_object") else value)
            text = text[1:] if isinstance(value, pypdf.generic.NameObject) else text
        if text.strip() and text != "Off":  # "Off" is an unticked box: it carries no answer
            result.form_fields[name] = text.strip()


def _is_scan(page, text: str) -> bool:
    if len("".join(text.split())) >= SCANNED_CHARS:
        return False
    return any(True for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2))


def _ocr_pages(doc: pdfium.PdfDocument, scans: list[int], texts: list[str], limits: ReadLimits,
               result: ReadResult) -> None:
    if not ocr.available():
        result.reason = "scanned PDF: OCR not available"
        return
    budget = ocr.Budget(limits.ocr_timeout)
    for index in scans[: limits.max_ocr_pages]:
        image = doc[index].render(scale=DPI / 72, grayscale=True).to_pil()
        text = ocr.ocr_image(image, budget)
        if text is None:
            result.reason = f"OCR stopped after {limits.ocr_timeout:g} s" if budget.left() <= 0 else "OCR failed"
            break
        texts[index] = text
        result.ocr = True
    if len(scans) > limits.max_ocr_pages and not result.reason:
        result.reason = f"OCR of the first {limits.max_ocr_pages} scanned pages only"
    if result.reason and not any(texts[i].strip() for i in scans if i < len(texts)) and ocr.available():
        # Nothing came out of the scan: to the rules the document would silently look absent.
        result.readable = False
        result.reason = f"scanned PDF could not be read: {result.reason}"


def _text_pdfium(doc: pdfium.PdfDocument, limits: ReadLimits, result: ReadResult) -> str:
    texts, scans = [], []
    for index in range(min(len(doc), limits.max_pages)):
        page = doc[index]
        text = page.get_textpage().get_text_range()
        texts.append(text)
        if _is_scan(page, text):
            scans.append(index)
    if scans:
        _ocr_pages(doc, scans, texts, limits, result)
    return "\n\n".join(texts)


def _text_pypdf(reader: pypdf.PdfReader, limits: ReadLimits) -> str:
    return "\n\n".join(page.extract_text() or "" for page in reader.pages[: limits.max_pages])


def read_pdf(data: bytes, limits: ReadLimits) -> ReadResult:
    """Text of the first max_pages pages, filled fields, signature evidence; unreadable if locked or corrupt."""
    result = ReadResult(format="pdf")
    reader, locked = _open_pypdf(data)
    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        reason = _pdfium_reason(exc)
        if locked or "password" in reason:
            raise Unreadable(LOCKED) from None
        if reader is None:
            raise Unreadable(f"corrupt PDF ({reason})") from None
        doc = None  # pypdf could repair what pdfium could not
    try:
        if doc is not None:
            result.pages = len(doc)
            result.text = _text_pdfium(doc, limits, result)
        else:
            result.pages = len(reader.pages)
            result.text = _text_pypdf(reader, limits)
    finally:
        if doc is not None:
            doc.close()
    if reader is not None:
        try:
            _fields(reader, result)
        except Exception:  # a broken AcroForm must not hide the text
            pass
    if not result.signatures and b"/ByteRange" in data:  # a signature dictionary outside any field pypdf found
        result.signatures.append("PDF digital signature (/ByteRange present)")
    result.text = result.text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").strip()
    return result
