"""Runs the rules over everything a case has received and records the findings (with history), track and state."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from rules import registry
from rules.base import CaseFile, Doc, Finding, Mail, RulesConfig
from store.models import Attachment, Case, Finding as FindingRow, InboundMail, utcnow

# States the product moves by itself; from `clarification` on, only coordinators move a case.
AUTOMATIC_STATES = ("received", "incomplete", "complete")


def case_file(session: Session, case: Case) -> CaseFile:
    """Every document and mail of the case, oldest first, as the rules see them."""
    mails = session.exec(select(InboundMail).where(InboundMail.case_id == case.id, InboundMail.status == "processed")
                         .order_by(InboundMail.id)).all()
    cf = CaseFile()
    for m in mails:
        cf.mails.append(Mail(subject=m.subject, body=m.body_text, from_address=m.from_address,
                             pnr_count=m.pnr_count, authentication_results=json.loads(m.authentication_results),
                             received_at=m.fetched_at))
        cf.problems.extend({"document": p["filename"], "detail": p["reason"]} for p in json.loads(m.problems))
        for a in session.exec(select(Attachment).where(Attachment.mail_id == m.id).order_by(Attachment.id)).all():
            fields = json.loads(a.fields)
            cf.docs.append(Doc(filename=a.filename, kind=a.kind or "other", also=json.loads(a.also),
                               confidence=a.confidence, readable=a.readable, reason=a.reason, facts=fields,
                               variables=fields.get("variables"), pnr_count=a.pnr_count,
                               received_at=m.fetched_at, container=a.container))
    cf.track = registry.decide_track(cf)
    return cf


def _record(session: Session, case: Case, findings: list[Finding]) -> None:
    """Keep the current row when nothing changed, so `since` tells when a finding became what it is."""
    current = {f.rule: f for f in session.exec(select(FindingRow).where(FindingRow.case_id == case.id,
                                                                       FindingRow.current == True)).all()}  # noqa: E712
    now = utcnow()
    for f in findings:
        evidence = json.dumps(f.evidence, ensure_ascii=False)
        old = current.pop(f.rule, None)
        if old is not None and (old.status, old.message_sv, old.message_en, old.evidence) == \
                (f.status, f.message_sv, f.message_en, evidence):
            continue
        if old is not None:
            old.current = False
        session.add(FindingRow(case_id=case.id, rule=f.rule, status=f.status, message_sv=f.message_sv,
                               message_en=f.message_en, evidence=evidence, created_at=now))
    for stale in current.values():  # a rule switched off since
        stale.current = False


def evaluate(session: Session, case: Case, config: RulesConfig) -> list[Finding]:
    """Rules over the whole case; updates track, state (while automatic) and findings; returns the findings."""
    cf = case_file(session, case)
    findings = registry.run(cf, config)
    _record(session, case, findings)
    case.track = cf.track
    if case.state in AUTOMATIC_STATES:
        case.state = registry.decide_state(findings)
    return findings
