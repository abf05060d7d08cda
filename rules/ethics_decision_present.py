"""ethics_decision.present: EPM's decision on the base application (a request for supplement is not one)."""

from rules.base import CaseFile, Rule, RulesConfig, finding


def check(case: CaseFile, config: RulesConfig):
    doc = case.newest("ethics_decision")
    if doc is not None:
        return finding(RULE.id, "ok", f"Etikprövningsmyndighetens beslut finns: {doc.filename}.",
                       f"The decision of the Ethical Review Authority is present: {doc.filename}.",
                       doc.cite(f"classified as ethics_decision ({doc.confidence:.0%})"))
    evidence = [d.cite("EPM's request for supplement: it is not a decision, it asks for more")
                for d in case.docs if d.facts.get("supplement_request")]
    evidence += [d.cite("named like a decision, but its content is not a decision")
                 for d in case.docs if d.kind == "other" and "beslut" in d.filename.lower()
                 and not d.facts.get("supplement_request")]
    return finding(RULE.id, "missing", "Etikprövningsmyndighetens beslut om grundansökan saknas.",
                   "The Ethical Review Authority's decision on the base application is missing.", *evidence)


RULE = Rule("ethics_decision.present", "Etikprövningsmyndighetens beslut finns", "The EPM decision is present", check)
