"""Readers on real files of every kind, made here, plus the real attachments of one wrapped corpus mail."""

from __future__ import annotations

import email
import email.policy
import faulthandler
import io
import multiprocessing
import os
import shutil
import signal
import time
import zipfile

import docx
import openpyxl
import pytest
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont
from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, FloatObject, NameObject, NumberObject, TextStringObject

from intake import readers
from intake.documents import FileItem
from intake.readers import ReadLimits, detect_format, read, read_isolated
from intake.readers import ocr as ocr_mod

from tests.conftest import SHARED  # noqa: E402

CORPUS = SHARED / "corpus" / "wrapped"
REF = "2026-01342-01"
needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")
needs_fork = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                                reason="monkeypatched readers reach the child only with fork")


def item(name: str, data: bytes, content_type: str = "application/octet-stream") -> FileItem:
    return FileItem(filename=name, content_type=content_type, data=data)


# ---- file makers ----------------------------------------------------------------------------------------

def make_pdf(lines=("Ansökan om etikprövning", f"Dnr {REF}"), pages: int = 1) -> bytes:
    pdf = FPDF()
    for number in range(pages):
        pdf.add_page()
        pdf.set_font("helvetica", size=12)
        for line in lines:
            pdf.cell(0, 8, f"{line} (sida {number + 1})" if pages > 1 else line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def encrypt(data: bytes, user: str, owner: str = "ägare") -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(data))
    writer.encrypt(user_password=user, owner_password=owner, algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_form_pdf() -> bytes:
    """A one-page form with a text field filled by pypdf and a signed signature field."""
    writer = PdfWriter(clone_from=io.BytesIO(make_pdf(["Ansökningsblankett"])))
    page = writer.pages[0]

    def widget(kind: str, name: str, top: float, **extra) -> object:
        annot = DictionaryObject({
            NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/Widget"),
            NameObject("/FT"): NameObject(kind), NameObject("/T"): TextStringObject(name),
            NameObject("/Rect"): ArrayObject([FloatObject(v) for v in (50, top, 300, top + 20)]),
            NameObject("/F"): NumberObject(4)})
        annot.update({NameObject(key): value for key, value in extra.items()})
        return writer._add_object(annot)

    title = widget("/Tx", "Projekttitel", 700, **{"/DA": TextStringObject("/Helv 10 Tf 0 g")})
    empty = widget("/Tx", "Övrigt", 660)
    signed = writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Sig"), NameObject("/Filter"): NameObject("/Adobe.PPKLite"),
        NameObject("/ByteRange"): ArrayObject([NumberObject(0)] * 4)}))
    signature = widget("/Sig", "Signatur1", 600, **{"/V": signed})
    page[NameObject("/Annots")] = ArrayObject([title, empty, signature])
    helvetica = writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica")}))
    writer._root_object[NameObject("/AcroForm")] = DictionaryObject({
        NameObject("/Fields"): ArrayObject([title, empty, signature]),
        NameObject("/DA"): TextStringObject("/Helv 10 Tf 0 g"),
        NameObject("/DR"): DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/Helv"): helvetica})})})
    writer.update_page_form_field_values(page, {"Projekttitel": "ÅTER-KORS återgång till idrott"},
                                         auto_regenerate=False)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def text_image(lines) -> Image.Image:
    image = Image.new("L", (1240, 140 + 120 * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=48)
    for number, line in enumerate(lines):
        draw.text((60, 80 + 120 * number), line, fill=0, font=font)
    return image


def make_scanned_pdf() -> bytes:
    """A page that holds only a picture of text, as a scanner makes it."""
    pdf = FPDF()
    pdf.add_page()
    pdf.image(text_image(["Samtyckesblankett", "Jag samtycker till att delta"]), x=10, y=10, w=190)
    return bytes(pdf.output())


def make_docx() -> bytes:
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = "Kustlanda universitet"
    document.add_heading("Forskningsplan", level=1)
    document.add_paragraph("Frågeställningar")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Variabel", "Källa"
    table.cell(1, 0).text, table.cell(1, 1).text = "Födelseår", "Journalsystemet"
    document.add_paragraph("Efter tabellen")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_xlsx() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Variabler"
    sheet.append(["Variabellista – ÅTER-KORS"])
    sheet.append(["Variabel", "Källa", "Från", "Antal"])
    sheet.append(["Diagnoskod", "Journal", __import__("datetime").datetime(2024, 1, 1), 420.0])
    book.create_sheet("Anteckningar").append([f"Dnr {REF}"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def make_xlsx_bomb() -> bytes:
    """A real workbook whose sheet XML is 30 MB of one repeated row, compressing about 1000x."""
    original = zipfile.ZipFile(io.BytesIO(make_xlsx()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for info in original.infolist():
            data = original.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                row = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>'
                data = data.replace(b"<sheetData>", b"<sheetData>" + row * (30_000_000 // len(row)), 1)
            bomb.writestr(info.filename, data)
    return out.getvalue()


def make_odt() -> bytes:
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        "<office:body><office:text>"
        "<text:h>Följebrev</text:h>"
        "<text:p>Hej,<text:s text:c=\"2\"/>här kommer vår ansökan.</text:p>"
        "</office:text></office:body></office:document-content>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text", compress_type=zipfile.ZIP_STORED)
        archive.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


# ---- PDF ------------------------------------------------------------------------------------------------

def test_pdf_text():
    result = read(item("ansokan.pdf", make_pdf()))
    assert (result.readable, result.format, result.pages, result.ocr) == (True, "pdf", 1, False)
    assert "Ansökan om etikprövning" in result.text and REF in result.text


def test_pdf_only_first_max_pages_are_read():
    result = read(item("lang.pdf", make_pdf(["Forskningsplan"], pages=4)), ReadLimits(max_pages=2))
    assert result.pages == 4
    assert "(sida 2)" in result.text and "(sida 3)" not in result.text


def test_pdf_with_user_password_is_unreadable():
    result = read(item("hemlig.pdf", encrypt(make_pdf(), user="hemligt")))
    assert (result.readable, result.reason, result.format) == (False, "password-protected PDF", "pdf")


def test_pdf_with_only_an_owner_password_opens_with_the_empty_password():
    result = read(item("skyddad.pdf", encrypt(make_pdf(), user="")))
    assert result.readable and REF in result.text


def test_pdf_form_fields_and_signature_field():
    result = read(item("blankett.pdf", make_form_pdf()))
    assert result.readable
    assert result.form_fields == {"Projekttitel": "ÅTER-KORS återgång till idrott"}
    assert result.signatures == ["PDF digital signature in field 'Signatur1'"]


def test_truncated_pdf_is_corrupt():
    data = make_pdf(pages=3)
    result = read(item("trasig.pdf", data[: len(data) // 2]))
    assert not result.readable and result.reason.startswith("corrupt PDF (")
    assert len(result.reason) < 60


@needs_tesseract
def test_image_only_pdf_is_read_by_ocr():
    result = read_isolated(item("skannad.pdf", make_scanned_pdf()))
    assert result.readable and result.ocr and result.reason is None
    assert "samtyckesblankett" in result.text.lower()


def test_image_only_pdf_without_tesseract_stays_readable(monkeypatch):
    monkeypatch.setattr(ocr_mod, "available", lambda: False)
    result = read(item("skannad.pdf", make_scanned_pdf()))
    assert (result.readable, result.text.strip(), result.ocr) == (True, "", False)
    assert result.reason == "scanned PDF: OCR not available"


@needs_tesseract
def test_image_is_read_by_ocr():
    out = io.BytesIO()
    text_image(["Forskningsplan"]).save(out, format="PNG")
    result = read(item("foto.png", out.getvalue(), "image/png"))
    assert (result.readable, result.format, result.ocr) == (True, "image", True)
    assert "forskningsplan" in result.text.lower()


# ---- Office, OpenDocument, CSV, text --------------------------------------------------------------------

def test_docx_paragraphs_table_and_header_in_order():
    result = read(item("plan.docx", make_docx()))
    assert result.readable and result.format == "docx"
    lines = result.text.splitlines()
    assert lines[0] == "Kustlanda universitet"
    assert lines.index("Frågeställningar") < lines.index("Variabel\tKälla") < lines.index("Efter tabellen")
    assert "Födelseår\tJournalsystemet" in lines


def test_xlsx_sheets_and_text():
    result = read(item("variabler.xlsx", make_xlsx()))
    assert result.readable and result.format == "xlsx"
    assert result.sheets["Variabler"] == [
        ["Variabellista – ÅTER-KORS"],
        ["Variabel", "Källa", "Från", "Antal"],
        ["Diagnoskod", "Journal", "2024-01-01", "420"],
    ]
    assert result.sheets["Anteckningar"] == [[f"Dnr {REF}"]]
    assert "Variabel\tKälla\tFrån\tAntal" in result.text and REF in result.text


def test_xlsx_rows_and_columns_are_bounded():
    book = openpyxl.Workbook()
    for number in range(50):
        book.active.append([f"r{number}c{col}" for col in range(20)])
    out = io.BytesIO()
    book.save(out)
    result = read(item("stor.xlsx", out.getvalue()), ReadLimits(max_rows=10, max_cols=3))
    assert len(result.sheets["Sheet"]) == 10 and all(len(row) == 3 for row in result.sheets["Sheet"])


def test_xlsx_zip_bomb_is_unreadable():
    data = make_xlsx_bomb()
    assert len(data) < 300_000
    result = read_isolated(item("bomb.xlsx", data))
    assert (result.readable, result.format) == (False, "xlsx")
    assert result.reason == "zip bomb: expands more than 100x"


def test_csv_semicolons_in_cp1252():
    data = "Variabel;Källa;Period\r\nFödelseår;Journal;2024–2026\r\n".encode("cp1252")
    result = read(item("variabler.csv", data, "text/csv"))
    assert result.readable and result.format == "csv"
    assert result.sheets["variabler.csv"] == [["Variabel", "Källa", "Period"], ["Födelseår", "Journal", "2024–2026"]]


def test_odt():
    result = read(item("foljebrev.odt", make_odt()))
    assert (result.readable, result.format) == (True, "odt")
    assert result.text == "Följebrev\nHej,  här kommer vår ansökan."


def test_html_drops_script_and_is_never_rendered():
    page = ("<!DOCTYPE html><html><head><title>Följebrev</title><style>p{color:red}</style></head>"
            "<body><script>alert('x')</script><p>Hej &amp; välkommen</p><img src='http://tracker.example/x.png'>"
            "</body></html>").encode()
    result = read(item("brev", page))
    assert result.format == "html"
    assert result.text == "Följebrev\n\nHej & välkommen"


def test_plain_text_charsets():
    assert read(item("a.txt", "Ärende åäö".encode())).text == "Ärende åäö"
    assert read(item("b.txt", "Ärende åäö".encode("cp1252"))).text == "Ärende åäö"
    assert read(item("c.txt", "Ärende".encode("utf-8-sig"))).text == "Ärende"


def test_ole2_is_an_old_office_format():
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    result = read(item("ansokan.doc", data, "application/msword"))
    assert not result.readable
    assert result.reason == "old Word/Excel format (.doc/.xls): please send as PDF, DOCX or XLSX"


def test_content_wins_over_name_and_type():
    assert detect_format(item("bilaga.bin", make_pdf(), "application/octet-stream")) == "pdf"
    assert detect_format(item("plan.pdf", make_docx(), "application/pdf")) == "docx"
    assert detect_format(item("bilaga", make_xlsx())) == "xlsx"
    assert detect_format(item("x.doc", make_odt())) == "odt"
    assert detect_format(item("data.csv", b"a;b\n1;2\n")) == "csv"
    assert detect_format(item("noname", b"\x00\x01\x02garbage")) == "unknown"
    assert not read(item("noname", b"\x00\x01\x02garbage")).readable


# ---- isolation ------------------------------------------------------------------------------------------

def _raise_with_content(item_, limits):
    raise ValueError(f"cannot parse {item_.data!r}")


def _sleep_forever(item_, limits):
    time.sleep(3600)


def _use_too_much_memory(item_, limits):
    return bytearray(2 * limits.memory_mb * 1024 * 1024)


def _crash(item_, limits):
    faulthandler.disable()  # pytest's fault handler would print the child's stack on the way down
    os.kill(os.getpid(), signal.SIGSEGV)


def test_reader_exception_becomes_a_reason_without_content(monkeypatch):
    monkeypatch.setitem(readers.READERS, "text", _raise_with_content)
    result = read(item("a.txt", b"personnummer 19121212-1212"))
    assert (result.readable, result.reason) == (False, "could not read text file (ValueError)")


def test_read_isolated_returns_the_reader_result():
    result = read_isolated(item("ansokan.pdf", make_pdf()))
    assert result.readable and REF in result.text


@needs_fork
def test_read_isolated_times_out(monkeypatch):
    monkeypatch.setitem(readers.READERS, "text", _sleep_forever)
    started = time.monotonic()
    result = read_isolated(item("a.txt", b"text"), ReadLimits(timeout=0.5))
    assert time.monotonic() - started < 5
    assert (result.readable, result.reason, result.format) == (False, "reading took longer than 0.5 s", "text")


@needs_fork
def test_read_isolated_caps_memory(monkeypatch):
    monkeypatch.setitem(readers.READERS, "text", _use_too_much_memory)
    result = read_isolated(item("a.txt", b"text"), ReadLimits(memory_mb=300))
    assert (result.readable, result.reason) == (False, "reading needed more than 300 MB")


@needs_fork
def test_read_isolated_survives_a_crash(monkeypatch):
    monkeypatch.setitem(readers.READERS, "text", _crash)
    result = read_isolated(item("a.txt", b"text"))
    assert (result.readable, result.reason) == (False, "the reader crashed")


# ---- the corpus -----------------------------------------------------------------------------------------

def test_attachments_of_pdf_without_content_disposition():
    """README: all six documents of application B open; four of them carry 2026-01342-01."""
    raw = (CORPUS / "pdf-without-content-disposition.eml").read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    files = {part.get_filename(): item(part.get_filename(), part.get_payload(decode=True), part.get_content_type())
             for part in message.walk() if part.get_filename()}
    with_ref = {"Application form HOME-PR signed.pdf", "Ethics application 2026-01342-01.pdf",
                "EPM decision 2026-01342-01.pdf", "HOME-PR variable list.xlsx"}
    without_ref = {"Research plan HOME-PR v1.3.docx", "Participant information and consent form v1.0.pdf"}
    assert set(files) == with_ref | without_ref
    for name, file in files.items():
        result = read_isolated(file)
        assert result.readable, (name, result.reason)
        assert result.text.strip(), name
        assert (REF in result.text) == (name in with_ref), name
