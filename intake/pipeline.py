"""Processes one recorded mail in one transaction: parse, match or open a case, keep attachments, queue replies."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlalchemy import update
from sqlmodel import Session, select

from intake import automatic, language
from intake.config import Config
from intake.matching import case_tag, find_case, tag_pattern
from intake.parse import ParseError, ParsedMail, parse
from outbox import compose
from store.blobs import BlobStore
from store.db import session_scope
from store.models import Attachment, Case, InboundMail, utcnow
from store.numbering import format_number, next_seq

log = logging.getLogger("halsodata.intake")
SWEDEN = ZoneInfo("Europe/Stockholm")


@dataclass
class Context:
    """What every step needs; passed explicitly instead of through globals."""

    config: Config
    engine: Engine
    blobs: BlobStore


_PREFIXES = re.compile(r"^\s*((re|sv|fw|fwd|vb|aw|antw)\s*:\s*)+", re.I)


def _title(subject: str, number_format: str) -> str:
    """The subject without reply prefixes and case tags: the project's name as the researcher gave it."""
    title = _PREFIXES.sub("", tag_pattern(number_format).sub("", subject))
    return _text(" ".join(title.split()), 200)


def _open_case(session: Session, ctx: Context, mail: ParsedMail, lang: str) -> Case:
    now = utcnow()
    year = now.astimezone(SWEDEN).year  # a mail at 00:30 on 1 January belongs to the new year
    seq = next_seq(session, year)
    case = Case(number=format_number(ctx.config.cases.number_format, year, seq), year=year, seq=seq,
                researcher=_text(mail.from_address, 320), researcher_name=_text(mail.from_name, 200),
                title=_title(mail.subject, ctx.config.cases.number_format),
                language=lang, opened_at=now, updated_at=now)
    session.add(case)
    session.flush()
    return case


def _keep_attachments(session: Session, ctx: Context, record: InboundMail, mail: ParsedMail) -> list[Attachment]:
    kept = []
    for att in mail.attachments:
        digest = ctx.blobs.put(att.data)
        row = Attachment(mail_id=record.id, filename=att.filename, content_type=att.content_type,
                         size=len(att.data), sha256=digest, container=att.container)
        session.add(row)
        kept.append(row)
    return kept


def _text(value: str | None, limit: int) -> str:
    """Text fit for any database: PostgreSQL refuses NUL characters, which hostile mail carries."""
    return (value or "").replace("\x00", "")[:limit]


def _fill(record: InboundMail, mail: ParsedMail, lang: str, auto: list[str]) -> None:
    record.message_id = _text(mail.message_id, 500) or record.message_id
    record.from_address, record.from_name = _text(mail.from_address, 320), _text(mail.from_name, 200)
    record.subject = _text(mail.subject, 1000)
    record.sent_date = mail.date
    record.in_reply_to = _text(mail.in_reply_to, 500) or None
    record.references = _text(" ".join(mail.references[-50:]), 20_000)
    record.language = lang
    record.auto_generated = bool(auto)
    record.body_text = _text(mail.body_text, 200_000)


def process(ctx: Context, mail_id: int) -> str:
    """Take a recorded mail to its outcome; return the new status. Idempotent: a processed mail is left alone."""
    cfg = ctx.config
    with session_scope(ctx.engine) as s:
        # Claim the mail with a write first: it takes the row lock (PostgreSQL) or the database write lock
        # (SQLite) until this transaction ends, so a second daemon waits and then finds it processed.
        claimed = s.execute(update(InboundMail).where(InboundMail.id == mail_id, InboundMail.status == "fetched")
                            .values(processed_at=utcnow())).rowcount
        record = s.get(InboundMail, mail_id)
        if not claimed:
            return record.status if record else "missing"
        s.refresh(record)
        try:
            mail = parse(ctx.blobs.get(record.sha256))
        except ParseError as exc:
            record.status, record.outcome = "failed", f"cannot be parsed: {exc}; raw message kept"
            log.warning("mail #%s cannot be parsed: %s", record.id, exc)
            return record.status
        lang = language.detect(f"{mail.subject}\n{mail.body_text}", default=cfg.cases.language)
        auto = automatic.reasons(mail.message, mail.from_address,
                                 {cfg.smtp.from_address.lower(), (cfg.imap.username or "").lower()})
        _fill(record, mail, lang, auto)

        if mail.message_id:
            earlier = s.exec(select(InboundMail).where(InboundMail.message_id == mail.message_id,
                                                       InboundMail.id != record.id,
                                                       InboundMail.status == "processed",
                                                       InboundMail.from_address == mail.from_address)).first()
            if earlier is not None:
                record.status, record.case_id = "duplicate", earlier.case_id
                record.outcome = f"same Message-ID as mail #{earlier.id}, taken in before"
                return record.status

        case, how = find_case(s, mail, cfg.cases.number_format)
        if case is None and auto:
            record.status = "ignored"
            record.outcome = f"automatic mail ({'; '.join(auto)}): no case opened, no reply"
            log.info("mail #%s is automatic mail; no case opened", record.id)
            return record.status

        new = case is None
        if new:
            case = _open_case(s, ctx, mail, lang)
        case.updated_at = utcnow()
        record.case_id = case.id
        attachments = _keep_attachments(s, ctx, record, mail)

        if new:
            compose.queue(s, reply_type="acknowledgment", case=case, to=mail.from_address, language=lang,
                          from_address=cfg.smtp.from_address, in_reply_to=mail.message_id,
                          references=mail.references, tag=case_tag(case.number), number=case.number,
                          title=case.title, name=mail.from_name, files=[a.filename for a in attachments])
            record.outcome = f"opened case {case.number}; acknowledgment queued"
        else:
            record.outcome = f"added to case {case.number} ({how})" + ("; automatic mail, no reply" if auto else "")
        record.status = "processed"
        log.info("mail #%s: %s", record.id, "opened case" if new else "added to case")
        return record.status


def fail(ctx: Context, mail_id: int, reason: str) -> None:
    """Record an unexpected failure so the mail is not retried forever and a coordinator sees it."""
    with session_scope(ctx.engine) as s:
        record = s.get(InboundMail, mail_id)
        if record is not None and record.status == "fetched":
            record.status, record.outcome, record.processed_at = "failed", reason[:500], utcnow()
