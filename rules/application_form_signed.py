"""application_form.signed: signing the form accepts the base fee, so an unsigned form cannot be handled."""

from rules.base import CaseFile, Rule, RulesConfig, finding


def check(case: CaseFile, config: RulesConfig):
    form = case.newest("application_form")
    if form is None:
        return finding(RULE.id, "not_applicable", "Ingen ansökningsblankett att kontrollera.",
                       "No application form to check.")
    signed = form.facts.get("signed")
    evidence = [form.cite(e) for e in form.facts.get("signature_evidence", [])] or [form.cite()]
    if signed is True:
        return finding(RULE.id, "ok", "Ansökningsblanketten är signerad.", "The application form is signed.", *evidence)
    if signed is False:
        return finding(RULE.id, "failed", "Ansökningsblanketten är inte signerad: underskriftsraden är tom.",
                       "The application form is not signed: the signature line is empty.", *evidence)
    return finding(RULE.id, "needs_review", "Kunde inte avgöra om ansökningsblanketten är signerad.",
                   "Could not tell whether the application form is signed.", *evidence)


RULE = Rule("application_form.signed", "Ansökningsblanketten är signerad", "The application form is signed", check)
