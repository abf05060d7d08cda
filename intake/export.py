"""The case register as an Excel workbook: one row per case, filters, frozen header, Swedish or English headers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlmodel import Session, select

from intake import pnr
from intake.web.i18n import STATES, TRACKS
from outbox.summary import DECISION_WORDS, WARNING_WORDS, triage
from store.models import Case, utcnow

SWEDEN = ZoneInfo("Europe/Stockholm")

# (key, Swedish header, English header, width limit)
COLUMNS = [
    ("number", "Ärende", "Case", 16),
    ("opened", "Inkom", "Opened", 12),
    ("updated", "Senast ändrat", "Last changed", 14),
    ("researcher", "Forskare", "Researcher", 28),
    ("email", "E-post", "Email", 34),
    ("organisation", "Organisation", "Organisation", 34),
    ("project", "Projekt", "Project", 60),
    ("ethics_reference", "Etik-Dnr", "Ethics reference", 16),
    ("ethics_decision", "Etikbeslut", "Ethics decision", 22),
    ("state", "Status", "State", 22),
    ("track", "Spår", "Track", 16),
    ("missing", "Saknas eller fel", "Missing or failed", 60),
    ("warnings", "Varningar", "Warnings", 30),
    ("waiting_for", "Väntar på", "Waiting for", 14),
    ("days_waiting", "Dagar väntat", "Days waiting", 12),
]
_WAITING = {"sv": {"researcher": "forskaren", "centre": "centrum", "": ""},
            "en": {"researcher": "researcher", "centre": "centre", "": ""}}


@dataclass
class Filters:
    states: tuple[str, ...] = ()
    tracks: tuple[str, ...] = ()
    since: date | None = None  # opened on or after (Swedish date)
    until: date | None = None  # opened on or before
    changed_since: date | None = None


def _local_date(value: datetime) -> date:
    return value.astimezone(SWEDEN).date()


def _start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), SWEDEN)


def _query(f: Filters):
    q = select(Case).order_by(Case.year, Case.seq, Case.id)  # purged cases keep their row in the register
    if f.states:
        q = q.where(Case.state.in_(f.states))
    if f.tracks:
        q = q.where(Case.track.in_(f.tracks))
    if f.since:
        q = q.where(Case.opened_at >= _start(f.since))
    if f.until:
        q = q.where(Case.opened_at < _start(f.until + timedelta(days=1)))
    if f.changed_since:
        q = q.where(Case.updated_at >= _start(f.changed_since))
    return q


def rows(session: Session, config, filters: Filters, language: str = "sv", now: datetime | None = None) -> list[dict]:
    """One dict per case, keyed as COLUMNS; identity numbers masked."""
    now = now or utcnow()
    i = 0 if language == "sv" else 1
    out = []
    for case in session.exec(_query(filters)).all():
        t = triage(session, case, config)
        waiting = "" if case.state == "closed" else "researcher" if case.state == "incomplete" else "centre"
        missing = "; ".join(f.message_sv if i == 0 else f.message_en for f in t.missing)
        out.append({
            "number": case.number, "opened": _local_date(case.opened_at), "updated": _local_date(case.updated_at),
            "researcher": t.applicant_name, "email": t.applicant_address, "organisation": t.organisation,
            "project": t.project_title, "ethics_reference": t.ethics_reference or "",
            "ethics_decision": DECISION_WORDS[language].get(t.ethics_decision, "") if t.ethics_decision else "",
            "state": STATES[case.state][i] if case.state in STATES else case.state,
            "track": TRACKS[case.track][i] if case.track in TRACKS else case.track,
            "missing": pnr.redact(missing),
            "warnings": ", ".join(dict.fromkeys(WARNING_WORDS.get(w.code, (w.code, w.code))[i] for w in t.warnings)),
            "waiting_for": _WAITING[language][waiting],
            "days_waiting": max(0, (now - case.updated_at).days) if waiting else None,
        })
    return out


def _text_cell(cell, value) -> None:
    """Researchers' text is data, never a formula: a title starting with "=" stays text in Excel."""
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"


def write(path: Path, data: list[dict], language: str = "sv") -> Path:
    """The workbook: a header row (bold, frozen, with autofilter), one row per case, widths fitted to the content."""
    i = 1 if language == "sv" else 2
    wb = Workbook()
    ws = wb.active
    ws.title = "Ärenden" if language == "sv" else "Cases"
    header_fill = PatternFill("solid", fgColor="DDE6F0")
    for col, spec in enumerate(COLUMNS, start=1):
        cell = ws.cell(row=1, column=col, value=spec[i])
        cell.font, cell.fill = Font(bold=True), header_fill
        cell.alignment = Alignment(vertical="top", wrap_text=True)
    for r, row in enumerate(data, start=2):
        for col, spec in enumerate(COLUMNS, start=1):
            cell = ws.cell(row=r, column=col)
            _text_cell(cell, row[spec[0]])
            if isinstance(row[spec[0]], date):
                cell.number_format = "yyyy-mm-dd"
            cell.alignment = Alignment(vertical="top", wrap_text=spec[3] >= 40)
    for col, spec in enumerate(COLUMNS, start=1):
        longest = max([len(str(spec[i]))] + [len(str(row[spec[0]] or "")) if not isinstance(row[spec[0]], date)
                                             else 10 for row in data])
        ws.column_dimensions[get_column_letter(col)].width = min(max(longest + 2, 8), spec[3] + 2)
    ws.freeze_panes = "B2"  # the header and the case number stay in view
    ws.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{max(1, len(data)) + (1 if data else 0)}"
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.orientation = "landscape"
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    wb.save(tmp)
    tmp.replace(path)  # a half-written file never sits where a coordinator opens it
    return path
