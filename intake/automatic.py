"""Recognises mail that must never get an automatic reply: auto-replies, bounces, lists, bulk, our own mail."""

from __future__ import annotations

import re
from email.message import Message

from intake.parse import header_text

_NO_REPLY = re.compile(r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer-daemon|postmaster|bounces?)([+-].*)?@", re.I)
_OOO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|svar)|autosvar|out of (the )?office|frånvaro(meddelande)?|"
    r"abwesenheit|automatiskt svar|undeliver|delivery status notification|mail delivery failed|"
    r"returned mail|olevererbart|kan inte levereras)", re.I)


def reasons_without_sender(raw: bytes) -> list[str]:
    """For a mail that has no usable From (many bounces): is it automatic all the same? Only its header is read:
    the mail may be one refused for its structure (thousands of nested parts), which the daemon must not parse."""
    from email.parser import BytesParser
    try:
        msg = BytesParser().parsebytes(raw[:2_000_000], headersonly=True)
    except Exception:  # not even the stdlib can read it: nothing to go on
        return []
    return [r for r in reasons(msg, "", set()) if r != "no sender address"]


def reasons(msg: Message, sender: str, own_addresses: set[str]) -> list[str]:
    """Why this mail is automatic (RFC 3834 and common practice); empty when a person wrote it."""
    found = []
    auto = header_text(msg, "Auto-Submitted").lower()
    if auto and auto != "no":
        found.append(f"Auto-Submitted: {auto.split(';')[0]}")
    return_path = header_text(msg, "Return-Path")
    if return_path in ("<>", "< >"):
        found.append("null return path (bounce)")
    ctype = msg.get_content_type()
    if ctype in ("multipart/report", "message/delivery-status", "message/disposition-notification"):
        found.append("delivery or disposition report")
    if msg.get("List-Id") or msg.get("List-Unsubscribe"):
        found.append("mailing list")
    precedence = header_text(msg, "Precedence").lower()
    if precedence in ("bulk", "list", "junk"):
        found.append(f"Precedence: {precedence}")
    for header in ("X-Autoreply", "X-Autorespond"):
        if header in msg:
            found.append(header)
    if _OOO_SUBJECT.match(header_text(msg, "Subject")):
        found.append("subject of an automatic reply")
    address = (sender or "").lower()
    if not address:
        found.append("no sender address")
    elif address in own_addresses:
        found.append("sent by this mailbox")
    elif _NO_REPLY.match(address):
        found.append("no-reply sender")
    return found
