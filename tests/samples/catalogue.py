"""Further sample mails, one per rule edge (unsigned form, EPM look-alike, advisory, old Dnr, mismatches...)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime

from . import documents as d
from .expect import expected_for
from .mails import (
    INTAKE, STOCKHOLM_WINTER, Attachment, SampleMail, application_body, att, build_mail, follow_up,
)
from .projects import FALLS, HEART_FAILURE, LUNG_NODULES, SEPSIS, STATIN, STROKE, Project

NAMES = {
    "application_form": ["Ansökan_signerad.pdf", "Ansökningsblankett.pdf", "ansokan-halsodata.pdf",
                         "Blankett CfH signerad.pdf"],
    "ethics_application": ["Etikansökan.pdf", "Grundansökan {dnr}.pdf", "EPM ansökan med bilagor.pdf"],
    "ethics_decision": ["EPM beslut {dnr}.pdf", "Beslut EPM.pdf", "Beslut_{dnr}.pdf"],
    "research_plan": ["Forskningsplan.docx", "Projektplan v2.docx", "Studieprotokoll.docx"],
    "variable_list": ["Variabellista.xlsx", "variabelforteckning.xlsx", "Variabellista_mall_ifylld.xlsx"],
    "participant_information": ["FPI och samtycke.pdf", "Forskningspersonsinformation med samtycke.pdf"],
    "dpia": ["DPIA.pdf", "Konsekvensbedömning dataskydd.pdf"],
}


def _name(p: Project, kind: str, dnr: str = "") -> str:
    pattern = random.Random(f"{p.key}/{kind}/name").choice(NAMES[kind])
    return pattern.format(dnr=(dnr or p.dnr).replace("/", "_"))


def standard_files(p: Project, *, decision: str | None = "approved", signature: str | None = "handwritten",
                   form_dnr: str | None = None, omit: tuple[str, ...] = (), amendment_decisions: bool = True
                   ) -> list[Attachment]:
    """The usual attachments for a project; `omit` drops kinds, `decision=None` leaves the decision out."""
    files = [att(_name(p, "application_form"), d.application_form(p, signature=signature, dnr=form_dnr),
                 "application_form"),
             att(_name(p, "ethics_application"), d.ethics_application(p, style=d.pick_style(p, "etik")),
                 "ethics_application")]
    if decision:
        files.append(att(_name(p, "ethics_decision"), d.ethics_decision(p, decision), "ethics_decision"))
    for am in p.amendments:
        files.append(att(f"Ändringsansökan {am.dnr}.pdf", d.ethics_amendment(p, am), "ethics_amendment"))
        if amendment_decisions:
            files.append(att(f"Beslut om ändring {am.dnr}.pdf", d.ethics_amendment_decision(p, am),
                             "ethics_amendment_decision"))
    files.append(att(_name(p, "research_plan"), d.research_plan(p), "research_plan"))
    files.append(att(_name(p, "variable_list"), d.variable_list(p), "variable_list"))
    versions = [v for v, _ in p.fpi_versions] or (["1.0"] if p.consent == "collected" else [])
    for version in versions:
        name = _name(p, "participant_information").replace(".pdf", f" v{version}.pdf")
        said = (f"participant information and consent form, version {version}" if p.lang == "en"
                else f"forskningspersonsinformation och samtyckesblankett, version {version}")
        files.append(att(name, d.participant_information(p, version), "participant_information", "consent_form",
                         said=said))
    if p.extensive:
        files.append(att(_name(p, "dpia"), d.dpia(p), "dpia"))
    if p.transfer:
        files.append(att("Data Transfer Agreement.pdf", d.data_transfer_agreement(p), "data_transfer_agreement"))
    return [f for f in files if f.kinds[0] not in omit]


def _kinds(files: list[Attachment]) -> list[str]:
    return [k for f in files for k in f.kinds]


def _mail(name: str, p: Project, files: list[Attachment], day: int, subject: str, to_addr: str, *,
          note: str = "", **expect) -> SampleMail:
    return build_mail(name=name, sender=p.applicant, to_addr=to_addr, lang=p.lang,
                      sent=datetime(2026, 3, day, 9 + day % 7, 5 * day % 60, tzinfo=STOCKHOLM_WINTER),
                      subject=subject, body=application_body(p, files, note=note), attachments=files,
                      expected=expected_for(p, _kinds(files), **expect))


def catalogue(to_addr: str = INTAKE) -> list[SampleMail]:
    """Edge cases beyond the demo set; each mail's `expected` says which rule it exercises."""
    out = []
    hf = HEART_FAILURE
    files = standard_files(hf, signature=None)
    out.append(_mail("x01-osignerad-blankett", hf, files, 10, "Ansökan hälsodata hjärtsvikt", to_addr,
                     decision="approved", signed=False))

    lung = replace(LUNG_NODULES, key="lungnoduler-komplettering")
    files = standard_files(lung, decision=None, omit=("dpia",))
    files.insert(2, att("beslut.pdf", d.epm_supplement_request(lung), "other",
                        said="det senaste vi fått från Etikprövningsmyndigheten"))
    files.append(att("Yttrande DSO.pdf", d.dpo_statement(lung), "dpo_statement"))
    out.append(_mail("x02-komplettering-som-beslut", lung, files, 11, "Ansökan om datauttag – lungnoduler",
                     to_addr, decision=None))

    out.append(_mail("x03-radgivande-yttrande", FALLS, standard_files(FALLS, decision="advisory_only"), 12,
                     "Begäran om journaldata – fallprevention", to_addr, decision="advisory_only",
                     note="Etikprövningsmyndigheten bedömde att projektet är kvalitetsuppföljning, se bifogat "
                          "beslut med rådgivande yttrande."))

    out.append(_mail("x04-gammalt-dnr-samkorning", STROKE, standard_files(STROKE), 13,
                     f"Ansökan om hälsodata, stroke (Dnr {STROKE.dnr})", to_addr, decision="approved",
                     note="Beslutet från Socialstyrelsen om samkörning med dödsorsaksregistret har vi ansökt om "
                          "och skickar det när det kommit."))

    out.append(_mail("x05-dnr-stammer-inte", hf, standard_files(hf, form_dnr="2024-01243-01"), 16,
                     "Ansökan om data – hjärtsvikt", to_addr, decision="approved", refs_consistent=False))

    files = standard_files(STATIN, decision="approved_with_conditions", amendment_decisions=False)
    out.append(_mail("x06-andring-utan-beslut", STATIN, files, 17,
                     "Health data application, statin cohort", to_addr,
                     decision="approved_with_conditions", decided_amendments=0,
                     note="The decision on the amendment is expected shortly."))

    proc = replace(hf, key="hjartsvikt-pub", processor="Statistikkonsulten Norden AB")
    out.append(_mail("x07-pub-avtal-saknas", proc, standard_files(proc), 18, "Ansökan hälsodata", to_addr,
                     decision="approved"))

    full = replace(proc, key="hjartsvikt-alla", linkage="Socialstyrelsens dödsorsaksregister")
    files = standard_files(full) + [
        att("PUB-avtal Statistikkonsulten.docx", d.data_processing_agreement(full, fmt="docx"),
            "data_processing_agreement"),
        att("Beslut Socialstyrelsen samkörning.pdf", d.linkage_decision(full), "linkage_decision"),
        att("Följebrev.docx", d.cover_letter(full), "cover_letter")]
    out.append(_mail("x08-pub-samkorning-komplett", full, files, 19, "Ansökan om hälsodata med bilagor", to_addr,
                     decision="approved"))

    approved_sepsis = replace(SEPSIS, key="sepsis-godkand", rejection_reason="")
    out.append(_mail("x09-fpi-saknas", approved_sepsis,
                     standard_files(approved_sepsis, omit=("participant_information",)), 20,
                     "Ansökan datauttag sepsis", to_addr, decision="approved"))

    out.append(_mail("x10-dta-missing", STATIN, standard_files(STATIN, decision="approved_with_conditions",
                                                 omit=("data_transfer_agreement",)), 23,
                     "Application - health data for the statin cohort", to_addr,
                     decision="approved_with_conditions"))

    first = out[3]
    linkage = [att("Socialstyrelsen beslut samkörning.pdf", d.linkage_decision(STROKE), "linkage_decision")]
    out.append(follow_up(first.subject, None, first.message_id, linkage, "sv", sender=STROKE.applicant,
                         name="x11-uppfoljning-utan-arendenummer", to_addr=to_addr,
                         sent=datetime(2026, 3, 24, 15, 12, tzinfo=STOCKHOLM_WINTER),
                         expected=expected_for(STROKE, _kinds(standard_files(STROKE) + linkage), decision="approved",
                                               first_mail=False, previous=[])))
    return out
