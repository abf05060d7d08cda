"""consent.documented: participant information and consent form (all versions), or a documented waiver."""

from rules.base import CaseFile, Rule, RulesConfig, finding

WAIVER_SOURCES = ("ethics_decision", "ethics_application", "ethics_amendment_decision")


def check(case: CaseFile, config: RulesConfig):
    info, forms = case.of("participant_information"), case.of("consent_form")
    if info and forms:
        versions = sorted({d.filename for d in info + forms})
        return finding(RULE.id, "ok", "Forskningspersonsinformation och samtyckesblankett finns.",
                       "Participant information and consent form are present.", *[{"document": v} for v in versions])
    for kind in WAIVER_SOURCES:
        for doc in reversed(case.of(kind)):
            if doc.facts.get("consent_waiver"):
                phrase = doc.facts["consent_waiver"][0]
                return finding(RULE.id, "ok", f"Samtycke inhämtas inte enligt {doc.filename} (“{phrase}”).",
                               f"Consent is not collected according to {doc.filename} (“{phrase}”).",
                               doc.cite(f"waiver: “{phrase}”"))
    missing_sv = [n for n, present in (("forskningspersonsinformation", info), ("samtyckesblankett", forms))
                  if not present]
    missing_en = [n for n, present in (("participant information", info), ("consent form", forms)) if not present]
    return finding(RULE.id, "missing",
                   f"{' och '.join(missing_sv).capitalize()} saknas (alla versioner), och inget beslut säger att "
                   "samtycke inte inhämtas.",
                   f"{' and '.join(missing_en).capitalize()} missing (all versions), and no decision says consent "
                   "is not collected.", *[d.cite() for d in info + forms])


RULE = Rule("consent.documented", "Samtycke är dokumenterat", "Consent is documented", check)
