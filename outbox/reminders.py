"""Reminders and escalation for unanswered supplement requests, derived from the outbox each time they run.

Nothing that matters is scheduled in memory: whether a reminder is due follows from what the store says
was sent and received, so a restart loses nothing and a reminder that fell due while the daemon was down
is sent once when it is back. Each reminder has a unique key in the database, so two callers (the
scheduler job and the cycle, or two daemons) can never queue the same one twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from intake.matching import case_tag
from outbox import compose, items
from rules.base import Finding as RuleFinding
from store.db import session_scope
from store.models import Case, Finding, InboundMail, OutboxMail, utcnow

log = logging.getLogger("halsodata.reminders")

IN_FLIGHT = ("queued", "sending", "pending_approval")


@dataclass
class Due:
    what: str  # "reminder" | "escalation"
    request: OutboxMail
    number: int  # which reminder (1, 2, ...); 0 for the escalation
    waited_days: int


def _when(mail: OutboxMail) -> datetime:
    return mail.sent_at or mail.queued_at


def due(session: Session, case: Case, now: datetime, after: timedelta, max_reminders: int,
        escalate_after: timedelta) -> Due | None:
    """What is due for one case, from its outbox history and the mail received since the last request."""
    if case.state != "incomplete":
        return None
    request = session.exec(select(OutboxMail).where(OutboxMail.case_id == case.id,
                                                    OutboxMail.type == "supplement_request",
                                                    OutboxMail.status.in_(("sent", "bounced")))
                           .order_by(OutboxMail.id.desc())).first()
    if request is None:
        return None
    since = session.exec(select(OutboxMail).where(OutboxMail.case_id == case.id,
                                                  OutboxMail.type.in_(("reminder", "escalation")),
                                                  OutboxMail.id > request.id).order_by(OutboxMail.id)).all()
    if any(m.type == "escalation" for m in since) or any(m.status in IN_FLIGHT for m in since):
        return None  # escalated already, or one is on its way: never two at once
    reminders = [m for m in since if m.type == "reminder"]  # rejected ones count too: a person decided
    # The clock restarts with each reminder and with each mail the researcher sent that left things missing.
    clock = max([_when(request), *(_when(m) for m in reminders)])
    trigger = session.exec(select(InboundMail.id).where(InboundMail.case_id == case.id,
                                                        InboundMail.message_id == request.in_reply_to)).first()
    later = InboundMail.id > trigger if trigger is not None else InboundMail.fetched_at > _when(request)
    latest = session.exec(select(InboundMail.fetched_at).where(
        InboundMail.case_id == case.id, InboundMail.status == "processed",
        InboundMail.auto_generated == False, later)  # noqa: E712
        .order_by(InboundMail.id.desc())).first()
    if latest is not None:
        clock = max(clock, latest)
    waited = now - _when(request)
    undeliverable = request.status == "bounced" or any(m.status in ("failed", "bounced") for m in reminders)
    if len(reminders) < max_reminders and not undeliverable:
        if now - clock >= after:
            return Due("reminder", request, len(reminders) + 1, waited.days)
        return None
    if now - clock >= (escalate_after if not undeliverable else timedelta(0)):
        return Due("escalation", request, 0, waited.days)
    return None


def _open_items(session: Session, case: Case, language: str) -> list[dict]:
    rows = session.exec(select(Finding).where(Finding.case_id == case.id, Finding.current == True,  # noqa: E712
                                              Finding.status.in_(("missing", "failed")))).all()
    return items.asks([RuleFinding(r.rule, r.status, r.message_sv, r.message_en) for r in rows], language)


def _queue(s: Session, config, case: Case, d: Due, now: datetime) -> OutboxMail | None:
    status = "pending_approval" if d.what in config.outbox.require_approval else "queued"
    common = dict(case=case, from_address=config.smtp.from_address, now=now, tag=case_tag(case.number),
                  number=case.number, title=case.title, name=case.researcher_name, days=d.waited_days,
                  status=status)
    if d.what == "reminder":
        # to whom and in which language the request went: the researcher may have written from another address
        out = compose.queue(s, reply_type="reminder", to=d.request.to, language=d.request.language,
                            in_reply_to=d.request.message_id, references=d.request.references.split(),
                            missing=_open_items(s, case, d.request.language), **common)
        out.dedupe_key = f"reminder:{d.request.id}:{d.number}"
        return out
    if not config.cases.coordinators:
        return None
    lang = config.cases.language
    out = compose.queue(s, reply_type="escalation", to=", ".join(config.cases.coordinators), language=lang,
                        researcher=d.request.to, undeliverable=d.request.status == "bounced",
                        reminders=len([1 for m in s.exec(select(OutboxMail.id).where(
                            OutboxMail.case_id == case.id, OutboxMail.type == "reminder",
                            OutboxMail.id > d.request.id)).all()]),
                        missing=_open_items(s, case, lang), **common)
    out.dedupe_key = f"escalation:{d.request.id}"
    return out


def run(engine, config, now: datetime | None = None) -> list[int]:
    """Queue every reminder and escalation now due, one case per transaction; return the outbox ids queued."""
    now = now or utcnow()
    rc = config.reminders
    with session_scope(engine) as s:
        case_ids = s.exec(select(Case.id).where(Case.state == "incomplete")).all()
    queued, unescalated = [], 0
    for case_id in case_ids:
        try:
            with session_scope(engine) as s:
                case = s.get(Case, case_id)
                d = due(s, case, now, timedelta(days=rc.after_days), rc.max_reminders,
                        timedelta(days=rc.escalate_after_days))
                if d is None:
                    continue
                out = _queue(s, config, case, d, now)
                if out is None:
                    unescalated += 1
                    continue
                s.flush()
                queued.append(out.id)
        except IntegrityError:
            continue  # another caller queued this very reminder a moment ago
        except Exception as exc:  # one case must not stop the others, nor the sending that follows
            log.error("reminder check failed for one case (%s)", type(exc).__name__)
    if unescalated:
        log.warning("%s overdue case(s) cannot be escalated: [cases] coordinators is empty", unescalated)
    if queued:
        log.info("%s reminder(s)/escalation(s) queued", len(queued))
    return queued
