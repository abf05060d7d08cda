"""The extraction's scope (sources, population, period) gathered from the variable list and the application."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from intake.facts import KNOWN_SOURCES, period_years
from rules.base import CaseFile

SCOPE_KINDS = ("application_form", "ethics_application", "research_plan", "dpia")


@dataclass
class Scope:
    sources: list[str] = field(default_factory=list)
    population: int | None = None
    years: int | None = None
    evidence: list[dict] = field(default_factory=list)


def _canonical(source: str) -> str:
    for name, pattern in KNOWN_SOURCES.items():
        if re.search(pattern, source):
            return name
    return " ".join(source.split())


def extraction_scope(case: CaseFile) -> Scope:
    scope = Scope()
    vlist = case.newest("variable_list")
    if vlist is not None and vlist.variables and vlist.variables.get("rows"):
        rows = vlist.variables["rows"]
        scope.sources = sorted({_canonical(r["source"]) for r in rows if r.get("source")})
        years = period_years("\n".join(r.get("period", "") for r in rows))
        if years:
            scope.years = years[1] - years[0] + 1
        scope.evidence.append(vlist.cite(f"variable list: sources {', '.join(scope.sources) or '-'}"
                                         + (f", {years[0]}–{years[1]}" if years else "")))
    for kind in SCOPE_KINDS:
        doc = case.newest(kind)
        if doc is None:
            continue
        f = doc.facts
        if not scope.sources and f.get("sources") and kind == "application_form":
            scope.sources = list(f["sources"])
            scope.evidence.append(doc.cite(f"sources: {', '.join(scope.sources)}"))
        if scope.years is None and f.get("period") and kind == "application_form":
            scope.years = f["period"][1] - f["period"][0] + 1
            scope.evidence.append(doc.cite(f"period {f['period'][0]}–{f['period'][1]}"))
        if f.get("population") and (scope.population is None or f["population"] > scope.population):
            scope.population = f["population"]
            scope.evidence.append(doc.cite(f"population about {f['population']}"))
    return scope
