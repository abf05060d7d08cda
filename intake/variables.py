"""Reads a variable list: finds the header row and the variable, source and period columns in any sheet."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

COLUMNS = {
    "variable": re.compile(r"^(variabel(namn)?|variable( name)?|variabler|variables|uppgift|data item)$", re.I),
    "source": re.compile(r"^(käll(a|or)|datakäll(a|or)|system|register|source|data source|källsystem)$", re.I),
    "period": re.compile(r"^(period|tidsperiod|tidsintervall|time period|period of time|från.?till|datum|years?|år)$",
                         re.I),
    "description": re.compile(r"^(beskrivning|förklaring|definition|description|kommentar|comment)$", re.I),
}


@dataclass
class VariableList:
    sheet: str | None = None
    header_row: int | None = None  # 1-based, as a spreadsheet shows it
    columns: dict[str, str] = field(default_factory=dict)  # role -> header text as written
    rows: list[dict[str, str]] = field(default_factory=list)
    problem: str | None = None

    @property
    def readable(self) -> bool:
        return self.problem is None and bool(self.rows)

    def as_dict(self, max_rows: int = 500) -> dict:
        d = asdict(self)
        d["rows"] = d["rows"][:max_rows]
        return d


def _clean(cell) -> str:
    return " ".join(str(cell or "").split()).strip(" :*")


def _roles(row: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for i, cell in enumerate(row):
        text = _clean(cell)
        for role, rx in COLUMNS.items():
            if role not in found and rx.match(text):
                found[role] = i
    return found


def parse_sheets(sheets: dict[str, list[list[str]]], search_rows: int = 40) -> VariableList:
    """The first sheet with a header row naming a variable column; rows below it until the table ends."""
    best: VariableList | None = None
    for name, rows in sheets.items():
        for r, row in enumerate(rows[:search_rows]):
            roles = _roles(row)
            if "variable" not in roles:
                continue
            result = VariableList(sheet=name, header_row=r + 1,
                                  columns={role: _clean(row[i]) for role, i in roles.items()})
            for data in rows[r + 1:]:
                values = {role: _clean(data[i]) if i < len(data) else "" for role, i in roles.items()}
                if not values.get("variable"):
                    if any(values.values()):
                        continue  # a continuation line or a blank variable cell; keep scanning
                    if result.rows:
                        break  # an empty row ends the table
                    continue
                result.rows.append(values)
            missing = [role for role in ("source", "period") if role not in roles]
            if not result.rows:
                result.problem = f"header row {r + 1} in sheet “{name}” has no variables below it"
            elif missing:
                result.problem = f"no {' or '.join(missing)} column found next to the variables in sheet “{name}”"
            if best is None or (result.readable and not best.readable) or len(result.rows) > len(best.rows):
                best = result
            break
    return best or VariableList(problem="no sheet has a header row with a variable column "
                                        "(e.g. “Variabel”, “Variable”)")
