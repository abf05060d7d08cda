"""research_plan.present: the plan with a clear research question is what EPM and the care providers judge."""

from rules.base import CaseFile, Rule, RulesConfig, presence


def check(case: CaseFile, config: RulesConfig):
    return presence(case, RULE.id, "research_plan", "Forskningsplanen", "research plan")


RULE = Rule("research_plan.present", "Forskningsplan finns", "A research plan is present", check)
