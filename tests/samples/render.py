"""Low-level, deterministic renderers: a small PDF writer on fpdf2, DOCX on python-docx, OOXML clean-up."""

from __future__ import annotations

import functools
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time, timezone

from docx import Document
from docx.shared import Pt
from fpdf import FPDF
from fpdf.enums import XPos, YPos

FIXED_ZIP_TIME = (2026, 1, 2, 8, 0, 0)
STYLES = ("plain", "boxed", "serif")


def memo(fn: Callable[..., bytes]) -> Callable[..., bytes]:
    """Cache a deterministic document builder (fpdf2 is slow); unhashable arguments bypass the cache."""
    cache: dict = {}

    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> bytes:
        try:
            key = (args, tuple(sorted(kwargs.items())))
            hash(key)
        except TypeError:
            return fn(*args, **kwargs)
        if key not in cache:
            cache[key] = fn(*args, **kwargs)
        return cache[key]

    return wrapper


def when(d: date, hour: int = 9) -> datetime:
    """A fixed, timezone-aware timestamp for document metadata."""
    return datetime.combine(d, time(hour, 0), tzinfo=timezone.utc)


class _Fpdf(FPDF):
    footer_text = ""

    def footer(self) -> None:
        if not self.footer_text:
            return
        self.set_y(-14)
        self.set_font(self.font_family, "", 7.5)
        self.set_text_color(110, 110, 110)
        self.cell(0, 5, f"{self.footer_text}    {self.page_no()} ({{nb}})", align="C")
        self.set_text_color(0, 0, 0)


class Pdf:
    """A page-flowing PDF with headings, paragraphs, label/value rows and signature blocks."""

    def __init__(self, *, created: date, title: str, author: str, style: str = "plain",
                 footer: str = "", producer: str = "Microsoft® Word för Microsoft 365") -> None:
        self.style = style
        self.family = "Times" if style == "serif" else "Helvetica"
        pdf = _Fpdf(format="A4")
        pdf.core_fonts_encoding = "cp1252"
        pdf.footer_text = footer
        pdf.set_margins(22, 18, 22)
        pdf.set_auto_page_break(True, 20)
        pdf.set_creation_date(when(created))
        pdf.set_title(title)
        pdf.set_author(author)
        pdf.set_creator("Microsoft® Word för Microsoft 365")
        pdf.set_producer(producer)
        pdf.alias_nb_pages()
        pdf.add_page()
        self.pdf = pdf
        self._font()

    def _font(self, style: str = "", size: float = 10.5) -> None:
        self.pdf.set_font(self.family, style, size)

    def _mc(self, text: str, h: float = 5.2, w: float = 0, **kw) -> None:
        self.pdf.multi_cell(w, h, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT, **kw)

    def letterhead(self, left: Sequence[str], right: Sequence[str] = ()) -> None:
        pdf = self.pdf
        top = pdf.get_y()
        self._font("B", 12)
        self._mc(left[0], 6)
        self._font("", 8.5)
        for line in left[1:]:
            self._mc(line, 4.2)
        bottom = pdf.get_y()
        if right:
            pdf.set_y(top)
            for line in right:
                pdf.set_x(125)
                pdf.multi_cell(63, 4.6, line, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            bottom = max(bottom, pdf.get_y())
        pdf.set_y(bottom + 2)
        pdf.set_draw_color(60, 60, 60)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
        pdf.ln(5)
        self._font()

    def title(self, text: str, sub: str = "") -> None:
        pdf = self.pdf
        if self.style == "boxed":
            pdf.set_fill_color(225, 232, 240)
            self._font("B", 14)
            self._mc(text, 9, fill=True)
        else:
            self._font("B", 15 if self.style == "plain" else 16)
            self._mc(text, 8, align="C" if self.style == "serif" else "L")
        if sub:
            self._font("", 9.5)
            self._mc(sub, 5, align="C" if self.style == "serif" else "L")
        pdf.ln(3)
        self._font()

    def heading(self, text: str) -> None:
        self.pdf.ln(2.5)
        self._font("B", 11.5)
        self._mc(text, 6)
        self._font()
        self.pdf.ln(0.5)

    def para(self, text: str, size: float = 10.5, style: str = "") -> None:
        self._font(style, size)
        self._mc(text)
        self.pdf.ln(1.8)
        self._font()

    def bullets(self, items: Iterable[str], mark: str = "•") -> None:
        pdf = self.pdf
        width = max(5.0, pdf.get_string_width(mark) + 2.5) if mark else 0
        for item in items:
            pdf.set_x(pdf.l_margin + 3)
            if mark:
                pdf.cell(width, 5.2, mark)
            pdf.multi_cell(0, 5.2, item, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1.5)

    def fields(self, rows: Sequence[tuple[str, str]]) -> None:
        """Label/value rows: inline in plain/serif style, form boxes in boxed style."""
        pdf = self.pdf
        if self.style == "boxed":
            pdf.set_draw_color(120, 120, 120)
            for label, value in rows:
                if pdf.get_y() > pdf.h - 45:
                    pdf.add_page()
                y = pdf.get_y()
                self._font("", 7.5)
                self._mc(label, 4)
                self._font("", 10.5)
                self._mc(value or " ", 5.4)
                pdf.rect(pdf.l_margin, y - 0.5, pdf.w - pdf.l_margin - pdf.r_margin, pdf.get_y() - y + 1.5)
                pdf.ln(2.5)
        else:
            for label, value in rows:
                self._font("B")
                if pdf.get_string_width(label) > 55:
                    self._mc(label, 5.4)
                    pdf.set_x(pdf.l_margin + 58)
                else:
                    pdf.cell(58, 5.4, label)
                self._font()
                pdf.multi_cell(0, 5.4, value or "–", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                pdf.ln(0.8)
        pdf.ln(2)
        self._font()

    def signature(self, *, sign_label: str, name_label: str, date_label: str, signed_name: str = "",
                  clarification: str = "", place_date: str = "") -> None:
        """A signature line; a signed name is drawn in italics on the line, an unsigned one stays empty."""
        pdf = self.pdf
        pdf.ln(6)
        if pdf.get_y() > pdf.h - 60:
            pdf.add_page()
        x0, width = pdf.l_margin, 75
        pdf.set_font("Times", "I", 17)
        pdf.cell(width, 9, signed_name)
        pdf.set_x(x0 + width + 12)
        self._font("", 10.5)
        pdf.cell(0, 9, place_date, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        y = pdf.get_y()
        pdf.set_draw_color(0, 0, 0)
        pdf.line(x0, y, x0 + width, y)
        pdf.line(x0 + width + 12, y, pdf.w - pdf.r_margin, y)
        self._font("", 8)
        pdf.cell(width + 12, 4.5, sign_label)
        pdf.cell(0, 4.5, date_label, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(6)
        self._font("", 10.5)
        pdf.cell(width, 6, clarification, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        y = pdf.get_y()
        pdf.line(x0, y, x0 + width, y)
        self._font("", 8)
        pdf.cell(width, 4.5, name_label, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(4)
        self._font()

    def boxed_note(self, lines: Sequence[str], fill: tuple[int, int, int] = (240, 240, 240)) -> None:
        pdf = self.pdf
        pdf.set_fill_color(*fill)
        self._font("", 9)
        self._mc("\n".join(lines), 5, border=1, fill=True)
        pdf.ln(3)
        self._font()

    def new_page(self) -> None:
        self.pdf.add_page()

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float]) -> None:
        pdf = self.pdf
        self._font("B", 9)
        with pdf.table(col_widths=tuple(widths), text_align="LEFT", line_height=5) as t:
            r = t.row()
            for h in header:
                r.cell(h)
            self._font("", 9)
            for row in rows:
                r = t.row()
                for c in row:
                    r.cell(c)
        pdf.ln(3)
        self._font()

    def bytes(self) -> bytes:
        return bytes(self.pdf.output())


def normalize_ooxml(data: bytes, stamp: datetime) -> bytes:
    """Rewrite an OOXML zip with fixed member times and fixed core-property dates."""
    iso = stamp.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            blob = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                text = blob.decode("utf-8")
                for tag in ("created", "modified"):
                    text = re.sub(rf"(<dcterms:{tag}[^>]*>)[^<]*(</dcterms:{tag}>)", rf"\g<1>{iso}\g<2>", text)
                blob = text.encode("utf-8")
            zi = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, blob)
    return out.getvalue()


def docx_bytes(blocks: Sequence[tuple[str, object]], *, created: date, title: str, author: str,
               font: str = "Calibri") -> bytes:
    """Render blocks ("title"|"h1"|"h2"|"p"|"bullets"|"table"|"meta", content) to DOCX bytes."""
    doc = Document()
    doc.styles["Normal"].font.name = font
    doc.styles["Normal"].font.size = Pt(11)
    for kind, content in blocks:
        if kind == "title":
            doc.add_heading(str(content), level=0)
        elif kind in ("h1", "h2"):
            doc.add_heading(str(content), level=1 if kind == "h1" else 2)
        elif kind == "p":
            doc.add_paragraph(str(content))
        elif kind == "meta":
            p = doc.add_paragraph()
            p.add_run(str(content)).italic = True
        elif kind == "bullets":
            for item in content:  # type: ignore[union-attr]
                doc.add_paragraph(str(item), style="List Bullet")
        elif kind == "table":
            rows = list(content)  # type: ignore[arg-type]
            table = doc.add_table(rows=len(rows), cols=len(rows[0]))
            table.style = "Table Grid"
            for i, row in enumerate(rows):
                for j, cell in enumerate(row):
                    table.cell(i, j).text = str(cell)
                    if i == 0:
                        for run in table.cell(i, j).paragraphs[0].runs:
                            run.bold = True
        else:
            raise ValueError(kind)
    stamp = when(created)
    cp = doc.core_properties
    cp.title, cp.author, cp.last_modified_by = title, author, author
    cp.created, cp.modified, cp.revision = stamp.replace(tzinfo=None), stamp.replace(tzinfo=None), 3
    buf = io.BytesIO()
    doc.save(buf)
    return normalize_ooxml(buf.getvalue(), stamp)
