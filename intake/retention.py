"""Retention: the content of a case closed longer ago than `[retention] purge_closed_after_days` is deleted.

What stays is the case register row (number, dates, state, track, researcher, project title), the rule
outcomes without their evidence, and which kinds of documents arrived (without names or content): enough to
answer "what happened to application HD-2026-0042" without keeping the personal data it carried.
What goes: the raw mails and attachment files (encrypted files deleted from the file store unless a case
still kept refers to the same file), mail bodies, subjects and names, attachment names and extracted
fields, finding evidence and reply texts. Each purge is written to the audit log.

Mail that never joined a case (automatic mail, mail that could not be read) has its own period,
`[retention] purge_caseless_after_days`, counted from when it was taken in: its raw copy, sender, subject
and body go; the record of its arrival and outcome stays.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, or_
from sqlmodel import select

from intake.config import Config
from store.blobs import BlobStore
from store.db import session_scope
from store.models import Attachment, AuditEvent, Case, Finding, InboundMail, OutboxMail, utcnow

log = logging.getLogger("halsodata.retention")

PURGED = "(raderad / purged)"


@dataclass
class PurgeReport:
    cases: list[str] = field(default_factory=list)  # case numbers
    mails: int = 0
    files_deleted: int = 0
    caseless: int = 0  # mails without a case whose content was purged (or would be, in a dry run)


def due(session, config: Config, now: datetime) -> list[Case]:
    days = config.retention.purge_closed_after_days
    if days <= 0:
        return []
    cutoff = now - timedelta(days=days)
    return list(session.exec(select(Case).where(Case.state == "closed", Case.closed_at.is_not(None),
                                                Case.closed_at <= cutoff, Case.purged_at.is_(None))
                             .order_by(Case.closed_at)).all())


def due_caseless(session, config: Config, now: datetime) -> list[int]:
    """Ids of mails without a case taken in longer ago than [retention] purge_caseless_after_days."""
    days = config.retention.purge_caseless_after_days
    if days <= 0:
        return []
    cutoff = now - timedelta(days=days)
    return list(session.exec(select(InboundMail.id).where(InboundMail.case_id.is_(None),
                                                          InboundMail.status != "fetched",
                                                          InboundMail.purged_at.is_(None),
                                                          InboundMail.fetched_at <= cutoff)
                             .order_by(InboundMail.id)).all())


def purge(engine, blobs: BlobStore, config: Config, now: datetime | None = None, dry_run: bool = False,
          actor: str = "halsodata") -> PurgeReport:
    """Purge every case due, then every caseless mail due; one transaction per case (and one for the caseless
    mails), files deleted only after it is committed."""
    now = now or utcnow()
    report = PurgeReport()
    with session_scope(engine) as s:
        numbers = [c.number for c in due(s, config, now)]
        caseless = due_caseless(s, config, now)
    for number in numbers:
        if dry_run:
            report.cases.append(number)
            continue
        digests, mails = _purge_case(engine, number, now, actor)
        if mails < 0:
            continue  # reopened or purged by someone else meanwhile
        report.cases.append(number)
        report.mails += mails
        report.files_deleted += delete_unreferenced(engine, blobs, digests)
    if caseless and dry_run:
        report.caseless = len(caseless)
    elif caseless:
        digests, report.caseless = _purge_caseless(engine, caseless, now, actor)
        report.files_deleted += delete_unreferenced(engine, blobs, digests)
    if (report.cases or report.caseless) and not dry_run:
        log.info("retention: purged %s closed case(s), %s mail(s), %s mail(s) without a case, %s stored file(s)",
                 len(report.cases), report.mails, report.caseless, report.files_deleted)
    return report


def _purge_mail(mail: InboundMail) -> None:
    """What a mail said goes; that it came, when, and what became of it stays."""
    mail.body_text, mail.subject, mail.from_name = "", PURGED, ""
    mail.references, mail.authentication_results, mail.problems = "", "[]", "[]"
    mail.outcome = (mail.outcome + "; " if mail.outcome else "") + "content purged (retention)"


def _purge_caseless(engine, ids: list[int], now: datetime, actor: str) -> tuple[set[str], int]:
    digests: set[str] = set()
    purged = 0
    with session_scope(engine) as s:
        for mail in s.exec(select(InboundMail).where(InboundMail.id.in_(ids), InboundMail.case_id.is_(None),
                                                     InboundMail.purged_at.is_(None))).all():
            digests.add(mail.sha256)
            _purge_mail(mail)
            mail.from_address, mail.purged_at = "", now  # no case register keeps who wrote it
            purged += 1
        if purged:
            s.add(AuditEvent(actor=actor, action="mail.purge", target="mails without a case",
                             detail=json.dumps({"mails": purged})))
    return digests, purged


def _purge_case(engine, number: str, now: datetime, actor: str) -> tuple[set[str], int]:
    with session_scope(engine) as s:
        case = s.exec(select(Case).where(Case.number == number).with_for_update()).one()
        if case.purged_at is not None or case.state != "closed":
            return set(), -1
        from outbox import summary  # late: the summary module reads the store this module purges

        t = summary.triage(s, case)
        case.register_entry = json.dumps({"organisation": t.organisation, "project_title": t.project_title,
                                    "ethics_reference": t.ethics_reference, "ethics_decision": t.ethics_decision},
                                   ensure_ascii=False)
        digests: set[str] = set()
        mails = s.exec(select(InboundMail).where(InboundMail.case_id == case.id)).all()
        kinds: list[str] = []
        for mail in mails:
            digests.add(mail.sha256)
            for a in s.exec(select(Attachment).where(Attachment.mail_id == mail.id)).all():
                digests.add(a.sha256)
                kinds.append(a.kind or "other")
                a.filename, a.fields, a.evidence, a.reason = PURGED, "{}", "[]", None
            _purge_mail(mail)
        for f in s.exec(select(Finding).where(Finding.case_id == case.id)).all():
            f.evidence, f.message_sv, f.message_en = "[]", PURGED, PURGED  # messages may quote the documents
        for o in s.exec(select(OutboxMail).where(OutboxMail.case_id == case.id)).all():
            o.body = PURGED
        case.purged_at = now
        s.add(AuditEvent(actor=actor, action="case.purge", case_id=case.id, target=f"case:{case.id}",
                         detail=json.dumps({"mails": len(mails), "documents": len(kinds),
                                            "closed_at": case.closed_at.isoformat() if case.closed_at else None})))
        return digests, len(mails)


def delete_unreferenced(engine, blobs: BlobStore, digests: set[str]) -> int:
    """Delete the files no kept mail or attachment refers to (the same PDF may belong to another case). Asked and
    deleted under the file store's lock, which intake holds until the mail whose files it put in place is committed."""
    with session_scope(engine) as s:
        return blobs.delete_unless(sorted(digests), keep=lambda digest: _referenced(s, digest))


def _referenced(s, digest: str) -> bool:
    # A mail set aside (its stored copy was damaged) and taken in again later is the purged case's own mail, not
    # another that keeps the file.
    kept_mail = s.exec(select(InboundMail.id).outerjoin(Case, Case.id == InboundMail.case_id)
                       .where(InboundMail.sha256 == digest,
                              or_(and_(InboundMail.case_id.is_(None), InboundMail.purged_at.is_(None),
                                       InboundMail.leave_in_mailbox == False),  # noqa: E712
                                  and_(InboundMail.case_id.is_not(None), Case.purged_at.is_(None))))).first()
    if kept_mail is not None:
        return True
    return s.exec(select(Attachment.id).join(InboundMail, InboundMail.id == Attachment.mail_id)
                  .outerjoin(Case, Case.id == InboundMail.case_id)
                  .where(Attachment.sha256 == digest,
                         or_(InboundMail.case_id.is_(None), Case.purged_at.is_(None)))).first() is not None
