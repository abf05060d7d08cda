"""sensitive_data.not_in_mail: personal identity numbers in a mail are a security event, never quoted anywhere."""

from rules.base import CaseFile, Rule, RulesConfig, finding, mail_cite

# The applicant's own identity number on the form is expected; anything beyond one there is not.
EXPECTED = {"application_form": 1}


def check(case: CaseFile, config: RulesConfig):
    evidence = []
    for mail in case.mails:
        if mail.pnr_count:
            evidence.append(mail_cite(mail, f"{mail.pnr_count} identity number(s) in the subject or body"))
    for doc in case.docs:
        allowed = EXPECTED.get(doc.kind, 0)
        if doc.pnr_count > allowed:
            evidence.append(doc.cite(f"{doc.pnr_count} identity number(s)"))
    if not evidence:
        return finding(RULE.id, "ok", "Inga personnummer i mejl eller bilagor.",
                       "No personal identity numbers in mails or attachments.")
    return finding(RULE.id, "failed",
                   "Personnummer hittades i mejlet eller bilagorna (säkerhetshändelse). Numren visas inte här.",
                   "Personal identity numbers were found in the mail or attachments (security event). The numbers "
                   "are not shown here.", *evidence)


RULE = Rule("sensitive_data.not_in_mail", "Inga personnummer i mejlet", "No identity numbers in the mail", check,
            personal_data_only=False)
