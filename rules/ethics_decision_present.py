"""ethics_decision.present: EPM's decision on the base application (a request for supplement is not one)."""

from rules.base import CaseFile, Rule, RulesConfig, finding


def check(case: CaseFile, config: RulesConfig):
    doc = case.newest("ethics_decision")
    if doc is not None:
        return finding(RULE.id, "ok", f"Etikprövningsmyndighetens beslut finns: {doc.filename}.",
                       f"The decision of the Ethical Review Authority is present: {doc.filename}.",
                       doc.cite(f"classified as ethics_decision ({doc.confidence:.0%})"))
    lookalikes = [d for d in case.docs if "begäran om komplettering" in " ".join(d.facts.get("evidence", [])).lower()
                  or (d.kind == "other" and "beslut" in d.filename.lower())]
    evidence = [d.cite("named like a decision, but it is not a decision (e.g. EPM's request for supplement)")
                for d in lookalikes]
    return finding(RULE.id, "missing", "Etikprövningsmyndighetens beslut om grundansökan saknas.",
                   "The Ethical Review Authority's decision on the base application is missing.", *evidence)


RULE = Rule("ethics_decision.present", "Etikprövningsmyndighetens beslut finns", "The EPM decision is present", check)
