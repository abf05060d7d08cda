"""Processes one recorded mail in one transaction: parse, match or open a case, keep attachments, queue replies."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import re
import secrets
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlalchemy import update
from sqlmodel import Session, select

from intake import automatic, language, pnr, retention
from intake.evaluate import evaluate
from intake.reading import MailDocuments, read_mail
from intake.readers.limits import (descriptors, die_with_parent, fork_context, forked_from_main_thread, name_process,
                                   release_inherited, shutdown_readers)
from intake.config import Config, LimitsConfig
from intake.matching import case_tag, find_case, tag_pattern
from intake.parse import ParseError, ParsedMail, parse
from outbox import compose, decide, items, summary
from outbox.summary import COORDINATOR_TYPES
from rules import registry
from store.blobs import BlobStore, Sealed
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
    ctx.blobs.commit([doc.stored for doc in docs.documents if doc.stored is not None])
    for doc in docs.documents:
        item, cls = doc.item, doc.classification
        row = Attachment(mail_id=record.id, filename=_text(item.filename, 255),
                         content_type=_text(item.content_type, 100), size=doc.stored.size, sha256=doc.stored.digest,
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


@dataclass
class Prepared:
    """A mail read and understood, before any transaction: its parsed form (or why it cannot be parsed), its
    documents without their bytes, and those bytes sealed in the file store but not yet put in place."""

    mail: ParsedMail | ParseError
    raw: bytes | None = None  # the stored mail, only when it cannot be parsed (to tell automatic mail)
    docs: MailDocuments | None = None

    @property
    def sealed(self) -> list[Sealed]:
        return [d.stored for d in self.docs.documents if d.stored is not None] if self.docs else []


def prepare(blobs: BlobStore, limits: LimitsConfig, digest: str) -> Prepared:
    """Decrypt, parse, unpack, read and classify the stored mail `digest`, and seal its documents in the store.
    Writes nothing a transaction depends on: `process` puts the sealed files in place or discards them."""
    # The stored mail is read twice, chunk by chunk, never held whole: decrypting again costs less than keeping a
    # large mail in memory next to its parsed form.
    try:
        mail = parse(blobs.read_chunks(digest))
    except ParseError as exc:
        return Prepared(mail=exc, raw=blobs.get(digest))
    docs = read_mail(blobs.read_chunks(digest), limits.unpack_limits(), limits.read_limits())
    # Sealed even when the same content is stored already: a purge may delete that file before this mail commits.
    sealed = blobs.seal_many([d.item.data for d in docs.documents], skip_existing=False)
    for doc, stored in zip(docs.documents, sealed, strict=True):
        doc.stored = stored
        doc.item = replace(doc.item, data=b"")  # in the store now; not carried further
    return Prepared(mail=mail, docs=docs)


def _recorded_digest(ctx: Context, mail_id: int) -> str | None:
    """The stored mail's digest while the mail still waits to be processed; None once it has an outcome."""
    with session_scope(ctx.engine) as s:
        record = s.get(InboundMail, mail_id)
        return record.sha256 if record is not None and record.status == "fetched" else None


def _read(ctx: Context, mail_id: int) -> Prepared | None:
    """Prepare a recorded mail in this process, outside any transaction: OCR may take a minute, and no lock should
    wait for it."""
    digest = _recorded_digest(ctx, mail_id)
    return prepare(ctx.blobs, ctx.config.limits, digest) if digest else None


class PrepareFailed(Exception):
    """The process preparing mail could not prepare this one: it crashed, ran out of memory, took longer than
    [limits] mail_timeout, or could not hand the result over."""


class PrepareInterrupted(Exception):
    """The daemon was asked to stop while it waited for a mail to be prepared. The mail stays recorded and is
    processed at the next start."""


CRASHED = "reading this mail stopped the reading process (it crashed or ran out of memory)"


def _serve_prepare(conn, blobs: BlobStore, limits: LimitsConfig, parent: int | None, writer: str) -> None:
    """The preparer process: prepare each stored mail the daemon names, in order, until told to stop."""
    die_with_parent(parent)
    name_process("hd-prepare")
    blobs.writer = writer  # this copy of the store: the daemon removes what it leaves by this tag
    # Signals sent to the whole process group (Ctrl-C, a service manager stopping the unit, a closed terminal) are
    # the daemon's to act on: it stops the preparer when it is ready to. Killed in the middle of a mail, the
    # preparer would have that innocent mail failed.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    # A mail nested hundreds of levels deep is parsed within the limits but needs a deep stack to be pickled.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))
    # Everything the daemon had open is not the preparer's: its connections, and above all the file store's lock,
    # which a daemon thread may have held at the moment of the fork and which would stay held while this lives.
    release_inherited(descriptors(), conn.fileno())
    try:
        while True:
            try:
                digest = conn.recv()
            except (EOFError, OSError):
                return  # the daemon is gone
            if digest is None:
                return
            try:
                answer = ("ok", prepare(blobs, limits, digest))
            except BaseException as exc:  # BlobError, OSError: the daemon decides, as if it had prepared the mail
                answer = ("error", _portable(exc))
            try:
                conn.send(answer)
                continue
            except (EOFError, OSError):  # the daemon is gone
                refused = None
            except Exception as exc:  # an answer that cannot be pickled
                refused = exc
            if answer[0] == "ok":  # nobody will put these files in place
                blobs.discard(answer[1].sealed)
            if refused is None:
                return
            conn.send(("error", PrepareFailed(f"the result of reading this mail could not be handed over "
                                              f"({type(refused).__name__}): it is built too deeply or strangely")))
    finally:
        shutdown_readers()


def _portable(exc: BaseException) -> BaseException:
    """The exception itself when the daemon can rebuild it from its pickle, else a PrepareFailed that names it."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return PrepareFailed(f"reading this mail failed ({type(exc).__name__})")


CLOSE_GRACE = 1.0  # seconds a stopping daemon waits for the preparer's answers in flight
WAIT_STEP = 0.5  # seconds between looks at the stop flag and the clock while waiting for a mail


class ReadAhead:
    """Prepares the next mails (decrypt, parse, unpack, read, classify, seal their documents) in a child process
    while the daemon's main thread processes the current one. In a process, not a thread: parsing in a thread of
    the daemon held the interpreter lock the database and file writes of the main thread waited for, and both
    shared one core. The preparer starts its own reader processes; it is started when first needed and stopped by
    `close`.

    A mail that kills the preparer, or keeps it longer than [limits] mail_timeout, fails alone (PrepareFailed); the
    mails after it go to a new preparer. `should_stop` is asked while waiting: when it says yes, `take` raises
    PrepareInterrupted."""

    def __init__(self, ctx: Context, should_stop: Callable[[], bool] | None = None):
        self.ctx = ctx
        self._should_stop = should_stop or (lambda: False)
        self._timeout = ctx.config.limits.mail_timeout
        self._proc = None
        self._conn = None
        self._writer = ""  # the running preparer's tag on its temporaries
        self._sent: deque[tuple[int, str]] = deque()  # (mail id, digest) sent and not yet answered, in order
        self._answers: dict[int, tuple[str, object]] = {}
        self._head_since = 0.0  # when the preparer began the first unanswered mail, at the latest

    def _ensure(self) -> None:
        if self._proc is not None:
            return
        mp = fork_context()
        conn, child = mp.Pipe(duplex=True)
        writer = f"prep-{secrets.token_hex(6)}"
        proc = mp.Process(target=_serve_prepare, name="halsodata-prepare", daemon=False,  # it starts readers
                          args=(child, self.ctx.blobs, self.ctx.config.limits, forked_from_main_thread(), writer))
        try:
            proc.start()
        except BaseException:  # no process (out of memory, too many processes): the cycle is retried later
            conn.close()
            raise
        finally:
            child.close()
        self._proc, self._conn, self._writer = proc, conn, writer

    def start(self, mail_id: int, digest: str) -> None:
        """Have the mail prepared after those started before it."""
        for attempt in range(2):
            self._ensure()
            if not self._sent:
                self._head_since = time.monotonic()
            try:
                self._conn.send(digest)
            except OSError:  # it died on an earlier mail: that one fails, this one goes to a new preparer
                if attempt:
                    raise
                self._died(CRASHED)
                continue
            self._sent.append((mail_id, digest))
            return

    def take(self, mail_id: int) -> Prepared | None:
        """The prepared mail; None when it already has an outcome. Raises what preparing it raised, PrepareFailed
        when it ended the preparer, PrepareInterrupted when the daemon is to stop first."""
        if mail_id not in self._answers and all(m != mail_id for m, _ in self._sent):
            digest = _recorded_digest(self.ctx, mail_id)
            if digest is None:
                return None
            self.start(mail_id, digest)
        # The clock runs while this thread waits: time it spent elsewhere (fetching, committing) is not the mail's,
        # and the preparer may have waited meanwhile for it to read a large answer.
        self._head_since = time.monotonic()
        while mail_id not in self._answers:
            if self._should_stop():
                raise PrepareInterrupted()
            left = self._head_since + self._timeout - time.monotonic()
            if self._ready(max(0.0, min(WAIT_STEP, left))):
                self._receive()
            elif left <= 0:
                self._died(f"reading this mail took longer than [limits] mail_timeout ({self._timeout} s) and was "
                           "stopped")
        kind, value = self._answers.pop(mail_id)
        if kind == "error":
            raise value
        return value

    def _ready(self, timeout: float) -> bool:
        try:
            return self._conn.poll(timeout)
        except (EOFError, OSError):
            return True  # `_receive` finds out what happened

    def _receive(self) -> None:
        try:
            answer = self._conn.recv()
        except (EOFError, OSError):
            self._died(CRASHED)
            return
        except Exception as exc:  # read, but not understood: it is still the answer about the first mail waiting
            answer = ("error", PrepareFailed(f"the result of reading this mail could not be taken over "
                                             f"({type(exc).__name__})"))
        mail_id, _ = self._sent.popleft()  # the preparer answers in the order it was asked
        self._answers[mail_id] = answer
        self._head_since = time.monotonic()

    def _died(self, reason: str) -> None:
        """The preparer ended, or hangs: it is stopped for good. The answers it had sent are kept; the mail it was
        preparing fails with `reason`; the mails after it go to a new preparer."""
        writer = self._writer if self._proc is not None else None
        if self._proc is not None:
            with contextlib.suppress(OSError):
                self._proc.kill()
            self._proc.join(10)
        self._collect(0.0)
        self._stop(kill=True)
        if writer is not None:  # what it sealed for the mail it died on, or was sealing; not what it handed over
            self.ctx.blobs.remove_temporaries_of(writer, keep=self._sealed_in_answers())
        if self._sent:
            failed, _ = self._sent.popleft()
            self._answers[failed] = ("error", PrepareFailed(reason))
        again, self._sent = list(self._sent), deque()
        for mail_id, digest in again:
            self.start(mail_id, digest)

    def _stop(self, kill: bool = False) -> None:
        proc, conn, self._proc, self._conn = self._proc, self._conn, None, None
        if proc is None:
            return
        if not kill:
            try:
                conn.send(None)
            except OSError:
                kill = True
        if kill:
            with contextlib.suppress(OSError):
                proc.kill()
        conn.close()
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join()

    def close(self) -> None:
        """Stop the preparer; the sealed files of mails prepared and not processed are removed."""
        self._collect(CLOSE_GRACE)  # answers sent or about to be sent name sealed files too
        writer, killed = (self._writer if self._proc is not None else None), bool(self._sent)
        self._stop(kill=killed)  # a half-prepared mail is prepared again next time
        for kind, value in self._answers.values():
            if kind == "ok" and value is not None:
                self.ctx.blobs.discard(value.sealed)
        if killed and writer is not None:  # and what it was sealing for it goes now, not with the hourly sweep
            self.ctx.blobs.remove_temporaries_of(writer)
        self._answers.clear()
        self._sent.clear()

    def _collect(self, seconds: float) -> None:
        """Take the answers the preparer has sent, waiting up to `seconds` for more, in the order asked."""
        deadline = time.monotonic() + seconds
        try:
            while self._sent and self._conn is not None and self._conn.poll(max(0.0, deadline - time.monotonic())):
                self._answers[self._sent.popleft()[0]] = self._conn.recv()
        except Exception:  # noqa: BLE001 - its end, an answer cut off by its death, or one not understood
            pass

    def _sealed_in_answers(self) -> set[str]:
        return {s.tmp for kind, value in self._answers.values() if kind == "ok" and value is not None
                for s in value.sealed if s.tmp}


def process(ctx: Context, mail_id: int, ahead: ReadAhead | None = None) -> str:
    """Take a recorded mail to its outcome; return the new status. Idempotent: a processed mail is left alone."""
    prepared = ahead.take(mail_id) if ahead is not None else _read(ctx, mail_id)
    try:
        with ctx.blobs.locked():  # from putting its files in place to the commit, retention must not purge them
            return _process(ctx, mail_id, prepared)
    except BaseException:
        if prepared is not None:
            _unkeep(ctx, prepared)
        raise
    finally:
        if prepared is not None:  # what was put in place is no temporary any more; the rest is not wanted
            ctx.blobs.discard(prepared.sealed)


def _unkeep(ctx: Context, prepared: Prepared) -> None:
    """The transaction that put this mail's documents in place did not commit: the files no mail refers to are
    deleted, or no purge would ever find them. Best effort: when the database is the trouble, they stay."""
    placed = {s.digest for s in prepared.sealed if s.tmp is not None and not os.path.exists(s.tmp)}
    if not placed:
        return
    try:
        retention.delete_unreferenced(ctx.engine, ctx.blobs, placed)
    except Exception as exc:  # noqa: BLE001 - the mail's own failure is what matters here
        log.warning("could not remove %s stored file(s) of a mail that failed (%s)", len(placed),
                    type(exc).__name__)


def _process(ctx: Context, mail_id: int, prepared: Prepared | None) -> str:
    cfg = ctx.config
    with session_scope(ctx.engine) as s:
        # Claim the mail with a write first: it takes the row lock (PostgreSQL) or the database write lock
        # (SQLite) until this transaction ends, so a second daemon waits and then finds it processed.
        claimed = s.execute(update(InboundMail).where(InboundMail.id == mail_id, InboundMail.status == "fetched")
                            .values(processed_at=utcnow())).rowcount
        record = s.get(InboundMail, mail_id)
        if not claimed or prepared is None:
            return record.status if record else "missing"
        s.refresh(record)
        mail, docs = prepared.mail, prepared.docs
        if isinstance(mail, ParseError):
            auto = automatic.reasons_without_sender(prepared.raw)
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
    attached = s.exec(select(Attachment.filename, Attachment.kind).where(Attachment.mail_id == record.id)
                      .order_by(Attachment.id)).all()
    brought = any(kind != "other" for _, kind in attached)
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
            files=[filename for filename, _ in attached],
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
