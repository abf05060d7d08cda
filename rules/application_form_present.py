"""application_form.present: a signed application form is the request itself; without it there is no case."""

from rules.base import CaseFile, Rule, RulesConfig, presence


def check(case: CaseFile, config: RulesConfig):
    return presence(case, RULE.id, "application_form", "Ansökningsblanketten", "application form")


RULE = Rule("application_form.present", "Ansökningsblankett finns", "An application form is present", check)
