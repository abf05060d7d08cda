"""attachments.readable: every attachment could be opened (not encrypted, corrupt, password-protected or too big)."""

from rules.base import CaseFile, Rule, RulesConfig, finding


def check(case: CaseFile, config: RulesConfig):
    bad = [d for d in case.docs if not d.readable]
    problems = list(case.problems)
    if not bad and not problems:
        return finding(RULE.id, "ok", "Alla bilagor kunde öppnas.", "Every attachment could be opened.")
    names = ", ".join([d.filename for d in bad] + [p["document"] for p in problems])
    return finding(RULE.id, "failed", f"Några bilagor kunde inte öppnas: {names}.",
                   f"Some attachments could not be opened: {names}.",
                   *[d.cite(d.reason or "could not be opened") for d in bad], *problems)


RULE = Rule("attachments.readable", "Alla bilagor går att öppna", "Every attachment can be opened", check,
            personal_data_only=False)
