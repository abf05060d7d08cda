"""ethics.references_consistent: form, ethics application and decision must cite the same EPM reference number."""

from intake.facts import base_ref
from rules.base import CaseFile, Rule, RulesConfig, finding

KINDS = ("application_form", "ethics_application", "ethics_decision")


def _main_ref(refs: list[str], amendment_refs: set[str]) -> str | None:
    """A document's own reference: the first one that is not an amendment's number."""
    for ref in refs:
        if base_ref(ref) not in amendment_refs:
            return base_ref(ref)
    return None


def check(case: CaseFile, config: RulesConfig):
    amendment_refs = {base_ref(r) for d in case.of("ethics_amendment") + case.of("ethics_amendment_decision")
                      for r in d.facts.get("ethics_refs", [])[:1]}
    cited = {}
    for kind in KINDS:
        doc = case.newest(kind)
        if doc is not None:
            ref = _main_ref(doc.facts.get("ethics_refs", []), amendment_refs)
            if ref:
                cited[kind] = (doc, ref)
    if len(cited) < 2:
        return finding(RULE.id, "not_applicable" if not cited else "needs_review",
                       "För få dokument med diarienummer för att jämföra.",
                       "Too few documents with a reference number to compare.",
                       *[doc.cite(f"Dnr {ref}") for doc, ref in cited.values()])
    evidence = [doc.cite(f"Dnr {ref}") for doc, ref in cited.values()]
    if len({ref for _, ref in cited.values()}) == 1:
        ref = next(iter(cited.values()))[1]
        return finding(RULE.id, "ok", f"Diarienumret {ref} stämmer i alla dokument.",
                       f"The reference number {ref} agrees in every document.", *evidence)
    listing = ", ".join(f"{doc.filename}: {ref}" for doc, ref in cited.values())
    return finding(RULE.id, "failed", f"Diarienumren stämmer inte överens ({listing}).",
                   f"The reference numbers do not agree ({listing}).", *evidence)


RULE = Rule("ethics.references_consistent", "Diarienumren stämmer överens", "The reference numbers agree", check)
