"""Document builders returning bytes: application form, research plan, variable list, consent documents."""

from __future__ import annotations

import io
import random
from datetime import date, timedelta

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from .agreements import (  # noqa: F401  (re-exported)
    aggregated_table_template, cover_letter, curriculum_vitae, data_processing_agreement,
    data_transfer_agreement, dpia, dpo_statement, linkage_decision,
)
from .epm import (  # noqa: F401  (re-exported)
    OUTCOMES, consent_text, epm_supplement_request, ethics_amendment, ethics_amendment_decision,
    ethics_application, ethics_decision,
)
from .projects import Project
from .render import STYLES, Pdf, docx_bytes, memo, normalize_ooxml, when

SIGNATURES = ("handwritten", "esign", None)
REGION_HEAD = ["Region Stockholm", "Centrum för hälsodata", "halsodata@region.example"]


def _t(lang: str, sv: str, en: str) -> str:
    return en if lang == "en" else sv


def pick_style(project: Project, kind: str) -> str:
    """A deterministic layout per project and document kind."""
    return random.Random(f"{project.key}/{kind}").choice(STYLES)


@memo
def application_form(project: Project, *, signature: str | None = "handwritten", signed_on: date = date(2026, 2, 27),
                     lang: str | None = None, style: str | None = None, dnr: str | None = None) -> bytes:
    """Ansökan om tillgång till data för forskningsändamål; `signature` is one of SIGNATURES.

    `dnr` overrides the ethics number written in the form (to make inconsistent references).
    No AcroForm text fields: fpdf2 only writes AcroForms for digital signatures.
    """
    lang = lang or project.lang
    style = style or pick_style(project, "application_form")
    a = project.applicant
    title = _t(lang, "Ansökan om tillgång till data för forskningsändamål",
               "Application for access to data for research purposes")
    pdf = Pdf(created=signed_on, title=title, author=a.name, style=style,
              footer=_t(lang, "Centrum för hälsodata – ansökningsblankett",
                        "Centre for Health Data – application form"))
    pdf.letterhead(REGION_HEAD if lang == "sv" else ["Region Stockholm", "Centre for Health Data",
                                                     "halsodata@region.example"],
                   [_t(lang, "Ansökningsblankett", "Application form"), "Version 2023-11"])
    pdf.title(title)
    no = _t(lang, "Nej", "No")
    pdf.heading(_t(lang, "1. Sökande", "1. Applicant"))
    pdf.fields([(_t(lang, "Namn", "Name"), a.name), (_t(lang, "Titel", "Title"), a.title(lang)),
                (_t(lang, "Institution/avdelning", "Department"), a.department),
                (_t(lang, "E-post", "E-mail"), a.email), (_t(lang, "Telefon", "Phone"), a.phone)])
    pdf.heading(_t(lang, "2. Forskningshuvudman", "2. Research principal"))
    pdf.fields([(_t(lang, "Organisation", "Organisation"), project.principal)])
    pdf.heading(_t(lang, "3. Projekt och etikprövning", "3. Project and ethical review"))
    rows = [(_t(lang, "Projekttitel", "Project title"), project.title),
            (_t(lang, "Dnr hos Etikprövningsmyndigheten", "EPM reference number (Dnr)"), dnr or project.dnr),
            (_t(lang, "Datum för beslut", "Date of decision"),
             project.decided.isoformat() if project.decided <= signed_on
             else _t(lang, "Beslut inväntas", "Awaiting decision"))]
    if project.amendments:
        rows.append((_t(lang, "Ändringar (Dnr)", "Amendments (Dnr)"), ", ".join(x.dnr for x in project.amendments)))
    pdf.fields(rows)
    pdf.heading(_t(lang, "4. Data som efterfrågas", "4. Data requested"))
    pdf.fields([
        (_t(lang, "Datakällor", "Data sources"), ", ".join(project.sources)),
        (_t(lang, "Tidsperiod", "Period"), project.period_text()),
        (_t(lang, "Population/urval", "Population/selection"), project.population_text),
        (_t(lang, "Variabellista bifogas", "Variable list attached"), _t(lang, "Ja", "Yes")),
    ])
    pdf.heading(_t(lang, "5. Samkörning, biträden och överföring", "5. Linkage, processors and transfers"))
    pdf.fields([
        (_t(lang, "Samkörning med annan myndighets data", "Linkage with another authority's data"),
         _t(lang, f"Ja, samkörning med {project.linkage}", f"Yes, with {project.linkage}") if project.linkage else no),
        (_t(lang, "Personuppgiftsbiträde", "Data processor"), project.processor or no),
        (_t(lang, "Överföring till annan organisation/land", "Transfer to another organisation/country"),
         project.transfer or no),
    ])
    pdf.heading(_t(lang, "6. Informationssäkerhet", "6. Information security"))
    pdf.para(_t(lang, f"Data lagras pseudonymiserade på {project.principal}s forskningsserver med tvåfaktors"
                      "inloggning. Endast projektgruppen har behörighet. Kodnyckeln förvaras hos regionen.",
                f"Pseudonymised data are stored on {project.principal}'s research server with two-factor "
                "login, accessible to the project group only. The key is kept by the region."))
    pdf.heading(_t(lang, "7. Avgift och underskrift", "7. Fee and signature"))
    pdf.para(_t(lang, "Genom att signera ansökan godkänner jag en grundavgift på 5 000 kronor exklusive moms "
                      "för handläggningen av förfrågan.",
                "By signing this application I accept a base fee of SEK 5,000 excl. VAT for the handling of "
                "the request."))
    place = f"Stockholm {signed_on.isoformat()}"
    sig = {"handwritten": a.name, "esign": _t(lang, "Signerad elektroniskt", "Signed electronically")}
    pdf.signature(sign_label=_t(lang, "Underskrift", "Signature"),
                  name_label=_t(lang, "Namnförtydligande", "Name in print"),
                  date_label=_t(lang, "Ort och datum", "Place and date"),
                  signed_name=sig.get(signature or "", ""), clarification=a.name,
                  place_date=place if signature else "")
    if signature == "esign":
        pdf.new_page()
        pdf.title(_t(lang, "Verifikat", "Verification"))
        pdf.boxed_note([
            _t(lang, "Dokumentet har signerats elektroniskt med BankID.", "The document was signed with BankID."),
            f"{_t(lang, 'Signerat av', 'Signed by')}: {a.name} ({a.email})",
            f"{_t(lang, 'Tidpunkt', 'Time')}: {signed_on.isoformat()} 14:32:10 CET",
            f"{_t(lang, 'Dokument-ID', 'Document ID')}: {project.key.upper()}-7F3A-2C91",
        ])
    return pdf.bytes()


@memo
def research_plan(project: Project, *, lang: str | None = None, version: str = "3", with_question: bool = True,
                  written: date = date(2026, 2, 10)) -> bytes:
    """Forskningsplan / Research plan as DOCX, with a Frågeställning / Research question section."""
    lang = lang or project.lang
    a = project.applicant
    blocks: list[tuple[str, object]] = [
        ("title", _t(lang, "Forskningsplan", "Research plan")),
        ("meta", _t(lang, f"Version {version}, {written.isoformat()}", f"Version {version}, {written.isoformat()}")),
        ("p", f"{_t(lang, 'Projekttitel', 'Project title')}: {project.title}"),
        ("p", f"{_t(lang, 'Huvudansvarig forskare', 'Principal investigator')}: {a.name}, {a.department}, {a.org}"),
        ("h1", _t(lang, "Bakgrund", "Background")), ("p", project.background),
        ("h1", _t(lang, "Syfte", "Aim")),
        ("p", _t(lang, "Syftet är att ta fram kunskap som kan förbättra vården för patientgruppen.",
                 "The aim is to produce knowledge that can improve care for this patient group.")),
    ]
    if with_question:
        blocks += [("h1", _t(lang, "Frågeställning", "Research question")), ("p", project.question)]
    blocks += [
        ("h1", _t(lang, "Material och metod", "Material and methods")), ("p", project.method),
        ("h2", _t(lang, "Datakällor", "Data sources")),
        ("bullets", [f"{s} ({project.period_text()})" for s in project.sources]),
        ("h2", _t(lang, "Statistisk analys", "Statistical analysis")),
        ("p", _t(lang, "Deskriptiv statistik följt av regressionsanalys. Analyserna görs i R på pseudonymiserade data.",
                 "Descriptive statistics followed by regression analysis in R on pseudonymised data.")),
        ("h1", _t(lang, "Etiska överväganden", "Ethical considerations")),
        ("p", _t(lang, f"Projektet har prövats av Etikprövningsmyndigheten (Dnr {project.dnr}). ",
                 f"The project has been reviewed by the Swedish Ethical Review Authority (Dnr {project.dnr}). ")
         + consent_text(project, lang)),
        ("h1", _t(lang, "Tidsplan", "Timeline")),
        ("table", [[_t(lang, "Period", "Period"), _t(lang, "Aktivitet", "Activity")],
                   ["2026 Q2", _t(lang, "Datauttag och datastädning", "Data extraction and cleaning")],
                   ["2026 Q3–Q4", _t(lang, "Analys", "Analysis")],
                   ["2027 Q1", _t(lang, "Manus och rapport", "Manuscript and report")]]),
        ("h1", _t(lang, "Referenser", "References")),
        ("p", "1. Exempel A, Exempel B. Registerbaserad forskning i Sverige. Läkartidningen-exempel 2021;118:1-5."),
    ]
    return docx_bytes(blocks, created=written, title=_t(lang, "Forskningsplan", "Research plan"), author=a.name,
                      font="Calibri" if lang == "sv" else "Cambria")


VL_COLUMNS = {
    "sv": {"name": "Variabel", "source": "Källa", "period": "Period", "description": "Beskrivning",
           "comment": "Kommentar"},
    "en": {"name": "Variable", "source": "Source", "period": "Period", "description": "Description",
           "comment": "Comment"},
}


def variable_list_layout(project: Project) -> dict:
    """The deterministic layout variable_list() uses: header row, column order, period style."""
    rng = random.Random(f"{project.key}/variable_list")
    rest = ["source", "period", "description"]
    rng.shuffle(rest)
    order = ["name", *rest] if rng.random() < 0.7 else [rest[0], "name", *rest[1:]]
    if rng.random() < 0.5:
        order.append("comment")
    return {"header_row": rng.choice([1, 3, 4, 5]), "order": order, "template": rng.random() < 0.5,
            "dash": rng.choice(["–", " - ", "–"])}


@memo
def variable_list(project: Project, *, lang: str | None = None, layout: dict | None = None,
                  created: date = date(2026, 2, 12)) -> bytes:
    """Variabellista as XLSX; title rows above a header that is not necessarily on row 1."""
    lang = lang or project.lang
    lay = layout or variable_list_layout(project)
    cols = VL_COLUMNS[lang]
    wb = Workbook()
    ws = wb.active
    ws.title = _t(lang, "Variabellista", "Variable list") if lay["template"] else "Blad1"
    hr = lay["header_row"]
    titles = [_t(lang, "Variabellista", "Variable list"), f"{_t(lang, 'Projekt', 'Project')}: {project.title}",
              f"Dnr: {project.dnr}", f"{_t(lang, 'Kontaktperson', 'Contact')}: {project.applicant.name}"]
    for i, text in enumerate(titles[: hr - 1], 1):
        ws.cell(row=i, column=1, value=text).font = Font(bold=i == 1, size=14 if i == 1 else 11)
    for j, key in enumerate(lay["order"], 1):
        c = ws.cell(row=hr, column=j, value=cols[key])
        c.font = Font(bold=True)
        c.fill = PatternFill("solid", fgColor="DDEBF7")
        ws.column_dimensions[c.column_letter].width = 45 if key in ("description", "comment") else 26
    period = project.period_text(lay["dash"])
    for i, v in enumerate(project.variables, hr + 1):
        values = {"name": v.name_en or v.name if lang == "en" else v.name, "source": v.source, "period": period,
                  "description": v.description_en or v.description if lang == "en" else v.description,
                  "comment": ""}
        for j, key in enumerate(lay["order"], 1):
            ws.cell(row=i, column=j, value=values[key] or None)
    ws.freeze_panes = ws.cell(row=hr + 1, column=1)
    if lay["template"]:
        info = wb.create_sheet(_t(lang, "Instruktion", "Instructions"))
        info["A1"] = _t(lang, "Fyll i en rad per variabel. Ange källsystem (t.ex. TakeCare, VAL, Labbsystem, "
                              "Röntgensystem) och tidsperiod.",
                        "One row per variable. Give the source system and the period.")
    stamp = when(created)
    wb.properties.creator = project.applicant.name
    wb.properties.created = stamp.replace(tzinfo=None)
    buf = io.BytesIO()
    wb.save(buf)
    return normalize_ooxml(buf.getvalue(), stamp)


def _consent_part(pdf: Pdf, project: Project, lang: str) -> None:
    a = project.applicant
    pdf.title(_t(lang, "Samtyckesblankett", "Consent form"),
              _t(lang, "Samtycke till att delta i studien", "Consent to take part in the study"))
    pdf.para(f"{_t(lang, 'Studie', 'Study')}: {project.title}")
    pdf.bullets([
        _t(lang, "Jag har fått muntlig och skriftlig information om studien och har haft möjlighet att ställa "
                 "frågor. Jag får behålla den skriftliga informationen.",
           "I have received oral and written information about the study and had the opportunity to ask "
           "questions. I may keep the written information."),
        _t(lang, "Jag samtycker till att delta i studien och till att uppgifter om mig behandlas på det sätt som "
                 "beskrivs i forskningspersonsinformationen.",
           "I consent to take part in the study and to the processing of my data as described in the "
           "participant information."),
    ], "[  ]")
    pdf.signature(sign_label=_t(lang, "Forskningspersonens underskrift", "Participant's signature"),
                  name_label=_t(lang, "Namnförtydligande", "Name in print"),
                  date_label=_t(lang, "Ort och datum", "Place and date"))
    pdf.para(f"{_t(lang, 'Ansvarig forskare', 'Researcher responsible')}: {a.name}, {a.email}, {a.phone}", size=9)


def _versioned(project: Project, version: str) -> date:
    for v, d in project.fpi_versions:
        if v == version:
            return d
    return project.submitted - timedelta(days=10)


@memo
def participant_information(project: Project, version: str = "1.0", *, combined: bool = True,
                            lang: str = "sv", style: str | None = None) -> bytes:
    """Forskningspersonsinformation (FPI), by default together with the consent form."""
    day = _versioned(project, version)
    a = project.applicant
    title = (_t(lang, "Forskningspersonsinformation och samtyckesblankett", "Participant information and consent form")
             if combined else _t(lang, "Forskningspersonsinformation", "Participant information"))
    pdf = Pdf(created=day, title=title, author=a.name, style=style or pick_style(project, "fpi"),
              footer=f"{_t(lang, 'FPI', 'Participant information')} version {version}, {day.isoformat()}")
    pdf.letterhead([project.principal, a.department], [f"Version {version}", day.isoformat()])
    pdf.title(title, _t(lang, f"Förfrågan om deltagande i forskningsprojektet ”{project.title}”",
                        f"Request to take part in the research project “{project.title}”"))
    pdf.heading(_t(lang, "Vad är det för projekt och varför vill ni att jag ska delta?",
                   "What is the project and why are you asked to take part?"))
    pdf.para(project.summary(lang) + " " + _t(lang, f"Forskningshuvudman är {project.principal}.",
                                              f"The research principal is {project.principal}."))
    if not (lang == "sv" and project.summary_sv):
        pdf.heading(_t(lang, "Hur går studien till?", "How is the study done?"))
        pdf.para(project.method)
    pdf.heading(_t(lang, "Vad händer med mina uppgifter?", "What happens to my data?"))
    text = _t(lang, "Uppgifter om dig hämtas ur din journal och ur laboratoriesystemet. Uppgifterna kodas så att "
                    "du inte kan identifieras. Personuppgiftsansvarig är forskningshuvudmannen; du kan kontakta "
                    "dataskyddsombudet på dataskyddsombud@example.org.",
              "Data about you are taken from your health record and the laboratory system and coded so that "
              "you cannot be identified. The research principal is the controller; the data protection "
              "officer can be reached at dataskyddsombud@example.org.")
    if project.transfer and version != "1.0":
        text += _t(lang, f" Kodade uppgifter överförs till {project.transfer}.",
                   f" Coded data are transferred to {project.transfer}.")
    pdf.para(text)
    pdf.heading(_t(lang, "Frivillighet", "Participation is voluntary"))
    pdf.para(_t(lang, "Deltagandet är frivilligt och du kan när som helst avbryta utan att ange varför och utan "
                      "att det påverkar din vård.",
                "Participation is voluntary and you may withdraw at any time without giving a reason."))
    pdf.heading(_t(lang, "Ansvariga", "Contact"))
    pdf.para(f"{a.name}, {a.title(lang)}, {a.email}, {a.phone}")
    if combined:
        pdf.new_page()
        _consent_part(pdf, project, lang)
    return pdf.bytes()


@memo
def consent_form(project: Project, version: str = "1.0", *, lang: str = "sv", style: str | None = None) -> bytes:
    """A separate Samtyckesblankett / consent form."""
    day = _versioned(project, version)
    pdf = Pdf(created=day, title=_t(lang, "Samtyckesblankett", "Consent form"), author=project.applicant.name,
              style=style or pick_style(project, "consent"), footer=f"Version {version}, {day.isoformat()}")
    pdf.letterhead([project.principal, project.applicant.department], [f"Version {version}", day.isoformat()])
    _consent_part(pdf, project, lang)
    return pdf.bytes()
