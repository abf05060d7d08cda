"""Small hand-made mails for tests that need a precise header or body, not a realistic application."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone


def mail(subject: str = "Ansökan om hälsodata: KOL-studien", body: str | None = None, *,
         sender: str = "Anna Lindqvist <anna.lindqvist@ki.example>", to: str = "intake@halsodata.test",
         message_id: str | None = None, in_reply_to: str | None = None, references: str | None = None,
         attachments: list[tuple[str, str, bytes]] | None = None, headers: dict[str, str] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 11, 30, 9, 15, tzinfo=timezone.utc))
    msg["Message-ID"] = message_id or make_msgid(domain="ki.example")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(body if body is not None else
                    "Hej,\n\nHär kommer vår ansökan om hälsodata för KOL-studien med bilagor.\n\n"
                    "Med vänliga hälsningar\nAnna Lindqvist\n")
    for filename, ctype, data in attachments or []:
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
