"""Supporting documents: DPA, DTA, DPIA, DPO statement, linkage decision, cover letter, CV, table template."""

from __future__ import annotations

import io
from datetime import date

from openpyxl import Workbook
from openpyxl.styles import Font

from .projects import Project, Researcher
from .render import Pdf, docx_bytes, memo, normalize_ooxml, when


def _t(lang: str, sv: str, en: str) -> str:
    return en if lang == "en" else sv


@memo
def data_processing_agreement(project: Project, *, fmt: str = "pdf", day: date = date(2026, 1, 20)) -> bytes:
    """Personuppgiftsbiträdesavtal between the research principal and the named processor."""
    proc = project.processor or "Statistikkonsulten Norden AB"
    sections = [
        ("1. Parter", f"Personuppgiftsansvarig: {project.principal} (nedan ”den ansvarige”). "
                      f"Personuppgiftsbiträde: {proc} (nedan ”biträdet”)."),
        ("2. Bakgrund och syfte", f"Biträdet ska för den ansvariges räkning utföra statistiska analyser inom "
                                  f"forskningsprojektet ”{project.title}” (Dnr {project.dnr})."),
        ("3. Behandlingens art", "Biträdet behandlar endast pseudonymiserade uppgifter om hälsa och får inte "
                                 "försöka identifiera enskilda. Behandling sker endast enligt dokumenterade "
                                 "instruktioner från den ansvarige."),
        ("4. Säkerhet", "Biträdet vidtar tekniska och organisatoriska åtgärder enligt artikel 32 i "
                        "dataskyddsförordningen, bland annat kryptering och behörighetsstyrning."),
        ("5. Underbiträden och tredjeland", "Underbiträden får inte anlitas utan skriftligt godkännande. "
                                            "Uppgifterna behandlas endast inom EU/EES."),
        ("6. Giltighetstid", "Avtalet gäller så länge biträdet behandlar personuppgifter för den ansvariges "
                             "räkning. Därefter ska uppgifterna raderas."),
    ]
    title = "Personuppgiftsbiträdesavtal"
    if fmt == "docx":
        blocks: list[tuple[str, object]] = [("title", title)]
        for h, p in sections:
            blocks += [("h1", h), ("p", p)]
        blocks += [("p", f"Stockholm {day.isoformat()}"),
                   ("table", [["För den ansvarige", "För biträdet"], ["Maria Wallin", "Olof Ek"]])]
        return docx_bytes(blocks, created=day, title=title, author=project.applicant.name)
    pdf = Pdf(created=day, title=title, author=project.applicant.name, style="serif", footer="PUB-avtal")
    pdf.title(title, "enligt artikel 28 i dataskyddsförordningen (GDPR)")
    for h, p in sections:
        pdf.heading(h)
        pdf.para(p)
    pdf.signature(sign_label=f"För {project.principal}", name_label="Namnförtydligande",
                  date_label="Ort och datum", signed_name="Maria Wallin", clarification="Maria Wallin, prefekt",
                  place_date=f"Stockholm {day.isoformat()}")
    pdf.signature(sign_label=f"För {proc}", name_label="Namnförtydligande", date_label="Ort och datum",
                  signed_name="Olof Ek", clarification="Olof Ek, vd", place_date=f"Göteborg {day.isoformat()}")
    return pdf.bytes()


@memo
def data_transfer_agreement(project: Project, *, day: date = date(2024, 9, 2)) -> bytes:
    """Data Transfer Agreement (English) between the principal and the receiving organisation."""
    recv = project.transfer or "Nordic Institute for Ageing Research (NIAR), Oslo, Norway"
    pdf = Pdf(created=day, title="Data Transfer Agreement", author=project.applicant.name, style="serif",
              footer="Data Transfer Agreement")
    pdf.title("Data Transfer Agreement", f"Project: {project.title}")
    pdf.fields([("Provider", project.principal), ("Recipient", recv),
                ("Ethical approval", f"Swedish Ethical Review Authority, Dnr {project.dnr}")])
    for h, p in [
        ("1. Purpose", "The Provider shall transfer coded (pseudonymised) data to the Recipient solely for the "
                       "analyses described in the research plan."),
        ("2. Data", f"Variables as listed in the variable list, period {project.period_text()}. No direct "
                    "identifiers are transferred; the key remains with the Provider."),
        ("3. Safeguards", "The Recipient shall process the data in accordance with the GDPR, store them on "
                          "secure servers and not attempt re-identification or onward transfer."),
        ("4. Term", "The agreement ends when the project ends; the data shall then be deleted."),
    ]:
        pdf.heading(h)
        pdf.para(p)
    pdf.signature(sign_label=f"For {project.principal}", name_label="Name", date_label="Place and date",
                  signed_name="Maria Wallin", clarification="Maria Wallin, Head of Department",
                  place_date=f"Stockholm {day.isoformat()}")
    pdf.signature(sign_label="For the Recipient", name_label="Name", date_label="Place and date",
                  signed_name="Ingrid Halvorsen", clarification="Ingrid Halvorsen, Director",
                  place_date=f"Oslo {day.isoformat()}")
    return pdf.bytes()


@memo
def dpia(project: Project, *, day: date = date(2026, 1, 15)) -> bytes:
    """Konsekvensbedömning avseende dataskydd (DPIA)."""
    pdf = Pdf(created=day, title="Konsekvensbedömning avseende dataskydd", author=project.applicant.name,
              style="plain", footer="DPIA")
    pdf.letterhead([project.principal, project.applicant.department], ["DPIA", day.isoformat()])
    pdf.title("Konsekvensbedömning avseende dataskydd (DPIA)", f"Projekt: {project.title}")
    for h, p in [
        ("Beskrivning av behandlingen", f"Behandling av känsliga personuppgifter om {project.population_text} ur "
                                        f"{', '.join(project.sources)} under perioden {project.period_text()}."),
        ("Nödvändighet och proportionalitet", "Uppgifterna är nödvändiga för att besvara frågeställningen. "
                                              "Endast variabler i variabellistan begärs ut."),
        ("Risker för de registrerades rättigheter", "Risk för obehörig åtkomst och för bakvägsidentifiering vid "
                                                    "små grupper."),
        ("Åtgärder", "Pseudonymisering, behörighetsstyrning, loggning, redovisning endast på gruppnivå."),
        ("Slutsats", "Med planerade åtgärder bedöms kvarstående risk som låg. Dataskyddsombudet har hörts."),
    ]:
        pdf.heading(h)
        pdf.para(p)
    return pdf.bytes()


@memo
def dpo_statement(project: Project, *, lang: str = "sv", day: date = date(2026, 1, 22)) -> bytes:
    """Yttrande från dataskyddsombudet: why no (new) DPIA is needed."""
    title = _t(lang, "Yttrande från dataskyddsombudet", "Statement from the Data Protection Officer")
    pdf = Pdf(created=day, title=title, author="Dataskyddsombudet", style="plain")
    pdf.letterhead([project.principal, _t(lang, "Dataskyddsombudet", "Data Protection Officer")],
                   [_t(lang, "Yttrande", "Statement"), day.isoformat()])
    pdf.title(title)
    pdf.para(f"{_t(lang, 'Projekt', 'Project')}: {project.title} (Dnr {project.dnr})")
    pdf.para(_t(lang,
                "Dataskyddsombudet har tagit del av projektets forskningsplan och variabellista. Behandlingen "
                "omfattas av en tidigare genomförd konsekvensbedömning för forskningsinfrastrukturen, och "
                "uppgifterna lämnas ut pseudonymiserade. Dataskyddsombudet bedömer därför att en ny "
                "konsekvensbedömning inte behövs.",
                "The Data Protection Officer has reviewed the research plan and the variable list. The "
                "processing is covered by an earlier impact assessment for the cohort and the data are "
                "released pseudonymised. In my opinion a new Data Protection Impact Assessment is therefore "
                "not required."))
    pdf.signature(sign_label=_t(lang, "Dataskyddsombud", "Data Protection Officer"),
                  name_label=_t(lang, "Namnförtydligande", "Name"), date_label=_t(lang, "Datum", "Date"),
                  signed_name="Lena Ahlgren", clarification="Lena Ahlgren", place_date=day.isoformat())
    return pdf.bytes()


@memo
def linkage_decision(project: Project, *, day: date = date(2026, 1, 28)) -> bytes:
    """Socialstyrelsen's decision to release register data for linkage (samkörning)."""
    pdf = Pdf(created=day, title="Beslut om utlämnande av uppgifter", author="Socialstyrelsen", style="plain")
    pdf.letterhead(["Socialstyrelsen", "Registerservice", "106 30 Stockholm"],
                   ["BESLUT", day.isoformat(), "Dnr 4.1-12345/2025"])
    pdf.title("Beslut om utlämnande av uppgifter för forskning")
    pdf.fields([("Sökande", project.principal), ("Projekt", project.title),
                ("Etikprövning", f"Dnr {project.dnr}")])
    pdf.heading("Beslut")
    pdf.para(f"Socialstyrelsen beslutar att lämna ut uppgifter ur {project.linkage or 'dödsorsaksregistret'} "
             "för samkörning med uppgifter från Region Stockholm enligt ansökan. Uppgifterna lämnas ut "
             "pseudonymiserade med de förbehåll som framgår nedan.")
    pdf.heading("Förbehåll")
    pdf.bullets(["Uppgifterna får endast användas inom det angivna projektet.",
                 "Resultat får endast redovisas så att enskilda inte kan identifieras."])
    return pdf.bytes()


@memo
def cover_letter(project: Project, *, lang: str | None = None, day: date = date(2026, 3, 2)) -> bytes:
    """Följebrev / cover letter as DOCX."""
    lang = lang or project.lang
    a = project.applicant
    blocks: list[tuple[str, object]] = [
        ("p", f"Stockholm {day.isoformat()}"),
        ("p", _t(lang, "Till Centrum för hälsodata, Region Stockholm",
                 "To the Centre for Health Data, Region Stockholm")),
        ("title", _t(lang, "Följebrev", "Cover letter")),
        ("p", _t(lang, f"Härmed ansöker vi om uttag av hälsodata för projektet ”{project.title}”, som godkänts av "
                       f"Etikprövningsmyndigheten (Dnr {project.dnr}).",
                 f"We hereby apply for health data for the project “{project.title}”, approved by the "
                 f"Swedish Ethical Review Authority (Dnr {project.dnr}).")),
        ("p", _t(lang, "Vi önskar få data levererade i pseudonymiserad form. Kontakta mig gärna vid frågor.",
                 "We would like the data delivered in pseudonymised form. Please contact me with any questions.")),
        ("p", _t(lang, "Med vänliga hälsningar", "Kind regards")),
        ("p", f"{a.name}\n{a.title(lang)}\n{a.department}, {a.org}"),
    ]
    return docx_bytes(blocks, created=day, title=_t(lang, "Följebrev", "Cover letter"), author=a.name)


@memo
def curriculum_vitae(person: Researcher, *, lang: str = "sv", day: date = date(2026, 1, 10)) -> bytes:
    """A short CV (kind `other`)."""
    pdf = Pdf(created=day, title="Curriculum Vitae", author=person.name, style="serif")
    pdf.title("Curriculum Vitae", person.name)
    pdf.fields([(_t(lang, "Befattning", "Position"), person.title(lang)),
                (_t(lang, "Institution", "Department"), f"{person.department}, {person.org}"),
                (_t(lang, "E-post", "E-mail"), person.email)])
    pdf.heading(_t(lang, "Utbildning", "Education"))
    pdf.bullets([_t(lang, "2012 Med. dr, Karolinska Institutet", "2012 PhD, Karolinska Institutet"),
                 _t(lang, "2006 Läkarexamen, Uppsala universitet", "2006 MD, Uppsala University")])
    pdf.heading(_t(lang, "Urval av publikationer", "Selected publications"))
    pdf.bullets([f"{person.name.split()[-1]} A, et al. Exempelstudie om vårdkonsumtion. Exempeltidskrift 2021;3:12-19.",
                 f"{person.name.split()[-1]} A, et al. Registerdata i klinisk forskning. Exempeltidskrift 2023;5:1-9."])
    return pdf.bytes()


@memo
def aggregated_table_template(*, day: date = date(2026, 3, 4)) -> bytes:
    """A table shell for an aggregated-statistics request: counts per year and age group (kind `other`)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Tabellönskemål"
    ws["A1"] = "Önskad tabell: antal patienter med typ 2-diabetes (E11) per år, primärvård"
    ws["A1"].font = Font(bold=True)
    ws["A2"] = "Endast aggregerade antal; celler med färre än 5 patienter kan maskeras."
    ages = ["18–39", "40–59", "60–79", "80+", "Totalt"]
    ws.cell(row=4, column=1, value="År").font = Font(bold=True)
    for j, age in enumerate(ages, 2):
        ws.cell(row=4, column=j, value=age).font = Font(bold=True)
    for i, year in enumerate(range(2019, 2026), 5):
        ws.cell(row=i, column=1, value=year)
    stamp = when(day)
    wb.properties.created = stamp.replace(tzinfo=None)
    wb.properties.creator = "Lars Persson"
    buf = io.BytesIO()
    wb.save(buf)
    return normalize_ooxml(buf.getvalue(), stamp)
