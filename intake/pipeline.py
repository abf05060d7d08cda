"""Processes one recorded mail in one transaction: parse, match or open a case, keep attachments, queue replies."""

from __future__ import annotations

import json
import logging
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlalchemy import update
from sqlmodel import Session, select

from intake import automatic, language, pnr
from intake.evaluate import evaluate
from intake.reading import MailDocuments, read_mail
from intake.config import Config
from intake.matching import case_tag, find_case, tag_pattern
from intake.parse import ParseError, ParsedMail, parse
from outbox import compose, decide, items, summary
from outbox.summary import COORDINATOR_TYPES
from rules import registry
from store.blobs import BlobStore
from store.db import session_scope
from store.models import Attachment, Case, InboundMail, OutboxMail, utcnow
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
    return _text(pnr.redact(" ".join(title.split())), 200)  # the register never holds an identity number


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


def _keep_documents(session: Session, ctx: Context, record: InboundMail, docs: MailDocuments) -> list[Attachment]:
    kept = []
    digests = ctx.blobs.put_many([doc.item.data for doc in docs.documents])
    for doc, digest in zip(docs.documents, digests, strict=True):
        item, cls = doc.item, doc.classification
        row = Attachment(mail_id=record.id, filename=_text(item.filename, 255),
                         content_type=_text(item.content_type, 100), size=len(item.data), sha256=digest,
                         container=_text(item.container, 255) or None,
                         kind=cls.kind, also=json.dumps(cls.also), confidence=cls.confidence,
                         evidence=_json(cls.evidence), fields=_json(doc.fields()), readable=doc.read.readable,
                         reason=_text(doc.read.reason, 300) or None, pnr_count=doc.pnr_count)
        session.add(row)
        kept.append(row)
    record.problems = _json([{"filename": p.filename, "reason": p.reason, "container": p.container}
                             for p in docs.problems])
    record.signatures = _json(docs.signatures)
    return kept


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, default=str).replace("\\u0000", "")


def _text(value: str | None, limit: int) -> str:
    """Text fit for any database: PostgreSQL refuses NUL characters, which hostile mail carries."""
    return (value or "").replace("\x00", "").encode("utf-8", "replace").decode("utf-8")[:limit]


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
    record.pnr_count = len(pnr.find(f"{mail.subject}\n{mail.body_text}"))
    record.authentication_results = _json([_text(h, 2000) for h in mail.authentication_results])


def _read(ctx: Context, mail_id: int) -> tuple[bytes | None, ParsedMail | ParseError, MailDocuments | None] | None:
    """Parse and read outside any transaction: OCR may take a minute, and no lock should wait for it."""
    with session_scope(ctx.engine) as s:
        record = s.get(InboundMail, mail_id)
        if record is None or record.status != "fetched":
            return None
        digest = record.sha256
    # The stored mail is read twice, chunk by chunk, never held whole: decrypting again costs less than keeping a
    # large mail in memory next to its parsed form.
    try:
        mail = parse(ctx.blobs.read_chunks(digest))
    except ParseError as exc:
        return ctx.blobs.get(digest), exc, None
    limits = ctx.config.limits
    return None, mail, read_mail(ctx.blobs.read_chunks(digest), limits.unpack_limits(), limits.read_limits())


class ReadAhead:
    """Reads the next mail (decrypt, parse, unpack, read its documents) in a thread while the current one is being
    processed: reading writes nothing, and the reader processes would otherwise wait for the database."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead")
        self._futures: dict[int, Future] = {}

    def start(self, mail_id: int) -> None:
        self._futures[mail_id] = self._pool.submit(_read, self.ctx, mail_id)

    def take(self, mail_id: int):
        future = self._futures.pop(mail_id, None)
        return future.result() if future is not None else _read(self.ctx, mail_id)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._futures.clear()


def process(ctx: Context, mail_id: int, ahead: ReadAhead | None = None) -> str:
    """Take a recorded mail to its outcome; return the new status. Idempotent: a processed mail is left alone."""
    cfg = ctx.config
    prepared = ahead.take(mail_id) if ahead is not None else _read(ctx, mail_id)
    with session_scope(ctx.engine) as s:
        # Claim the mail with a write first: it takes the row lock (PostgreSQL) or the database write lock
        # (SQLite) until this transaction ends, so a second daemon waits and then finds it processed.
        claimed = s.execute(update(InboundMail).where(InboundMail.id == mail_id, InboundMail.status == "fetched")
                            .values(processed_at=utcnow())).rowcount
        record = s.get(InboundMail, mail_id)
        if not claimed or prepared is None:
            return record.status if record else "missing"
        s.refresh(record)
        _raw, mail, docs = prepared
        if isinstance(mail, ParseError):
            auto = automatic.reasons_without_sender(_raw)
            if auto:
                record.status, record.auto_generated = "ignored", True
                record.outcome = f"automatic mail without a usable sender ({'; '.join(auto)}): no case, no reply"
                return record.status
            record.status, record.outcome = "failed", f"cannot be parsed: {mail}; raw message kept"
            log.warning("mail #%s cannot be parsed: %s", record.id, mail)
            return record.status
        lang = language.detect(f"{mail.subject}\n{mail.body_text}", default=cfg.cases.language)
        auto = automatic.reasons(mail.message, mail.from_address,
                                 {cfg.smtp.from_address.lower(), (cfg.imap.username or "").lower()})
        _fill(record, mail, lang, auto)

        if mail.message_id:
            earlier = s.exec(select(InboundMail).where(InboundMail.message_id == record.message_id,
                                                       InboundMail.id != record.id,
                                                       InboundMail.status == "processed",
                                                       InboundMail.from_address == record.from_address)).first()
            if earlier is not None:
                record.status, record.case_id = "duplicate", earlier.case_id
                record.outcome = f"same Message-ID as mail #{earlier.id}, taken in before"
                return record.status

        case, how = find_case(s, mail, cfg.cases.number_format)
        bounced = _bounced_replies(s, mail) if auto else []
        if bounced:
            case = case or s.get(Case, bounced[0].case_id)
            how = how or "delivery failure report of our reply"
        if case is None and auto:
            record.status = "ignored"
            record.outcome = f"automatic mail ({'; '.join(auto)}): no case opened, no reply"
            log.info("mail #%s is automatic mail; no case opened", record.id)
            return record.status

        new = case is None
        if new:
            case = _open_case(s, ctx, mail, lang)
        state_before = None if new else case.state
        last_requested = _last_requested(s, case)
        case.updated_at = utcnow()
        record.case_id = case.id
        record.status = "processed"  # the case file below includes this mail
        _keep_documents(s, ctx, record, docs)
        s.flush()
        findings = evaluate(s, case, cfg.rules)
        blocking = registry.blocking(findings)
        replies = decide.plan(decide.Change(
            first_mail=new, automatic=bool(auto), track=case.track, state_before=state_before,
            state_after=case.state, blocking=frozenset(f.rule for f in blocking), last_requested=last_requested))
        _queue_replies(s, ctx, case, record, mail, replies, findings)
        what = f"opened case {case.number}" if new else f"added to case {case.number} ({how})"
        if bounced:
            what += f"; reply {', '.join('#' + str(r.id) for r in bounced)} bounced and flagged"
        record.outcome = f"{what}; state {case.state}" + (f"; replies: {', '.join(replies)}" if replies else
                                                          "; no reply" + (" (automatic mail)" if auto else ""))
        log.info("mail #%s: %s", record.id, "opened a case" if new else "added to a case")
        return record.status


_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster)@", re.I)
_RETURNED_PARTS = ("text/rfc822-headers", "message/rfc822", "message/rfc822-headers")
_HEADER_MSGID = re.compile(r"^Message-ID:\s*(<[^<>\s]+>)", re.I | re.M)


def _returned_message_ids(msg) -> set[str]:
    """Message-IDs of the returned message inside a delivery report: never the report's own threading headers."""
    ids = set()
    for part in msg.walk():
        if part.get_content_type() not in _RETURNED_PARTS:
            continue
        payload = part.get_payload(decode=part.get_content_type() == "text/rfc822-headers")
        if isinstance(payload, list):  # message/rfc822: the returned message itself
            ids.update(str(p.get("Message-ID") or "").strip() for p in payload)
        elif payload:
            text = payload.decode("latin-1") if isinstance(payload, bytes) else str(payload)
            ids.update(_HEADER_MSGID.findall(text))
    return {i for i in ids if i}


def _bounced_replies(s: Session, mail: ParsedMail) -> list[OutboxMail]:
    """Our replies a delivery failure report is about. An out-of-office reply (also sent from <>) is not one."""
    msg = mail.message
    report = (msg.get_content_type() == "multipart/report"
              and str(msg.get_param("report-type") or "").lower() == "delivery-status")
    if not report and not _BOUNCE_SENDER.match(mail.from_address):
        return []
    if report and re.search(r"^Action:\s*(delayed|delivered|relayed|expanded)\s*$", _status_text(msg), re.I | re.M) \
            and not re.search(r"^Action:\s*failed", _status_text(msg), re.I | re.M):
        return []  # a delay warning or a success notice, not a failure
    ids = _returned_message_ids(msg)
    if not ids:
        return []
    replies = s.exec(select(OutboxMail).where(OutboxMail.message_id.in_(ids))).all()
    for r in replies:
        if r.status in ("sent", "sending"):
            r.status, r.last_error = "bounced", "a delivery failure report came back for this reply"
    return list(replies)


def _status_text(msg) -> str:
    for part in msg.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            if isinstance(payload, list):
                return "\n".join(str(p) for p in payload)
            return str(payload or "")
    return ""


def _last_requested(session: Session, case: Case) -> frozenset[str] | None:
    last = session.exec(select(OutboxMail).where(OutboxMail.case_id == case.id,
                                                 OutboxMail.type == "supplement_request",
                                                 OutboxMail.status != "rejected")
                        .order_by(OutboxMail.id.desc())).first()
    return frozenset(json.loads(last.items)) if last else None


def _queue_replies(s: Session, ctx: Context, case: Case, record: InboundMail, mail: ParsedMail,
                   replies: list[str], findings) -> None:
    cfg = ctx.config
    lang = record.language or cfg.cases.language
    blocking = registry.blocking(findings)
    pending = [f for f in findings if f.status == "pending"]
    # Loop guard: a mail without documents from a sender answered automatically in the last 24 hours (an
    # auto-responder we did not recognise, a "thanks!") gets no automatic answer; a coordinator may send it.
    # A mail bringing documents is the researcher acting on our request and is answered.
    brought = s.exec(select(Attachment.id).where(Attachment.mail_id == record.id,
                                                 Attachment.kind != "other")).first() is not None
    held = bool(replies) and not brought and _answered_recently(s, case, mail.from_address, record.message_id)
    # A mail from another organisation than the case's must not get case details back on its own: it may be a
    # colleague, or somebody who guessed a case number. A coordinator checks and approves.
    home = summary.domain_of(case.researcher)
    foreign = not summary.same_organisation(summary.domain_of(mail.from_address), home)
    for reply_type in replies:
        status = "pending_approval" if reply_type in cfg.outbox.require_approval or held or foreign else "queued"
        out = compose.queue(
            s, reply_type=reply_type, case=case, to=mail.from_address, language=lang,
            from_address=cfg.smtp.from_address, in_reply_to=mail.message_id, references=mail.references,
            status=status, tag=case_tag(case.number), number=case.number, title=case.title, name=mail.from_name,
            files=[d.filename for d in s.exec(select(Attachment).where(Attachment.mail_id == record.id)).all()],
            complete=case.state == "complete", request_follows="supplement_request" in replies,
            missing=items.asks(blocking, lang), pending=items.asks(pending, lang))
        if reply_type == "supplement_request":
            out.items = json.dumps(sorted(f.rule for f in blocking))
        if held:
            out.note = "held: this sender already got an automatic reply in this case within 24 hours"
        elif foreign and status == "pending_approval":
            out.note = (f"held: sent from another domain than the case's ({home}); check that the sender belongs "
                        "to the application before approving")


def _answered_recently(s: Session, case: Case, to: str, answering: str | None) -> bool:
    since = utcnow() - timedelta(hours=24)
    rows = s.exec(select(OutboxMail).where(OutboxMail.case_id == case.id, OutboxMail.to == to,
                                           OutboxMail.type.not_in(COORDINATOR_TYPES),  # not answers to anyone
                                           OutboxMail.auto_submitted == True,  # noqa: E712
                                           OutboxMail.status.in_(("queued", "sending", "sent")),
                                           OutboxMail.queued_at >= since)).all()
    # Replies to this same mail (an acknowledgment and a supplement request together) are one answer.
    return any(r.in_reply_to != answering for r in rows)


def fail(ctx: Context, mail_id: int, reason: str, leave_in_mailbox: bool = False) -> None:
    """Record an unexpected failure so the mail is not retried forever and a coordinator sees it; with
    `leave_in_mailbox` the message stays in the intake folder for a person."""
    with session_scope(ctx.engine) as s:
        record = s.get(InboundMail, mail_id)
        if record is not None and record.status == "fetched":
            record.status, record.outcome, record.processed_at = "failed", reason[:500], utcnow()
            record.leave_in_mailbox = record.leave_in_mailbox or leave_in_mailbox


def set_aside(ctx: Context, mail_id: int, problem: str) -> None:
    """The stored copy of a mail cannot be read (damaged on disk, or gone): record it, move the damaged file aside
    and leave the message in the mailbox, where a coordinator can have it taken in again."""
    with session_scope(ctx.engine) as s:
        record = s.get(InboundMail, mail_id)
        digest = record.sha256 if record is not None else None
    if digest:
        ctx.blobs.quarantine(digest)
    problem = problem.split(". Fix:")[0]  # the store's own fix (restore the file) does not help a mail set aside
    fail(ctx, mail_id, f"not processed: {problem}. The message is left in the mailbox folder: move it out of the "
                       "folder and back in to have it taken in again", leave_in_mailbox=True)
