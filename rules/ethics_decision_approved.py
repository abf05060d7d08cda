"""ethics_decision.approved: only an approval (possibly with conditions) lets the request go on."""

from rules.base import CaseFile, Rule, RulesConfig, finding


def check(case: CaseFile, config: RulesConfig):
    doc = case.newest("ethics_decision")
    if doc is None:
        return finding(RULE.id, "not_applicable", "Inget beslut att bedöma.", "No decision to assess.")
    outcome, phrase = doc.facts.get("decision"), doc.facts.get("decision_phrase")
    cite = doc.cite(f"“{phrase}”" if phrase else "")
    if outcome == "approved":
        return finding(RULE.id, "ok", "Etikprövningsmyndigheten har godkänt forskningen.",
                       "The Ethical Review Authority approved the research.", cite)
    if outcome == "approved_with_conditions":
        conditions = doc.facts.get("conditions", [])
        return finding(RULE.id, "ok", "Forskningen är godkänd med villkor: " + "; ".join(conditions),
                       "The research is approved with conditions: " + "; ".join(conditions), cite,
                       *[doc.cite(f"condition: {c}") for c in conditions])
    if outcome == "rejected":
        return finding(RULE.id, "failed", "Etikprövningsmyndigheten har avslagit ansökan.",
                       "The Ethical Review Authority rejected the application.", cite)
    if outcome == "advisory_only":
        return finding(RULE.id, "needs_review",
                       "Ansökan avvisades med ett rådgivande yttrande: forskningen faller utanför etikprövningslagen. "
                       "En handläggare behöver bedöma det.",
                       "The application was dismissed with an advisory opinion: the research is outside the "
                       "Ethical Review Act. A case officer must judge this.", cite)
    return finding(RULE.id, "needs_review", "Beslutets utfall kunde inte läsas.",
                   "The outcome of the decision could not be read.", cite)


RULE = Rule("ethics_decision.approved", "Etikbeslutet är ett godkännande", "The ethics decision is an approval",
            check)
