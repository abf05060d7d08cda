"""A varied, labelled set of application mails: mail clients, wrappers, encodings, file names, languages, formats.

`labelled_set(seed, n)` builds `n` mails deterministically from the document builders of this package and wraps
them the way real mail clients do: Outlook (RFC 2047 names, ISO-8859-1 or UTF-8 bodies, winmail.dat), Thunderbird
(RFC 2231 names, format=flowed, 8bit), Apple Mail and iPhone (inline parts, NFD names, text parts between
files), Gmail (Content-ID on every file), an old gateway that writes no Content-Disposition; zip archives made by
Windows (cp437 names), macOS (NFD names, __MACOSX junk) and 7-Zip; forwards as message/rfc822 (also nested, and
as an .eml file) and inline. Documents come as fpdf2 PDFs in three layouts, LibreOffice PDFs and ODTs (committed
fixtures, see make_fixtures.sh), image-only scans, a phone photo, DOCX, XLSX with renamed columns and CSV.

Every file carries its truth: kinds (`labels`, primary first), sha256, format, and the decision outcome for
documents that decide or look as if they did (`decisions`; None for EPM's request for supplement).
`python -m tests.samples.variants --out DIR` writes the mails and labels.json;
`--write-sources DIR` writes the DOCX files make_fixtures.sh converts with LibreOffice.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import quopri
import random
import struct
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

from openpyxl import load_workbook

from . import documents as d
from .mails import INTAKE, STOCKHOLM_WINTER, SampleMail, application_body, att, signature_block
from .projects import DIABETES_STATS, FALLS, HEART_FAILURE, LUNG_NODULES, SEPSIS, STATIN, STROKE, Project, Researcher
from .render import FIXED_ZIP_TIME, docx_bytes, memo, normalize_ooxml, when

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CRLF = b"\r\n"


@dataclass
class LabelledMail(SampleMail):
    """A SampleMail with the truth about each file (keyed by file name, as in `labels`) and how it was wrapped."""

    sha256: dict[str, str] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    languages: dict[str, str] = field(default_factory=dict)
    decisions: dict[str, str | None] = field(default_factory=dict)
    traits: dict[str, str] = field(default_factory=dict)


# --- projects and people ----------------------------------------------------------------------------------------------

HF_PUB = replace(HEART_FAILURE, key="hjartsvikt-pub", processor="Statistikkonsulten Norden AB")
SEPSIS_OK = replace(SEPSIS, key="sepsis-godkand", rejection_reason="")


@dataclass(frozen=True)
class Scenario:
    project: Project
    outcome: str | None  # the EPM decision the application comes with; None: not yet decided
    short_sv: str
    short_en: str
    slug: str  # how researchers shorten the project in file names


SCENARIOS = (
    Scenario(HEART_FAILURE, "approved", "återinläggning vid hjärtsvikt", "readmission in heart failure", "hjärtsvikt"),
    Scenario(HF_PUB, "approved_with_conditions", "hjärtsviktskohorten", "heart failure cohort", "HF-kohort"),
    Scenario(STATIN, "approved_with_conditions", "statinkohorten", "statin cohort", "STATIN-COG"),
    Scenario(LUNG_NODULES, "approved", "uppföljning av lungnoduler", "lung nodule follow-up", "lungnoduler"),
    Scenario(replace(LUNG_NODULES, key="lungnoduler-v"), None, "lungnoduler", "lung nodules", "Lungnodul"),
    Scenario(SEPSIS, "rejected", "sepsisprediktion", "sepsis prediction", "sepsis"),
    Scenario(SEPSIS_OK, "approved", "sepsis på akuten", "sepsis in the ED", "SepsisML"),
    Scenario(STROKE, "approved", "stroke och socioekonomi", "stroke and socioeconomic status", "stroke"),
    Scenario(FALLS, "advisory_only", "fallprevention", "fall prevention", "fallprev"),
)

# People around the applicants: the PhD student who put the application together, a co-author.
HELPERS = {
    "ki.example": Researcher("Maja Eriksson", "maja.eriksson@ki.example", "Doktorand", "PhD student",
                             "Institutionen för medicin, Solna", "Karolinska Institutet", "070-174 06 81"),
    "su.example": Researcher("Oskar Lind", "oskar.lind@su.example", "Forskningsassistent", "Research assistant",
                             "Aging Research Center", "Stockholm University", "070-174 06 82"),
    "sodersjukhuset.example": Researcher("Emil Åberg", "emil.aberg@sodersjukhuset.example", "ST-läkare",
                                         "Resident physician", "Radiologiska kliniken", "Södersjukhuset",
                                         "070-174 06 83"),
    "kth.example": Researcher("Jonas Wikström", "jonas.wikstrom@kth.example", "Handledare", "Supervisor",
                              "Avdelningen för hälsoinformatik och logistik", "Kungliga Tekniska högskolan",
                              "070-174 06 84"),
}
EPM_SENDER = ("Etikprövningsmyndigheten", "registrator@etikprovning.example")

# --- file names as researchers send them ---------------------------------------------------------------------------
# {slug}: the project's short name, {dnr}: its EPM number ("/" -> "_"), {v}: a version. The generic names are
# what scanners, phones and "save as" produce; they are used for any kind.

NAMES: dict[str, dict[str, list[str]]] = {
    "application_form": {
        "sv": ["Ansökningsblankett {slug} signerad.pdf", "Ansökan_signerad.pdf", "ansokan-halsodata-{slug}.pdf",
               "Blankett CfH ifylld.pdf", "Ansökan om tillgång till data – {slug}.pdf", "Blankett.pdf"],
        "en": ["Application form - signed.pdf", "Application_form_{slug}_signed.pdf", "CfH application form.pdf"],
    },
    "ethics_application": {
        "sv": ["Etikansökan {dnr}.pdf", "Grundansökan {dnr}.pdf", "EPM ansökan med bilagor.pdf",
               "Ansökan {dnr}.pdf", "Etikprövningsansökan_{slug}.pdf", "Ansökan.pdf"],
        "en": ["Ethics application {dnr}.pdf", "EPM application incl appendices.pdf", "Ethics_{slug}.pdf"],
    },
    "ethics_decision": {
        "sv": ["EPM beslut {dnr}.pdf", "Beslut EPM.pdf", "Beslut_{dnr}.pdf", "Etikgodkännande.pdf",
               "Etikprövning {dnr}.pdf", "Beslut från Etikprövningsmyndigheten.pdf"],
        "en": ["EPM decision {dnr}.pdf", "Ethics approval.pdf", "Decision_{dnr}.pdf"],
    },
    "decision_translation": {"sv": ["Beslut EPM engelsk översättning.pdf"],
                             "en": ["EPM decision (English translation).pdf", "Decision {dnr} EN.pdf"]},
    "ethics_amendment": {
        "sv": ["Ändringsansökan {dnr}.pdf", "Ansökan om ändring {dnr}.pdf", "Ändring_{slug}.pdf"],
        "en": ["Amendment application {dnr}.pdf", "Amendment {dnr}.pdf"],
    },
    "ethics_amendment_decision": {
        "sv": ["Beslut om ändring {dnr}.pdf", "Beslut ändring.pdf", "Beslut_{dnr}.pdf"],
        "en": ["Decision amendment {dnr}.pdf", "Amendment approval.pdf"],
    },
    "research_plan": {
        "sv": ["Forskningsplan {slug} v{v}.{ext}", "Projektplan.{ext}", "Studieprotokoll_{slug}.{ext}",
               "Forskningsplan_slutlig.{ext}", "Bilaga 1 Forskningsplan.{ext}"],
        "en": ["Research plan {slug} v{v}.{ext}", "Study protocol.{ext}", "Research_plan_final.{ext}"],
    },
    "variable_list": {
        "sv": ["Variabellista {slug}.{ext}", "variabelforteckning.{ext}", "Variabellista_mall_ifylld.{ext}",
               "Bok1.{ext}", "Bilaga 2 variabler.{ext}"],
        "en": ["Variable list {slug}.{ext}", "variables.{ext}", "Data request variables.{ext}"],
    },
    "participant_information": {
        "sv": ["FPI och samtycke v{v}.pdf", "Forskningspersonsinformation med samtycke version {v}.pdf",
               "Information och samtycke {slug} v{v}.pdf", "Samtycke v{v}.pdf"],
        "en": ["Participant information and consent v{v}.pdf", "PIS_consent_v{v}.pdf"],
    },
    "participant_information_only": {
        "sv": ["Forskningspersonsinformation v{v}.pdf", "FPI {slug} version {v}.pdf", "Information till deltagare.pdf"],
        "en": ["Participant information sheet v{v}.pdf", "PIS v{v}.pdf"],
    },
    "consent_form": {
        "sv": ["Samtyckesblankett v{v}.pdf", "Samtycke_{slug}_v{v}.pdf"],
        "en": ["Consent form v{v}.pdf", "Informed consent v{v}.pdf"],
    },
    "data_processing_agreement": {
        "sv": ["PUB-avtal {proc}.{ext}", "Personuppgiftsbiträdesavtal.{ext}", "Avtal {proc}.{ext}",
               "PuBA_signerat.{ext}"],
        "en": ["DPA {proc}.{ext}", "Data processing agreement.{ext}"],
    },
    "data_transfer_agreement": {
        "sv": ["DTA NIAR signerat.pdf", "Avtal överföring Oslo.pdf", "Data Transfer Agreement.pdf"],
        "en": ["DTA SU-NIAR signed.pdf", "Data Transfer Agreement.pdf", "Agreement NIAR final.pdf"],
    },
    "linkage_decision": {
        "sv": ["Beslut Socialstyrelsen samkörning.pdf", "Socialstyrelsen beslut.pdf", "SoS utlämnande.pdf",
               "Beslut.pdf"],
        "en": ["Decision Socialstyrelsen.pdf", "NBHW linkage decision.pdf"],
    },
    "dpia": {
        "sv": ["DPIA {slug}.pdf", "Konsekvensbedömning dataskydd.pdf", "Bilaga DPIA.pdf", "Riskanalys dataskydd.pdf"],
        "en": ["DPIA.pdf", "Data protection impact assessment.pdf"],
    },
    "dpo_statement": {
        "sv": ["Yttrande DSO.pdf", "Yttrande dataskyddsombud.pdf", "Utlåtande DPIA ej nödvändig.pdf", "Yttrande.pdf"],
        "en": ["DPO statement.pdf", "Statement DPO no DPIA.pdf"],
    },
    "cover_letter": {
        "sv": ["Följebrev.{ext}", "Missiv.{ext}", "Brev till CfH.{ext}"],
        "en": ["Cover letter.{ext}", "Letter.{ext}"],
    },
    "cv": {"sv": ["CV {initials}.pdf", "Meritförteckning.pdf", "CV_2026.pdf"], "en": ["CV {initials}.pdf"]},
    "supplement_request": {"sv": ["beslut.pdf", "Beslut EPM {dnr}.pdf", "EPM {dnr}.pdf", "Skrivelse från EPM.pdf"],
                           "en": ["beslut.pdf", "EPM letter.pdf"]},
    "table_template": {"sv": ["Tabellönskemål.xlsx", "Tabellmall.xlsx", "Bok1.xlsx"], "en": ["Table shell.xlsx"]},
}
GENERIC = ["dokument(2).{ext}", "Dokument1.{ext}", "Bilaga {k}.{ext}", "document.{ext}", "attachment (1).{ext}",
           "Namnlöst.{ext}", "Skannat dokument {k}.{ext}", "20260227{k:02d}3512.{ext}"]
SCAN_NAMES = ["scan001.pdf", "scan0002.pdf", "Skannat dokument.pdf", "20260227093512.pdf", "SKM_C30826022714320.pdf",
              "Scan_2026-02-27.pdf", "dokument(2).pdf", "Doc1.pdf"]


# --- LibreOffice fixtures ---------------------------------------------------------------------------------------------

def _word_form(project: Project, lang: str) -> bytes:
    """The region's application form as a filled-in Word template (researchers export it to PDF themselves)."""
    a = project.applicant

    def t(sv: str, en: str) -> str:
        return en if lang == "en" else sv

    no = t("Nej", "No")
    blocks: list[tuple[str, object]] = [
        ("meta", t("Region Stockholm – Centrum för hälsodata – blankett version 2023-11",
                   "Region Stockholm – Centre for Health Data – form version 2023-11")),
        ("title", t("Ansökan om tillgång till data för forskningsändamål",
                    "Application for access to data for research purposes")),
        ("h1", t("1. Sökande", "1. Applicant")),
        ("table", [[t("Namn", "Name"), a.name], [t("Titel", "Title"), a.title(lang)],
                   [t("Institution/avdelning", "Department"), a.department], [t("E-post", "E-mail"), a.email],
                   [t("Telefon", "Phone"), a.phone]]),
        ("h1", t("2. Forskningshuvudman", "2. Research principal")),
        ("table", [[t("Organisation", "Organisation"), project.principal]]),
        ("h1", t("3. Projekt och etikprövning", "3. Project and ethical review")),
        ("table", [[t("Projekttitel", "Project title"), project.title],
                   [t("Dnr hos Etikprövningsmyndigheten", "EPM reference number (Dnr)"), project.dnr],
                   [t("Datum för beslut", "Date of decision"), project.decided.isoformat()]]
         + ([[t("Ändringar (Dnr)", "Amendments (Dnr)"), ", ".join(x.dnr for x in project.amendments)]]
            if project.amendments else [])),
        ("h1", t("4. Data som efterfrågas", "4. Data requested")),
        ("table", [[t("Datakällor", "Data sources"), ", ".join(project.sources)],
                   [t("Tidsperiod", "Period"), project.period_text()],
                   [t("Population/urval", "Population/selection"), project.population_text],
                   [t("Variabellista bifogas", "Variable list attached"), t("Ja", "Yes")]]),
        ("h1", t("5. Samkörning, biträden och överföring", "5. Linkage, processors and transfers")),
        ("table", [[t("Samkörning med annan myndighets data", "Linkage with another authority's data"),
                    (t(f"Ja, samkörning med {project.linkage}", f"Yes, with {project.linkage}")
                     if project.linkage else no)],
                   [t("Personuppgiftsbiträde", "Data processor"), project.processor or no],
                   [t("Överföring till annan organisation/land", "Transfer to another organisation/country"),
                    project.transfer or no]]),
        ("h1", t("6. Avgift och underskrift", "6. Fee and signature")),
        ("p", t("Genom att signera ansökan godkänner jag en grundavgift på 5 000 kronor exklusive moms för "
                "handläggningen av förfrågan.",
                "By signing this application I accept a base fee of SEK 5,000 excl. VAT for the handling of the "
                "request.")),
        ("table", [[t("Underskrift", "Signature"), t("Ort och datum", "Place and date")],
                   [f"{a.name} ({t('signerad elektroniskt', 'signed electronically')})",
                    f"Stockholm {date(2026, 2, 27).isoformat()}"],
                   [t("Namnförtydligande", "Name in print"), a.name]]),
    ]
    return docx_bytes(blocks, created=date(2026, 2, 27), title=t("Ansökan om tillgång till data", "Application form"),
                      author=a.name)


# fixture name -> (target format, language, DOCX source); make_fixtures.sh converts each source with LibreOffice.
FIXTURE_SOURCES = {
    "forskningsplan-hjartsvikt": ("pdf", "sv", lambda: d.research_plan(HEART_FAILURE)),
    "forskningsplan-hjartsvikt-v4": ("pdf", "sv", lambda: d.research_plan(HF_PUB, version="4")),
    "research-plan-statin": ("pdf", "en", lambda: d.research_plan(STATIN, version="2.1")),
    "forskningsplan-sepsis": ("pdf", "sv", lambda: d.research_plan(SEPSIS, version="2")),
    "forskningsplan-stroke": ("pdf", "sv", lambda: d.research_plan(STROKE)),
    "forskningsplan-lungnoduler": ("odt", "sv", lambda: d.research_plan(LUNG_NODULES, version="1.4")),
    "forskningsplan-fallprevention": ("odt", "sv", lambda: d.research_plan(FALLS)),
    "ansokningsblankett-hjartsvikt": ("pdf", "sv", lambda: _word_form(HEART_FAILURE, "sv")),
    "ansokningsblankett-stroke": ("pdf", "sv", lambda: _word_form(STROKE, "sv")),
    "ansokningsblankett-lungnoduler": ("pdf", "sv", lambda: _word_form(LUNG_NODULES, "sv")),
    "application-form-statin": ("pdf", "en", lambda: _word_form(STATIN, "en")),
    "application-form-sepsis": ("pdf", "en", lambda: _word_form(SEPSIS_OK, "en")),
    "pub-avtal-statistikkonsulten": ("pdf", "sv", lambda: d.data_processing_agreement(HF_PUB, fmt="docx")),
    "foljebrev-hjartsvikt": ("pdf", "sv", lambda: d.cover_letter(HEART_FAILURE)),
    "cover-letter-statin": ("pdf", "en", lambda: d.cover_letter(STATIN)),
    "foljebrev-sepsis": ("odt", "sv", lambda: d.cover_letter(SEPSIS)),
}
# (project key, kind) -> the fixtures that are that project's document of that kind (content does not depend on
# the project variants' keys, so a variant shares its base project's fixtures).
LO_DOCUMENTS = {
    ("hjartsvikt", "research_plan"): ["forskningsplan-hjartsvikt"],
    ("hjartsvikt-pub", "research_plan"): ["forskningsplan-hjartsvikt-v4"],
    ("statin", "research_plan"): ["research-plan-statin"],
    ("sepsis", "research_plan"): ["forskningsplan-sepsis"],
    ("sepsis-godkand", "research_plan"): ["forskningsplan-sepsis"],
    ("stroke", "research_plan"): ["forskningsplan-stroke"],
    ("lungnoduler", "research_plan"): ["forskningsplan-lungnoduler"],
    ("lungnoduler-v", "research_plan"): ["forskningsplan-lungnoduler"],
    ("fallprevention", "research_plan"): ["forskningsplan-fallprevention"],
    ("hjartsvikt", "application_form"): ["ansokningsblankett-hjartsvikt"],
    ("stroke", "application_form"): ["ansokningsblankett-stroke"],
    ("lungnoduler", "application_form"): ["ansokningsblankett-lungnoduler"],
    ("lungnoduler-v", "application_form"): ["ansokningsblankett-lungnoduler"],
    ("statin", "application_form"): ["application-form-statin"],
    ("sepsis-godkand", "application_form"): ["application-form-sepsis"],
    ("hjartsvikt-pub", "data_processing_agreement"): ["pub-avtal-statistikkonsulten"],
    ("hjartsvikt", "cover_letter"): ["foljebrev-hjartsvikt"], ("statin", "cover_letter"): ["cover-letter-statin"],
    ("sepsis", "cover_letter"): ["foljebrev-sepsis"], ("sepsis-godkand", "cover_letter"): ["foljebrev-sepsis"],
}


def write_fixture_sources(out: Path) -> list[Path]:
    """The DOCX sources, in out/pdf/ or out/odt/ after the format LibreOffice is to make of them."""
    written = []
    for name, (fmt, _lang, build) in FIXTURE_SOURCES.items():
        path = out / fmt / f"{name}.docx"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(build())
        written.append(path)
    return written


def fixture(name: str) -> tuple[bytes, str]:
    """(bytes, extension) of a LibreOffice fixture; they are committed, so CI needs no LibreOffice."""
    fmt = FIXTURE_SOURCES[name][0]
    path = FIXTURES / f"{name}.{fmt}"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run tests/samples/make_fixtures.sh (needs LibreOffice)")
    return path.read_bytes(), fmt


def _lo_fixture(project: Project, kind: str, lang: str) -> str | None:
    """The LibreOffice-made document of this kind for this project in this language, if there is one."""
    names = [x for x in LO_DOCUMENTS.get((project.key, kind), []) if FIXTURE_SOURCES[x][1] == lang]
    return names[0] if names else None


# --- scans and photos -------------------------------------------------------------------------------------------------

@memo
def scanned_pdf(pdf: bytes, *, seed: str, dpi: int = 150, producer: str = "RICOH MP C4504ex") -> bytes:
    """An image-only PDF as an office scanner makes it: each page printed, slightly skewed, specked, JPEG."""
    import pypdfium2 as pdfium
    from fpdf import FPDF
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    doc = pdfium.PdfDocument(pdf)
    out = FPDF(unit="mm", format="A4")
    out.set_creation_date(when(date(2026, 2, 27), hour=10))
    out.set_producer(producer)
    out.set_creator(producer)
    out.set_auto_page_break(False)
    try:
        for index in range(len(doc)):
            page = doc[index].render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
            page = page.rotate(rng.uniform(-0.8, 0.8), resample=Image.BICUBIC, fillcolor=255)
            draw = ImageDraw.Draw(page)
            for _ in range(400):  # toner dust
                x, y = rng.randrange(page.width), rng.randrange(page.height)
                draw.point((x, y), fill=rng.randrange(60, 160))
            page = page.point(lambda v: min(255, int(v * 0.93 + 14)))  # grey paper, lighter black
            buf = io.BytesIO()
            page.save(buf, format="JPEG", quality=62)
            out.add_page()
            out.image(io.BytesIO(buf.getvalue()), x=0, y=0, w=210, h=297)
    finally:
        doc.close()
    return bytes(out.output())


@memo
def phone_photo(pdf: bytes, *, seed: str) -> bytes:
    """A phone photo of a document's first page lying on a desk: a JPEG, a little rotated, dark margins."""
    import pypdfium2 as pdfium
    from PIL import Image

    rng = random.Random(seed)
    doc = pdfium.PdfDocument(pdf)
    try:
        page = doc[0].render(scale=170 / 72).to_pil().convert("RGB")
    finally:
        doc.close()
    page = page.rotate(rng.uniform(1.0, 2.2), resample=Image.BICUBIC, expand=True, fillcolor=(92, 84, 76))
    desk = Image.new("RGB", (page.width + 120, page.height + 160), (92, 84, 76))
    desk.paste(page, (60, 70))
    buf = io.BytesIO()
    desk.save(buf, format="JPEG", quality=78)
    return buf.getvalue()


# --- variable lists in other clothes -------------------------------------------------------------------------------

HEADER_SYNONYMS = {
    "Variabel": ["Variabelnamn", "Variabel"], "Källa": ["Datakälla", "Källsystem", "Källa"],
    "Period": ["Tidsperiod", "Period (från–till)"], "Beskrivning": ["Beskrivning", "Förklaring"],
    "Variable": ["Variable name", "Variable"], "Source": ["Data source", "Source system"],
    "Description": ["Description", "Definition"],
}


@memo
def renamed_variable_list(project: Project, seed: str, lang: str = "sv") -> bytes:
    """The variable list with the column headers a researcher wrote instead of the template's."""
    rng = random.Random(seed)
    wb = load_workbook(io.BytesIO(d.variable_list(project, lang=lang)))
    ws = wb.worksheets[0]
    for row in ws.iter_rows(min_row=1, max_row=8):
        for cell in row:
            if isinstance(cell.value, str) and cell.value in HEADER_SYNONYMS:
                cell.value = rng.choice(HEADER_SYNONYMS[cell.value])
    buf = io.BytesIO()
    wb.save(buf)
    return normalize_ooxml(buf.getvalue(), when(date(2026, 2, 12)))


@memo
def csv_variable_list(project: Project, excel_sv: bool = True) -> bytes:
    """Excel's "CSV (semikolonavgränsad)" export (cp1252, ';', CRLF), or a UTF-8 CSV with BOM and commas."""
    rows = [["Variabel", "Källa", "Period", "Beskrivning"] if excel_sv else ["Variable", "Source", "Period",
                                                                            "Description"]]
    for v in project.variables:
        name = v.name if excel_sv else (v.name_en or v.name)
        desc = v.description if excel_sv else (v.description_en or v.description)
        rows.append([name, v.source, project.period_text(" - "), desc])
    sep = ";" if excel_sv else ","

    def cell(x: str) -> str:
        return f'"{x}"' if sep in x or '"' in x else x

    text = "\r\n".join(sep.join(cell(c) for c in r) for r in rows) + "\r\n"
    return text.encode("cp1252", "replace") if excel_sv else b"\xef\xbb\xbf" + text.encode("utf-8")


# --- documents of one application -----------------------------------------------------------------------------------

@dataclass
class Item:
    """One document to send: its truth, its bytes, and what the researcher will call it."""

    kinds: tuple[str, ...]
    data: bytes
    fmt: str  # pdf | pdf-libreoffice | pdf-scan | jpeg | docx | odt | xlsx | csv
    name_key: str  # key into NAMES
    ext: str
    lang: str = "sv"  # the language the document is written in ("-" for files without text)
    decision: str | None = "-"  # "-": not a deciding document
    version: str = "1.0"
    said: str = ""


MIME_TYPES = {
    "pdf": "application/pdf", "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "odt": "application/vnd.oasis.opendocument.text", "csv": "text/csv", "jpg": "image/jpeg", "JPG": "image/jpeg",
}


@dataclass
class Plan:
    """The choices for one mail, fixed before anything is built."""

    index: int
    shape: str  # application | follow_up | aggregated
    scenario: Scenario
    lang: str
    client: str
    wrapper: str
    scan: str = ""  # "" | form | decision | photo


def _pick(rng: random.Random, options: list, weights: list[float] | None = None):
    return rng.choices(options, weights=weights, k=1)[0]


def _application_items(plan: Plan, rng: random.Random) -> list[Item]:
    """The documents of one application, each in a layout, format and language picked for this mail."""
    sc, p, lang = plan.scenario, plan.scenario.project, plan.lang
    key = f"{p.key}/{plan.index}"
    items: list[Item] = []

    def add(kinds: tuple[str, ...], data: bytes, fmt: str, name_key: str, ext: str, doc_lang: str, **kw) -> None:
        items.append(Item(kinds, data, fmt, name_key, ext, doc_lang, **kw))

    def style() -> str:
        return _pick(rng, list(d.STYLES))

    # application form: fpdf2 in one of three layouts, the Word template through LibreOffice, or a paper scan
    lo_form = _lo_fixture(p, "application_form", lang)
    if plan.scan == "form":
        form = d.application_form(p, signature="handwritten", lang=lang, style="plain")
        add(("application_form",), scanned_pdf(form, seed=key + "/form"), "pdf-scan", "scan", "pdf", lang)
    elif lo_form and rng.random() < 0.35:
        add(("application_form",), fixture(lo_form)[0], "pdf-libreoffice", "application_form", "pdf", lang)
    else:
        form = d.application_form(p, signature=_pick(rng, ["handwritten", "esign"]), lang=lang, style=style())
        add(("application_form",), form, "pdf", "application_form", "pdf", lang)

    ethics_lang = "en" if lang == "en" and rng.random() < 0.3 else "sv"
    add(("ethics_application",), d.ethics_application(p, lang=ethics_lang, registered=rng.random() < 0.8,
                                                      style=style()), "pdf", "ethics_application", "pdf", ethics_lang)

    if sc.outcome:
        dec = d.ethics_decision(p, sc.outcome, style=style())
        if plan.scan == "decision":
            add(("ethics_decision",), scanned_pdf(dec, seed=key + "/decision", producer="Canon iR-ADV C5535 PDF"),
                "pdf-scan", "scan", "pdf", "sv", decision=sc.outcome)
        else:
            add(("ethics_decision",), dec, "pdf", "ethics_decision", "pdf", "sv", decision=sc.outcome)
        # EPM decides in Swedish; international groups sometimes add their English translation. Only outcomes the
        # builder writes wholly in English (conditions and reasons come from the project in Swedish).
        if lang == "en" and sc.outcome in ("approved", "advisory_only") and rng.random() < 0.3:
            add(("ethics_decision",), d.ethics_decision(p, sc.outcome, lang="en", style=style()), "pdf",
                "decision_translation", "pdf", "en", decision=sc.outcome,
                said="an English translation of the decision")
    else:  # still waiting: what came from EPM is a request for supplement, often saved as "beslut.pdf"
        add(("other",), d.epm_supplement_request(p, style=style()), "pdf", "supplement_request", "pdf", "sv",
            decision=None, said="det senaste vi fått från Etikprövningsmyndigheten" if lang == "sv"
            else "the latest letter from the Ethical Review Authority")

    for am in p.amendments:
        add(("ethics_amendment",), d.ethics_amendment(p, am, style=style()), "pdf", "ethics_amendment", "pdf", "sv")
        if rng.random() < 0.85:
            approved = rng.random() < 0.85
            add(("ethics_amendment_decision",), d.ethics_amendment_decision(p, am, approved=approved, style=style()),
                "pdf", "ethics_amendment_decision", "pdf", "sv", decision="approved" if approved else "rejected")

    plan_lang = lang if rng.random() < 0.8 else p.lang
    lo_plan = _lo_fixture(p, "research_plan", plan_lang)
    if lo_plan and rng.random() < 0.45:
        data, ext = fixture(lo_plan)
        add(("research_plan",), data, "pdf-libreoffice" if ext == "pdf" else "odt", "research_plan", ext, plan_lang)
    else:
        add(("research_plan",), d.research_plan(p, lang=plan_lang), "docx", "research_plan", "docx", plan_lang)

    vl = _pick(rng, ["xlsx", "xlsx-renamed", "csv", "xlsx-other-lang"], [0.45, 0.25, 0.2, 0.1])
    if vl == "xlsx":
        add(("variable_list",), d.variable_list(p, lang=lang), "xlsx", "variable_list", "xlsx", lang)
    elif vl == "xlsx-renamed":
        add(("variable_list",), renamed_variable_list(p, key, lang), "xlsx", "variable_list", "xlsx", lang)
    elif vl == "csv":
        add(("variable_list",), csv_variable_list(p, excel_sv=lang == "sv"), "csv", "variable_list", "csv", lang)
    else:
        other = "en" if lang == "sv" else "sv"
        add(("variable_list",), d.variable_list(p, lang=other), "xlsx", "variable_list", "xlsx", other)

    if p.consent == "collected":  # every version; information and consent in one file, or in two
        fpi_lang = p.lang
        together = rng.random() < 0.7
        for v in [v for v, _ in p.fpi_versions] or ["1.0"]:
            if together:
                said = (f"participant information and consent form, version {v}" if lang == "en"
                        else f"forskningspersonsinformation och samtyckesblankett, version {v}")
                add(("participant_information", "consent_form"), d.participant_information(p, v, lang=fpi_lang),
                    "pdf", "participant_information", "pdf", fpi_lang, version=v, said=said)
            else:
                add(("participant_information",), d.participant_information(p, v, combined=False, lang=fpi_lang),
                    "pdf", "participant_information_only", "pdf", fpi_lang, version=v)
                add(("consent_form",), d.consent_form(p, v, lang=fpi_lang), "pdf", "consent_form", "pdf", fpi_lang,
                    version=v)

    if plan.scan == "photo":  # the DPO's statement, photographed with a phone
        add(("dpo_statement",), phone_photo(d.dpo_statement(p, lang=lang), seed=key + "/dpo"), "jpeg", "photo", "JPG",
            lang)
    elif p.extensive:
        if rng.random() < 0.6:
            add(("dpia",), d.dpia(p), "pdf", "dpia", "pdf", "sv")
        else:
            add(("dpo_statement",), d.dpo_statement(p, lang=lang), "pdf", "dpo_statement", "pdf", lang)
    if p.transfer:
        add(("data_transfer_agreement",), d.data_transfer_agreement(p), "pdf", "data_transfer_agreement", "pdf", "en")
    if p.processor:
        how = _pick(rng, ["pdf", "docx", "lo"])
        if how == "lo" and _lo_fixture(p, "data_processing_agreement", "sv"):
            add(("data_processing_agreement",), fixture(_lo_fixture(p, "data_processing_agreement", "sv"))[0],
                "pdf-libreoffice", "data_processing_agreement", "pdf", "sv")
        else:
            how = "docx" if how == "docx" else "pdf"
            add(("data_processing_agreement",), d.data_processing_agreement(p, fmt=how), how,
                "data_processing_agreement", how, "sv")
    if p.linkage and rng.random() < 0.6:
        add(("linkage_decision",), d.linkage_decision(p), "pdf", "linkage_decision", "pdf", "sv")
    if rng.random() < 0.3:
        lo_letter = _lo_fixture(p, "cover_letter", lang)
        if lo_letter and rng.random() < 0.6:
            data, ext = fixture(lo_letter)
            add(("cover_letter",), data, "pdf-libreoffice" if ext == "pdf" else "odt", "cover_letter", ext, lang)
        else:
            add(("cover_letter",), d.cover_letter(p, lang=lang), "docx", "cover_letter", "docx", lang)
    if rng.random() < 0.15:
        add(("other",), d.curriculum_vitae(p.applicant, lang=lang), "pdf", "cv", "pdf", lang,
            said="mitt CV" if lang == "sv" else "my CV")

    # one required document left out now and then: an incomplete application looks the same to the classifier
    droppable = [i for i, it in enumerate(items) if it.kinds[0] in ("research_plan", "variable_list", "dpia")]
    if droppable and rng.random() < 0.12:
        del items[_pick(rng, droppable)]
    if rng.random() < 0.25:  # not everyone attaches in the usual order
        rng.shuffle(items)
    return items


def _follow_up_items(plan: Plan, rng: random.Random) -> list[Item]:
    """A researcher's supplement: the decision that has come, the variable list, the linkage decision."""
    p = plan.scenario.project
    outcome = plan.scenario.outcome or "approved"
    items = [Item(("ethics_decision",), d.ethics_decision(p, outcome, style=_pick(rng, list(d.STYLES))), "pdf",
                  "ethics_decision", "pdf", "sv", decision=outcome)]
    if rng.random() < 0.6:
        items.append(Item(("variable_list",), d.variable_list(p), "xlsx", "variable_list", "xlsx", p.lang))
    if p.linkage:
        items.append(Item(("linkage_decision",), d.linkage_decision(p), "pdf", "linkage_decision", "pdf", "sv"))
    return items


def _names(items: list[Item], plan: Plan, rng: random.Random) -> list[str]:
    """A file name for each item: the project's usual names, sometimes generic or misleading, all distinct."""
    p, sc = plan.scenario.project, plan.scenario
    used: set[str] = set()
    out = []
    for k, it in enumerate(items, 1):
        if it.name_key == "scan":
            pattern = _pick(rng, SCAN_NAMES)
        elif it.name_key == "photo":
            pattern = f"IMG_{4020 + plan.index % 97:04d}.JPG"
        else:
            pools = NAMES[it.name_key]
            pool = pools.get(plan.lang) or pools["sv"]
            pattern = _pick(rng, GENERIC) if rng.random() < 0.08 else _pick(rng, pool)
            if it.name_key == "supplement_request" and rng.random() < 0.5:
                pattern = "beslut.pdf"  # the classic: EPM's letter saved under the name of what was hoped for
        dnr = p.dnr.replace("/", "_")
        if it.kinds[0] in ("ethics_amendment", "ethics_amendment_decision") and p.amendments:
            dnr = p.amendments[0].dnr
        version = it.version if it.kinds[0] != "research_plan" else _pick(rng, ["2", "3", "1.4", "2.1"])
        name = pattern.format(slug=sc.slug, dnr=dnr, v=version, ext=it.ext, k=k,
                              proc=(p.processor or "biträde").split()[0],
                              initials="".join(w[0] for w in p.applicant.name.split()))
        stem, dot, ext = name.rpartition(".")
        candidate, n = name, 2
        while candidate.lower() in used:
            candidate = f"{stem} ({n}).{ext}" if rng.random() < 0.5 else f"{stem}({n}).{ext}"
            n += 1
        used.add(candidate.lower())
        out.append(candidate)
    return out


# --- MIME, written out by hand the way each client does it ------------------------------------------------------------

@dataclass
class Node:
    """One MIME entity: header lines as the client writes them, and a body or child entities."""

    headers: list[tuple[str, str | bytes]]
    body: bytes = b""
    parts: list["Node"] = field(default_factory=list)
    boundary: str = ""
    preamble: bytes = b""

    def bytes(self) -> bytes:
        out = b"".join(k.encode() + b": " + (v if isinstance(v, bytes) else v.encode("utf-8")) + CRLF
                       for k, v in self.headers) + CRLF
        if not self.parts:
            return out + self.body
        b = self.boundary.encode()
        out += self.preamble
        for part in self.parts:  # a body's last CRLF belongs to the delimiter that follows it
            data = part.bytes()
            out += b"--" + b + CRLF + data + (b"" if data.endswith(CRLF) else CRLF)
        return out + b"--" + b + b"--" + CRLF


def _b64(data: bytes) -> bytes:
    text = base64.b64encode(data)
    return CRLF.join(text[i:i + 76] for i in range(0, len(text), 76)) + CRLF


def _qp(data: bytes) -> bytes:
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    return CRLF.join(quopri.encodestring(line).replace(b"\n", CRLF) for line in lines) + CRLF


_LATIN1_SUBST = str.maketrans({"”": '"', "“": '"', "–": "-", "—": "-", "’": "'", "…": "..."})


def _encode_text(text: str, charset: str) -> bytes:
    if charset.lower() in ("iso-8859-1", "us-ascii"):
        text = text.translate(_LATIN1_SUBST)
    return text.replace("\n", "\r\n").encode(charset, "replace")


def _cte(data: bytes, cte: str) -> bytes:
    return {"base64": _b64, "quoted-printable": _qp}.get(cte, lambda b: b.rstrip(b"\r\n") + CRLF)(data)


def _words(text: str, charset: str, enc: str, size: int = 30) -> list[str]:
    """RFC 2047 encoded words, split on character boundaries."""
    chunks, cur = [], ""
    for ch in text:
        if len((cur + ch).encode(charset, "replace")) > size:
            chunks.append(cur)
            cur = ""
        cur += ch
    if cur:
        chunks.append(cur)
    out = []
    for c in chunks:
        raw = c.encode(charset, "replace")
        if enc == "B":
            out.append(f"=?{charset}?B?{base64.b64encode(raw).decode()}?=")
        else:
            q = "".join(chr(b) if (chr(b).isalnum() and b < 128) or chr(b) in "!*+-/" else
                        "_" if b == 32 else f"={b:02X}" for b in raw)
            out.append(f"=?{charset}?Q?{q}?=")
    return out


def _header_text(text: str, charset: str, enc: str) -> str:
    """A header value: plain when ASCII, else folded RFC 2047 words."""
    if text.isascii():
        return text
    return "\r\n ".join(_words(text, charset, enc, 45))


def _address(name: str, addr: str, charset: str = "utf-8", enc: str = "Q") -> str:
    if name.isascii():
        return f'"{name}" <{addr}>' if "," in name else f"{name} <{addr}>"
    return f"{_header_text(name, charset, enc)} <{addr}>"


def _rfc2231(key: str, value: str, fold: str = "\r\n ") -> str:
    """key*=utf-8''... with continuations key*0*=, key*1*= for long values, as Thunderbird and Apple Mail write."""
    pct = "".join(chr(b) if chr(b).isalnum() and b < 128 or chr(b) in "-._~" else f"%{b:02X}"
                  for b in value.encode("utf-8"))
    if len(pct) <= 60:
        return f"{key}*=utf-8''{pct}"
    pieces, i = [], 0
    while i < len(pct):
        j = min(len(pct), i + 60)
        while j < len(pct) and "%" in pct[j - 2:j]:  # never cut an escape in two
            j -= 1
        pieces.append(pct[i:j])
        i = j
    return (";" + fold).join(f"{key}*{n}*={'utf-8' + chr(39) * 2 if n == 0 else ''}{piece}"
                             for n, piece in enumerate(pieces))


def _quoted_words(value: str, charset: str, enc: str) -> str:
    return '"' + "\r\n ".join(_words(value, charset, enc)) + '"' if not value.isascii() else f'"{value}"'


@dataclass
class FileOut:
    """A file as a client attaches it."""

    name: str
    data: bytes
    ctype: str


class Client:
    """How one mail program writes a mail: headers, body parts, attachment parts, boundaries, Message-IDs."""

    name = "generic"

    def __init__(self, rng: random.Random, lang: str):
        self.rng, self.lang = rng, lang
        self.charset, self.cte = "utf-8", "quoted-printable"

    def hex(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def boundary(self) -> str:
        return f"----=_Part_{self.rng.randrange(10**6)}_{self.rng.randrange(10**9)}.{self.rng.randrange(10**12)}"

    def message_id(self, domain: str) -> str:
        return f"<{self.hex(16)}@{domain}>"

    def top(self, sender: tuple[str, str], to: str, subject: str, sent: datetime, msgid: str,
            extra: list[tuple[str, str]]) -> list[tuple[str, str | bytes]]:
        return [("From", _address(*sender)), ("To", to), ("Subject", _header_text(subject, "utf-8", "Q")),
                ("Date", format_datetime(sent)), ("Message-ID", msgid), *extra, ("MIME-Version", "1.0")]

    def text_parts(self, text: str) -> list[Node]:
        return [Node([("Content-Type", f"text/plain; charset={self.charset}"),
                      ("Content-Transfer-Encoding", self.cte)], _cte(_encode_text(text, self.charset), self.cte))]

    def attachment(self, f: FileOut) -> Node:
        name = f'"{f.name}"' if f.name.isascii() else _quoted_words(f.name, "utf-8", "B")
        return Node([("Content-Type", f"{f.ctype}; name={name}"),
                     ("Content-Disposition", f"attachment; filename={name}"),
                     ("Content-Transfer-Encoding", "base64")], _b64(f.data))

    def message_part(self, raw: bytes, label: str) -> Node:
        name = f'"{label}"' if label.isascii() else _quoted_words(label, "utf-8", "B")
        return Node([("Content-Type", f"message/rfc822; name={name}"),
                     ("Content-Disposition", f"attachment; filename={name}")], raw)

    def compose(self, top: list[tuple[str, str | bytes]], text: str, files: list[Node]) -> Node:
        parts = self.text_parts(text) + files
        return Node(top + [("Content-Type", f'multipart/mixed; boundary="{(b := self.boundary())}"')],
                    parts=parts, boundary=b)


def _html(text: str, charset: str = "utf-8") -> str:
    esc = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    paras = "".join(f"<p>{p.replace(chr(10), '<br>')}</p>\n" for p in esc.split("\n\n"))
    return (f'<html><head><meta http-equiv="Content-Type" content="text/html; charset={charset}"></head><body>\n'
            f"{paras}</body></html>\n")


class Outlook(Client):
    """Outlook for Windows, Swedish locale: ISO-8859-1 quoted-printable or UTF-8 base64, RFC 2047 names."""

    name = "outlook"

    def __init__(self, rng, lang):
        super().__init__(rng, lang)
        self.charset, self.cte = _pick(rng, [("iso-8859-1", "quoted-printable"), ("utf-8", "base64")])
        self.tag = f"{_pick(rng, ['AM0PR07MB', 'DB9PR07MB', 'GV1P189MB', 'HE1PR0701MB'])}{rng.randrange(1000, 9999)}"

    def boundary(self) -> str:
        return f"_{self.rng.randrange(0, 9):03d}_{self.tag}{self.hex(24).upper()}{self.tag}EURP_"

    def message_id(self, domain: str) -> str:
        return f"<{self.tag}{self.hex(24).upper()}@{self.tag}.eurprd07.prod.outlook.com>"

    def top(self, sender, to, subject, sent, msgid, extra):
        enc = self.charset if all(ord(c) < 256 for c in subject.translate(_LATIN1_SUBST)) else "utf-8"
        subj = _header_text(subject.translate(_LATIN1_SUBST) if enc == "iso-8859-1" else subject, enc, "Q")
        index = base64.b64encode(bytes(self.rng.randrange(256) for _ in range(22))).decode()
        return [("From", _address(*sender, charset="iso-8859-1" if enc == "iso-8859-1" else "utf-8")),
                ("To", f'"{to}" <{to}>'), ("Subject", subj), ("Thread-Topic", subj), ("Thread-Index", index),
                ("Date", format_datetime(sent)), ("Message-ID", msgid), *extra,
                ("Accept-Language", "sv-SE, en-US"), ("Content-Language", "sv-SE" if self.lang == "sv" else "en-GB"),
                ("X-MS-Has-Attach", "yes"), ("X-MS-TNEF-Correlator", ""), ("MIME-Version", "1.0")]

    def text_parts(self, text: str) -> list[Node]:
        plain = Node([("Content-Type", f'text/plain; charset="{self.charset}"'),
                      ("Content-Transfer-Encoding", self.cte)], _cte(_encode_text(text, self.charset), self.cte))
        html = Node([("Content-Type", f'text/html; charset="{self.charset}"'),
                     ("Content-Transfer-Encoding", self.cte)],
                    _cte(_encode_text(_html(text, self.charset), self.charset), self.cte))
        b = self.boundary()
        return [Node([("Content-Type", f'multipart/alternative;\r\n\tboundary="{b}"')], parts=[plain, html],
                     boundary=b)]

    def attachment(self, f: FileOut) -> Node:
        latin = all(ord(c) < 256 for c in f.name)
        name = (f'"{f.name}"' if f.name.isascii() else
                _quoted_words(f.name, "iso-8859-1", "Q") if latin and self.charset == "iso-8859-1" else
                _quoted_words(f.name, "utf-8", "B"))
        stamp = format_datetime(datetime(2026, 2, 26, 13, 20, 11, tzinfo=timezone.utc), usegmt=True)
        return Node([("Content-Type", f"{f.ctype};\r\n\tname={name}"),
                     ("Content-Description", name.strip('"')),
                     ("Content-Disposition", f'attachment;\r\n\tfilename={name}; size={len(f.data)};\r\n\t'
                                             f'creation-date="{stamp}";\r\n\tmodification-date="{stamp}"'),
                     ("Content-Transfer-Encoding", "base64")], _b64(f.data))

    def compose(self, top, text, files):
        b = self.boundary()
        return Node(top + [("Content-Type", f'multipart/mixed;\r\n\tboundary="{b}"')],
                    parts=self.text_parts(text) + files, boundary=b)


def _flow(line: str, width: int = 72) -> str:
    """RFC 3676 format=flowed: long lines broken at spaces, each broken line ending in a space."""
    out = []
    while len(line) > width and " " in line[:width]:
        cut = line.rindex(" ", 0, width) + 1
        out.append(line[:cut])
        line = line[cut:]
    return "\n".join(out + [line])


class Thunderbird(Client):
    """Thunderbird: UTF-8 8bit format=flowed, RFC 2231 file names with continuations, 'This is a multi-part...'."""

    name = "thunderbird"

    def boundary(self) -> str:
        alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
        return "------------" + "".join(self.rng.choice(alphabet) for _ in range(24))

    def message_id(self, domain: str) -> str:
        return f"<{uuid.UUID(int=self.rng.getrandbits(128), version=4)}@{domain}>"

    def top(self, sender, to, subject, sent, msgid, extra):
        return [("Message-ID", msgid), ("Date", format_datetime(sent)), ("MIME-Version", "1.0"),
                ("User-Agent", "Mozilla Thunderbird"), *extra,
                ("Content-Language", "sv-SE" if self.lang == "sv" else "en-GB"), ("To", to),
                ("From", _address(*sender, enc="Q")), ("Subject", _header_text(subject, "UTF-8", "Q"))]

    def text_parts(self, text: str) -> list[Node]:
        flowed = "\n".join(_flow(line) for line in text.split("\n"))
        return [Node([("Content-Type", "text/plain; charset=UTF-8; format=flowed"),
                      ("Content-Transfer-Encoding", "8bit")], _encode_text(flowed, "utf-8") + CRLF)]

    def attachment(self, f: FileOut) -> Node:
        name = f'"{f.name}"' if f.name.isascii() else _quoted_words(f.name, "UTF-8", "B")
        disp = f'filename="{f.name}"' if f.name.isascii() else _rfc2231("filename", f.name)
        return Node([("Content-Type", f"{f.ctype}; name={name}"), ("Content-Disposition", f"attachment; {disp}"),
                     ("Content-Transfer-Encoding", "base64")], _b64(f.data))

    def message_part(self, raw: bytes, label: str) -> Node:
        name = f'"{label}"' if label.isascii() else _quoted_words(label, "UTF-8", "B")
        disp = f'filename="{label}"' if label.isascii() else _rfc2231("filename", label)
        return Node([("Content-Type", f"message/rfc822; charset=UTF-8; name={name}"),
                     ("Content-Disposition", f"attachment; {disp}"), ("Content-Transfer-Encoding", "8bit")], raw)

    def compose(self, top, text, files):
        b = self.boundary()
        return Node(top + [("Content-Type", f'multipart/mixed; boundary="{b}"')],
                    parts=self.text_parts(text) + files, boundary=b,
                    preamble=b"This is a multi-part message in MIME format.\r\n")


class AppleMail(Client):
    """Apple Mail: inline files with NFD names (RFC 2231), x-unix-mode, quoted-printable text between the files."""

    name = "apple_mail"
    mailer = "Apple Mail (2.3826.400.131.1.6)"

    def boundary(self) -> str:
        return f"Apple-Mail=_{str(uuid.UUID(int=self.rng.getrandbits(128), version=4)).upper()}"

    def message_id(self, domain: str) -> str:
        return f"<{str(uuid.UUID(int=self.rng.getrandbits(128), version=4)).upper()}@{domain}>"

    def top(self, sender, to, subject, sent, msgid, extra):
        return [("From", _address(*sender, enc="Q")),
                ("Mime-Version", "1.0 (Mac OS X Mail 16.0 \\(3826.400.131.1.6\\))"),
                ("Subject", _header_text(subject, "utf-8", "Q")), ("Message-Id", msgid), *extra,
                ("Date", format_datetime(sent)), ("To", to), ("X-Mailer", self.mailer)]

    def attachment(self, f: FileOut) -> Node:
        nfd = unicodedata.normalize("NFD", f.name)
        disp = f'filename="{nfd}"' if nfd.isascii() else _rfc2231("filename", nfd, "\r\n\t")
        name = f'"{nfd}"' if nfd.isascii() else _quoted_words(nfd, "utf-8", "Q")
        return Node([("Content-Disposition", f"inline;\r\n\t{disp}"),
                     ("Content-Type", f"{f.ctype};\r\n\tx-unix-mode=0644;\r\n\tname={name}"),
                     ("Content-Transfer-Encoding", "base64")], _b64(f.data))

    ctype_at = 1  # Apple Mail writes Content-Type right after From; the iPhone first

    def compose(self, top, text, files):
        b = self.boundary()
        spacer = Node([("Content-Transfer-Encoding", "7bit"), ("Content-Type", "text/plain;\r\n\tcharset=us-ascii")],
                      CRLF + CRLF)
        parts = [Node([("Content-Transfer-Encoding", "quoted-printable"),
                       ("Content-Type", "text/plain;\r\n\tcharset=utf-8")], _qp(_encode_text(text, "utf-8")))]
        for f in files:
            parts += [f, spacer]
        at = self.ctype_at
        return Node(top[:at] + [("Content-Type", f'multipart/mixed;\r\n\tboundary="{b}"')] + top[at:],
                    parts=parts, boundary=b)


class IPhone(AppleMail):
    name = "iphone"
    mailer = "iPhone Mail (22D72)"
    ctype_at = 0

    def top(self, sender, to, subject, sent, msgid, extra):
        return [("From", _address(*sender, enc="Q")), ("Mime-Version", "1.0 (1.0)"),
                ("Subject", _header_text(subject, "utf-8", "Q")), ("Date", format_datetime(sent)),
                ("Message-Id", msgid), *extra, ("To", to), ("X-Mailer", self.mailer)]


class Gmail(Client):
    """Gmail: multipart/alternative text, RFC 2047 B names, Content-ID and X-Attachment-Id on every file."""

    name = "gmail"

    def boundary(self) -> str:
        return "0000000000" + self.hex(18)

    def message_id(self, domain: str) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+"
        return "<CA+" + "".join(self.rng.choice(alphabet) for _ in range(40)) + "@mail.gmail.com>"

    def top(self, sender, to, subject, sent, msgid, extra):
        return [("MIME-Version", "1.0"), ("From", _address(*sender, enc="Q")), ("Date", format_datetime(sent)),
                *extra, ("Message-ID", msgid), ("Subject", _header_text(subject, "UTF-8", "B")), ("To", to)]

    def text_parts(self, text: str) -> list[Node]:
        b = self.boundary()
        return [Node([("Content-Type", f'multipart/alternative; boundary="{b}"')], boundary=b, parts=[
            Node([("Content-Type", 'text/plain; charset="UTF-8"'), ("Content-Transfer-Encoding", "quoted-printable")],
                 _qp(_encode_text(text, "utf-8"))),
            Node([("Content-Type", 'text/html; charset="UTF-8"'), ("Content-Transfer-Encoding", "quoted-printable")],
                 _qp(_encode_text(_html(text), "utf-8")))])]

    def attachment(self, f: FileOut) -> Node:
        name = f'"{f.name}"' if f.name.isascii() else '"' + "".join(_words(f.name, "UTF-8", "B", 45)) + '"'
        cid = "f_" + "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(9)) + "0"
        return Node([("Content-Type", f"{f.ctype}; name={name}"),
                     ("Content-Disposition", f"attachment; filename={name}"), ("Content-Transfer-Encoding", "base64"),
                     ("Content-ID", f"<{cid}>"), ("X-Attachment-Id", cid)], _b64(f.data))


class Legacy(Client):
    """An old mail gateway: ISO-8859-1 8bit body, raw 8-bit file names, and no Content-Disposition at all."""

    name = "legacy"

    def __init__(self, rng, lang):
        super().__init__(rng, lang)
        self.charset, self.cte = "iso-8859-1", "8bit"

    def boundary(self) -> str:
        return f"=_alternative {self.hex(8).upper()}C1258B7C_="

    def top(self, sender, to, subject, sent, msgid, extra):
        subj = subject.translate(_LATIN1_SUBST)
        return [("From", _address(sender[0], sender[1], "iso-8859-1", "Q")), ("To", to),
                ("Subject", _header_text(subj, "ISO-8859-1", "Q")), ("Date", format_datetime(sent)),
                ("Message-ID", msgid), *extra, ("X-Mailer", "Lotus Notes Release 9.0.1FP10 SHF68 April 06, 2019"),
                ("MIME-Version", "1.0")]

    def attachment(self, f: FileOut) -> Node:
        raw = f.name.encode("utf-8")
        return Node([("Content-Type", b"" + f.ctype.encode() + b'; name="' + raw + b'"'),
                     ("Content-Transfer-Encoding", "base64")], _b64(f.data))


CLIENTS = {c.name: c for c in (Outlook, Thunderbird, AppleMail, IPhone, Gmail, Legacy)}
NAME_STYLE = {"outlook": "RFC 2047 (ISO-8859-1 Q or UTF-8 B)", "thunderbird": "RFC 2231 (+ RFC 2047 name=)",
              "apple_mail": "RFC 2231, NFD", "iphone": "RFC 2231, NFD", "gmail": "RFC 2047 B, split words",
              "legacy": "raw 8-bit UTF-8"}


# --- wrappers: zip, winmail.dat ------------------------------------------------------------------------------------

def appledouble(name: str) -> bytes:
    """The '._NAME' file macOS puts beside NAME in __MACOSX: Finder info and the quarantine attribute."""
    stamp = hashlib.sha1(name.encode()).hexdigest()
    quarantine = f"0083;65f1a2b3;Safari;{stamp[:8].upper()}-{stamp[8:12].upper()}-{stamp[12:16].upper()}".encode()
    return (b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02"
            b"\x00\x00\x00\x09\x00\x00\x00\x32\x00\x00\x0e\xb0\x00\x00\x00\x02\x00\x00\x0e\xe2\x00\x00\x01\x1e"
            + b"\x00" * 64 + b"ATTR" + b"\x00" * 32 + b"com.apple.quarantine\x00" + quarantine)


def make_zip(files: list[FileOut], style: str, folder: str = "") -> bytes:
    """A zip as Windows (cp437 names, no UTF-8 flag), macOS (NFD UTF-8 names without the flag, __MACOSX) or 7-Zip
    (UTF-8 flag) writes it. Names zipfile would flag are written under placeholders and patched afterwards."""
    buf = io.BytesIO()
    patches: list[tuple[bytes, bytes]] = []

    def add(z: zipfile.ZipFile, name: str, data: bytes) -> None:
        if style == "windows":
            raw = name.encode("cp437", "replace")
        elif style == "macos":
            raw = unicodedata.normalize("NFD", name).encode("utf-8")
        else:
            raw = b""
        if raw and not name.isascii():
            placeholder = f"#{len(patches):04d}#".ljust(len(raw), "#")
            patches.append((placeholder.encode(), raw))
            name = placeholder
        info = zipfile.ZipInfo(name, date_time=FIXED_ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = (0o100644 << 16) if style == "macos" else 0x20
        info.create_system = 3 if style == "macos" else 0
        z.writestr(info, data)

    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        prefix = f"{folder}/" if folder else ""
        for f in files:
            add(z, prefix + f.name, f.data)
        if style == "macos":  # Finder's "Compress" keeps extended attributes (quarantine) as AppleDouble files
            for f in files[:2]:
                add(z, f"__MACOSX/{prefix}._{f.name}", appledouble(f.name))
    data = buf.getvalue()
    for placeholder, raw in patches:
        assert data.count(placeholder) == 2, placeholder
        data = data.replace(placeholder, raw)
    return data


def _tnef_attr(level: int, attr: int, data: bytes) -> bytes:
    return struct.pack("<BII", level, attr, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def _tnef_date(t: datetime) -> bytes:
    return struct.pack("<7H", t.year, t.month, t.day, t.hour, t.minute, t.second, (t.weekday() + 1) % 7)


def _mapi(props: list[tuple[int, int, object]]) -> bytes:
    out = struct.pack("<I", len(props))
    for ptype, pid, value in props:
        out += struct.pack("<HH", ptype, pid)
        if ptype == 0x0003:
            out += struct.pack("<i", value)
        else:
            raw = value.encode("utf-16-le") + b"\0\0" if ptype == 0x001F else value.encode("cp1252", "replace") + b"\0"
            out += struct.pack("<II", 1, len(raw)) + raw + b"\0" * (-len(raw) % 4)
    return out


def _short_name(name: str, n: int) -> str:
    stem, _, ext = name.rpartition(".")
    clean = "".join(c for c in unicodedata.normalize("NFKD", stem).upper() if c.isalnum())[:6]
    return f"{clean}~{n}.{ext[:3].upper()}"


def winmail_dat(files: list[FileOut], subject: str, sent: datetime, key: int) -> bytes:
    """Outlook's TNEF (winmail.dat) with each file as an attachment: title, dates, data and MAPI properties with
    the long Unicode file name, as Outlook writes them."""
    utc = sent.astimezone(timezone.utc).replace(tzinfo=None)
    out = struct.pack("<IH", 0x223E9F78, key)
    out += _tnef_attr(1, 0x00089006, struct.pack("<I", 0x00010000))
    out += _tnef_attr(1, 0x00069007, struct.pack("<II", 1252, 0))
    out += _tnef_attr(1, 0x00078008, b"IPM.Microsoft Mail.Note\0")
    out += _tnef_attr(1, 0x00018004, subject.encode("cp1252", "replace") + b"\0")
    for attr in (0x00038005, 0x00038006, 0x00038020):
        out += _tnef_attr(1, attr, _tnef_date(utc))
    out += _tnef_attr(1, 0x0004800D, struct.pack("<H", 2))
    for n, f in enumerate(files):
        out += _tnef_attr(2, 0x00069002, struct.pack("<HiHHI", 1, -1, 0xFFFF, 0xFFFF, 0))
        out += _tnef_attr(2, 0x00018010, f.name.encode("cp1252", "replace") + b"\0")
        out += _tnef_attr(2, 0x00038012, _tnef_date(utc))
        out += _tnef_attr(2, 0x00038013, _tnef_date(utc))
        out += _tnef_attr(2, 0x0006800F, f.data)
        ext = "." + f.name.rpartition(".")[2]
        out += _tnef_attr(2, 0x00069005, _mapi([
            (0x0003, 0x0E20, len(f.data)), (0x0003, 0x0E21, n), (0x0003, 0x3705, 1), (0x001F, 0x3703, ext),
            (0x001E, 0x3704, _short_name(f.name, 1)), (0x001F, 0x3707, f.name), (0x001F, 0x370E, f.ctype)]))
    return out


# --- bodies ---------------------------------------------------------------------------------------------------------

def _subject(plan: Plan, rng: random.Random) -> str:
    sc, p = plan.scenario, plan.scenario.project
    if plan.lang == "en":
        options = [f"Application for health data – {sc.short_en}", f"Data access application (EPM {p.dnr})",
                   f"Health data application: {sc.short_en}", "Application to the Centre for Health Data"]
    else:
        options = [f"Ansökan om hälsodata – {sc.short_sv}", f"Ansökan datauttag, Dnr {p.dnr}",
                   f"Ansökan om tillgång till data för forskning ({sc.short_sv})", "Ansökan", "Bifogar ansökan"]
    return _pick(rng, options)


def _forward_header(lang: str, client: str, sender: tuple[str, str], to: str, sent: datetime, subject: str) -> str:
    when_text = sent.strftime("%Y-%m-%d %H:%M")
    if client in ("outlook", "legacy"):
        if lang == "sv":
            return (f"-----Ursprungligt meddelande-----\nFrån: {sender[0]} <{sender[1]}>\nSkickat: {when_text}\n"
                    f"Till: {to}\nÄmne: {subject}\n")
        return (f"-----Original Message-----\nFrom: {sender[0]} <{sender[1]}>\nSent: {when_text}\nTo: {to}\n"
                f"Subject: {subject}\n")
    title = "-------- Vidarebefordrat meddelande --------" if lang == "sv" else "-------- Forwarded Message --------"
    return (f"{title}\n{'Ämne' if lang == 'sv' else 'Subject'}: {subject}\n"
            f"{'Datum' if lang == 'sv' else 'Date'}: {when_text}\n{'Från' if lang == 'sv' else 'From'}: "
            f"{sender[0]} <{sender[1]}>\n{'Till' if lang == 'sv' else 'To'}: {to}\n")


def _fwd_prefix(client: str, lang: str) -> str:
    return {"outlook": "VB:" if lang == "sv" else "FW:", "legacy": "VB:"}.get(client, "Fwd:")


def _note(plan: Plan, items: list[Item]) -> str:
    p, lang = plan.scenario.project, plan.lang
    notes = []
    if plan.wrapper.startswith("zip"):
        notes.append("Alla handlingar ligger i den bifogade zip-filen." if lang == "sv"
                     else "All documents are in the attached zip file.")
    if any(it.fmt == "pdf-scan" for it in items):
        notes.append("Blanketten är utskriven, signerad och inskannad." if lang == "sv"
                     else "The form was printed, signed and scanned.")
    if plan.scenario.outcome is None:
        notes.append("Beslutet från Etikprövningsmyndigheten har vi ännu inte fått." if lang == "sv"
                     else "We have not yet received the decision from the Ethical Review Authority.")
    if p.linkage and not any(it.kinds[0] == "linkage_decision" for it in items):
        notes.append("Beslutet om samkörning skickar vi när det kommit." if lang == "sv"
                     else "We will send the linkage decision when we have it.")
    return " ".join(notes)


def _attachments_for_body(items: list[Item], names: list[str]):
    return [att(n, b"", *it.kinds, said=it.said) for it, n in zip(items, names, strict=True)]


# --- one mail ---------------------------------------------------------------------------------------------------------

def _sent(plan: Plan) -> datetime:
    base = datetime(2026, 3, 2, 8, 0, tzinfo=STOCKHOLM_WINTER)
    return base + timedelta(days=plan.index // 3, hours=plan.index % 9, minutes=(plan.index * 17) % 60)


def _file_outs(items: list[Item], names: list[str], client: str, wrapper: str) -> list[FileOut]:
    out = []
    for it, name in zip(items, names, strict=True):
        ctype = MIME_TYPES.get(name.rpartition(".")[2], "application/octet-stream")
        if (client == "legacy" or wrapper == "octet") and ctype != "application/pdf":
            ctype = "application/octet-stream"
        out.append(FileOut(name, it.data, ctype))
    return out


def _build(seed: int, plan: Plan) -> LabelledMail:
    rng = random.Random(f"variants/{seed}/{plan.index}")
    sc, p, lang = plan.scenario, plan.scenario.project, plan.lang
    if plan.shape == "aggregated":
        items = [Item(("other",), d.aggregated_table_template(), "xlsx", "table_template", "xlsx", "sv")]
    elif plan.shape == "follow_up":
        items = _follow_up_items(plan, rng)
    else:
        items = _application_items(plan, rng)
    names = _names(items, plan, rng)
    client = CLIENTS[plan.client](rng, lang)
    applicant = p.applicant
    sender = (applicant.name, applicant.email)
    sent = _sent(plan)
    name = f"v{plan.index:03d}-{plan.shape}-{plan.client}-{plan.wrapper}"
    files = _file_outs(items, names, plan.client, plan.wrapper)

    # the mail's own text
    if plan.shape == "aggregated":
        subject = ("Förfrågan om aggregerad statistik – typ 2-diabetes" if lang == "sv"
                   else "Request for aggregated statistics - type 2 diabetes")
        r = DIABETES_STATS.applicant
        sender = (r.name, r.email)
        text = ("Hej!\n\nKan ni ta fram aggregerad statistik åt oss: antal patienter per år 2019–2025 med typ "
                "2-diabetes (E11) i primärvården, per åldersgrupp? Vi behöver inga uppgifter på individnivå, bara "
                "antal. Tabellmall bifogas.\n\n" + signature_block(r, "sv", "Vänliga hälsningar")
                if lang == "sv" else
                "Hello,\n\nCould you provide aggregated statistics: number of patients per year 2019-2025 with type 2 "
                "diabetes (E11) in primary care, by age group? We need no individual-level data, only counts. A "
                "table shell is attached.\n\n" + signature_block(r, "en", "Kind regards,"))
    elif plan.shape == "follow_up":
        tag = f"HD-2026-{40 + plan.index:04d}"
        subject = f"{'SV' if lang == 'sv' and plan.client in ('outlook', 'legacy') else 'Re'}: [{tag}] " \
                  f"{'Ansökan om hälsodata' if lang == 'sv' else 'Application for health data'} – " \
                  f"{sc.short_sv if lang == 'sv' else sc.short_en}"
        text = (("Hej,\n\nHär kommer kompletteringen: beslutet från Etikprövningsmyndigheten har nu kommit.\n\n"
                 + signature_block(applicant, "sv", "Med vänliga hälsningar"))
                if lang == "sv" else
                ("Hello,\n\nPlease find the missing documents attached; the ethics decision has now arrived.\n\n"
                 + signature_block(applicant, "en", "Kind regards,")))
    else:
        subject = _subject(plan, rng)
        text = application_body(p, _attachments_for_body(items, names), lang=lang, note=_note(plan, items))
        if plan.client == "iphone":
            text = ("Hej! Här kommer vår ansökan med bilagor.\n\nSkickat från min iPhone" if lang == "sv"
                    else "Hi, here is our application with the attachments.\n\nSent from my iPhone")

    to = INTAKE
    msgid = client.message_id(applicant.domain)
    extra: list[tuple[str, str]] = []
    if plan.shape == "follow_up":
        ack = f"<{hashlib.sha1(name.encode()).hexdigest()[:20]}@halsodata.test>"
        extra = [("In-Reply-To", ack), ("References", ack)]
    parts: list[Node] = []
    wrapper = plan.wrapper
    container: dict[str, str] = {}

    if wrapper in ("attached", "attached-inline", "no-disposition", "octet"):
        parts = [client.attachment(f) for f in files]
    elif wrapper.startswith("zip"):
        style = {"zip-windows": "windows", "zip-macos": "macos", "zip-7zip": "7zip", "zip-partial": "7zip"}[wrapper]
        zipped = files if wrapper != "zip-partial" else [f for f in files if f.name.rpartition(".")[2] != "pdf"]
        direct = [f for f in files if f not in zipped]
        if not zipped:
            zipped, direct = files[-2:], files[:-2]
        folder = (f"Ansökan {sc.slug}" if lang == "sv" else f"Application {sc.slug}") if style != "7zip" else ""
        zname = _pick(rng, [f"Ansökan {sc.slug}.zip", "bilagor.zip", f"handlingar_{sc.slug}.zip"]) if lang == "sv" \
            else _pick(rng, [f"Application {sc.slug}.zip", "attachments.zip"])
        ztype = {"windows": "application/x-zip-compressed", "macos": "application/zip"}.get(style, "application/zip")
        data = make_zip(zipped, style, folder)
        parts = [client.attachment(f) for f in direct] + [client.attachment(FileOut(zname, data, ztype))]
        container.update({f.name: zname for f in zipped})
        if style == "macos":  # Finder's junk travels along; it is not a document and carries no label
            for f in zipped[:2]:
                items.append(Item(("other",), appledouble(f.name), "appledouble", "", "", "-"))
                names.append(f"._{f.name}")
                container[f"._{f.name}"] = zname
    elif wrapper == "tnef":
        data = winmail_dat(files, subject, sent, key=rng.randrange(1, 0xFFFF))
        parts = [Node([("Content-Type", 'application/ms-tnef; name="winmail.dat"'),
                       ("Content-Disposition", 'attachment; filename="winmail.dat"'),
                       ("Content-Transfer-Encoding", "base64")], _b64(data))]
        container.update({f.name: "winmail.dat" for f in files})
    elif wrapper in ("forward-rfc822", "forward-nested", "eml-attached", "forward-inline"):
        helper = HELPERS.get(applicant.domain) or HELPERS["ki.example"]
        inner_client = CLIENTS[_pick(rng, ["outlook", "thunderbird", "gmail", "apple_mail"])](rng, lang)
        inner_sent = sent - timedelta(days=1, hours=3)
        inner_subject = (f"Ansökan till Centrum för hälsodata – {sc.short_sv} – klar för inskick" if lang == "sv"
                         else f"Application for the Centre for Health Data – {sc.short_en} – ready to send")
        inner_text = application_body(p, _attachments_for_body(items, names), lang=lang,
                                      note=("Här är allt, kan du skicka in det?" if lang == "sv"
                                            else "Here is everything, could you send it in?"))
        inner_text = inner_text.rsplit("\n\n", 1)[0] + "\n\n" + signature_block(
            helper, lang, "Hälsningar" if lang == "sv" else "Best,")
        inner_top = inner_client.top((helper.name, helper.email), f"{applicant.name} <{applicant.email}>",
                                     inner_subject, inner_sent, inner_client.message_id(helper.domain), [])
        if wrapper == "forward-inline":
            subject = f"{_fwd_prefix(plan.client, lang)} {inner_subject}"
            text = (("Hej,\n\nVidarebefordrar ansökan som min doktorand har satt ihop. Allt är bifogat.\n\n"
                     if lang == "sv" else
                     "Hello,\n\nForwarding the application my PhD student put together. Everything is attached.\n\n")
                    + signature_block(applicant, lang, "Vänliga hälsningar" if lang == "sv" else "Kind regards,")
                    + "\n\n" + _forward_header(lang, plan.client, (helper.name, helper.email), applicant.email,
                                               inner_sent, inner_subject) + "\n" + inner_text)
            parts = [client.attachment(f) for f in files]
        else:
            inner = inner_client.compose(inner_top, inner_text, [inner_client.attachment(f) for f in files])
            label = f"{inner_subject}.eml"
            raw = inner.bytes()
            if wrapper == "forward-nested":  # the student had forwarded it to the supervisor first
                mid_client = CLIENTS["outlook"](rng, lang)
                mid_top = mid_client.top((helper.name, helper.email), f"{applicant.name} <{applicant.email}>",
                                         f"{_fwd_prefix('outlook', lang)} {inner_subject}", inner_sent + timedelta(
                                             hours=2), mid_client.message_id(helper.domain), [])
                mid = mid_client.compose(mid_top, "Se bifogat." if lang == "sv" else "See attached.",
                                         [mid_client.message_part(raw, label)])
                raw, label = mid.bytes(), f"{_fwd_prefix('outlook', lang)} {inner_subject}.eml"
            subject = f"{_fwd_prefix(plan.client, lang)} {inner_subject}"
            text = (("Hej,\n\nJag vidarebefordrar vår ansökan, se bifogat meddelande med alla handlingar.\n\n"
                     if lang == "sv" else
                     "Hello,\n\nI am forwarding our application; the attached message has all documents.\n\n")
                    + signature_block(applicant, lang, "Vänliga hälsningar" if lang == "sv" else "Kind regards,"))
            if wrapper == "eml-attached":
                parts = [client.attachment(FileOut(label, raw, "application/octet-stream"))]
            else:
                parts = [client.message_part(raw, label)]
            fwd_label = unicodedata.normalize("NFC", label)
            container.update({f.name: fwd_label for f in files})
    elif wrapper == "epm-forward":  # most files attached, the decision inside EPM's own mail
        decision_ix = [i for i, it in enumerate(items) if it.kinds[0] == "ethics_decision"]
        inner_files = [files[i] for i in decision_ix]
        direct = [f for i, f in enumerate(files) if i not in decision_ix]
        parts = [client.attachment(f) for f in direct]
        if inner_files:
            epm = CLIENTS["outlook"](rng, "sv")
            epm_subject = f"Beslut i ärende {p.dnr}"
            epm_top = epm.top(EPM_SENDER, f"{applicant.name} <{applicant.email}>", epm_subject,
                              datetime.combine(p.decided, datetime.min.time(), tzinfo=STOCKHOLM_WINTER)
                              + timedelta(hours=14), epm.message_id("etikprovning.example"), [])
            epm_text = (f"Hej,\n\nBifogat finns Etikprövningsmyndighetens beslut i ärende {p.dnr}.\n\n"
                        "Med vänlig hälsning\nRegistrator\nEtikprövningsmyndigheten")
            raw = epm.compose(epm_top, epm_text, [epm.attachment(f) for f in inner_files]).bytes()
            parts.append(client.message_part(raw, f"{epm_subject}.eml"))
            container.update({f.name: f"{epm_subject}.eml" for f in inner_files})
    else:
        raise ValueError(wrapper)

    if wrapper == "no-disposition" and plan.client != "legacy":
        for part in parts:
            part.headers = [(k, v) for k, v in part.headers if k != "Content-Disposition"]

    top = client.top(sender, to, subject, sent, msgid, extra)
    node = client.compose(top, text, parts)
    raw = node.bytes()

    labels, sha, formats, languages, decisions = {}, {}, {}, {}, {}
    for it, n in zip(items, names, strict=True):
        if it.fmt == "appledouble":
            continue  # Finder metadata: the product must drop it, so it has no label to find
        key = unicodedata.normalize("NFC", n)
        labels[key] = list(it.kinds)
        sha[key] = hashlib.sha256(it.data).hexdigest()
        formats[key] = it.fmt
        languages[key] = it.lang
        if it.decision != "-":
            decisions[key] = it.decision
    base = next((it.decision for it in items if it.kinds[0] == "ethics_decision"), None)
    expected = {"decision": base, "track": "aggregated" if plan.shape == "aggregated" else "personal_data",
                "containers": container}
    traits = {"client": plan.client, "wrapper": wrapper, "lang": lang, "shape": plan.shape,
              "charset": client.charset if plan.client not in ("thunderbird", "apple_mail", "iphone", "gmail")
              else "utf-8",
              "body_encoding": {"thunderbird": "8bit", "apple_mail": "quoted-printable", "iphone": "quoted-printable",
                                "gmail": "quoted-printable"}.get(plan.client, client.cte),
              "names": NAME_STYLE[plan.client] if wrapper != "tnef" else "TNEF (cp1252 title, Unicode MAPI name)",
              "project": p.key if plan.shape != "aggregated" else DIABETES_STATS.key,
              "outcome": str(sc.outcome) if plan.shape != "aggregated" else "-"}
    return LabelledMail(name, raw, lang, labels, expected, sha256=sha, formats=formats, languages=languages,
                        decisions=decisions, traits=traits)


# --- the set ----------------------------------------------------------------------------------------------------------

COMBOS = [
    ("outlook", "attached"), ("outlook", "tnef"), ("outlook", "zip-windows"), ("outlook", "forward-inline"),
    ("outlook", "forward-rfc822"), ("outlook", "epm-forward"), ("thunderbird", "attached"),
    ("thunderbird", "forward-rfc822"), ("thunderbird", "zip-7zip"), ("apple_mail", "attached-inline"),
    ("apple_mail", "zip-macos"), ("apple_mail", "forward-nested"), ("gmail", "attached"), ("gmail", "eml-attached"),
    ("gmail", "zip-partial"), ("iphone", "attached-inline"), ("legacy", "no-disposition"), ("outlook", "tnef"),
    ("thunderbird", "no-disposition"), ("gmail", "octet"),
]


def _cycle(items: list, n: int, rng: random.Random) -> list:
    """n picks that go through every item once per round, each round in its own order."""
    out: list = []
    while len(out) < n:
        round_ = list(items)
        rng.shuffle(round_)
        out += round_
    return out[:n]


def plans(seed: int = 1, n: int = 40) -> list[Plan]:
    """The choices for each mail; each dimension has its own random stream, so a smaller n is a prefix."""
    combos = _cycle(COMBOS, n, random.Random(f"variants/{seed}/combos"))
    scenarios = _cycle(list(SCENARIOS), n, random.Random(f"variants/{seed}/scenarios"))
    out = []
    for i in range(n):
        client, wrapper = combos[i]
        sc = scenarios[i]
        shape = "aggregated" if i % 20 == 7 else "follow_up" if i % 10 == 4 else "application"
        if shape == "follow_up" and sc.outcome is None:
            sc = SCENARIOS[0]
        switch = random.Random(f"variants/{seed}/{i}/lang").random() < 0.25  # e.g. an international postdoc
        lang = sc.project.lang if not switch else ("en" if sc.project.lang == "sv" else "sv")
        scan = ("form" if i % 40 == 5 else "decision" if i % 20 == 12 else "photo" if i % 40 == 33 else "")
        if shape != "application":
            scan = ""
        if scan == "decision" and sc.outcome is None:
            sc = SCENARIOS[7]  # a regional board's paper decision from 2015 is the typical scan
        if shape != "application" and wrapper.startswith(("forward", "eml")):
            wrapper = "epm-forward" if shape == "follow_up" else "attached"  # the decision arrives in EPM's mail
        if wrapper == "epm-forward" and (sc.outcome is None or shape == "aggregated"):
            wrapper = "attached"
        out.append(Plan(i, shape, sc, lang, client, wrapper, scan))
    return out


def labelled_set(seed: int = 1, n: int = 40) -> list[SampleMail]:
    """`n` labelled mails, the same bytes for the same seed; variety grows with n (every client/wrapper pair
    appears once in every 20 mails, every project once in every 9, OCR cases about once in every 10)."""
    return [_build(seed, plan) for plan in plans(seed, n)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="write the mails as .eml and labels.json into this directory")
    ap.add_argument("--write-sources", type=Path, metavar="DIR", help="write the DOCX sources of the fixtures")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n", type=int, default=40)
    args = ap.parse_args(argv)
    if args.write_sources:
        for path in write_fixture_sources(args.write_sources):
            print(path)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        index = {}
        for m in labelled_set(args.seed, args.n):
            (args.out / f"{m.name}.eml").write_bytes(m.raw)
            index[f"{m.name}.eml"] = {"labels": m.labels, "expected": m.expected, "sha256": m.sha256,
                                      "formats": m.formats, "languages": m.languages, "decisions": m.decisions,
                                      "traits": m.traits}
        (args.out / "labels.json").write_text(json.dumps(index, ensure_ascii=False, indent=2) + "\n", "utf-8")
        print(args.out / "labels.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
