"""Runs the rules in a fixed order and decides the case's track and state from the findings."""

from __future__ import annotations

import re

from intake import pnr
from rules import (application_form_present, application_form_signed, attachments_readable, consent_documented,
                   dpa_when_processor, dpia_when_extensive, dta_when_transfer, ethics_amendments_decided,
                   ethics_application_present, ethics_decision_approved, ethics_decision_present,
                   ethics_references_consistent, linkage_decision_when_linked, research_plan_present,
                   sender_authenticated, sensitive_data_not_in_mail, variable_list_present, variable_list_readable)
from rules.base import CaseFile, Finding, Rule, RulesConfig, finding

# DOMAIN.md section 9, in the order a coordinator reads them.
RULES: list[Rule] = [m.RULE for m in (
    application_form_present, application_form_signed, ethics_application_present, ethics_decision_present,
    ethics_decision_approved, ethics_references_consistent, ethics_amendments_decided, research_plan_present,
    variable_list_present, variable_list_readable, consent_documented, dpia_when_extensive,
    linkage_decision_when_linked, dpa_when_processor, dta_when_transfer, attachments_readable,
    sensitive_data_not_in_mail, sender_authenticated,
)]
RULE_IDS = [r.id for r in RULES]

_AGGREGATED = re.compile(r"aggregerad(e)? statistik|aggregated statistics|antal (patienter|personer|individer|"
                         r"vårdtillfällen|besök)\s+(per|fördelat)|number of (patients|persons|visits) (per|by)|"
                         r"statistik utan personuppgifter|statistics without personal data", re.I)
_ETHICS = ("ethics_application", "ethics_decision", "ethics_amendment", "variable_list")


def decide_track(case: CaseFile) -> str:
    """`aggregated` when the mail asks for statistics without personal data and sends no ethics documents."""
    asked = any(_AGGREGATED.search(f"{m.subject}\n{m.body}") for m in case.mails)
    if asked and not any(case.of(kind) for kind in _ETHICS):
        return "aggregated"
    return "personal_data"


def run(case: CaseFile, config: RulesConfig) -> list[Finding]:
    """One finding per enabled rule, in the order of RULES."""
    findings = []
    for rule in RULES:
        if rule.id in config.disabled:
            continue
        if case.track == "aggregated" and rule.personal_data_only:
            findings.append(finding(rule.id, "not_applicable", "Gäller inte aggregerad statistik.",
                                    "Does not apply to aggregated statistics."))
            continue
        findings.append(_masked(rule.check(case, config)))
    return findings


def _masked(f: Finding) -> Finding:
    """Findings quote subjects and file names; identity numbers in them never reach the store or a screen."""
    f.message_sv, f.message_en = pnr.redact(f.message_sv), pnr.redact(f.message_en)
    f.evidence = [{k: pnr.redact(v) if isinstance(v, str) else v for k, v in e.items()} for e in f.evidence]
    return f


def decide_state(findings: list[Finding]) -> str:
    """`incomplete` while anything required is missing or failed; pending and needs_review do not block."""
    return "incomplete" if any(f.status in ("missing", "failed") for f in findings) else "complete"


def blocking(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.status in ("missing", "failed")]
