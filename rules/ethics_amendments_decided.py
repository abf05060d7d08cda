"""ethics_amendments.decided: every amendment application needs its own decision citing it."""

from intake.facts import base_ref
from rules.base import CaseFile, Rule, RulesConfig, finding


def check(case: CaseFile, config: RulesConfig):
    amendments = case.of("ethics_amendment")
    if not amendments:
        return finding(RULE.id, "not_applicable", "Inga ändringsansökningar.", "No amendment applications.")
    decided_refs = {base_ref(r) for d in case.of("ethics_amendment_decision") for r in d.facts.get("ethics_refs", [])}
    undecided = [a for a in amendments
                 if not a.facts.get("ethics_refs") or base_ref(a.facts["ethics_refs"][0]) not in decided_refs]
    if not undecided:
        return finding(RULE.id, "ok", "Varje ändringsansökan har ett beslut.", "Every amendment has a decision.",
                       *[a.cite(f"Dnr {a.facts['ethics_refs'][0]}") for a in amendments])
    names = ", ".join((a.facts.get("ethics_refs") or [a.filename])[0] for a in undecided)
    return finding(RULE.id, "missing", f"Beslut saknas för ändringsansökan {names}.",
                   f"The decision on amendment {names} is missing.",
                   *[a.cite("no decision cites this amendment") for a in undecided])


RULE = Rule("ethics_amendments.decided", "Varje ändring har ett beslut", "Every amendment has a decision", check)
