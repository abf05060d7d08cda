"""Five demo application mails plus a follow-up; `python -m tests.samples.demo --out DIR` writes them as .eml."""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime
from pathlib import Path

from . import documents as d
from .expect import expected_aggregated, expected_for
from .mails import INTAKE, STOCKHOLM_WINTER, SampleMail, application_body, att, build_mail, follow_up
from .projects import DIABETES_STATS, HEART_FAILURE, LUNG_NODULES, SEPSIS, STATIN


def _at(day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=STOCKHOLM_WINTER)


def _kinds(attachments) -> list[str]:
    return [k for a in attachments for k in a.kinds]


def complete_swedish(to_addr: str = INTAKE) -> SampleMail:
    """Complete Swedish application: consent waiver, three sources over ten years, DPIA attached."""
    p = HEART_FAILURE
    files = [
        att("Ansökan_signerad.pdf", d.application_form(p, signature="handwritten"), "application_form"),
        att(f"Etikansökan {p.dnr} inkl bilagor.pdf", d.ethics_application(p, style="plain"), "ethics_application"),
        att(f"EPM beslut {p.dnr}.pdf", d.ethics_decision(p, "approved"), "ethics_decision"),
        att("Forskningsplan v3.docx", d.research_plan(p), "research_plan"),
        att("variabellista.xlsx", d.variable_list(p), "variable_list"),
        att("DPIA hjärtsvikt.pdf", d.dpia(p), "dpia"),
    ]
    return build_mail(name="01-komplett-svensk", sender=p.applicant, to_addr=to_addr, lang="sv", sent=_at(2, 9, 14),
                      subject=f"Ansökan om hälsodata – återinläggning vid hjärtsvikt (Dnr {p.dnr})",
                      body=application_body(p, files), attachments=files,
                      expected=expected_for(p, _kinds(files), decision="approved"))


def complete_english(to_addr: str = INTAKE) -> SampleMail:
    """Complete English application: approval with conditions, an amendment, two FPI versions, DTA, DPO."""
    p = STATIN
    am = p.amendments[0]
    files = [
        att("Application form - signed.pdf", d.application_form(p, signature="esign", signed_on=date(2026, 2, 26)),
            "application_form"),
        att(f"Etikansökan_{p.dnr}.pdf", d.ethics_application(p, style="boxed"), "ethics_application"),
        att(f"Decision EPM {p.dnr}.pdf", d.ethics_decision(p, "approved_with_conditions"), "ethics_decision"),
        att(f"Ändringsansökan {am.dnr}.pdf", d.ethics_amendment(p, am), "ethics_amendment"),
        att(f"Beslut ändring {am.dnr}.pdf", d.ethics_amendment_decision(p, am), "ethics_amendment_decision"),
        att("Research plan final.docx", d.research_plan(p, version="2.1"), "research_plan"),
        att("Variable list.xlsx", d.variable_list(p), "variable_list"),
        att("FPI och samtycke version 1.0.pdf", d.participant_information(p, "1.0"),
            "participant_information", "consent_form", said="participant information and consent form, version 1.0"),
        att("FPI och samtycke version 2.0.pdf", d.participant_information(p, "2.0"),
            "participant_information", "consent_form", said="participant information and consent form, version 2.0"),
        att("DTA SU-NIAR signed.pdf", d.data_transfer_agreement(p), "data_transfer_agreement"),
        att("DPO statement.pdf", d.dpo_statement(p, lang="en"), "dpo_statement"),
    ]
    note = ("Please note that the ethics decision came with a condition on the participant information. It was "
            "addressed in version 2.0, which was approved together with the amendment. Coded data will be "
            "analysed together with our partners at NIAR in Oslo under the attached DTA.")
    return build_mail(name="02-complete-english", sender=p.applicant, to_addr=to_addr, lang="en", sent=_at(2, 16, 47),
                      subject=f"Application for health data - statin cohort (EPM {p.dnr})",
                      body=application_body(p, files, note=note), attachments=files,
                      expected=expected_for(p, _kinds(files), decision="approved_with_conditions"))


def _lung_first_files() -> list:
    p = LUNG_NODULES
    return [
        att("Ansökningsblankett CfH ifylld.pdf", d.application_form(p, signature="handwritten", style="boxed"),
            "application_form"),
        att("Etikansökan lungnoduler.pdf", d.ethics_application(p, style="serif"), "ethics_application"),
        att("Projektplan lungnoduler.docx", d.research_plan(p, version="1.4"), "research_plan"),
        att("Yttrande DSO.pdf", d.dpo_statement(p), "dpo_statement"),
        att("CV Karin Nilsson.pdf", d.curriculum_vitae(p.applicant), "other", said="mitt CV"),
    ]


def incomplete_swedish(to_addr: str = INTAKE) -> SampleMail:
    """Swedish application without the ethics decision and the variable list (both still to come)."""
    p = LUNG_NODULES
    files = _lung_first_files()
    note = ("Beslutet från Etikprövningsmyndigheten har vi ännu inte fått, det skickar jag så snart det kommit. "
            "Variabellistan håller vi på att färdigställa tillsammans med radiologerna.")
    return build_mail(name="03-ofullstandig-svensk", sender=p.applicant, to_addr=to_addr, lang="sv", sent=_at(3, 8, 2),
                      subject="Ansökan om datauttag: uppföljning av lungnoduler",
                      body=application_body(p, files, note=note), attachments=files,
                      expected=expected_for(p, _kinds(files), decision=None))


def aggregated_request(to_addr: str = INTAKE) -> SampleMail:
    """A request for aggregated statistics (counts per year), with a table shell attached."""
    p = DIABETES_STATS
    r = p.applicant
    body = (
        "Hej!\n\nJag arbetar med en rapport om diabetesvården i länet och undrar om ni kan ta fram aggregerad "
        "statistik åt oss: antal patienter per år 2019–2025 med diagnosen typ 2-diabetes (E11) registrerad i "
        "primärvården, uppdelat på åldersgrupp.\n\nVi behöver inga uppgifter på individnivå och inga "
        "personuppgifter, bara antal. Celler med få patienter får gärna maskeras. Jag bifogar en tabellmall "
        "som visar hur vi har tänkt oss tabellen.\n\nVad kostar ett sådant uttag och hur lång tid brukar det "
        "ta?\n\nVänliga hälsningar\n"
        f"{r.name}\n{r.title_sv}, {r.department}\n{r.org}\nTel. {r.phone}")
    files = [att("Tabellönskemål diabetes.xlsx", d.aggregated_table_template(), "other")]
    return build_mail(name="04-aggregerad-statistik", sender=r, to_addr=to_addr, lang="sv", sent=_at(4, 13, 30),
                      subject="Förfrågan om aggregerad statistik – typ 2-diabetes i primärvården",
                      body=body, attachments=files, expected=expected_aggregated())


def rejected_swedish(to_addr: str = INTAKE) -> SampleMail:
    """A complete-looking application whose EPM decision is a rejection (avslår)."""
    p = SEPSIS
    files = [
        att("ansokan_halsodata_signerad.pdf", d.application_form(p, signature="handwritten", style="serif"),
            "application_form"),
        att("Etikprövningsansökan.pdf", d.ethics_application(p), "ethics_application"),
        att("Beslut från EPM.pdf", d.ethics_decision(p, "rejected"), "ethics_decision"),
        att("Forskningsplan_sepsis.docx", d.research_plan(p, version="2"), "research_plan"),
        att("Variabellista sepsis.xlsx", d.variable_list(p), "variable_list"),
        att("Forskningspersonsinformation och samtycke v1.0.pdf", d.participant_information(p, "1.0"),
            "participant_information", "consent_form"),
    ]
    note = ("Vi har överklagat Etikprövningsmyndighetens beslut men vill ändå skicka in ansökan nu så att "
            "handläggningen kan komma igång.")
    return build_mail(name="05-avslag", sender=p.applicant, to_addr=to_addr, lang="sv", sent=_at(5, 10, 41),
                      subject="Ansökan om datauttag – sepsisprediktion på akutmottagningen",
                      body=application_body(p, files, note=note), attachments=files,
                      expected=expected_for(p, _kinds(files), decision="rejected"))


def demo_set(to_addr: str = INTAKE) -> list[SampleMail]:
    """The five demo mails, in the order they arrive."""
    return [complete_swedish(to_addr), complete_english(to_addr), incomplete_swedish(to_addr),
            aggregated_request(to_addr), rejected_swedish(to_addr)]


def _references(original_id: str, in_reply_to: str | None) -> str | None:
    """The thread: the researcher's first mail, then the mail being answered (usually the acknowledgment)."""
    if not in_reply_to:
        return None
    return in_reply_to if in_reply_to == original_id else f"{original_id} {in_reply_to}"


def demo_follow_up(case_tag: str | None, in_reply_to: str | None, original: SampleMail | None = None,
                   to_addr: str = INTAKE) -> SampleMail:
    """Karin Nilsson's reply to the incomplete application, carrying the EPM decision and the variable list."""
    p = LUNG_NODULES
    original = original or incomplete_swedish(to_addr)
    files = [att(f"EPM beslut {p.dnr}.pdf", d.ethics_decision(p, "approved"), "ethics_decision"),
             att("Variabellista_lungnoduler.xlsx", d.variable_list(p), "variable_list")]
    all_kinds = _kinds(_lung_first_files()) + _kinds(files)
    return follow_up(original.subject, case_tag, in_reply_to, files, original.lang, sender=p.applicant,
                     name="06-komplettering", sent=_at(9, 10, 5), to_addr=to_addr,
                     references=_references(original.message_id, in_reply_to),
                     expected=expected_for(p, all_kinds, decision="approved", first_mail=False,
                                           previous=["ethics_decision", "variable_list"]))


def write(out: Path, mails: list[SampleMail]) -> Path:
    """Write NN-name.eml files and labels.json into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    index = {}
    for m in mails:
        fname = f"{m.name}.eml"
        (out / fname).write_bytes(m.raw)
        index[fname] = {"name": m.name, "lang": m.lang, "subject": m.subject, "message_id": m.message_id,
                        "from": m.sender, "labels": m.labels, "expected": m.expected}
    path = out / "labels.json"
    path.write_text(json.dumps(index, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True, type=Path, help="directory for the .eml files and labels.json")
    ap.add_argument("--to", default=INTAKE, help="intake address (To:)")
    ap.add_argument("--follow-up-tag", metavar="TAG",
                    help="also write 06-komplettering.eml replying to mail 03 with this case tag, e.g. HD-2026-0003")
    args = ap.parse_args(argv)
    mails = demo_set(args.to)
    if args.follow_up_tag:
        mails.append(demo_follow_up(args.follow_up_tag, mails[2].message_id, mails[2], args.to))
    path = write(args.out, mails)
    for m in mails:
        print(f"{m.name}.eml  {len(m.raw):>7} bytes  {m.subject}")
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
