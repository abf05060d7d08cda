"""variable_list.present: which variables, from which source, for which period."""

from rules.base import CaseFile, Rule, RulesConfig, presence


def check(case: CaseFile, config: RulesConfig):
    return presence(case, RULE.id, "variable_list", "Variabellistan", "variable list")


RULE = Rule("variable_list.present", "Variabellista finns", "A variable list is present", check)
