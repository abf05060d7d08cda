"""What a researcher is asked to send for each rule that is not satisfied, in Swedish and English."""

from __future__ import annotations

# rule id -> (what to send, sv; what to send, en). The finding's own message says why.
ASK: dict[str, tuple[str, str]] = {
    "application_form.present": ("Ansökningsblanketten, ifylld och signerad",
                                 "The application form, filled in and signed"),
    "application_form.signed": ("En signerad ansökningsblankett (signaturen godkänner grundavgiften)",
                                "A signed application form (signing accepts the base fee)"),
    "ethics_application.present": ("Grundansökan till Etikprövningsmyndigheten, diarieförd eller signerad, med bilagor",
                                   "The base application to the Swedish Ethical Review Authority, registered or "
                                   "signed, with its appendices"),
    "ethics_decision.present": ("Etikprövningsmyndighetens beslut om grundansökan",
                                "The Swedish Ethical Review Authority's decision on the base application"),
    "ethics_decision.approved": ("Ett godkännande från Etikprövningsmyndigheten (till exempel efter ett "
                                 "överklagande), eller besked om att ni drar tillbaka ansökan hos oss",
                                 "An approval from the Swedish Ethical Review Authority (for example after an "
                                 "appeal), or word that you withdraw your application to us"),
    "ethics.references_consistent": ("Dokument där diarienumret stämmer överens, eller en förklaring till skillnaden",
                                     "Documents whose reference numbers agree, or an explanation of the difference"),
    "ethics_amendments.decided": ("Etikprövningsmyndighetens beslut om varje ändringsansökan",
                                  "The Swedish Ethical Review Authority's decision on each amendment"),
    "research_plan.present": ("Forskningsplanen, med en tydlig frågeställning",
                              "The research plan, with a clear research question"),
    "variable_list.present": ("Variabellistan (helst .xlsx enligt vår mall): variabler, källa och period",
                              "The variable list (preferably .xlsx following our template): variables, source "
                              "and period"),
    "variable_list.readable": ("En variabellista som går att läsa: en tabell med kolumner för variabel, källa och "
                               "period, som .xlsx eller .csv",
                               "A readable variable list: a table with columns for variable, source and period, "
                               "as .xlsx or .csv"),
    "consent.documented": ("Forskningspersonsinformation och samtyckesblankett i alla versioner, eller beslutet som "
                           "visar att samtycke inte inhämtas",
                           "Participant information and consent form in every version, or the decision showing "
                           "that consent is not collected"),
    "dpia.when_extensive": ("En konsekvensbedömning avseende dataskydd (DPIA) eller dataskyddsombudets yttrande om "
                            "varför en sådan inte behövs",
                            "A data protection impact assessment (DPIA), or the data protection officer's statement "
                            "on why one is not needed"),
    "linkage.decision_when_linked": ("Den andra myndighetens beslut om samkörning, när ni har fått det",
                                     "The other authority's decision on linkage, once you have it"),
    "dpa.when_processor": ("Personuppgiftsbiträdesavtalet", "The data processing agreement"),
    "dta.when_transfer": ("Avtalet om överföring av data (DTA)", "The data transfer agreement (DTA)"),
    "attachments.readable": ("Bilagorna som inte gick att öppna, utan lösenord och som PDF, DOCX eller XLSX",
                             "The attachments that could not be opened, without password, as PDF, DOCX or XLSX"),
    "sensitive_data.not_in_mail": ("Skicka inga personnummer eller patientlistor med e-post. Vi har tagit hand om "
                                   "det som kom in; kontakta oss om du har frågor",
                                   "Do not send identity numbers or patient lists by email. We have dealt with what "
                                   "came in; contact us if you have questions"),
}


def asks(findings, language: str) -> list[dict]:
    """One entry per finding that needs something from the researcher: what to send and why."""
    i = 0 if language == "sv" else 1
    out = []
    for f in findings:
        if f.rule in ASK:
            out.append({"rule": f.rule, "what": ASK[f.rule][i], "why": f.message_sv if i == 0 else f.message_en,
                        "status": f.status})
    return out
