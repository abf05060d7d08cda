"""Reminders and escalation for unanswered supplement requests, derived from the outbox each time they run.

Nothing is scheduled in memory that matters: whether a reminder is due follows from what the store says
was sent and received, so a restart loses nothing, and a reminder that fell due while the daemon was down
is sent once when it is back.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from intake.matching import case_tag
from outbox import compose, items
from rules.base import Finding as RuleFinding
from store.db import session_scope
from store.models import Case, Finding, InboundMail, OutboxMail, utcnow

log = logging.getLogger("halsodata.reminders")

ACTIVE = ("queued", "sending", "sent", "pending_approval")


def _sent_at(mail: OutboxMail) -> datetime:
    return mail.sent_at or mail.queued_at


def due(session: Session, case: Case, now: datetime, after: timedelta, max_reminders: int,
        escalate_after: timedelta) -> str | None:
    """'reminder', 'escalation' or None for one case, from its outbox history and inbound mail."""
    if case.state != "incomplete":
        return None
    request = session.exec(select(OutboxMail).where(OutboxMail.case_id == case.id,
                                                    OutboxMail.type == "supplement_request",
                                                    OutboxMail.status == "sent")
                           .order_by(OutboxMail.id.desc())).first()
    if request is None:
        return None
    # An answer is any mail a person sent to the case after the mail the request answered (ids order them;
    # timestamps of one second cannot).
    trigger = session.exec(select(InboundMail.id).where(InboundMail.case_id == case.id,
                                                        InboundMail.message_id == request.in_reply_to)).first()
    later = InboundMail.id > trigger if trigger is not None else InboundMail.fetched_at > _sent_at(request)
    answered = session.exec(select(InboundMail.id).where(InboundMail.case_id == case.id,
                                                         InboundMail.status == "processed",
                                                         InboundMail.auto_generated == False,  # noqa: E712
                                                         later)).first()
    if answered is not None:
        return None
    since = session.exec(select(OutboxMail).where(OutboxMail.case_id == case.id,
                                                  OutboxMail.type.in_(("reminder", "escalation")),
                                                  OutboxMail.status.in_(ACTIVE),
                                                  OutboxMail.id > request.id).order_by(OutboxMail.id)).all()
    if any(m.type == "escalation" for m in since):
        return None
    reminders = [m for m in since if m.type == "reminder"]
    if any(m.status != "sent" for m in reminders):
        return None  # one is on its way (or waiting for approval): never two at once
    last = _sent_at(reminders[-1]) if reminders else _sent_at(request)
    if len(reminders) < max_reminders:
        return "reminder" if now - last >= after else None
    return "escalation" if now - last >= escalate_after else None


def _open_items(session: Session, case: Case, language: str) -> list[dict]:
    rows = session.exec(select(Finding).where(Finding.case_id == case.id, Finding.current == True,  # noqa: E712
                                              Finding.status.in_(("missing", "failed")))).all()
    return items.asks([RuleFinding(r.rule, r.status, r.message_sv, r.message_en) for r in rows], language)


def run(engine: Engine, config, now: datetime | None = None) -> list[int]:
    """Queue every reminder and escalation now due; return the outbox ids queued."""
    now = now or utcnow()
    rc = config.reminders
    queued = []
    with session_scope(engine) as s:
        cases = s.exec(select(Case).where(Case.state == "incomplete")).all()
        for case in cases:
            what = due(s, case, now, timedelta(days=rc.after_days), rc.max_reminders,
                       timedelta(days=rc.escalate_after_days))
            if what is None:
                continue
            request = s.exec(select(OutboxMail).where(OutboxMail.case_id == case.id,
                                                      OutboxMail.type == "supplement_request",
                                                      OutboxMail.status == "sent")
                             .order_by(OutboxMail.id.desc())).first()
            common = dict(case=case, from_address=config.smtp.from_address, now=now, tag=case_tag(case.number),
                          number=case.number, title=case.title, name=case.researcher_name,
                          days=(now - _sent_at(request)).days)
            status = "pending_approval" if what in config.outbox.require_approval else "queued"
            if what == "reminder":
                lang = case.language
                out = compose.queue(s, reply_type="reminder", to=case.researcher, language=lang, status=status,
                                    in_reply_to=request.message_id, references=request.references.split(),
                                    missing=_open_items(s, case, lang), **common)
                queued.append(out)
            elif config.cases.coordinators:
                lang = config.cases.language
                out = compose.queue(s, reply_type="escalation", to=", ".join(config.cases.coordinators),
                                    language=lang, status=status, researcher=case.researcher,
                                    reminders=config.reminders.max_reminders,
                                    missing=_open_items(s, case, lang), **common)
                out.auto_submitted = True
                queued.append(out)
            else:
                log.warning("case %s is overdue but [cases] coordinators is empty: no escalation sent", case.number)
                continue
        s.flush()
        ids = [m.id for m in queued]
    if ids:
        log.info("%s reminder(s)/escalation(s) queued", len(ids))
    return ids

