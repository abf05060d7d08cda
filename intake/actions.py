"""What a coordinator can do to a case and its replies, the same from the web view and the CLI, each audited.

Every function works in the caller's transaction and writes one AuditEvent (who, what, when) with the change,
so the change and its record exist together or not at all. A refusal raises ActionRefused with the reason in
English and Swedish; nothing is changed then.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, select

from intake import pnr
from intake.documents import KINDS
from intake.evaluate import AUTOMATIC_STATES, evaluate
from intake.matching import case_tag
from outbox import compose, decide, items
from rules import registry
from store.models import Attachment, AuditEvent, Case, Finding, InboundMail, OutboxMail, utcnow

SWEDEN = ZoneInfo("Europe/Stockholm")  # notes are read by coordinators, in Swedish time

# DOMAIN.md section 8, in the order a case moves.
STATES = ("received", "incomplete", "complete", "clarification", "confidentiality_review", "decided", "extraction",
          "closed")
COORDINATOR_STATES = ("clarification", "confidentiality_review", "decided", "extraction", "closed")
# A coordinator may hand a case back to the product: the state then follows the findings again.
AUTOMATIC = "automatic"

APPROVABLE = ("pending_approval", "failed")
REJECTABLE = ("pending_approval", "queued", "failed", "bounced")
EDITABLE = ("pending_approval", "queued", "failed")
NOTE_LIMIT = 2000


class ActionRefused(Exception):
    """The action cannot be done; `en` and `sv` say why and what to do instead."""

    def __init__(self, en: str, sv: str):
        super().__init__(en)
        self.en, self.sv = en, sv

    def text(self, language: str) -> str:
        return self.sv if language == "sv" else self.en


def cli_actor() -> str:
    """Who acts from the command line: the operating-system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def audit(session: Session, actor: str, action: str, *, case_id: int | None = None, target: str = "",
          **detail) -> AuditEvent:
    """Record who did what; identity numbers in notes are masked like everywhere else."""
    clean = {k: pnr.redact(v) if isinstance(v, str) else v for k, v in detail.items()}
    event = AuditEvent(actor=actor, action=action, case_id=case_id, target=target,
                       detail=json.dumps(clean, ensure_ascii=False, default=str))
    session.add(event)
    return event


def _reply(session: Session, reply_id: int) -> OutboxMail:
    reply = session.get(OutboxMail, reply_id)
    if reply is None:
        raise ActionRefused(f"no reply #{reply_id}. `halsodata outbox list` shows the outbox.",
                            f"Svar #{reply_id} finns inte.")
    return reply


def _change(session: Session, reply: OutboxMail, allowed: tuple[str, ...], **values) -> bool:
    """Change a reply only if it is still in an allowed state: the daemon may be claiming it at this moment."""
    done = session.execute(update(OutboxMail).where(OutboxMail.id == reply.id, OutboxMail.status.in_(allowed))
                           .values(**values)).rowcount == 1
    session.refresh(reply)
    return done


def approve_reply(session: Session, actor: str, reply_id: int) -> OutboxMail:
    """Let a reply that waits for approval (or failed) go out with the next send."""
    reply = _reply(session, reply_id)
    before = reply.status
    if not _change(session, reply, APPROVABLE, status="queued", next_attempt_at=utcnow(),
                   note=f"approved by {actor} {utcnow().astimezone(SWEDEN).strftime('%Y-%m-%d %H:%M %Z')}"):
        raise ActionRefused(
            f"reply #{reply_id} is {reply.status}; only waiting or failed replies can be approved.",
            f"Svar #{reply_id} har status {reply.status}; bara svar som väntar eller har misslyckats kan godkännas.")
    audit(session, actor, "outbox.approve", case_id=reply.case_id, target=f"outbox:{reply.id}", type=reply.type,
          status_before=before)
    return reply


def reject_reply(session: Session, actor: str, reply_id: int, reason: str = "") -> OutboxMail:
    """Never send this reply."""
    reply = _reply(session, reply_id)
    reason = pnr.redact(reason.strip())[:NOTE_LIMIT]
    if reply.status == "rejected":
        raise ActionRefused(f"reply #{reply_id} is already rejected ({reply.note}).",
                            f"Svar #{reply_id} är redan stoppat ({reply.note}).")
    before = reply.status
    if not _change(session, reply, REJECTABLE, status="rejected",
                   note=f"rejected: {reason}" if reason else "rejected"):
        raise ActionRefused(f"reply #{reply_id} is already {reply.status}.",
                            f"Svar #{reply_id} har redan status {reply.status} och kan inte stoppas.")
    audit(session, actor, "outbox.reject", case_id=reply.case_id, target=f"outbox:{reply.id}", type=reply.type,
          status_before=before, reason=reason)
    return reply


def edit_reply(session: Session, actor: str, reply_id: int, body: str | None = None,
               subject: str | None = None) -> OutboxMail:
    """Change a reply's text or subject; it then waits for approval and goes out as a person's mail."""
    reply = _reply(session, reply_id)
    if reply.status not in EDITABLE:
        raise ActionRefused(f"reply #{reply_id} is {reply.status} and can no longer be changed.",
                            f"Svar #{reply_id} har status {reply.status} och kan inte längre ändras.")
    if body is not None:
        body = body.replace("\r\n", "\n")
        if not body.strip():
            raise ActionRefused("the text is empty; write the reply, or reject it instead.",
                                "Texten är tom. Skriv svaret, eller stoppa det i stället.")
    if subject is not None:
        subject = subject.strip()
        case = session.get(Case, reply.case_id) if reply.case_id else None
        if case is not None and case.number not in subject:
            raise ActionRefused(f"keep the case tag [{case.number}] in the subject, so the researcher's answer "
                                "reaches the case.",
                                f"Behåll ärendetaggen [{case.number}] i ämnesraden, så att forskarens svar hamnar "
                                "i rätt ärende.")
    if body is None and subject is None:
        raise ActionRefused("nothing changed.", "Inget ändrades.")
    if pnr.find(f"{body or ''}\n{subject or ''}"):
        raise ActionRefused("the text contains a personal identity number; remove it first.",
                            "Texten innehåller ett personnummer. Ta bort det först.")
    changes: dict = {"status": "pending_approval", "auto_submitted": False, "note": "edited by a coordinator"}
    if body is not None:
        changes["body"] = body if body.endswith("\n") else body + "\n"
    if subject is not None:
        try:
            changes["subject"] = compose.header_safe(subject)
        except ValueError:
            raise ActionRefused("the subject must be one line without \"=?\".",
                                "Ämnesraden måste vara en rad utan \"=?\".") from None
    body_changed = body is not None and changes["body"] != reply.body
    subject_changed = subject is not None and changes["subject"] != reply.subject
    if not _change(session, reply, EDITABLE, **changes):
        raise ActionRefused(f"reply #{reply_id} was just sent or claimed and can no longer be changed.",
                            f"Svar #{reply_id} skickades just och kan inte längre ändras.")
    audit(session, actor, "outbox.edit", case_id=reply.case_id, target=f"outbox:{reply.id}", type=reply.type,
          body_changed=body_changed, subject_changed=subject_changed)
    return reply


@dataclass
class KindChanged:
    attachment: Attachment
    case: Case
    state_before: str
    replies: list[OutboxMail] = field(default_factory=list)  # queued, waiting for approval


def _refuse_purged(case: Case) -> None:
    if case.purged_at is not None:
        day = case.purged_at.strftime("%Y-%m-%d")
        raise ActionRefused(f"case {case.number} was purged on {day} (retention): its documents are gone, so it "
                            "cannot be reopened or assessed again. A new application opens a new case.",
                            f"Ärende {case.number} gallrades {day}: dokumenten är raderade, så ärendet kan inte "
                            "öppnas igen eller bedömas på nytt. En ny ansökan blir ett nytt ärende.")


def change_kind(session: Session, config, actor: str, attachment_id: int, kind: str) -> KindChanged:
    """A coordinator corrects what a document is; the rules run again over the case and the state follows.

    The kind is marked as the coordinator's, which classification never overwrites. Replies the change calls
    for (a new supplement request, a complete notice) wait for a coordinator's approval: a person's correction
    should not send mail by itself.
    """
    att = session.get(Attachment, attachment_id)
    if att is None:
        raise ActionRefused(f"no document #{attachment_id}.", f"Dokument #{attachment_id} finns inte.")
    if kind not in KINDS:
        raise ActionRefused(f"unknown kind {kind!r}; known: {', '.join(KINDS)}.", f"Okänd dokumenttyp {kind!r}.")
    mail = session.get(InboundMail, att.mail_id)
    case = session.get(Case, mail.case_id) if mail is not None and mail.case_id else None
    if case is None:
        raise ActionRefused(f"document #{attachment_id} belongs to no case.",
                            f"Dokument #{attachment_id} hör inte till något ärende.")
    # Take the case's row lock (PostgreSQL) first: intake updating the same case waits, and so do we, so two
    # evaluations never interleave and leave two current findings for a rule.
    session.refresh(case, with_for_update=True)
    _refuse_purged(case)
    if att.kind == kind and att.kind_source == "coordinator":
        raise ActionRefused(f"document #{attachment_id} is already {kind}.",
                            f"Dokument #{attachment_id} är redan markerat som {kind}.")
    from intake.pipeline import _last_requested  # the same notion of "what we last asked for" as intake
    before_kind, before_also = att.kind, json.loads(att.also or "[]")
    state_before = case.state
    last_requested = _last_requested(session, case)
    # The coordinator says what the document is: the product's guesses of further kinds go with its own kind.
    att.kind, att.also, att.kind_source = kind, "[]", "coordinator"
    session.add(att)
    session.flush()
    findings = evaluate(session, case, config.rules)
    case.updated_at = utcnow()
    blocking = registry.blocking(findings)
    planned = decide.plan(decide.Change(
        first_mail=False, automatic=False, track=case.track, state_before=state_before, state_after=case.state,
        blocking=frozenset(f.rule for f in blocking), last_requested=last_requested))
    result = KindChanged(att, case, state_before)
    if planned:
        result.replies = _queue_for_approval(session, config, case, planned, findings)
    audit(session, actor, "attachment.kind", case_id=case.id, target=f"attachment:{att.id}", before=before_kind,
          before_also=before_also, after=kind, state_before=state_before, state_after=case.state,
          replies=[f"outbox:{r.id}" for r in result.replies])
    return result


def _queue_for_approval(session: Session, config, case: Case, planned: list[str], findings) -> list[OutboxMail]:
    """Queue the replies a re-evaluation calls for, answering the researcher's latest mail, held for approval."""
    latest = session.exec(select(InboundMail).where(InboundMail.case_id == case.id,
                                                    InboundMail.status == "processed",
                                                    InboundMail.auto_generated == False)  # noqa: E712
                          .order_by(InboundMail.id.desc())).first()
    if latest is None:
        return []
    # An earlier held request or notice no longer says what the case needs now.
    stale = session.exec(select(OutboxMail).where(OutboxMail.case_id == case.id,
                                                  OutboxMail.status == "pending_approval",
                                                  OutboxMail.type.in_(("supplement_request", "complete_notice"))
                                                  )).all()
    lang = latest.language or case.language
    blocking = registry.blocking(findings)
    pending = [f for f in findings if f.status == "pending"]
    queued = []
    for reply_type in planned:
        out = compose.queue(
            session, reply_type=reply_type, case=case, to=latest.from_address, language=lang,
            from_address=config.smtp.from_address, in_reply_to=latest.message_id,
            references=latest.references.split(), status="pending_approval", tag=case_tag(case.number),
            number=case.number, title=case.title, name=latest.from_name or case.researcher_name, files=[],
            complete=case.state == "complete", request_follows="supplement_request" in planned,
            missing=items.asks(blocking, lang), pending=items.asks(pending, lang))
        if reply_type == "supplement_request":
            out.items = json.dumps(sorted(f.rule for f in blocking))
        out.note = "after a coordinator changed a document's kind: waits for approval"
        queued.append(out)
    session.flush()
    for old in stale:
        old.status, old.note = "rejected", f"superseded by #{queued[0].id} after a document's kind was changed"
    return queued


def move_case(session: Session, actor: str, case_id: int, to: str, note: str = "") -> Case:
    """Move a case to a coordinator's state (DOMAIN.md section 8), or hand it back to the product (`automatic`)."""
    case = session.get(Case, case_id)
    if case is None:
        raise ActionRefused(f"no case #{case_id}.", f"Ärende #{case_id} finns inte.")
    session.refresh(case, with_for_update=True)
    _refuse_purged(case)
    note = pnr.redact(note.strip())[:NOTE_LIMIT]
    before = case.state
    if to == AUTOMATIC:
        current = session.exec(select(Finding).where(Finding.case_id == case.id,
                                                     Finding.current == True)).all()  # noqa: E712
        target = registry.decide_state(current)
        if before in AUTOMATIC_STATES:
            raise ActionRefused(f"case {case.number} already follows its findings ({before}).",
                                f"Ärende {case.number} följer redan sina kontroller ({before}).")
    elif to in COORDINATOR_STATES:
        target = to
    else:
        raise ActionRefused(f"a coordinator can move a case to {', '.join(COORDINATOR_STATES)} or back to "
                            f"{AUTOMATIC}, not to {to!r}.",
                            "Ett ärende kan bara flyttas till ett handläggarsteg, eller tillbaka till automatisk "
                            "bedömning.")
    if target == before:
        raise ActionRefused(f"case {case.number} is already {before}.", f"Ärende {case.number} är redan i det steget.")
    now = utcnow()
    case.state, case.updated_at = target, now
    case.closed_at = now if target == "closed" else None
    session.add(case)
    audit(session, actor, "case.state", case_id=case.id, target=f"case:{case.number}", before=before, after=target,
          note=note)
    return case
