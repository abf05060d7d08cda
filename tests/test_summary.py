"""Triage summaries to the coordinators, through the real mailbox, daemon and SMTP server."""

from __future__ import annotations

import json
import logging

import openpyxl
import pytest
from click.testing import CliRunner
from sqlmodel import select

from intake import daemon, pnr
from intake.cli import main
from outbox import summary
from store.db import session_scope
from store.models import Case, OutboxMail
from tests import factory
from tests.conftest import MAILBOX_USER
from tests.samples import documents as d
from tests.samples.demo import demo_follow_up, demo_set, rejected_swedish
from tests.samples.mails import att, follow_up
from tests.samples.projects import LUNG_NODULES, Researcher

COORDINATORS = "handlaggare@region.test"
ON = f'[coordinators]\naddresses = ["{COORDINATORS}"]\ndigest = false\n'


@pytest.fixture(autouse=True)
def _quiet_smtp_sink():
    """The test SMTP server logs from its own thread; such a line must not land in a CLI's captured output."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    yield
    logging.getLogger("mail.log").setLevel(logging.NOTSET)


def _cli(config, *args) -> str:
    result = CliRunner().invoke(main, ["--config", str(config.source), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _to_coordinators(sink) -> list:
    return [m for m in sink.messages if m.rcpt_tos == [COORDINATORS]]


def _to_researchers(sink) -> list:
    return [m for m in sink.messages if m.rcpt_tos != [COORDINATORS]]


def test_one_summary_per_case_event_and_none_twice(mailbox, smtp_sink, make_config, store_url):
    config = make_config(store_url, extra=ON)
    incomplete = demo_set(MAILBOX_USER)[2]  # Karin Nilsson: no ethics decision, no variable list yet
    mailbox.deliver(MAILBOX_USER, incomplete.raw)
    daemon.run_once(config)

    smtp_sink.wait_for(3)
    [opened] = _to_coordinators(smtp_sink)
    number = json.loads(_cli(config, "cases", "list", "--json"))[0]["number"]
    msg = opened.message
    assert msg["Subject"].startswith(f"[{number}] Nytt ärende: Uppföljning av oklara lungnoduler")
    # never in the researcher's thread, and the researcher never sees it
    assert msg["In-Reply-To"] is None and msg["References"] is None
    assert all(COORDINATORS not in m.rcpt_tos for m in _to_researchers(smtp_sink))
    body = msg.get_content()
    assert "Karin Nilsson <karin.nilsson@sodersjukhuset.example>" in body
    assert "Organisation: Karolinska Institutet" in body and "Dnr 2025-01876" in body
    assert "Nästa steg: Invänta kompletteringen från forskaren: Etikprövningsmyndighetens beslut om " \
           "grundansökan; Variabellistan." in body
    assert "Projektplan lungnoduler.docx: research_plan" in body and "[saknas] variable_list.present" in body

    # a second run: nothing new, nothing doubled
    daemon.run_once(config)
    assert len(_to_coordinators(smtp_sink)) == 1

    # the researcher's supplement completes the case: one "changed" summary, and the complete notice to her
    ack = _to_researchers(smtp_sink)[0].message
    mailbox.deliver(MAILBOX_USER, demo_follow_up(number, ack["Message-ID"], incomplete).raw)
    daemon.run_once(config)
    smtp_sink.wait_for(5)
    opened_again, changed = _to_coordinators(smtp_sink)
    assert changed.message["Subject"].startswith(f"[{number}] Ärendet har ändrats:")
    body = changed.message.get_content()
    assert f"Ärende {number}: Komplett, spår Personuppgifter" in body and "beslut: godkänd" in body
    assert "Variabellista_lungnoduler.xlsx: variable_list" in body and "Kvalitetsgranska" in body
    # the next steps as coordinators call them, with the identifier `cases move` takes
    assert "Flytta sedan ärendet till förtydligande (clarification) eller sekretessprövning " \
           "(confidentiality_review)." in body
    daemon.run_once(config)
    assert len(_to_coordinators(smtp_sink)) == 2

    # a "thank you" that changes nothing required: no reply, and no summary either
    mailbox.deliver(MAILBOX_USER, factory.mail(f"Re: [{number}] Tack", "Tack för hjälpen!\n",
                                               sender="Karin Nilsson <karin.nilsson@sodersjukhuset.example>"))
    daemon.run_once(config)
    assert len(_to_coordinators(smtp_sink)) == 2

    # the summaries are listed apart from the replies to the researcher
    detail = json.loads(_cli(config, "cases", "show", number, "--json"))
    assert [r["type"] for r in detail["replies"]] == ["acknowledgment", "supplement_request", "complete_notice"]
    assert [r["status"] for r in detail["summaries"]] == ["sent", "sent"]
    assert detail["triage"]["state"] == "complete" and detail["triage"]["warnings"] == []
    assert detail["triage"]["ethics_reference"] == "2025-01876" and detail["triage"]["ethics_decision"] == "approved"
    text = _cli(config, "cases", "show", number)
    assert "nästa steg    Kvalitetsgranska" in text and "Summaries to the coordinators (2)" in text
    english = _cli(config, "cases", "show", number, "--summary", "--lang", "en")
    assert english.startswith(f"Case {number}: Complete, track Personal data")


def test_summaries_only_for_the_events_switched_on(mailbox, smtp_sink, make_config):
    config = make_config(extra=ON + 'summary_events = ["changed"]\n')
    incomplete = demo_set(MAILBOX_USER)[2]
    mailbox.deliver(MAILBOX_USER, incomplete.raw)
    daemon.run_once(config)
    smtp_sink.wait_for(2)
    assert _to_coordinators(smtp_sink) == []
    number = json.loads(_cli(config, "cases", "list", "--json"))[0]["number"]
    mailbox.deliver(MAILBOX_USER, demo_follow_up(number, None, incomplete).raw)
    daemon.run_once(config)
    smtp_sink.wait_for(4)
    [changed] = _to_coordinators(smtp_sink)
    assert "Ärendet har ändrats" in changed.message["Subject"]


def test_a_rejected_decision_the_researcher_and_the_coordinator_hear_the_same_way_on(mailbox, smtp_sink, make_config):
    """The summary tells the coordinator to ask whether the application is withdrawn or appealed; the supplement
    request must offer the researcher the same two ways, not only ask for an approval they cannot have."""
    config = make_config(extra=ON)
    mailbox.deliver(MAILBOX_USER, rejected_swedish(MAILBOX_USER).raw)
    daemon.run_once(config)
    request = next(m for m in smtp_sink.wait_for(3) if "Komplettering" in m.message["Subject"])
    body = request.message.get_content()
    assert "efter ett överklagande" in body and "drar tillbaka ansökan" in body
    [triage] = _to_coordinators(smtp_sink)
    assert "dras tillbaka eller vänta på ett överklagande" in " ".join(triage.message.get_content().split())


def test_a_follow_up_from_another_domain_is_a_warning_on_the_case(mailbox, smtp_sink, make_config):
    """Issue 7, sender trust: documents from a domain other than the case's never arrive without a warning."""
    config = make_config(extra=ON + 'language = "en"\n')
    incomplete = demo_set(MAILBOX_USER)[2]
    mailbox.deliver(MAILBOX_USER, incomplete.raw)
    daemon.run_once(config)
    smtp_sink.wait_for(3)
    number = json.loads(_cli(config, "cases", "list", "--json"))[0]["number"]
    assert "WARNINGS" not in _to_coordinators(smtp_sink)[0].message.get_content()

    p = LUNG_NODULES
    stranger = Researcher("Karin Nilsson", "karin.nilsson.privat@mejl.example", p.applicant.title_sv,
                          p.applicant.title_en, p.applicant.department, p.applicant.org, p.applicant.phone)
    files = [att(f"EPM beslut {p.dnr}.pdf", d.ethics_decision(p, "approved"), "ethics_decision")]
    mailbox.deliver(MAILBOX_USER, follow_up(incomplete.subject, number, None, files, "sv", sender=stranger,
                                            name="other-domain").raw)
    daemon.run_once(config)
    smtp_sink.wait_for(4)
    # nothing about the case goes back to the other domain on its own: a coordinator checks and approves
    assert not [m for m in smtp_sink.messages if "karin.nilsson.privat@mejl.example" in m.rcpt_tos]
    held = json.loads(_cli(config, "outbox", "list", "--status", "pending_approval", "--json"))
    assert held and all(r["to"] == "karin.nilsson.privat@mejl.example" for r in held)
    assert all("another domain than the case's (sodersjukhuset.example)" in r["note"] for r in held)
    changed = _to_coordinators(smtp_sink)[-1].message
    body = changed.get_content()
    assert "WARNINGS" in body
    assert (f"A mail from karin.nilsson.privat@mejl.example comes from another domain than the case's "
            f"(sodersjukhuset.example) and added 1 document: EPM beslut {p.dnr}.pdf") in body
    assert "Next step: Check the sender (see the warnings)." in body

    detail = json.loads(_cli(config, "cases", "show", number, "--json"))
    [warning] = detail["triage"]["warnings"]
    assert warning["code"] == "other_domain" and "annan domän än ärendets" in warning["message_sv"]
    assert "! Ett mejl från karin.nilsson.privat@mejl.example" in _cli(config, "cases", "show", number, "--lang",
                                                                         "sv")
    # the digest flags the case too, and the register
    digest = _cli(config, "digest", "--lang", "en")
    assert f"  {number}  Incomplete  karin.nilsson@sodersjukhuset.example  " in digest
    assert "  ! mail from another domain\n" in digest
    _cli(config, "export", str(config.source.parent / "cases.xlsx"))
    ws = openpyxl.load_workbook(config.source.parent / "cases.xlsx").active
    assert [c.value for c in ws[2]][12] == "mejl från annan domän"


def test_identity_numbers_and_a_failed_dmarc_are_warnings_and_never_shown(mailbox, smtp_sink, make_config):
    config = make_config(extra=ON + '[rules]\nauthserv_ids = ["mx.region.test"]\n')
    body = ("Hej,\n\nHär är patientlistan: 19121212-1212 och 121212-1212.\n\nMed vänliga hälsningar\n"
            "Anna Lindqvist\nKarolinska Institutet\n")
    mailbox.deliver(MAILBOX_USER, factory.mail(
        "Ansökan om hälsodata: KOL-studien 19121212-1212", body,
        attachments=[("patienter 121212-1212.csv", "text/csv", b"personnummer\n19121212-1212\n")],
        headers={"Authentication-Results": "mx.region.test; dkim=fail header.d=ki.example; dmarc=fail"}))
    daemon.run_once(config)
    smtp_sink.wait_for(3)
    [mail] = _to_coordinators(smtp_sink)
    text = mail.message["Subject"] + mail.message.get_content()
    assert pnr.find(text) == []
    assert "VARNINGAR" in text and "personnummer hittades i mejlens ämne eller text, patienter ÅÅÅÅMMDD-XXXX.csv" \
        in text
    assert "Avsändaren kunde inte autentiseras (DMARC/DKIM): Authentication-Results from mx.region.test" in text
    assert "Nästa steg: Hantera först personnumren som en säkerhetshändelse." in text
    number = json.loads(_cli(config, "cases", "list", "--json"))[0]["number"]
    shown = _cli(config, "cases", "show", number, "--json")
    codes = [w["code"] for w in json.loads(shown)["triage"]["warnings"]]
    assert codes == ["identity_numbers", "sender_unauthenticated"]
    assert pnr.find(json.dumps(json.loads(shown)["triage"], ensure_ascii=False)) == []
    assert pnr.find(_cli(config, "cases", "show", number, "--summary")) == []
    # Regression: the case title and the mail's subject came straight from the subject, number and all.
    for args in (("cases", "list"), ("cases", "list", "--json"), ("cases", "show", number),
                 ("cases", "show", number, "--json"), ("mails", "list"), ("mails", "list", "--json")):
        assert pnr.find(_cli(config, *args)) == [], args
    assert "KOL-studien ÅÅÅÅMMDD-XXXX" in _cli(config, "cases", "list")
    assert "patienter ÅÅÅÅMMDD-XXXX.csv" in _cli(config, "cases", "show", number)


def test_a_bounced_reply_and_an_unreadable_file_are_warnings(mailbox, smtp_sink, make_config):
    config = make_config()  # summaries off: the triage is still there for the CLI and the web view
    mailbox.deliver(MAILBOX_USER, factory.mail(attachments=[("beslut.pdf", "application/pdf", factory.PDF)]))
    daemon.run_once(config)
    smtp_sink.wait_for(2)
    ctx = daemon.open_context(config)
    with session_scope(ctx.engine) as s:
        case = s.exec(select(Case)).one()
        reply = s.exec(select(OutboxMail).where(OutboxMail.type == "acknowledgment")).one()
        reply.status = "bounced"
        s.flush()
        t = summary.triage(s, case, config)
    assert [w.code for w in t.warnings] == ["unreadable_files", "bounced_replies"]
    assert "beslut.pdf" in t.warnings[0].message_en
    assert "1 reply to the researcher bounced (anna.lindqvist@ki.example)" in t.warnings[1].message_en
    assert len(smtp_sink.messages) == 2  # nothing went to the coordinators


def test_same_organisation_accepts_subdomains_only():
    assert summary.same_organisation("ki.se", "stud.ki.se")
    assert summary.same_organisation("ki.se", "KI.se".lower())
    assert not summary.same_organisation("ki.se", "kki.se")
    assert not summary.same_organisation("ki.se", "")


def test_summaries_can_wait_for_a_coordinators_approval(mailbox, smtp_sink, make_config):
    config = make_config(extra=ON.replace("[coordinators]", '[outbox]\nrequire_approval = ["triage_summary"]\n'
                                                            "[coordinators]"))
    mailbox.deliver(MAILBOX_USER, demo_set(MAILBOX_USER)[2].raw)
    daemon.run_once(config)
    smtp_sink.wait_for(2)
    [waiting] = json.loads(_cli(config, "outbox", "list", "--status", "pending_approval", "--json"))
    assert waiting["type"] == "triage_summary" and waiting["to"] == COORDINATORS
    daemon.run_once(config)  # still waiting, and not queued a second time
    assert _to_coordinators(smtp_sink) == []
    assert len(json.loads(_cli(config, "outbox", "list", "--json"))) == 1
    _cli(config, "outbox", "approve", str(waiting["id"]))
    daemon.run_once(config)
    [sent] = _to_coordinators(smtp_sink)
    assert "Nytt ärende" in sent.message["Subject"]
