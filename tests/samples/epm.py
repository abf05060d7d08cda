"""Ethics documents: EPM applications, decisions, amendments and the look-alike request for supplement."""

from __future__ import annotations

from datetime import date, timedelta

from .projects import Amendment, Project
from .render import Pdf, memo

OUTCOMES = ("approved", "approved_with_conditions", "rejected", "advisory_only")

EPM_HEAD = ["Etikprövningsmyndigheten", "The Swedish Ethical Review Authority", "Box 2110, 750 02 Uppsala",
            "registrator@etikprovning.example"]
BOARD_HEAD = ["Regionala etikprövningsnämnden i Stockholm", "Avdelning 2 – medicin",
              "Box 289, 171 77 Stockholm"]
DECIDERS = "ordförande Margareta Fors, vetenskaplig sekreterare Henrik Dahl"


def _t(lang: str, sv: str, en: str) -> str:
    return en if lang == "en" else sv


def consent_text(project: Project, lang: str = "sv") -> str:
    """The consent paragraph of an ethics application (DOMAIN.md 4)."""
    n = project.population_text
    if project.consent == "collected":
        return _t(lang,
                  "Samtycke kommer att inhämtas skriftligt från samtliga forskningspersoner efter muntlig och "
                  "skriftlig information. Forskningspersonsinformation och samtyckesblankett bifogas (bilaga 3).",
                  "Consent will be obtained in writing from all research participants after oral and written "
                  "information. Participant information and consent form are attached (appendix 3).")
    if project.consent == "opt_out":
        return _t(lang,
                  "Samtycke inhämtas inte. Information om studien lämnas genom annonsering i dagspress och på "
                  "vårdgivarens webbplats, och forskningspersonerna ges möjlighet att avböja deltagande "
                  "(opt-out) genom att kontakta forskningshuvudmannen.",
                  "Consent will not be obtained. The study is announced in the press and on the care "
                  "provider's website, and participants may opt out by contacting the research principal.")
    return _t(lang,
              f"Samtycke inhämtas inte. Studien omfattar journaluppgifter om {n}, varav många har avlidit, och "
              "det är inte praktiskt möjligt att inhämta samtycke. Vi begär därför undantag från kravet på "
              "samtycke. Uppgifterna pseudonymiseras innan de lämnas ut till forskargruppen.",
              f"Consent will not be obtained. The study covers health records of {n}, many of whom have "
              "died, and obtaining consent is not practicable. We therefore request an exemption from the "
              "consent requirement. The data are pseudonymised before release to the research group.")


def _head(project: Project) -> list[str]:
    return BOARD_HEAD if project.board == "regional" else EPM_HEAD


@memo
def ethics_application(project: Project, *, lang: str = "sv", registered: bool = True,
                       style: str = "plain") -> bytes:
    """Ansökan om etikprövning (grundansökan) with consent section and appendix list."""
    a = project.applicant
    pdf = Pdf(created=project.submitted, title=_t(lang, "Ansökan om etikprövning", "Application for ethical review"),
              author=a.name, style=style, footer=_t(lang, "Ansökan om etikprövning", "Application for ethical review"))
    pdf.letterhead(_head(project), [_t(lang, "Ansökan", "Application"), project.submitted.isoformat()])
    if registered:
        pdf.boxed_note([f"{_head(project)[0]} – Inkom {project.submitted.isoformat()}",
                        f"Diarienummer: {project.dnr}"], fill=(250, 244, 220))
    pdf.title(_t(lang, "Ansökan om etikprövning", "Application for ethical review"),
              _t(lang, "enligt lagen (2003:460) om etikprövning av forskning som avser människor",
                 "under the Act (2003:460) concerning the Ethical Review of Research Involving Humans"))
    pdf.fields([
        (_t(lang, "1. Forskningshuvudman", "1. Research principal"), project.principal),
        (_t(lang, "2. Forskare som genomför projektet", "2. Researcher responsible"),
         f"{a.name}, {a.title(lang)}, {a.department}, {a.org}"),
        (_t(lang, "3. Projekttitel", "3. Project title"), project.title),
        (_t(lang, "4. Tidsperiod för datainsamling", "4. Period of data"), project.period_text()),
    ])
    pdf.heading(_t(lang, "5. Sammanfattning", "5. Summary"))
    pdf.para(project.summary(lang))
    pdf.heading(_t(lang, "6. Frågeställning", "6. Research question"))
    pdf.para(project.question)
    pdf.heading(_t(lang, "7. Metod och forskningspersoner", "7. Method and research participants"))
    pdf.para(project.method + " " + _t(lang, f"Studien omfattar {project.population_text}.",
                                       f"The study covers {project.population_text}."))
    pdf.heading(_t(lang, "8. Information och samtycke", "8. Information and consent"))
    pdf.para(consent_text(project, lang))
    pdf.heading(_t(lang, "9. Personuppgifter och datakällor", "9. Personal data and sources"))
    sources = ", ".join(project.sources)
    extra = []
    if project.linkage:
        extra.append(_t(lang, f"Uppgifterna kommer att samköras med {project.linkage}.",
                        f"The data will be linked with {project.linkage}."))
    if project.transfer:
        extra.append(_t(lang, f"Kodade data överförs till {project.transfer}.",
                        f"Coded data will be transferred to {project.transfer}."))
    if project.processor:
        extra.append(_t(lang, f"{project.processor} anlitas som personuppgiftsbiträde för analysen.",
                        f"{project.processor} is engaged as data processor for the analysis."))
    pdf.para(_t(lang, f"Känsliga personuppgifter om hälsa hämtas ur {sources}. ", f"Health data from {sources}. ")
             + " ".join(extra))
    pdf.heading(_t(lang, "Bilagor", "Appendices"))
    appendices = [_t(lang, "Bilaga 1: Forskningsplan", "Appendix 1: Research plan"),
                  _t(lang, "Bilaga 2: Variabellista", "Appendix 2: Variable list")]
    if project.consent == "collected":
        appendices.append(_t(lang, "Bilaga 3: Forskningspersonsinformation och samtyckesblankett",
                             "Appendix 3: Participant information and consent form"))
    pdf.bullets(appendices)
    pdf.signature(sign_label=_t(lang, "Underskrift, behörig företrädare för forskningshuvudmannen",
                                "Signature, authorised representative of the research principal"),
                  name_label=_t(lang, "Namnförtydligande", "Name in print"),
                  date_label=_t(lang, "Ort och datum", "Place and date"),
                  signed_name="Maria Wallin", clarification="Maria Wallin, prefekt",
                  place_date=f"Stockholm {(project.submitted - timedelta(days=2)).isoformat()}")
    return pdf.bytes()


def _decision_sentence(outcome: str, lang: str, regional: bool) -> str:
    who = "Etikprövningsnämnden" if regional else "Etikprövningsmyndigheten"
    return {
        "approved": _t(lang, f"{who} godkänner forskningen.",
                       "The Swedish Ethical Review Authority approves the research."),
        "approved_with_conditions": _t(lang, f"{who} godkänner forskningen med nedanstående villkor.",
                                       "The Swedish Ethical Review Authority approves the research "
                                       "subject to the conditions below."),
        "rejected": _t(lang, f"{who} avslår ansökan.",
                       "The Swedish Ethical Review Authority rejects the application."),
        "advisory_only": _t(lang, f"{who} avvisar ansökan.",
                            "The Swedish Ethical Review Authority dismisses the application."),
    }[outcome]


@memo
def ethics_decision(project: Project, outcome: str = "approved", *, lang: str = "sv",
                    style: str = "plain", decided: date | None = None) -> bytes:
    """BESLUT from Etikprövningsmyndigheten (or a pre-2019 regional board) with one of OUTCOMES."""
    if outcome not in OUTCOMES:
        raise ValueError(outcome)
    regional = project.board == "regional"
    day = decided or project.decided
    a = project.applicant
    pdf = Pdf(created=day, title=_t(lang, "Beslut", "Decision"), author=_head(project)[0], style=style,
              producer="Etikprövningsmyndigheten ärendehantering")
    label = "Dnr" if style != "boxed" else "Diarienummer"
    pdf.letterhead(_head(project), [_t(lang, "BESLUT", "DECISION"), f"{_t(lang, 'Datum', 'Date')} {day.isoformat()}",
                                    f"{label} {project.dnr}"])
    pdf.fields([
        (_t(lang, "Sökande", "Applicant"), project.principal),
        (_t(lang, "Forskare som genomför projektet", "Researcher responsible"), f"{a.name}, {a.org}"),
        (_t(lang, "Projekttitel", "Project title"), project.title),
    ])
    pdf.heading(_t(lang, "Beslut", "Decision"))
    pdf.para(_decision_sentence(outcome, lang, regional), style="B")
    if outcome in ("approved", "approved_with_conditions"):
        if project.consent == "waiver":
            pdf.para(_t(lang, "Forskningen får utföras utan forskningspersonernas samtycke.",
                        "The research may be carried out without the consent of the research participants."))
        elif project.consent == "opt_out":
            pdf.para(_t(lang, "Samtycke inhämtas inte; forskningspersonerna ska informeras enligt ansökan och "
                              "ges möjlighet att avböja (opt-out).",
                        "Consent is not obtained; participants are informed as described and may opt out."))
    if outcome == "approved_with_conditions":
        pdf.heading(_t(lang, "Villkor", "Conditions"))
        conditions = project.conditions or ("Resultaten ska redovisas så att enskilda inte kan identifieras.",)
        pdf.bullets([f"{_t(lang, 'Villkor', 'Condition')} {i}: {c}" for i, c in enumerate(conditions, 1)], "")
    if outcome == "rejected":
        pdf.heading(_t(lang, "Skäl för beslutet", "Reasons"))
        pdf.para(project.rejection_reason or "Ansökan uppfyller inte kraven i 7–10 §§ etikprövningslagen.")
        pdf.heading(_t(lang, "Hur man överklagar", "How to appeal"))
        pdf.para(_t(lang, "Beslutet kan överklagas till Överklagandenämnden för etikprövning. Överklagandet ska "
                          "ha kommit in till Etikprövningsmyndigheten inom tre veckor från den dag då ni fick "
                          "del av beslutet.",
                    "The decision may be appealed to the Ethics Review Appeals Board within three weeks."))
    if outcome == "advisory_only":
        pdf.heading(_t(lang, "Skäl för beslutet", "Reasons"))
        pdf.para(_t(lang, "Projektet är en kvalitetsuppföljning och utgör inte forskning enligt definitionen i "
                          "2 § lagen (2003:460) om etikprövning av forskning som avser människor. Ansökan "
                          "kan därför inte prövas.",
                    "The project is quality follow-up and not research as defined in the Act; the "
                    "application therefore cannot be reviewed."))
        pdf.heading(_t(lang, "Rådgivande yttrande", "Advisory opinion"))
        pdf.para(_t(lang, "Etikprövningsmyndigheten har inga etiska invändningar mot projektet.",
                    "The Authority has no ethical objections to the project."))
    pdf.heading(_t(lang, "Beslutande", "Decision-makers"))
    pdf.para(_t(lang, f"Beslutet har fattats av avdelning medicin 2. I beslutet har deltagit {DECIDERS}. "
                      "Beslutet har fattats digitalt och saknar därför namnunderskrifter.",
                f"Decided by department medicine 2 ({DECIDERS}). Decided digitally, therefore unsigned."),
             size=9)
    return pdf.bytes()


@memo
def epm_supplement_request(project: Project, *, lang: str = "sv", style: str = "plain",
                           day: date | None = None) -> bytes:
    """EPM's begäran om komplettering: mentions beslut and avvisas but is not a decision (kind `other`)."""
    day = day or (project.submitted + timedelta(days=21))
    pdf = Pdf(created=day, title="Begäran om komplettering", author=EPM_HEAD[0], style=style,
              producer="Etikprövningsmyndigheten ärendehantering")
    pdf.letterhead(EPM_HEAD, ["BEGÄRAN OM KOMPLETTERING", f"Datum {day.isoformat()}", f"Dnr {project.dnr}"])
    pdf.fields([("Sökande", project.principal), ("Projekttitel", project.title)])
    pdf.heading("Begäran om komplettering")
    pdf.para("Etikprövningsmyndigheten har tagit emot er ansökan. Innan myndigheten kan pröva ansökan och "
             "fatta beslut behöver den kompletteras med följande:")
    pdf.bullets(["1. En beskrivning av hur forskningspersonerna informeras om möjligheten att avböja.",
                 "2. En reviderad variabellista där det framgår vilka uppgifter som hämtas ur respektive "
                 "källa.",
                 "3. Uppgift om var och hur kodnyckeln förvaras."], "")
    pdf.para(f"Kompletteringen ska ha kommit in senast {(day + timedelta(days=14)).isoformat()}. Om "
             "ansökan inte kompletteras kan den komma att avvisas eller prövas i befintligt skick. "
             "Beslut i ärendet fattas när kompletteringen har kommit in.")
    pdf.para("Med vänlig hälsning\nHenrik Dahl\nVetenskaplig sekreterare", size=10)
    return pdf.bytes()


@memo
def ethics_amendment(project: Project, amendment: Amendment, *, lang: str = "sv", style: str = "plain") -> bytes:
    """Ändringsansökan with its own Dnr, citing the base application's Dnr."""
    a = project.applicant
    pdf = Pdf(created=amendment.submitted, title="Ansökan om etikprövning av ändring", author=a.name, style=style)
    pdf.letterhead(EPM_HEAD, [_t(lang, "Ändringsansökan", "Amendment"), amendment.submitted.isoformat()])
    pdf.boxed_note([f"Etikprövningsmyndigheten – Inkom {amendment.submitted.isoformat()}",
                    f"Dnr: {amendment.dnr}"], fill=(250, 244, 220))
    pdf.title(_t(lang, "Ansökan om etikprövning av ändring", "Application for review of an amendment"),
              _t(lang, "Ändringsansökan", "Amendment application"))
    pdf.fields([
        (_t(lang, "Forskningshuvudman", "Research principal"), project.principal),
        (_t(lang, "Ansvarig forskare", "Researcher responsible"), f"{a.name}, {a.org}"),
        (_t(lang, "Projekttitel", "Project title"), project.title),
        (_t(lang, "Tidigare godkänd ansökan", "Previously approved application"),
         f"Dnr {project.dnr} ({_t(lang, 'beslut', 'decision')} {project.decided.isoformat()})"),
    ])
    pdf.heading(_t(lang, "Beskrivning av ändringen", "Description of the amendment"))
    pdf.para(amendment.change_en if lang == "en" else amendment.change_sv)
    pdf.heading(_t(lang, "Motivering", "Justification"))
    pdf.para(_t(lang, "Ändringen behövs för att kunna besvara den ursprungliga frågeställningen med tillräcklig "
                      "uppföljningstid. Den innebär inga nya risker för forskningspersonerna.",
                "The amendment is needed to answer the original research question with sufficient "
                "follow-up. It adds no new risks to the participants."))
    pdf.signature(sign_label=_t(lang, "Underskrift, behörig företrädare", "Signature, authorised representative"),
                  name_label=_t(lang, "Namnförtydligande", "Name in print"),
                  date_label=_t(lang, "Ort och datum", "Place and date"), signed_name="Maria Wallin",
                  clarification="Maria Wallin, prefekt",
                  place_date=f"Stockholm {amendment.submitted.isoformat()}")
    return pdf.bytes()


@memo
def ethics_amendment_decision(project: Project, amendment: Amendment, *, lang: str = "sv",
                              style: str = "plain", approved: bool = True) -> bytes:
    """Beslut om ändring: its own Dnr and the base Dnr it concerns."""
    day = amendment.decided or amendment.submitted + timedelta(days=30)
    pdf = Pdf(created=day, title="Beslut om ändring", author=EPM_HEAD[0], style=style,
              producer="Etikprövningsmyndigheten ärendehantering")
    pdf.letterhead(EPM_HEAD, [_t(lang, "BESLUT", "DECISION"), f"Datum {day.isoformat()}", f"Dnr {amendment.dnr}"])
    pdf.title(_t(lang, "Beslut om ändring", "Decision on amendment"))
    pdf.fields([
        (_t(lang, "Sökande", "Applicant"), project.principal),
        (_t(lang, "Ärendet avser", "Concerns"),
         _t(lang, f"Ändring av forskningsprojekt som godkänts med Dnr {project.dnr}",
            f"Amendment of the research project approved under Dnr {project.dnr}")),
        (_t(lang, "Projekttitel", "Project title"), project.title),
    ])
    pdf.heading(_t(lang, "Beslut", "Decision"))
    pdf.para(_t(lang, "Etikprövningsmyndigheten godkänner ändringen." if approved
                else "Etikprövningsmyndigheten avslår ändringsansökan.",
                "The Swedish Ethical Review Authority approves the amendment." if approved
                else "The Swedish Ethical Review Authority rejects the amendment."), style="B")
    pdf.para(_t(lang, f"Ändringen: {amendment.change_sv}", f"The amendment: {amendment.change_en}"))
    pdf.para(_t(lang, f"I beslutet har deltagit {DECIDERS}. Beslutet har fattats digitalt.",
                f"Decided by {DECIDERS}, digitally."), size=9)
    return pdf.bytes()
