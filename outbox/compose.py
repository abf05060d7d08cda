"""Renders a reply from its template and puts it in the outbox, with a Message-ID fixed at that moment."""

from __future__ import annotations

import uuid
from datetime import datetime

import jinja2
from sqlmodel import Session

from intake import pnr
from store.models import Case, OutboxMail, utcnow

REPLY_TYPES = ("acknowledgment", "supplement_request", "complete_notice", "reminder", "escalation",
               "aggregated_answer", "triage_summary", "digest", "manual")

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("outbox", "templates"),
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # plain-text mail; nothing here is ever rendered as HTML
    keep_trailing_newline=True,
)


class HeaderInjection(ValueError):
    """A value meant for a mail header contains a line break."""


def render(reply_type: str, language: str, **context) -> tuple[str, str]:
    """(subject, body) of a template; the first line of a template is 'Subject: ...'."""
    text = _env.get_template(f"{reply_type}.{language}.txt").render(**context)
    head, _, body = text.partition("\n\n")
    if not head.startswith("Subject: "):
        raise ValueError(f"template {reply_type}.{language}.txt must start with 'Subject: '")
    # Identity numbers never leave in a reply, whatever a file name or subject carried.
    return pnr.redact(head.removeprefix("Subject: ").strip()), pnr.redact(body.strip() + "\n")


def header_safe(value: str) -> str:
    """Refuse what could end a header or start a new one once a mail library decodes the value."""
    if "\r" in value or "\n" in value or "=?" in value:
        raise HeaderInjection("line break or encoded word in a header value")
    return value


def new_message_id(from_address: str, case: Case | None) -> str:
    domain = from_address.rsplit("@", 1)[-1]
    tag = case.number.lower() if case is not None else "hd"
    return f"<{tag}.{uuid.uuid4().hex}@{domain}>"


def queue(session: Session, *, reply_type: str, case: Case | None, to: str, language: str,
          from_address: str, in_reply_to: str | None = None, references: list[str] | None = None,
          status: str = "queued", now: datetime | None = None, **context) -> OutboxMail:
    """Add a reply to the outbox in the caller's transaction (so it exists exactly when the case change does)."""
    if reply_type not in REPLY_TYPES:
        raise ValueError(f"unknown reply type {reply_type!r}")
    subject, body = render(reply_type, language, **context)
    refs = list(dict.fromkeys([*(references or []), *([in_reply_to] if in_reply_to else [])]))
    now = now or utcnow()
    mail = OutboxMail(
        case_id=case.id if case else None, type=reply_type, status=status,
        message_id=new_message_id(from_address, case), to=header_safe(to), subject=header_safe(subject),
        language=language, body=body, in_reply_to=header_safe(in_reply_to) if in_reply_to else None,
        references=header_safe(" ".join(refs[-10:])), queued_at=now, next_attempt_at=now,
    )
    session.add(mail)
    return mail
