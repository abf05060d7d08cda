"""The coordinators' daily digest: new and changed cases, replies waiting for approval, overdue cases, cases
waiting longest.

Whether today's digest is due follows from the outbox (one `digest:<date>` row per Swedish date, which the
database refuses twice), so a daemon that was down at the digest time sends it once when it is back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from intake import pnr
from outbox import compose
from outbox.summary import COORDINATOR_TYPES, WARNING_WORDS, local, triage
from store.db import session_scope
from store.models import Case, InboundMail, OutboxMail, utcnow

log = logging.getLogger("halsodata.digest")
SWEDEN = ZoneInfo("Europe/Stockholm")
# States in which the next move is the centre's, not the researcher's.
CENTRE_STATES = ("received", "complete", "clarification", "confidentiality_review", "decided", "extraction")
LONGEST = 10


@dataclass
class CaseLine:
    number: str
    title: str
    researcher: str
    state: str
    track: str
    opened_at: datetime
    updated_at: datetime
    days: int = 0  # days waiting (since the last change, or since the request for overdue cases)
    reminders: int = 0
    escalated: bool = False
    warnings: list[str] = field(default_factory=list)  # warning codes of the case's triage summary


@dataclass
class ReplyLine:
    id: int
    number: str | None
    type: str
    to: str
    queued_at: datetime
    note: str


@dataclass
class Digest:
    day: date  # the Swedish date it is for
    since: datetime
    new: list[CaseLine] = field(default_factory=list)
    changed: list[CaseLine] = field(default_factory=list)
    awaiting_approval: list[ReplyLine] = field(default_factory=list)
    overdue: list[CaseLine] = field(default_factory=list)
    waiting_longest: list[CaseLine] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.new or self.changed or self.awaiting_approval or self.overdue or self.waiting_longest)


def _line(c: Case, days: int = 0) -> CaseLine:
    return CaseLine(c.number, pnr.redact(c.title), c.researcher, c.state, c.track, c.opened_at, c.updated_at, days)


def _days(now: datetime, then: datetime) -> int:
    return max(0, (now - then).days)


def last_digest(session: Session) -> OutboxMail | None:
    return session.exec(select(OutboxMail).where(OutboxMail.type == "digest", OutboxMail.status != "rejected")
                        .order_by(OutboxMail.id.desc())).first()


def _overdue(session: Session, case: Case, now: datetime, after: timedelta) -> CaseLine | None:
    """An incomplete case whose last supplement request has gone unanswered longer than the reminder period."""
    request = session.exec(select(OutboxMail).where(OutboxMail.case_id == case.id,
                                                    OutboxMail.type == "supplement_request",
                                                    OutboxMail.status.in_(("sent", "bounced")))
                           .order_by(OutboxMail.id.desc())).first()
    if request is None:
        return None
    asked = request.sent_at or request.queued_at
    answered = session.exec(select(InboundMail.fetched_at).where(
        InboundMail.case_id == case.id, InboundMail.status == "processed",
        InboundMail.auto_generated == False, InboundMail.fetched_at > asked)  # noqa: E712
        .order_by(InboundMail.id.desc())).first()
    clock = max(asked, answered) if answered else asked
    if now - clock < after:
        return None
    later = session.exec(select(OutboxMail).where(OutboxMail.case_id == case.id, OutboxMail.id > request.id,
                                                  OutboxMail.type.in_(("reminder", "escalation")),
                                                  OutboxMail.status != "rejected")).all()
    line = _line(case, _days(now, asked))
    line.reminders = sum(1 for m in later if m.type == "reminder")
    line.escalated = any(m.type == "escalation" for m in later)
    return line


def build(session: Session, config, now: datetime | None = None) -> Digest:
    """What the coordinators should know today; identity numbers masked."""
    now = now or utcnow()
    last = last_digest(session)
    since = last.queued_at if last is not None else now - timedelta(days=1)
    d = Digest(day=now.astimezone(SWEDEN).date(), since=since)
    live = select(Case).where(Case.state != "closed", Case.purged_at.is_(None))
    for c in session.exec(select(Case).where(Case.updated_at > since).order_by(Case.opened_at, Case.id)).all():
        line = _line(c, _days(now, c.updated_at))
        line.warnings = list(dict.fromkeys(w.code for w in triage(session, c, config).warnings))
        (d.new if c.opened_at > since else d.changed).append(line)
    rows = session.exec(select(OutboxMail, Case.number).join(Case, isouter=True)
                        .where(OutboxMail.status == "pending_approval", OutboxMail.type.not_in(COORDINATOR_TYPES))
                        .order_by(OutboxMail.queued_at, OutboxMail.id)).all()
    d.awaiting_approval = [ReplyLine(r.id, number, r.type, r.to, r.queued_at, pnr.redact(r.note)) for r, number in rows]
    after = timedelta(days=config.reminders.after_days)
    for c in session.exec(live.where(Case.state == "incomplete").order_by(Case.opened_at, Case.id)).all():
        line = _overdue(session, c, now, after)
        if line is not None:
            d.overdue.append(line)
    d.overdue.sort(key=lambda x: -x.days)
    waiting = session.exec(live.where(Case.state.in_(CENTRE_STATES)).order_by(Case.updated_at, Case.id)
                           .limit(LONGEST)).all()
    d.waiting_longest = [_line(c, _days(now, c.updated_at)) for c in waiting]
    return d


def render(d: Digest, language: str) -> tuple[str, str]:
    """(subject, body) of the digest mail."""
    from intake.web.i18n import STATES

    i = 0 if language == "sv" else 1
    words = {code: pair[i] for code, pair in WARNING_WORDS.items()}
    states = {code: pair[i] for code, pair in STATES.items()}
    return compose.render("digest", language, d=d, local=local, since=local(d.since), words=words, states=states)


def render_text(d: Digest, language: str) -> str:
    return render(d, language)[1]


def due(config, now: datetime) -> bool:
    """The digest is on and today's digest time has passed (Swedish time)."""
    cc = config.coordinators
    if not cc.addresses or not cc.digest:
        return False
    hour, minute = (int(x) for x in cc.digest_time.split(":"))
    return now.astimezone(SWEDEN).time() >= time(hour, minute)


def queue(session: Session, config, now: datetime | None = None) -> OutboxMail | None:
    """Queue today's digest in the caller's transaction; None if today's is already in the outbox."""
    now = now or utcnow()
    day = now.astimezone(SWEDEN).date()
    key = f"digest:{day.isoformat()}"
    if session.exec(select(OutboxMail.id).where(OutboxMail.dedupe_key == key)).first() is not None:
        return None
    cc = config.coordinators
    d = build(session, config, now)
    subject, body = render(d, cc.language)
    out = OutboxMail(case_id=None, type="digest",
                     status="pending_approval" if "digest" in config.outbox.require_approval else "queued",
                     message_id=compose.new_message_id(config.smtp.from_address, None),
                     to=compose.header_safe(", ".join(cc.addresses)), subject=compose.header_safe(subject),
                     language=cc.language, body=body, in_reply_to=None, references="", queued_at=now,
                     next_attempt_at=now, dedupe_key=key)
    session.add(out)
    return out


def queue_due(engine, config, now: datetime | None = None) -> int | None:
    """Queue today's digest if its time has come and it is not in the outbox yet; the outbox id or None."""
    now = now or utcnow()
    if not due(config, now):
        return None
    try:
        with session_scope(engine) as s:
            out = queue(s, config, now)
            if out is None:
                return None
            s.flush()
            log.info("daily digest queued for the coordinators (#%s)", out.id)
            return out.id
    except IntegrityError:
        return None  # another daemon queued today's digest a moment ago
