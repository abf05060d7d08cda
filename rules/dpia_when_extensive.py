"""dpia.when_extensive: an extensive extraction needs a DPIA or the data protection officer's statement."""

from rules.base import CaseFile, Rule, RulesConfig, finding
from rules.scope import extraction_scope


def check(case: CaseFile, config: RulesConfig):
    scope = extraction_scope(case)
    reasons_sv, reasons_en, evidence = [], [], list(scope.evidence)
    if len(scope.sources) > config.extensive_sources:
        reasons_sv.append(f"{len(scope.sources)} datakällor ({', '.join(scope.sources)})")
        reasons_en.append(f"{len(scope.sources)} data sources ({', '.join(scope.sources)})")
    if scope.population is not None and scope.population >= config.extensive_population:
        reasons_sv.append(f"cirka {scope.population:,} individer".replace(",", " "))
        reasons_en.append(f"about {scope.population:,} individuals")
    if scope.years is not None and scope.years >= config.extensive_years:
        reasons_sv.append(f"{scope.years} år")
        reasons_en.append(f"{scope.years} years")
    if not reasons_en:
        return finding(RULE.id, "not_applicable", "Datauttaget är inte omfattande.", "The extraction is not extensive.",
                       *evidence)
    why_sv, why_en = ", ".join(reasons_sv), ", ".join(reasons_en)
    doc = case.newest("dpia") or case.newest("dpo_statement")
    if doc is not None:
        return finding(RULE.id, "ok", f"Omfattande datauttag ({why_sv}); {doc.filename} finns.",
                       f"Extensive extraction ({why_en}); {doc.filename} is present.", doc.cite(), *evidence)
    return finding(RULE.id, "missing",
                   f"Datauttaget är omfattande ({why_sv}): en konsekvensbedömning (DPIA) eller ett yttrande från "
                   "dataskyddsombudet saknas.",
                   f"The extraction is extensive ({why_en}): a data protection impact assessment (DPIA) or a "
                   "statement from the data protection officer is missing.", *evidence)


RULE = Rule("dpia.when_extensive", "DPIA vid omfattande uttag", "DPIA for an extensive extraction", check)
