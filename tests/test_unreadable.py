"""Every unreadable case, with a real file made here, inside a full mail through `inspect_bytes`.

Each case must end as an attachment with `readable: false` and a reason, or as a recorded problem (what unpacking
could not take apart), and in both cases the `attachments.readable` finding is `failed` and cites it. The reason
is read by a coordinator: one short line that names the problem, never a traceback.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import struct
import subprocess
import time
import uuid
import zipfile
import zlib
from email.message import EmailMessage

import docx
import pytest
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont
from pypdf import PdfWriter

from intake import reading
from intake.inspect import inspect_bytes
from intake.readers import ReadLimits

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
PDF_TYPE = "application/pdf"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")


# --- real files -------------------------------------------------------------------------------------------------

def make_pdf(pages: int = 3) -> bytes:
    pdf = FPDF()
    for number in range(pages):
        pdf.add_page()
        pdf.set_font("helvetica", size=12)
        pdf.cell(0, 8, f"Ansökan om etikprövning, Dnr 2026-01342-01 (sida {number + 1})")
    return bytes(pdf.output())


def encrypt_pdf(data: bytes, algorithm: str) -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(data))
    writer.encrypt(user_password="hemligt", owner_password="ägare", algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_scanned_pdf(pages: int = 1) -> bytes:
    """Pages holding only a picture of text, as a scanner makes them."""
    pdf = FPDF()
    for number in range(pages):
        image = Image.new("L", (1240, 500), 255)
        draw = ImageDraw.Draw(image)
        font = ImageFont.load_default(size=48)
        for row, line in enumerate(["Samtyckesblankett", f"Sida {number + 1}", "Jag samtycker till att delta"]):
            draw.text((60, 80 + 120 * row), line, fill=0, font=font)
        pdf.add_page()
        pdf.image(image, x=10, y=10, w=190)
    return bytes(pdf.output())


def make_docx() -> bytes:
    document = docx.Document()
    document.add_heading("Forskningsplan", level=1)
    document.add_paragraph("Syfte och frågeställningar för studien ÅTER-KORS.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xEDB88320 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC = _crc_table()


class _ZipCrypto:
    """Traditional PKWARE encryption (APPNOTE 6.1), what `zip -e` and Windows' "compressed folder" password use."""

    def __init__(self, password: bytes):
        self.keys = [0x12345678, 0x23456789, 0x34567890]
        for byte in password:
            self._update(byte)

    def _update(self, byte: int) -> None:
        k0, k1, k2 = self.keys
        k0 = (k0 >> 8) ^ _CRC[(k0 ^ byte) & 0xFF]
        k1 = ((k1 + (k0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        k2 = (k2 >> 8) ^ _CRC[(k2 ^ (k1 >> 24)) & 0xFF]
        self.keys = [k0, k1, k2]

    def encrypt(self, data: bytes) -> bytes:
        out = bytearray()
        for plain in data:
            temp = (self.keys[2] | 2) & 0xFFFF
            out.append(plain ^ (((temp * (temp ^ 1)) >> 8) & 0xFF))
            self._update(plain)
        return bytes(out)


def make_encrypted_zip(members: dict[str, bytes], password: bytes) -> bytes:
    """A real password-protected zip (deflated, ZipCrypto): zipfile and unzip open it with the password."""
    out, central = io.BytesIO(), []
    for name, data in members.items():
        crc = zlib.crc32(data)
        deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
        compressed = deflate.compress(data) + deflate.flush()
        cipher = _ZipCrypto(password)
        payload = cipher.encrypt(os.urandom(11) + bytes([crc >> 24])) + cipher.encrypt(compressed)
        encoded, offset = name.encode(), out.tell()
        # version 2.0, flags: bit 0 = encrypted, method 8 = deflate, DOS time/date 0 / 1980-01-01
        out.write(struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0x1, 8, 0, 0x21, crc, len(payload), len(data),
                              len(encoded), 0) + encoded + payload)
        central.append(struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0x1, 8, 0, 0x21, crc, len(payload),
                                   len(data), len(encoded), 0, 0, 0, 0, 0, offset) + encoded)
    start = out.tell()
    out.write(b"".join(central))
    out.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(central), len(central), out.tell() - start, start, 0))
    return out.getvalue()


@pytest.fixture(scope="module")
def old_doc(tmp_path_factory) -> bytes:
    """A real Word 97-2003 .doc made by LibreOffice; without it, the OLE2 header bytes every .doc starts with."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice:
        folder = tmp_path_factory.mktemp("doc")
        (folder / "plan.docx").write_bytes(make_docx())
        try:
            subprocess.run([soffice, f"-env:UserInstallation={(folder / 'profile').as_uri()}", "--headless",
                            "--convert-to", "doc", "--outdir", str(folder), str(folder / "plan.docx")],
                           capture_output=True, timeout=180, check=True)
            data = (folder / "plan.doc").read_bytes()
            if data.startswith(OLE2):
                return data
        except (OSError, subprocess.SubprocessError):
            pass
    return OLE2 + b"\x00" * 504


# --- mails --------------------------------------------------------------------------------------------------------

def mail_with(*files: tuple[str, bytes, str], subject: str = "Ansökan om hälsodata ÅTER-KORS") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Viveka Wessberg <viveka.wessberg@kustlanda-uni.example>"
    msg["To"] = "halsodata@region.example"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@kustlanda-uni.example>"
    msg.set_content("Hej,\n\nhär kommer vår ansökan med bilagor.\n\nVänliga hälsningar\nViveka\n")
    for name, data, content_type in files:
        maintype, subtype = content_type.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def forward_chain(levels: int) -> bytes:
    """A mail forwarded as an attached message `levels` times; every level carries one PDF named after it."""
    msg = mail_with(("level-0.pdf", make_pdf(1), PDF_TYPE), subject="level 0")
    for level in range(1, levels + 1):
        outer = mail_with((f"level-{level}.pdf", make_pdf(1), PDF_TYPE), subject=f"level {level}")
        outer.add_attachment(msg)  # message/rfc822
        msg = outer
    return msg.as_bytes()


def inspect(raw: bytes | EmailMessage) -> dict:
    report = inspect_bytes(raw if isinstance(raw, bytes) else raw.as_bytes(), "ansokan.eml")
    assert "error" not in report, report["error"]
    return report


# --- what a coordinator must see ------------------------------------------------------------------------------------

_PYTHON = re.compile(r"Traceback|File \"|\.py\b|line \d+|<\w+[ .]|0x[0-9a-f]{6,}|Errno|\b[A-Z]\w*(Error|Exception)\b")


def assert_for_people(reason: str | None, *words: str) -> None:
    """One short line, no Python internals, and the words that name the problem."""
    assert isinstance(reason, str) and reason.strip(), f"no reason: {reason!r}"
    assert "\n" not in reason and len(reason) <= 200, reason
    assert not _PYTHON.search(reason), f"Python internals in the reason: {reason!r}"
    for word in words:
        assert word.lower() in reason.lower(), f"{word!r} not in {reason!r}"


def readable_finding(report: dict) -> dict:
    [finding] = [f for f in report["findings"] if f["rule"] == "attachments.readable"]
    return finding


def assert_unreadable(report: dict, filename: str, *words: str) -> str:
    """The attachment is kept, marked unreadable with a reason, and attachments.readable fails citing it."""
    atts = {a["filename"]: a for a in report["attachments"]}
    assert filename in atts, f"{filename} not among {sorted(atts)}; problems {report['problems']}"
    att = atts[filename]
    assert att["readable"] is False, f"{filename} counted readable (reason {att['reason']!r})"
    assert_for_people(att["reason"], *words)
    finding = readable_finding(report)
    assert finding["status"] == "failed"
    assert {"document": filename, "detail": att["reason"]} in finding["evidence"]
    assert filename in finding["message_en"] and filename in finding["message_sv"]
    return att["reason"]


def assert_problem(report: dict, filename: str, container: str | None, *words: str) -> str:
    """Unpacking recorded what it could not take apart, and attachments.readable fails citing it."""
    problems = [p for p in report["problems"] if p["file"] == filename]
    assert problems, f"no problem for {filename}: {report['problems']}"
    problem = problems[0]
    assert problem["container"] == container
    assert_for_people(problem["reason"], *words)
    finding = readable_finding(report)
    assert finding["status"] == "failed"
    assert {"document": filename, "detail": problem["reason"]} in finding["evidence"]
    assert filename in finding["message_en"]
    return problem["reason"]


# --- encrypted and password-protected ----------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-128", "AES-256"])
def test_encrypted_pdf(algorithm):
    data = encrypt_pdf(make_pdf(), algorithm)
    assert b"/Encrypt" in data
    report = inspect(mail_with(("Etikansökan 2026-01342-01.pdf", data, PDF_TYPE)))
    assert assert_unreadable(report, "Etikansökan 2026-01342-01.pdf", "password") == "password-protected PDF"


def test_encrypted_pdf_sent_without_a_pdf_name_or_type():
    report = inspect(mail_with(("bilaga", encrypt_pdf(make_pdf(), "AES-128"), "application/octet-stream")))
    assert_unreadable(report, "bilaga", "password", "PDF")


def test_password_protected_zip_member():
    data = make_encrypted_zip({"Beslut 2026-01342-01.pdf": make_pdf(1)}, b"hemligt")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:  # a real archive: it opens with the password
        info = archive.infolist()[0]
        assert info.flag_bits & 0x1
        assert archive.read(info, pwd=b"hemligt").startswith(b"%PDF-")
    report = inspect(mail_with(("bilagor.zip", data, "application/zip")))
    assert report["attachments"] == []
    assert_problem(report, "Beslut 2026-01342-01.pdf", "bilagor.zip", "password")


def test_password_protected_docx():
    msoffcrypto = pytest.importorskip("msoffcrypto.format.ooxml")
    out = io.BytesIO()
    msoffcrypto.OOXMLFile(io.BytesIO(make_docx())).encrypt("hemligt", out)
    assert out.getvalue().startswith(OLE2)  # Office wraps an encrypted DOCX in the OLE2 container
    report = inspect(mail_with(("Forskningsplan.docx", out.getvalue(), DOCX_TYPE)))
    assert_unreadable(report, "Forskningsplan.docx", "password")


# --- corrupt --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cut", ["half", "header-only", "garbage-after-header"])
def test_corrupt_or_truncated_pdf(cut):
    pdf = make_pdf()
    data = {"half": pdf[: len(pdf) // 2], "header-only": pdf[:9],
            "garbage-after-header": pdf[:9] + os.urandom(4000)}[cut]
    report = inspect(mail_with(("Beslut 2026-01342-01.pdf", data, PDF_TYPE)))
    assert_unreadable(report, "Beslut 2026-01342-01.pdf", "corrupt", "PDF")


def test_truncated_docx_is_corrupt_not_an_unsupported_type():
    data = make_docx()
    report = inspect(mail_with(("Forskningsplan.docx", data[: len(data) // 2], DOCX_TYPE)))
    assert_unreadable(report, "Forskningsplan.docx", "corrupt")


# --- formats we do not read ---------------------------------------------------------------------------------------

def test_old_word_doc(old_doc):
    assert old_doc.startswith(OLE2)
    report = inspect(mail_with(("Forskningsplan.doc", old_doc, "application/msword")))
    reason = assert_unreadable(report, "Forskningsplan.doc", "old", ".doc")
    assert "PDF" in reason and "DOCX" in reason  # and what to send instead


# --- limits -------------------------------------------------------------------------------------------------------

def test_zip_bomb_by_ratio():
    data = make_zip({"Variabellista.pdf": b"\0" * (20 * 1024 * 1024)})
    assert len(data) < 100_000  # over 200x
    report = inspect(mail_with(("bilagor.zip", data, "application/zip")))
    assert report["attachments"] == []
    assert_problem(report, "bilagor.zip", None, "zip bomb")


def test_docx_that_is_a_zip_bomb():
    data = make_zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"\0" * (20 * 1024 * 1024)})
    assert len(data) < 100_000
    report = inspect(mail_with(("Forskningsplan.docx", data, DOCX_TYPE)))
    assert_unreadable(report, "Forskningsplan.docx", "zip bomb")


def test_forward_chain_deeper_than_the_limit():
    report = inspect(forward_chain(8))  # the outer mail is level 8; levels 8..3 are within 5 forwards
    assert [a["filename"] for a in report["attachments"]] == [f"level-{n}.pdf" for n in range(8, 2, -1)]
    assert all(a["readable"] for a in report["attachments"])
    assert_problem(report, "Fwd: level 2", "Fwd: level 3", "nested", "deeper", "5")


def _tiny_read_limits(monkeypatch, limits: ReadLimits) -> None:
    # read_mail and read_document take DEFAULT_READ as a default argument, bound when intake.reading was imported;
    # setting intake.reading.DEFAULT_READ afterwards changes nothing, so the defaults themselves are replaced.
    monkeypatch.setattr(reading.read_mail, "__defaults__", (reading.DEFAULT_UNPACK, limits))
    monkeypatch.setattr(reading.read_document, "__defaults__", (limits,))


def test_reading_that_times_out(monkeypatch):
    _tiny_read_limits(monkeypatch, ReadLimits(timeout=0.01))
    started = time.monotonic()
    report = inspect(mail_with(("Samtyckesblankett.pdf", make_scanned_pdf(), PDF_TYPE)))
    assert time.monotonic() - started < 10
    reason = assert_unreadable(report, "Samtyckesblankett.pdf", "took longer", "0.01 s")
    assert reason == "reading took longer than 0.01 s"


@needs_tesseract
def test_scanned_pdf_whose_ocr_outlasts_the_read_timeout(monkeypatch):
    """A real cost: OCR of five scanned pages takes seconds; reading is stopped at 1 s and the child killed."""
    _tiny_read_limits(monkeypatch, ReadLimits(timeout=1))
    started = time.monotonic()
    report = inspect(mail_with(("Skannade samtycken.pdf", make_scanned_pdf(5), PDF_TYPE)))
    assert time.monotonic() - started < 10
    assert_unreadable(report, "Skannade samtycken.pdf", "took longer than 1 s")


@needs_tesseract
def test_scanned_pdf_whose_ocr_runs_out_of_time_is_not_counted_readable(monkeypatch):
    """OCR stopped by its own budget leaves no text at all: the document was not read and must not pass."""
    _tiny_read_limits(monkeypatch, ReadLimits(ocr_timeout=0.01))
    report = inspect(mail_with(("Samtyckesblankett.pdf", make_scanned_pdf(), PDF_TYPE)))
    assert_unreadable(report, "Samtyckesblankett.pdf", "OCR")
