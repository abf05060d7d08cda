"""ethics_application.present: the base application to the Swedish Ethical Review Authority, with appendices."""

from rules.base import CaseFile, Rule, RulesConfig, presence


def check(case: CaseFile, config: RulesConfig):
    return presence(case, RULE.id, "ethics_application", "Ansökan om etikprövning (grundansökan)",
                    "application for ethical review (base application)")


RULE = Rule("ethics_application.present", "Grundansökan om etikprövning finns",
            "The base ethics application is present", check)
