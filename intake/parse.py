"""Turns a stored raw message into a ParsedMail with mail-parser: sender, subject, dates, threading, body, files."""

from __future__ import annotations

import binascii
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import _encoded_words
from email.errors import HeaderParseError
from email.feedparser import BytesFeedParser
from email.header import Header, decode_header, make_header
from email.message import Message
from email.policy import Policy, compat32
from email.utils import getaddresses

import mailparser

from store.blobs import BlobError

# mail-parser logs details of the mail it reads; those are personal data and stay out of our logs.
logging.getLogger("mailparser").setLevel(logging.CRITICAL)

_MSGID = re.compile(r"<[^<>\s]+>")


class ParseError(Exception):
    """The message cannot be read as a mail; the text says why, without quoting its content."""


# The stdlib parser copies whatever it is fed into a buffer of four bytes per character: fed a 40 MB mail at once,
# it holds 160 MB for a moment. Fed in slices, it holds one slice.
_FEED_BYTES = 256 * 1024
# The stdlib's parser checks every line against every open boundary: parts nested thousands deep take minutes
# (8,000 levels in 540 kB: 40 s). Real mail, forwards of forwards included, has a few dozen multiparts.
MAX_MULTIPARTS = 500
_MULTIPART = re.compile(rb"(?:^|\r)content-type:\s*multipart/", re.I | re.M)  # the parser ends lines at CR too


class TooManyParts(ValueError):
    """The message holds more multipart parts than any real mail; it is not parsed."""

    def __init__(self):
        super().__init__(f"more than {MAX_MULTIPARTS} multipart parts (nested to hold up reading)")


def message_from_bytes(source: bytes | Iterable[bytes], policy: Policy = compat32) -> Message:
    """email.message_from_bytes, fed slice by slice so a large mail costs its size, not five times its size.
    `source` is the raw mail, or its bytes in pieces (a stored mail read chunk by chunk is never held whole).
    Raises TooManyParts past MAX_MULTIPARTS."""
    parser, multiparts = BytesFeedParser(policy=policy), 0
    for piece in [source] if isinstance(source, (bytes, bytearray, memoryview)) else source:
        view = memoryview(piece)
        for start in range(0, len(view), _FEED_BYTES):
            data = bytes(view[start:start + _FEED_BYTES])
            multiparts += len(_MULTIPART.findall(data))
            if multiparts > MAX_MULTIPARTS:
                raise TooManyParts()
            parser.feed(data)
    return parser.close()


def decoded_payload(part: Message) -> bytes:
    """A leaf part's content, transfer-decoding undone. Base64 (how nearly every attachment travels) is decoded
    straight from the parsed text: the stdlib first copies it into a list of lines, four times the file's size.
    A Content-Transfer-Encoding with stray spaces ("base64 ") is still base64, here even when the padding is off."""
    payload = part.get_payload()
    cte = str(part.get("Content-Transfer-Encoding", ""))
    if isinstance(payload, str) and cte.strip().lower() == "base64":
        try:
            return binascii.a2b_base64(payload)  # skips line breaks and anything outside the alphabet, as email does
        except (binascii.Error, ValueError):  # bad padding or 8-bit bytes: decoded leniently below, as email does
            pass
    data = part.get_payload(decode=True)
    if isinstance(data, bytes) and cte.strip().lower() == "base64" != cte.lower():
        # The stdlib took " base64 " for an unknown encoding and gave the encoded bytes back.
        return _encoded_words.decode_b(b"".join(data.splitlines()))[0]
    return data if isinstance(data, bytes) else b""


def _skeleton(msg: Message) -> None:
    """Drop the content of every part that is not text or a mail: what follows parsing needs the headers, the
    structure, the text and delivery reports; documents are taken from the raw mail by intake.unpack."""
    for part in msg.walk():
        if not part.is_multipart() and part.get_content_maintype() not in ("text", "message"):
            part.set_payload("")


@dataclass
class ParsedMail:
    """What the mail says about itself. `message` is its skeleton: headers, MIME structure and text parts, with the
    content of attachments dropped (intake.unpack reads those from the raw mail)."""

    message: Message
    message_id: str | None
    from_address: str
    from_name: str
    to: list[str]
    subject: str
    date: datetime | None
    in_reply_to: str | None
    references: list[str]
    body_text: str
    authentication_results: list[str] = field(default_factory=list)

    @property
    def thread_ids(self) -> list[str]:
        """Message-IDs this mail answers, nearest first."""
        ids = ([self.in_reply_to] if self.in_reply_to else []) + list(reversed(self.references))
        return list(dict.fromkeys(ids))


def safe_filename(name: str | None, fallback: str) -> str:
    """A file name fit to show and store: no directories, no control characters, bounded length."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().lstrip(".")
    if not name:
        name = fallback
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 190] + dot + ext[:9]) if dot and len(ext) < 10 else name[:200]
    return name


def _decode(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except (UnicodeError, LookupError, ValueError, HeaderParseError):
        return value


def _raw_header(msg: Message, name: str) -> str:
    """The header as written; raw 8-bit bytes (not allowed, but common) are read as UTF-8, else Latin-1."""
    try:
        value = msg.get(name)
        if isinstance(value, Header):  # the stdlib's wrapper for undecodable 8-bit header bytes
            raw = b"".join(part if isinstance(part, bytes) else part.encode("utf-8", "surrogateescape")
                           for part, _ in decode_header(value))
            try:
                value = raw.decode("utf-8")
            except UnicodeDecodeError:
                value = raw.decode("latin-1")
        return " ".join(str(value or "").split())
    except Exception:  # a header the stdlib cannot read at all is as good as absent
        return ""


def _addresses(msg: Message, *names: str) -> list[tuple[str, str]]:
    """(display name, address) pairs. Split before decoding: an encoded word may hide a comma or a fake
    "<address>" in the display name, which must never become the address we answer."""
    raw = [_raw_header(msg, n) for n in names]
    return [(_decode(name).strip(), addr.lower()) for name, addr in getaddresses(raw)
            if _ADDRESS.fullmatch(addr) and not any(unicodedata.category(ch)[0] == "C" for ch in addr)]


# An address we may answer: one local part and one domain, nothing that needs quoting, no spaces or control
# characters (a NUL or a line break inside the address must not turn into another address, or into a header).
_ADDRESS = re.compile(r"[^\s@<>()\[\],;:\\\"\x00-\x1f\x7f]{1,64}@[^\s@<>()\[\],;:\\\"\x00-\x1f\x7f]{1,255}")


def one_line(value: str | None, limit: int = 1000) -> str:
    """Text from a mail made safe to show in a terminal or a reply header: no control characters, no
    undecodable bytes, and no "=?" that a mail library would decode a second time (header injection)."""
    value = (value or "").encode("utf-8", "replace").decode("utf-8")
    value = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in value)
    return " ".join(value.replace("=?", "= ?").split())[:limit]


def header_text(msg: Message, name: str) -> str:
    """A header as text: RFC 2047 words decoded, unknown charsets replaced, folded lines joined."""
    return " ".join(_decode(_raw_header(msg, name)).split())


def parse(raw: bytes | Iterable[bytes]) -> ParsedMail:
    """Parse raw RFC 5322 bytes (whole or in pieces); raise ParseError when no usable mail is in them. A stored
    mail that cannot be read (BlobError, OSError) is the store's problem, not the mail's, and is raised as it is."""
    try:
        mail = mailparser.MailParser(message_from_bytes(raw))
    except (BlobError, OSError):
        raise
    except TooManyParts as exc:
        raise ParseError(f"the message has {exc}") from None
    except Exception as exc:  # mail-parser raises many types on hostile input
        raise ParseError(f"mail-parser could not read the message ({type(exc).__name__})") from None
    msg = mail.message
    if msg is None or not msg.keys():
        raise ParseError("no mail headers found")
    senders = _addresses(msg, "From")
    if not senders:
        raise ParseError("no sender address in From")
    name, address = senders[0]
    message_id = (_MSGID.findall(header_text(msg, "Message-ID")) or [None])[0]
    in_reply_to = (_MSGID.findall(header_text(msg, "In-Reply-To")) or [None])[0]
    references = _MSGID.findall(header_text(msg, "References"))
    date = mail.date
    if isinstance(date, datetime) and date.tzinfo is None:
        date = date.replace(tzinfo=timezone.utc)  # mail-parser gives UTC without saying so
    body = "\n".join(mail.text_plain) if mail.text_plain else ""
    if not body and mail.text_html:
        body = re.sub(r"<[^>]+>", " ", "\n".join(mail.text_html))
    _skeleton(msg)
    return ParsedMail(
        message=msg,
        message_id=message_id,
        from_address=address,
        from_name=one_line(name, 200),
        to=[a for _, a in _addresses(msg, "To", "Cc")],
        subject=one_line(header_text(msg, "Subject")),
        date=date if isinstance(date, datetime) else None,
        in_reply_to=in_reply_to,
        references=references,
        body_text=body,
        authentication_results=[" ".join(str(h).split())[:2000] for h in (msg.get_all("Authentication-Results") or [])],
    )
