"""linkage.decision_when_linked: linkage with another authority's data needs its decision (which may come later)."""

from rules.base import CaseFile, Rule, RulesConfig, finding
from rules.mentions import mentions


def check(case: CaseFile, config: RulesConfig):
    found = mentions(case, "linkage")
    if not found:
        return finding(RULE.id, "not_applicable", "Ingen samkörning med andra myndigheters data.",
                       "No linkage with another authority's data.")
    doc = case.newest("linkage_decision")
    if doc is not None:
        return finding(RULE.id, "ok", f"Beslut om samkörning finns: {doc.filename}.",
                       f"The decision on linkage is present: {doc.filename}.", doc.cite(), *found)
    return finding(RULE.id, "pending",
                   "Data ska samköras med en annan myndighets data; den myndighetens beslut kan skickas in när det "
                   "finns.",
                   "The data are to be linked with another authority's data; that authority's decision can be "
                   "sent when it is available.", *found)


RULE = Rule("linkage.decision_when_linked", "Beslut om samkörning", "Decision on linkage", check)
