"""Reads plain text and HTML as text, HTML by stripping tags (never rendered), guessing the charset."""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser

from intake.documents import ReadResult
from intake.readers.limits import ReadLimits

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def decode(data: bytes) -> str:
    """UTF-8 first (what most senders use), then cp1252 (Swedish Windows), then latin-1, which never fails."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, "replace")
    for codec in ("utf-8", "cp1252"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def tidy(text: str) -> str:
    """Spaces collapsed within lines and at most one empty line in a row."""
    lines = [re.sub(r"[ \t\f\v\xa0]+", " ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


class _Text(HTMLParser):
    SKIP = {"script", "style", "template"}
    BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "section", "article",
             "blockquote", "pre", "hr", "title", "dt", "dd", "ul", "ol"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append("\t")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def html_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return tidy("".join(parser.parts))


def read_text(data: bytes, limits: ReadLimits) -> ReadResult:
    return ReadResult(format="text", text=tidy(decode(data[: limits.max_text_chars * 4])))


def read_html(data: bytes, limits: ReadLimits) -> ReadResult:
    """The title and body text; scripts and styles are dropped, nothing is fetched or run."""
    return ReadResult(format="html", text=html_text(decode(data[: limits.max_text_chars * 8])))
