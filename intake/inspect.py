"""`halsodata inspect`: reads mail files offline, as the daemon would, and reports documents and findings."""

from __future__ import annotations

from pathlib import Path

from intake import automatic, language, pnr
from intake.config import Config
from intake.parse import ParseError, parse
from intake.reading import Document, MailDocuments, read_mail
from rules import registry
from rules.base import CaseFile, Doc, Mail, RulesConfig


def as_doc(d: Document) -> Doc:
    fields = d.fields()
    return Doc(filename=d.item.filename, kind=d.classification.kind, also=list(d.classification.also),
               confidence=d.classification.confidence, readable=d.read.readable, reason=d.read.reason,
               facts=fields, variables=fields.get("variables"), pnr_count=d.pnr_count, container=d.item.container)


def case_file_of(mail, docs: MailDocuments) -> CaseFile:
    """One mail taken as a whole application."""
    cf = CaseFile(docs=[as_doc(d) for d in docs.documents],
                  mails=[Mail(subject=mail.subject, body=mail.body_text, from_address=mail.from_address,
                              pnr_count=len(pnr.find(f"{mail.subject}\n{mail.body_text}")),
                              authentication_results=mail.authentication_results)],
                  problems=[{"document": p.filename, "detail": p.reason} for p in docs.problems])
    cf.track = registry.decide_track(cf)
    return cf


def inspect_bytes(raw: bytes, name: str, config: Config | None = None) -> dict:
    """The report for one mail: the JSON object `halsodata inspect --json` prints for it."""
    rules_config = config.rules if config else RulesConfig()
    default_lang = config.cases.language if config else "sv"
    own = {config.smtp.from_address.lower()} if config else set()
    try:
        mail = parse(raw)
    except ParseError as exc:
        return {"file": name, "error": f"cannot be parsed: {exc}", "attachments": [], "findings": [],
                "auto_generated": bool(automatic.reasons_without_sender(raw))}
    docs = read_mail(raw)
    cf = case_file_of(mail, docs)
    findings = registry.run(cf, rules_config)
    return pnr.redact_all({  # what a sender wrote is shown without identity numbers, as everywhere
        "file": name, "message_id": mail.message_id, "from": mail.from_address, "subject": mail.subject,
        "language": language.detect(f"{mail.subject}\n{mail.body_text}", default=default_lang),
        "auto_generated": bool(automatic.reasons(mail.message, mail.from_address, own)),
        "attachments": [_attachment(d) for d in docs.documents],
        "problems": [{"file": p.filename, "reason": p.reason, "container": p.container} for p in docs.problems],
        "signatures": docs.signatures,
        "track": cf.track, "state": registry.decide_state(findings),
        "findings": [{"rule": f.rule, "status": f.status, "message_sv": f.message_sv, "message_en": f.message_en,
                      "evidence": f.evidence} for f in findings],
    })


def _attachment(d: Document) -> dict:
    c, f = d.classification, d.facts
    out = {"filename": d.item.filename, "content_type": d.item.content_type, "size": len(d.item.data),
           "sha256": d.sha256, "kind": c.kind, "also": c.also, "confidence": c.confidence, "evidence": c.evidence,
           "readable": d.read.readable, "reason": d.read.reason, "container": d.item.container,
           "fields": {k: v for k, v in f.as_dict().items()}}
    if d.variables is not None:
        out["fields"]["variables"] = {"sheet": d.variables.sheet, "header_row": d.variables.header_row,
                                      "columns": d.variables.columns, "count": len(d.variables.rows),
                                      "problem": d.variables.problem}
    return out


def inspect_file(path: Path, config: Config | None = None) -> dict:
    return inspect_bytes(path.read_bytes(), str(path), config)
