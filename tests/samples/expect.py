"""Expected triage outcome of a sample application, derived from DOMAIN.md 2-9 and 10."""

from __future__ import annotations

from collections.abc import Iterable

from .projects import Project

# rule id -> the kinds that satisfy it (for the `missing` list)
_RULE_KIND = {
    "application_form.present": "application_form",
    "ethics_application.present": "ethics_application",
    "ethics_decision.present": "ethics_decision",
    "ethics_amendments.decided": "ethics_amendment_decision",
    "research_plan.present": "research_plan",
    "variable_list.present": "variable_list",
    "dpia.when_extensive": "dpia",
    "dpa.when_processor": "data_processing_agreement",
    "dta.when_transfer": "data_transfer_agreement",
}


def _present(rule: str, kinds: set[str]) -> str:
    return "ok" if _RULE_KIND[rule] in kinds else "missing"


def expected_for(project: Project, kinds: Iterable[str], *, decision: str | None, signed: bool = True,
                 refs_consistent: bool = True, decided_amendments: int | None = None,
                 first_mail: bool = True, previous: list[str] | None = None) -> dict:
    """Expected findings and outcome for a personal-data application with the given attachment kinds.

    Findings whose status DOMAIN.md leaves open for this situation are left out (not asserted).
    For a follow-up (`first_mail=False`), `previous` is the case's missing kinds + failed rules before it
    (`[]` when it was already complete); the replies follow DOMAIN.md 10.
    """
    k = set(kinds)
    f: dict[str, str] = {}
    for rule in ("application_form.present", "ethics_application.present", "ethics_decision.present",
                 "research_plan.present", "variable_list.present"):
        f[rule] = _present(rule, k)
    if "application_form" in k:
        f["application_form.signed"] = "ok" if signed else "failed"
    if decision:
        f["ethics_decision.approved"] = {"approved": "ok", "approved_with_conditions": "ok", "rejected": "failed",
                                         "advisory_only": "needs_review"}[decision]
    if {"application_form", "ethics_application", "ethics_decision"} <= k:
        f["ethics.references_consistent"] = "ok" if refs_consistent else "failed"
    if not project.amendments:
        f["ethics_amendments.decided"] = "not_applicable"
    else:
        n = len(project.amendments) if decided_amendments is None else decided_amendments
        f["ethics_amendments.decided"] = "ok" if n >= len(project.amendments) else "missing"
    if "variable_list" in k:
        f["variable_list.readable"] = "ok"
    if project.consent == "collected":
        f["consent.documented"] = "ok" if {"participant_information", "consent_form"} <= k else "missing"
    elif {"ethics_application", "ethics_decision"} & k:
        f["consent.documented"] = "ok"
    if project.extensive:
        f["dpia.when_extensive"] = "ok" if {"dpia", "dpo_statement"} & k else "missing"
    else:
        f["dpia.when_extensive"] = "not_applicable"
    f["linkage.decision_when_linked"] = (
        ("ok" if "linkage_decision" in k else "pending") if project.linkage else "not_applicable")
    f["dpa.when_processor"] = _present("dpa.when_processor", k) if project.processor else "not_applicable"
    f["dta.when_transfer"] = _present("dta.when_transfer", k) if project.transfer else "not_applicable"
    f["attachments.readable"] = "ok"
    f["sensitive_data.not_in_mail"] = "ok"
    f["sender.authenticated"] = "not_applicable"  # the samples carry no Authentication-Results

    missing = []
    for rule, status in f.items():
        if status != "missing":
            continue
        if rule == "consent.documented":
            missing += [x for x in ("participant_information", "consent_form") if x not in k]
        else:
            missing.append(_RULE_KIND[rule])
    failed = [rule for rule, status in f.items() if status == "failed"]
    complete = not missing and not failed
    refs = [project.dnr] + [a.dnr for a in project.amendments] if project.dnr else []
    if first_mail:
        replies = ["acknowledgment"] if complete else ["acknowledgment", "supplement_request"]
    elif complete:
        replies = [] if previous == [] else ["complete_notice"]
    else:
        unchanged = previous is not None and sorted(previous) == sorted(missing + failed)
        replies = [] if unchanged else ["supplement_request"]
    return {
        "track": "personal_data",
        "decision": decision,
        "conditions": list(project.conditions) if decision == "approved_with_conditions" else [],
        "ethics_refs": refs,
        "consent": project.consent,
        "extensive": project.extensive,
        "complete": complete,
        "state": "complete" if complete else "incomplete",
        "missing": missing,
        "failed": failed,
        "needs_review": [rule for rule, status in f.items() if status == "needs_review"],
        "pending": [rule for rule, status in f.items() if status == "pending"],
        "replies": replies,
        "findings": f,
    }


def expected_aggregated() -> dict:
    """An aggregated-statistics request (DOMAIN.md 7): no ethics documents required."""
    na = ("ethics_application.present", "ethics_decision.present", "ethics_decision.approved",
          "ethics.references_consistent", "ethics_amendments.decided", "consent.documented",
          "variable_list.present", "variable_list.readable", "dpia.when_extensive")
    f = {rule: "not_applicable" for rule in na}
    f.update({"attachments.readable": "ok", "sensitive_data.not_in_mail": "ok",
              "sender.authenticated": "not_applicable"})
    return {"track": "aggregated", "decision": None, "conditions": [], "ethics_refs": [], "consent": None,
            "extensive": False, "complete": True, "missing": [], "failed": [], "needs_review": [],
            "pending": [], "replies": ["aggregated_answer"], "findings": f}
