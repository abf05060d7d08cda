"""variable_list.readable: the list parses into variables with their sources and periods."""

from rules.base import CaseFile, Rule, RulesConfig, finding


def check(case: CaseFile, config: RulesConfig):
    doc = case.newest("variable_list")
    if doc is None:
        return finding(RULE.id, "not_applicable", "Ingen variabellista att läsa.", "No variable list to read.")
    parsed = doc.variables or {}
    rows, problem = parsed.get("rows", []), parsed.get("problem")
    if doc.variables is None:
        problem = "it is not a spreadsheet (.xlsx or .csv) with a table of variables"
    if not doc.readable:
        problem = doc.reason or "the file could not be opened"
    if problem is None and rows:
        where = f"sheet “{parsed.get('sheet')}”, header row {parsed.get('header_row')}"
        return finding(RULE.id, "ok", f"Variabellistan kunde läsas: {len(rows)} variabler.",
                       f"The variable list could be read: {len(rows)} variables.", doc.cite(where))
    return finding(RULE.id, "failed", f"Variabellistan kunde inte läsas: {problem}.",
                   f"The variable list could not be read: {problem}.", doc.cite(problem or ""))


RULE = Rule("variable_list.readable", "Variabellistan går att läsa", "The variable list can be read", check)
