"""Read-only views of cases and intake records, shaped for the CLI's text and JSON output."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlmodel import Session, select

from intake import pnr
from rules.registry import RULE_IDS
from store.models import Attachment, Case, Finding, InboundMail, OutboxMail

SUMMARY_TYPES = ("triage_summary", "digest")  # mail to the coordinators about a case, not a reply


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if value else None


def case_summary(case: Case) -> dict:
    # Identity numbers a researcher wrote into a subject or a file name are never shown, here as everywhere.
    return pnr.redact_all({"number": case.number, "state": case.state, "track": case.track,
                           "researcher": case.researcher, "researcher_name": case.researcher_name,
                           "title": case.title, "language": case.language,
                           "opened_at": _iso(case.opened_at), "updated_at": _iso(case.updated_at)})


def attachment_view(att: Attachment) -> dict:
    return {"filename": att.filename, "content_type": att.content_type, "size": att.size, "sha256": att.sha256,
            "kind": att.kind, "also": json.loads(att.also), "confidence": att.confidence,
            "evidence": json.loads(att.evidence), "readable": att.readable, "reason": att.reason,
            "container": att.container, "fields": _public_fields(json.loads(att.fields))}


def _public_fields(fields: dict) -> dict:
    """Facts for display; the variable rows stay in the store (the rules read them), a count is shown."""
    out = {k: v for k, v in fields.items() if k != "variables"}
    if "variables" in fields:
        v = fields["variables"]
        out["variables"] = {"sheet": v.get("sheet"), "header_row": v.get("header_row"), "columns": v.get("columns"),
                            "count": len(v.get("rows", [])), "problem": v.get("problem")}
    return out


def reply_view(reply: OutboxMail) -> dict:
    return {"type": reply.type, "status": reply.status, "message_id": reply.message_id, "to": reply.to,
            "subject": reply.subject, "language": reply.language, "queued_at": _iso(reply.queued_at),
            "sent_at": _iso(reply.sent_at), "attempts": reply.attempts, "last_error": reply.last_error or None}


def finding_view(f: Finding) -> dict:
    return {"rule": f.rule, "status": f.status, "message_sv": f.message_sv, "message_en": f.message_en,
            "evidence": json.loads(f.evidence or "[]"), "since": _iso(f.created_at)}


def case_detail(session: Session, case: Case) -> dict:
    mails = session.exec(select(InboundMail).where(InboundMail.case_id == case.id)
                         .order_by(InboundMail.id)).all()
    messages = []
    for m in mails:
        atts = session.exec(select(Attachment).where(Attachment.mail_id == m.id).order_by(Attachment.id)).all()
        messages.append({"message_id": m.message_id, "from": m.from_address, "subject": m.subject,
                         "received_at": _iso(m.fetched_at), "sent_date": _iso(m.sent_date),
                         "status": m.status, "outcome": m.outcome, "language": m.language,
                         "auto_generated": m.auto_generated,
                         "attachments": [attachment_view(a) for a in atts]})
    findings = session.exec(select(Finding).where(Finding.case_id == case.id, Finding.current == True)  # noqa: E712
                            ).all()
    order = {rule: i for i, rule in enumerate(RULE_IDS)}
    findings = sorted(findings, key=lambda f: order.get(f.rule, len(order)))
    outbox = session.exec(select(OutboxMail).where(OutboxMail.case_id == case.id).order_by(OutboxMail.id)).all()
    # Summaries go to the coordinators, not the researcher: listed apart, never among the replies.
    replies = [r for r in outbox if r.type not in SUMMARY_TYPES]
    summaries = [r for r in outbox if r.type in SUMMARY_TYPES]
    return pnr.redact_all({**case_summary(case), "messages": messages,
                           "findings": [finding_view(f) for f in findings],
                           "replies": [reply_view(r) for r in replies],
                           "summaries": [reply_view(r) for r in summaries]})


def mail_view(m: InboundMail, case_number: str | None) -> dict:
    return pnr.redact_all({"id": m.id, "uid": m.uid, "uidvalidity": m.uidvalidity, "folder": m.folder,
                           "message_id": m.message_id, "sha256": m.sha256, "size": m.size, "status": m.status,
                           "outcome": m.outcome, "case": case_number, "received_at": _iso(m.fetched_at),
                           "moved": m.moved_at is not None})
