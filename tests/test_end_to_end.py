"""The walking skeleton through real servers: Dovecot in, the daemon, aiosmtpd out."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner
from sqlmodel import select

from intake import daemon
from intake.cli import main
from store.db import session_scope
from store.models import Case, InboundMail, OutboxMail
from tests import factory
from tests.conftest import MAILBOX_PASSWORD, MAILBOX_USER, FROM_ADDRESS


def _deliver(server, raw: bytes) -> None:
    server.deliver(MAILBOX_USER, raw)


def _cases_json(config) -> list[dict]:
    result = CliRunner().invoke(main, ["--config", str(config.source), "cases", "list", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _show_json(config, number: str) -> dict:
    result = CliRunner().invoke(main, ["--config", str(config.source), "cases", "show", number, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_new_mail_gives_one_case_and_one_acknowledgment(mailbox, smtp_sink, make_config, store_url):
    config = make_config(store_url)
    original = factory.mail(attachments=[("Ansökan signerad.pdf", "application/pdf", factory.PDF),
                                         ("variabellista.xlsx", "application/vnd.openxmlformats-officedocument"
                                          ".spreadsheetml.sheet", b"PK\x03\x04 fake")])
    _deliver(mailbox, original)

    report = daemon.run_once(config)
    # incomplete (most documents missing): acknowledgment and supplement request, both for this mail
    assert (report.taken_in, report.processed, report.failed, report.sent) == (1, 1, 0, 2)

    ack, request = smtp_sink.wait_for(2)
    msg = ack.message
    cases = _cases_json(config)
    assert len(cases) == 1
    number = cases[0]["number"]
    assert number.startswith("HD-") and cases[0]["state"] == "incomplete" and cases[0]["track"] == "personal_data"
    assert cases[0]["researcher"] == "anna.lindqvist@ki.example"
    assert cases[0]["title"] == "Ansökan om hälsodata: KOL-studien"
    assert f"[{number}]" in msg["Subject"]
    assert msg["Auto-Submitted"] == "auto-replied"
    original_id = factory_message_id(original)
    assert msg["In-Reply-To"] == original_id
    assert original_id in msg["References"]
    assert ack.rcpt_tos == ["anna.lindqvist@ki.example"]
    assert ack.mail_from == FROM_ADDRESS
    body = msg.get_content()
    assert "Ansökan signerad.pdf" in body and "5 000 kronor" in body  # Swedish mail, Swedish reply

    detail = _show_json(config, number)
    [message] = detail["messages"]
    assert message["message_id"] == original_id
    assert [a["filename"] for a in message["attachments"]] == ["Ansökan signerad.pdf", "variabellista.xlsx"]
    assert message["attachments"][0]["size"] == len(factory.PDF)
    reply, supplement = detail["replies"]
    assert reply["type"] == "acknowledgment" and reply["status"] == "sent"
    assert reply["message_id"] == msg["Message-ID"] and reply["language"] == "sv"
    assert supplement["type"] == "supplement_request" and supplement["message_id"] == request.message["Message-ID"]
    assert request.message["In-Reply-To"] == original_id and f"[{number}]" in request.message["Subject"]
    assert {f["rule"] for f in detail["findings"]} >= {"application_form.present", "ethics_decision.present"}

    # filed away only after the commit
    assert mailbox.list_uids(MAILBOX_USER, MAILBOX_PASSWORD, "INBOX") == []
    assert len(mailbox.list_uids(MAILBOX_USER, MAILBOX_PASSWORD, "Processed")) == 1


def factory_message_id(raw: bytes) -> str:
    import email
    return email.message_from_bytes(raw)["Message-ID"]


def test_english_mail_gets_english_acknowledgment(mailbox, smtp_sink, make_config):
    config = make_config()
    _deliver(mailbox, factory.mail("Application for health data: HOME-PR",
                                   "Dear Centre for Health Data,\n\nPlease find attached our application for "
                                   "the research project. We would be grateful for a reply.\n\nKind regards\n"
                                   "Daniel Mwangi\n", sender="Daniel Mwangi <daniel@uni.example>"))
    daemon.run_once(config)
    ack = smtp_sink.wait_for(2)[0]
    assert "We have received your application" in ack.message["Subject"]
    assert "SEK 5,000" in ack.message.get_content()


def test_replies_by_tag_and_by_in_reply_to_join_the_case(mailbox, smtp_sink, make_config, store_url):
    config = make_config(store_url)
    _deliver(mailbox, factory.mail())
    daemon.run_once(config)
    ack = smtp_sink.wait_for(2)[0]
    [case] = _cases_json(config)
    number = case["number"]

    # a reply carrying the tag, from another client, with no threading headers
    _deliver(mailbox, factory.mail(f"Komplettering [{number}]", "Hej, här kommer beslutet.\n",
                                   attachments=[("beslut.pdf", "application/pdf", factory.PDF)]))
    # a reply carrying only In-Reply-To to our acknowledgment (subject without tag)
    _deliver(mailbox, factory.mail("Sv: vår ansökan", "Hej, här är forskningsplanen.\n",
                                   in_reply_to=ack.message["Message-ID"]))
    report = daemon.run_once(config)
    # no second acknowledgment; the unreadable "beslut.pdf" changes what is missing, so one new request
    assert report.taken_in == 2 and report.sent == 1
    assert "Komplettering behövs" in smtp_sink.wait_for(3)[2].message["Subject"]

    assert len(_cases_json(config)) == 1
    detail = _show_json(config, number)
    assert len(detail["messages"]) == 3
    assert "case tag" in detail["messages"][1]["outcome"]
    assert "reply to a mail of the case" in detail["messages"][2]["outcome"]


def test_running_once_twice_changes_nothing(mailbox, smtp_sink, make_config, store_url):
    config = make_config(store_url)
    _deliver(mailbox, factory.mail())
    _deliver(mailbox, factory.mail("Second application", "Dear colleagues, please find attached our "
                                   "application for the research.\n", sender="b@uni.example"))
    first = daemon.run_once(config)
    assert (first.taken_in, first.sent) == (2, 4)
    smtp_sink.wait_for(4)
    before = _cases_json(config)

    second = daemon.run_once(config)
    assert (second.taken_in, second.processed, second.sent, second.moved) == (0, 0, 0, 0)
    assert _cases_json(config) == before
    assert len(smtp_sink.messages) == 4


def test_uidvalidity_change_does_not_double_a_mail(mailbox, smtp_sink, make_config):
    """The server renumbers its mail (e.g. a restore): the same content is recognised, not taken in again."""
    config = make_config(extra="")
    config.imap.processed_folder = ""  # leave mail in the folder, as some sites configure it
    _deliver(mailbox, factory.mail())
    daemon.run_once(config)
    smtp_sink.wait_for(2)
    # Simulate a renumbering by rewriting the stored UIDVALIDITY, as the server would.
    from store import db
    engine = db.make_engine(config.store.url)
    with session_scope(engine) as s:
        for m in s.exec(select(InboundMail)).all():
            m.uidvalidity -= 1
            m.moved_at = None
    report = daemon.run_once(config)
    assert report.taken_in == 1 and report.sent == 0
    with session_scope(engine) as s:
        statuses = sorted(m.status for m in s.exec(select(InboundMail)).all())
        assert statuses == ["duplicate", "processed"]
        assert len(s.exec(select(Case)).all()) == 1
        assert len(s.exec(select(OutboxMail)).all()) == 2


def test_unparseable_mail_is_kept_recorded_and_the_next_goes_on(mailbox, smtp_sink, make_config):
    config = make_config()
    _deliver(mailbox, b"this is not a mail at all, no headers\r\n\r\n\x00\x01 binary junk\r\n")
    _deliver(mailbox, factory.mail())
    report = daemon.run_once(config)
    assert report.taken_in == 2 and report.failed == 1 and report.sent == 2
    result = CliRunner().invoke(main, ["--config", str(config.source), "mails", "list", "--status", "failed",
                                       "--json"])
    [failed] = json.loads(result.stdout)
    assert "cannot be parsed" in failed["outcome"] and failed["case"] is None
    # the raw message is kept, and readable with the key
    from intake.daemon import open_context
    ctx = open_context(config)
    assert b"not a mail at all" in ctx.blobs.get(failed["sha256"])


def test_bounce_gets_no_case_and_no_reply(mailbox, smtp_sink, make_config):
    config = make_config()
    _deliver(mailbox, factory.mail("Undelivered Mail Returned to Sender", "The mail could not be delivered.\n",
                                   sender="MAILER-DAEMON@mx.example", headers={"Auto-Submitted": "auto-replied"}))
    report = daemon.run_once(config)
    assert report.taken_in == 1 and report.sent == 0
    assert _cases_json(config) == []


def test_run_once_fails_clearly_when_servers_are_unreachable(mailbox, smtp_sink, make_config, tmp_path):
    config = make_config()
    path = config.source
    env = {"PATH": "/usr/bin:/bin", "HALSODATA_IMAP__PORT": "1"}
    cmd = [sys.executable, "-m", "intake.cli", "--config", str(path), "run", "--once"]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode != 0
    assert "IMAP server 127.0.0.1:1" in result.stderr and "Fix:" in result.stderr

    env = {"PATH": "/usr/bin:/bin", "HALSODATA_SMTP__PORT": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode != 0 and "SMTP server 127.0.0.1:1" in result.stderr

    env = {"PATH": "/usr/bin:/bin", "HALSODATA_STORE__URL": "postgresql://nobody@127.0.0.1:1/none"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode != 0 and "cannot use the database" in result.stderr
    assert "Traceback" not in result.stderr
