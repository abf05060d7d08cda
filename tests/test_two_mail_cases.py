"""Two-mail cases through the real mailbox and SMTP server: incomplete, then completed by the researcher's reply."""

from __future__ import annotations

import json

from click.testing import CliRunner

from intake import daemon
from intake.cli import main
from tests.conftest import MAILBOX_USER
from tests.samples import documents as d
from tests.samples.catalogue import catalogue
from tests.samples.demo import demo_follow_up, demo_set
from tests.samples.mails import att, follow_up
from tests.samples.projects import STATIN


def _show(config, number: str) -> dict:
    result = CliRunner().invoke(main, ["--config", str(config.source), "cases", "show", number, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _only_case(config) -> dict:
    result = CliRunner().invoke(main, ["--config", str(config.source), "cases", "list", "--json"])
    [case] = json.loads(result.stdout)
    return case


def test_swedish_application_completed_by_a_reply_with_the_missing_documents(mailbox, smtp_sink, make_config,
                                                                              store_url):
    config = make_config(store_url)
    incomplete = demo_set(MAILBOX_USER)[2]  # no ethics decision, no variable list
    mailbox.deliver(MAILBOX_USER, incomplete.raw)
    daemon.run_once(config)

    ack, request = smtp_sink.wait_for(2)
    case = _only_case(config)
    assert case["state"] == "incomplete"
    body = request.message.get_content()
    assert request.message["Subject"].startswith(f"[{case['number']}] Komplettering behövs")
    # exactly the missing items, in Swedish, and nothing else asked for
    assert "Etikprövningsmyndighetens beslut om grundansökan" in body and "Variabellistan" in body
    assert body.count("   Varför: ") == 2
    assert "Ansökningsblanketten" not in body.split("Varför")[0]

    reply = demo_follow_up(case["number"], request.message["Message-ID"], incomplete, MAILBOX_USER)
    mailbox.deliver(MAILBOX_USER, reply.raw)
    daemon.run_once(config)

    [notice] = smtp_sink.wait_for(3)[2:]
    assert notice.message["Subject"].startswith(f"[{case['number']}] Ansökan är komplett")
    assert notice.message["In-Reply-To"] == reply.message_id
    detail = _show(config, case["number"])
    assert detail["state"] == "complete"
    assert {f["status"] for f in detail["findings"]} <= {"ok", "not_applicable"}, detail["findings"]
    assert [r["type"] for r in detail["replies"]] == ["acknowledgment", "supplement_request", "complete_notice"]
    kinds = [a["kind"] for m in detail["messages"] for a in m["attachments"]]
    assert "ethics_decision" in kinds and "variable_list" in kinds


def test_english_application_gets_its_requests_in_english(mailbox, smtp_sink, make_config):
    config = make_config()
    incomplete = next(s for s in catalogue(MAILBOX_USER) if s.name.startswith("x10"))  # DTA missing
    mailbox.deliver(MAILBOX_USER, incomplete.raw)
    daemon.run_once(config)
    ack, request = smtp_sink.wait_for(2)
    assert "We have received your application" in ack.message["Subject"]
    body = request.message.get_content()
    assert "Additional documents needed" in request.message["Subject"]
    assert body.count("   Why: ") == 1 and "The data transfer agreement (DTA)" in body

    case = _only_case(config)
    dta = [att("DTA signed.pdf", d.data_transfer_agreement(STATIN), "data_transfer_agreement")]
    reply = follow_up(incomplete.subject, None, request.message["Message-ID"], dta, "en",
                      sender=STATIN.applicant, to_addr=MAILBOX_USER)
    mailbox.deliver(MAILBOX_USER, reply.raw)
    daemon.run_once(config)
    [notice] = smtp_sink.wait_for(3)[2:]
    assert "Application complete" in notice.message["Subject"]
    assert _show(config, case["number"])["state"] == "complete"


def test_a_follow_up_that_changes_nothing_gets_no_reply(mailbox, smtp_sink, make_config):
    config = make_config()
    complete = demo_set(MAILBOX_USER)[0]
    mailbox.deliver(MAILBOX_USER, complete.raw)
    daemon.run_once(config)
    [ack] = smtp_sink.wait_for(1)
    assert "komplett" in ack.message.get_content()  # already complete: the acknowledgment says so
    thanks = follow_up(complete.subject, None, ack.message["Message-ID"], [], "sv", sender=complete_sender(complete),
                       to_addr=MAILBOX_USER, body="Tack för snabbt svar!\n")
    mailbox.deliver(MAILBOX_USER, thanks.raw)
    report = daemon.run_once(config)
    assert report.taken_in == 1 and report.sent == 0
    assert len(smtp_sink.messages) == 1


def complete_sender(sample):
    from tests.samples.projects import HEART_FAILURE
    return HEART_FAILURE.applicant
