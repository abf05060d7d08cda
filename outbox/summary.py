"""Triage summaries for coordinators: who applies for what, what arrived, every finding, warnings and the next step.

`triage()` builds the summary of one case from the store (the CLI, the web view and the mail all use it);
`render_text()` writes it in Swedish or English; `queue_due()` mails it to the coordinators when a case was
opened or changed. Whether a summary is due is derived from the store each time (the case's content against
the last summary queued for it), so a restart loses nothing and a second run queues nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from intake import pnr
from intake.facts import base_ref
from intake.matching import case_tag
from rules.registry import RULES, RULE_IDS
from rules.sensitive_data_not_in_mail import EXPECTED as EXPECTED_PNR
from store.db import session_scope
from store.models import Attachment, Case, Finding, InboundMail, OutboxMail, utcnow

log = logging.getLogger("halsodata.summary")
SWEDEN = ZoneInfo("Europe/Stockholm")

# Mail to the coordinators, never to the researcher: not a reply, no reminder clock, no thread with the researcher.
COORDINATOR_TYPES = ("triage_summary", "digest", "escalation")
# How far back the daemon looks for cases whose summary is not up to date (covers a long weekend of downtime).
LOOKBACK = timedelta(days=7)

_DESCRIPTION = {r.id: (r.description_sv, r.description_en) for r in RULES}
# A warning in a few words, for lists (the digest, the register): (Swedish, English).
WARNING_WORDS = {"identity_numbers": ("personnummer", "identity numbers"),
                 "sender_unauthenticated": ("avsändare ej autentiserad", "sender not authenticated"),
                 "unreadable_files": ("oläsbara filer", "unreadable files"),
                 "bounced_replies": ("svar studsade", "replies bounced"),
                 "other_domain": ("mejl från annan domän", "mail from another domain")}


@dataclass
class Notice:
    """A warning on the case: something a coordinator must see before anything else."""

    code: str  # identity_numbers | sender_unauthenticated | unreadable_files | bounced_replies | other_domain
    message_sv: str
    message_en: str


@dataclass
class DocumentLine:
    attachment_id: int
    filename: str
    kind: str | None
    confidence: float
    readable: bool
    reason: str | None
    kind_source: str
    mail_id: int
    from_address: str
    received_at: datetime | None
    container: str | None = None


@dataclass
class FindingLine:
    rule: str
    status: str
    message_sv: str
    message_en: str
    evidence: list[dict] = field(default_factory=list)
    since: datetime | None = None


@dataclass
class Triage:
    """One case as a coordinator should understand it in thirty seconds."""

    case_id: int
    number: str
    state: str
    track: str
    language: str
    opened_at: datetime
    updated_at: datetime
    applicant_name: str
    applicant_address: str
    organisation: str
    project_title: str
    ethics_reference: str | None
    ethics_decision: str | None  # approved | approved_with_conditions | rejected | advisory_only | None
    ethics_conditions: list[str]
    mails: int
    documents: list[DocumentLine]
    findings: list[FindingLine]
    warnings: list[Notice]
    next_step_sv: str
    next_step_en: str

    def as_dict(self) -> dict:
        """JSON-ready; times in UTC."""
        return json.loads(json.dumps(asdict(self), default=_iso, ensure_ascii=False))

    def fingerprint(self) -> str:
        """A hash of what the case says now; the time and the mail count are left out, so a mail that changes
        nothing (a "thank you") leads to no new summary."""
        content = {k: v for k, v in self.as_dict().items() if k not in ("updated_at", "mails")}
        return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]

    @property
    def missing(self) -> list[FindingLine]:
        return [f for f in self.findings if f.status in ("missing", "failed")]


def _iso(value):
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    raise TypeError(type(value).__name__)


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].strip().lower() if "@" in address else ""


_domain = domain_of


def same_organisation(a: str, b: str) -> bool:
    """Two mail domains of one organisation: equal, or one a subdomain of the other (ki.se, stud.ki.se)."""
    return bool(a) and bool(b) and (a == b or a.endswith("." + b) or b.endswith("." + a))


_ORG = re.compile(r"universitet|university|institut|högskola|college|sjukhus|hospital|\bregion\b|landsting|"
                  r"myndighet|agency|kommun|akademi|school of", re.I)
_QUOTED_TITLE = re.compile(r"(?:projekt\w*|project|studie\w*|study)\s*[:]?\s*[”\"“«]([^”\"“»\n]{4,300})[”\"»]", re.I)
_QUOTE_START = re.compile(r"^(-{3,}\s*(ursprungligt meddelande|original message)|(från|from):\s)", re.I | re.M)


def _signature_organisation(body: str) -> str:
    """The organisation in the signature of a mail: the last line of its last lines that names one."""
    m = _QUOTE_START.search(body or "")
    own = (body or "")[:m.start()] if m else (body or "")
    lines = [ln.strip() for ln in own.strip().splitlines() if ln.strip()][-8:]
    for line in reversed(lines):
        if _ORG.search(line) and len(line) <= 120 and "@" not in line:
            return line
    return ""


def _applicant(first: InboundMail | None, docs: list[Attachment], case: Case) -> tuple[str, str]:
    """(organisation, project title): from the application form's facts when the reader gives them, else from
    the first mail (its signature, a quoted project name), else the sender's domain and the subject."""
    org = title = ""
    for a in docs:
        fields = json.loads(a.fields or "{}")
        if a.kind == "application_form":
            org = org or str(fields.get("principal") or fields.get("organisation") or "")
            title = title or str(fields.get("project_title") or "")
    body = first.body_text if first is not None else ""
    if not org:
        org = _signature_organisation(body) or _domain(case.researcher)
    if not title:
        m = _QUOTED_TITLE.search(body or "")
        title = " ".join(m.group(1).split()) if m else case.title
    return pnr.redact(org)[:200], pnr.redact(title)[:300]


def _ethics(docs: list[Attachment]) -> tuple[str | None, str | None, list[str]]:
    """The reference number and the decision, from the newest decision, else the newest document citing one."""
    decision = next((a for a in reversed(docs) if a.kind == "ethics_decision"), None)
    ref = None
    order = [decision] if decision else []
    order += [a for a in reversed(docs) if a.kind in ("application_form", "ethics_application")]
    for a in order:
        refs = json.loads(a.fields or "{}").get("ethics_refs") or []
        if refs:
            ref = base_ref(refs[0])
            break
    if decision is None:
        return ref, None, []
    fields = json.loads(decision.fields or "{}")
    return ref, fields.get("decision"), [pnr.redact(c) for c in fields.get("conditions") or []]


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _warnings(mails: list[InboundMail], docs: list[Attachment], findings: list[FindingLine], bounced: list[OutboxMail],
              case: Case) -> list[Notice]:
    out = []
    in_mail = sum(m.pnr_count for m in mails)
    # as the rule sensitive_data.not_in_mail: the applicant's own number on the form is expected
    in_files = [a for a in docs if a.pnr_count > EXPECTED_PNR.get(a.kind or "", 0)]
    if in_mail or in_files:
        where_sv = (["mejlens ämne eller text"] if in_mail else []) + [pnr.redact(a.filename) for a in in_files]
        where_en = (["the mails' subject or text"] if in_mail else []) + [pnr.redact(a.filename) for a in in_files]
        n = in_mail + sum(a.pnr_count for a in in_files)
        out.append(Notice("identity_numbers",
                          f"{_plural(n, 'personnummer', 'personnummer')} hittades i {', '.join(where_sv)} (visas "
                          "inte här). Hantera det som en säkerhetshändelse enligt rutinen.",
                          f"{_plural(n, 'personal identity number', 'personal identity numbers')} found in "
                          f"{', '.join(where_en)} (not shown here). Handle it as a security event by the routine."))
    auth = next((f for f in findings if f.rule == "sender.authenticated" and f.status == "needs_review"), None)
    if auth is not None:
        detail = "; ".join(str(e.get("detail", "")) for e in auth.evidence if e.get("detail"))
        out.append(Notice("sender_unauthenticated",
                          "Avsändaren kunde inte autentiseras (DMARC/DKIM)" + (f": {detail}" if detail else "")
                          + ". Kontrollera att mejlet är äkta innan något skickas ut.",
                          "The sender could not be authenticated (DMARC/DKIM)" + (f": {detail}" if detail else "")
                          + ". Check that the mail is genuine before anything is released."))
    unreadable = [f"{pnr.redact(a.filename)} ({a.reason or 'kunde inte öppnas'})" for a in docs if not a.readable]
    unreadable_en = [f"{pnr.redact(a.filename)} ({a.reason or 'could not be opened'})" for a in docs if not a.readable]
    for m in mails:
        for p in json.loads(m.problems or "[]"):
            unreadable.append(f"{pnr.redact(str(p.get('filename')))} ({p.get('reason')})")
            unreadable_en.append(f"{pnr.redact(str(p.get('filename')))} ({p.get('reason')})")
    if unreadable:
        out.append(Notice("unreadable_files", "Filer som inte gick att läsa: " + "; ".join(unreadable) + ".",
                          "Files that could not be read: " + "; ".join(unreadable_en) + "."))
    if bounced:
        to = ", ".join(sorted({b.to for b in bounced}))
        out.append(Notice("bounced_replies",
                          f"{_plural(len(bounced), 'svar', 'svar')} till forskaren studsade ({to}): adressen "
                          "fungerar inte. Kontakta forskaren på annat sätt.",
                          f"{_plural(len(bounced), 'reply', 'replies')} to the researcher bounced ({to}): the "
                          "address does not work. Reach the researcher another way."))
    home = _domain(case.researcher)
    for m in mails:
        if m.auto_generated or same_organisation(_domain(m.from_address), home):
            continue
        brought = [pnr.redact(a.filename) for a in docs if a.mail_id == m.id]
        files_sv = f" och lade till {_plural(len(brought), 'dokument', 'dokument')}: {', '.join(brought)}" \
            if brought else ""
        files_en = f" and added {_plural(len(brought), 'document', 'documents')}: {', '.join(brought)}" \
            if brought else ""
        out.append(Notice("other_domain",
                          f"Ett mejl från {m.from_address} kommer från en annan domän än ärendets ({home}){files_sv}. "
                          "Kontrollera att avsändaren hör till ansökan innan dokumenten godtas.",
                          f"A mail from {m.from_address} comes from another domain than the case's ({home})"
                          f"{files_en}. Check that the sender belongs to the application before accepting the "
                          "documents."))
    return out


def _short_ask(rule: str, i: int) -> str:
    """What the researcher was asked for, in a few words ("Variabellistan" rather than the whole request)."""
    from outbox.items import ASK
    text = ASK[rule][i] if rule in ASK else _DESCRIPTION.get(rule, (rule, rule))[i]
    return re.split(r" \(|:|, ", text, maxsplit=1)[0]


def _step(state: str, i: int) -> str:
    """A state as coordinators call it, with the identifier that `halsodata cases move` takes."""
    from intake.web.i18n import STATES

    return f"{STATES[state][i]} ({state})" if state in STATES else state


def _next_step(case: Case, findings: list[FindingLine], warnings: list[Notice], waiting: int) -> tuple[str, str]:
    sv, en = [], []
    codes = {w.code for w in warnings}
    if "identity_numbers" in codes:
        sv.append("Hantera först personnumren som en säkerhetshändelse.")
        en.append("First handle the identity numbers as a security event.")
    if codes & {"sender_unauthenticated", "other_domain"}:
        sv.append("Kontrollera avsändaren (se varningarna).")
        en.append("Check the sender (see the warnings).")
    if waiting:
        sv.append(f"Granska {_plural(waiting, 'svar', 'svar')} som väntar på godkännande i utkorgen.")
        en.append(f"Review {_plural(waiting, 'reply', 'replies')} waiting for approval in the outbox.")
    failed = {f.rule for f in findings if f.status == "failed"}
    missing = [f for f in findings if f.status in ("missing", "failed")]
    review = [f for f in findings if f.status == "needs_review" and f.rule != "sender.authenticated"]
    if case.track == "aggregated":
        sv.append("Besvara förfrågan om aggregerad statistik: bedöm om uttaget går att göra och ge en offert.")
        en.append("Answer the request for aggregated statistics: judge whether the extraction is feasible and "
                  "give a quote.")
    elif "ethics_decision.approved" in failed:
        sv.append("Etikprövningsmyndigheten har avslagit ansökan: kontakta forskaren om ansökan ska dras tillbaka "
                  "eller vänta på ett överklagande.")
        en.append("The Ethical Review Authority rejected the application: ask the researcher whether it is "
                  "withdrawn or awaits an appeal.")
    elif case.state == "incomplete" and missing:
        names_sv = "; ".join(_short_ask(f.rule, 0) for f in missing)
        names_en = "; ".join(_short_ask(f.rule, 1) for f in missing)
        sv.append(f"Invänta kompletteringen från forskaren: {names_sv}.")
        en.append(f"Wait for the researcher's supplement: {names_en}.")
    elif case.state == "complete":
        sv.append("Kvalitetsgranska: stämmer begäran med den godkända etikansökan och är databehovet tydligt? "
                  f"Flytta sedan ärendet till {_step('clarification', 0).lower()} eller "
                  f"{_step('confidentiality_review', 0).lower()}.")
        en.append("Quality check: does the request match the approved ethics application, and is the data need "
                  f"clear? Then move the case to {_step('clarification', 1).lower()} or "
                  f"{_step('confidentiality_review', 1).lower()}.")
    elif case.state not in ("received", "incomplete"):
        sv.append(f"Ärendet är i steget {_step(case.state, 0).lower()}: fortsätt handläggningen.")
        en.append(f"The case is at step {_step(case.state, 1).lower()}: continue its handling.")
    if review:
        sv.append("Bedöm: " + ", ".join(_DESCRIPTION.get(f.rule, (f.rule, f.rule))[0].lower() for f in review) + ".")
        en.append("Judge: " + ", ".join(_DESCRIPTION.get(f.rule, (f.rule, f.rule))[1].lower() for f in review) + ".")
    pending = [f for f in findings if f.status == "pending"]
    if pending:
        sv.append("Kan komma senare: " + ", ".join(_DESCRIPTION.get(f.rule, (f.rule, f.rule))[0].lower()
                                                   for f in pending) + ".")
        en.append("May follow later: " + ", ".join(_DESCRIPTION.get(f.rule, (f.rule, f.rule))[1].lower()
                                                   for f in pending) + ".")
    return " ".join(sv) or "Inget att göra just nu.", " ".join(en) or "Nothing to do right now."


def triage(session: Session, case: Case, config=None) -> Triage:
    """The triage summary of one case, from the store as it is now. `config` is the Config (unused fields may
    be added later); identity numbers are masked in everything it returns."""
    mails = session.exec(select(InboundMail).where(InboundMail.case_id == case.id, InboundMail.status == "processed")
                         .order_by(InboundMail.id)).all()
    by_mail = {m.id: m for m in mails}
    docs = session.exec(select(Attachment).where(Attachment.mail_id.in_(list(by_mail) or [-1]))
                        .order_by(Attachment.id)).all()
    rows = session.exec(select(Finding).where(Finding.case_id == case.id, Finding.current == True)  # noqa: E712
                        ).all()
    order = {rule: i for i, rule in enumerate(RULE_IDS)}
    findings = [FindingLine(f.rule, f.status, pnr.redact(f.message_sv), pnr.redact(f.message_en),
                            json.loads(f.evidence or "[]"), f.created_at)
                for f in sorted(rows, key=lambda f: order.get(f.rule, len(order)))]
    replies = session.exec(select(OutboxMail).where(OutboxMail.case_id == case.id,
                                                    OutboxMail.type.not_in(COORDINATOR_TYPES))).all()
    bounced = [r for r in replies if r.status == "bounced"]
    waiting = sum(1 for r in replies if r.status == "pending_approval")
    warnings = _warnings(mails, docs, findings, bounced, case)
    organisation, title = _applicant(next((m for m in mails if not m.auto_generated), None), docs, case)
    ref, decision, conditions = _ethics(docs)
    sv, en = _next_step(case, findings, warnings, waiting)
    if case.purged_at is not None:  # the documents are gone: the register keeps what they said
        kept = json.loads(case.register_entry or "{}")
        organisation, title = kept.get("organisation") or organisation, kept.get("project_title") or title
        ref, decision, conditions = kept.get("ethics_reference"), kept.get("ethics_decision"), []
        day = local(case.purged_at)[:10]
        sv = f"Inget: ärendets innehåll raderades {day} enligt gallringsbeslutet; registeruppgifterna finns kvar."
        en = f"None: the case's content was purged on {day} under the retention rules; the register entry stays."
    return Triage(
        case_id=case.id, number=case.number, state=case.state, track=case.track, language=case.language,
        opened_at=case.opened_at, updated_at=case.updated_at,
        applicant_name=pnr.redact(case.researcher_name), applicant_address=case.researcher,
        organisation=organisation, project_title=title, ethics_reference=ref, ethics_decision=decision,
        ethics_conditions=conditions, mails=len(mails),
        documents=[DocumentLine(a.id, pnr.redact(a.filename), a.kind, round(a.confidence, 2), a.readable,
                                pnr.redact(a.reason) if a.reason else None, a.kind_source, a.mail_id,
                                by_mail[a.mail_id].from_address, by_mail[a.mail_id].fetched_at,
                                pnr.redact(a.container) if a.container else None) for a in docs],
        findings=findings, warnings=warnings, next_step_sv=sv, next_step_en=en)


def local(value: datetime | None) -> str:
    """A stored UTC time in Swedish time, to the minute."""
    return value.astimezone(SWEDEN).strftime("%Y-%m-%d %H:%M") if value else "-"


def _context(t: Triage, language: str, event: str | None) -> dict:
    from intake.web.i18n import STATES, TRACKS

    i = 0 if language == "sv" else 1
    return {"t": t, "tag": case_tag(t.number), "event": event, "local": local, "sv": language == "sv",
            "state_word": STATES[t.state][i] if t.state in STATES else t.state,
            "track_word": TRACKS[t.track][i] if t.track in TRACKS else t.track,
            "next_step": t.next_step_sv if language == "sv" else t.next_step_en,
            "decision": DECISION_WORDS[language].get(t.ethics_decision or "", DECISION_WORDS[language][""]),
            "status_word": _STATUS[language], "warnings": [w.message_sv if language == "sv" else w.message_en
                                                            for w in t.warnings],
            "findings": [(f, f.message_sv if language == "sv" else f.message_en) for f in t.findings],
            "not_applicable": [f.rule for f in t.findings if f.status == "not_applicable"]}


DECISION_WORDS = {
    "sv": {"approved": "godkänd", "approved_with_conditions": "godkänd med villkor", "rejected": "avslag",
           "advisory_only": "avvisad med rådgivande yttrande (ej godkännande)", "": "inget beslut läst"},
    "en": {"approved": "approved", "approved_with_conditions": "approved with conditions", "rejected": "rejected",
           "advisory_only": "dismissed with an advisory opinion (not an approval)", "": "no decision read"},
}
_STATUS = {
    "sv": {"ok": "ok", "missing": "saknas", "pending": "kan komma", "needs_review": "bedöm", "failed": "fel",
           "not_applicable": "ej aktuellt"},
    "en": {"ok": "ok", "missing": "missing", "pending": "pending", "needs_review": "judge", "failed": "failed",
           "not_applicable": "n/a"},
}


def render(t: Triage, language: str, event: str | None = None) -> tuple[str, str]:
    """(subject, body) of the summary mail; identity numbers masked."""
    from outbox import compose
    return compose.render("triage_summary", language, **_context(t, language, event))


def render_text(t: Triage, language: str, event: str | None = None) -> str:
    """The summary as plain text in Swedish ("sv") or English ("en"), for the terminal, the web view and mail."""
    return render(t, language, event)[1]


def _summaries(session: Session, case_id: int) -> OutboxMail | None:
    return session.exec(select(OutboxMail).where(OutboxMail.case_id == case_id, OutboxMail.type == "triage_summary")
                        .order_by(OutboxMail.id.desc())).first()


def _event(session: Session, case: Case, last: OutboxMail | None) -> str:
    if last is not None:
        return "changed"
    researcher_mails = session.exec(select(func.count(InboundMail.id)).where(
        InboundMail.case_id == case.id, InboundMail.status == "processed",
        InboundMail.auto_generated == False)).one()  # noqa: E712
    return "opened" if researcher_mails <= 1 else "changed"


def queue_for(session: Session, config, case: Case, now: datetime | None = None) -> OutboxMail | None:
    """Queue the case's summary for the coordinators if the case was opened or changed since the last one
    (and that event is switched on); None when nothing is due. In the caller's transaction."""
    from outbox import compose
    cc = config.coordinators
    if not cc.addresses or not cc.summary_events:
        return None
    last = _summaries(session, case.id)
    event = _event(session, case, last)
    if event not in cc.summary_events:
        return None
    t = triage(session, case, config)
    content = t.fingerprint()
    if last is not None and (last.dedupe_key or "").endswith(":" + content):
        return None  # the case says what the last summary said
    subject, body = render(t, cc.language, event)
    now = now or utcnow()
    out = OutboxMail(case_id=case.id, type="triage_summary",
                     status="pending_approval" if "triage_summary" in config.outbox.require_approval else "queued",
                     message_id=compose.new_message_id(config.smtp.from_address, case),
                     to=compose.header_safe(", ".join(cc.addresses)), subject=compose.header_safe(subject),
                     language=cc.language, body=body, in_reply_to=None, references="", queued_at=now,
                     next_attempt_at=now,
                     # the previous summary's id makes a return to an earlier content a new event, not a duplicate
                     dedupe_key=f"summary:{case.id}:{last.id if last else 0}:{content}")
    session.add(out)
    return out


def queue_due(engine, config, now: datetime | None = None) -> list[int]:
    """Queue a summary for every recently updated case whose summary is not up to date; one case per
    transaction. Returns the outbox ids queued."""
    cc = config.coordinators
    if not cc.addresses or not cc.summary_events:
        return []
    now = now or utcnow()
    with session_scope(engine) as s:
        latest = (select(OutboxMail.case_id, func.max(OutboxMail.queued_at).label("at"))
                  .where(OutboxMail.type == "triage_summary").group_by(OutboxMail.case_id).subquery())
        rows = s.exec(select(Case.id).join(latest, latest.c.case_id == Case.id, isouter=True)
                      .where(Case.updated_at >= now - LOOKBACK, Case.purged_at.is_(None),
                             (latest.c.at.is_(None)) | (latest.c.at <= Case.updated_at))
                      .order_by(Case.id)).all()
    queued = []
    for case_id in rows:
        try:
            with session_scope(engine) as s:
                out = queue_for(s, config, s.get(Case, case_id), now)
                if out is not None:
                    s.flush()
                    queued.append(out.id)
        except IntegrityError:
            continue  # another daemon queued this very summary a moment ago
        except Exception as exc:  # one case must not stop the others, nor the replies that follow
            log.error("triage summary failed for case #%s (%s)", case_id, type(exc).__name__)
    if queued:
        log.info("%s triage summary(ies) queued for the coordinators", len(queued))
    return queued
