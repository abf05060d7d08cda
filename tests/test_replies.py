"""Replies that arrive once, at the right time, to the right person: reminders, outages, loops, crashes."""

from __future__ import annotations

import asyncio
import email
import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlmodel import select

from intake import daemon
from intake.cli import main
from outbox import send
from outbox.send import SmtpUnavailable
from store import db
from store.db import session_scope
from store.models import OutboxMail, utcnow
from tests import factory
from tests.conftest import MAILBOX_USER, SHARED
from tests.samples.demo import demo_set

DAY = timedelta(days=1)


def _incomplete(mailbox, config):
    sample = demo_set(MAILBOX_USER)[2]
    mailbox.deliver(MAILBOX_USER, sample.raw)
    daemon.run_once(config)
    return sample


def _types(sink) -> list[str]:
    out = []
    for m in sink.messages:
        subject = m.message["Subject"]
        out.append("reminder" if "Påminnelse" in subject else "escalation" if "Obesvarad" in subject
                   else "request" if "Komplettering" in subject else "ack" if "tagit emot" in subject else subject)
    return out


def test_unanswered_request_is_reminded_twice_then_escalated_once(mailbox, smtp_sink, make_config, store_url):
    config = make_config(store_url)
    _incomplete(mailbox, config)
    smtp_sink.wait_for(2)
    start = utcnow()
    for days, expected in [(13, 2), (15, 3), (20, 3), (30, 4), (40, 4), (45, 5), (90, 5)]:
        daemon.run_once(config, now=start + days * DAY)
        assert len(smtp_sink.messages) == expected, (days, _types(smtp_sink))
    assert _types(smtp_sink) == ["ack", "request", "reminder", "reminder", "escalation"]
    reminder, escalation = smtp_sink.messages[2], smtp_sink.messages[4]
    assert reminder.rcpt_tos == ["karin.nilsson@sodersjukhuset.example"]
    assert "Variabellistan" in reminder.message.get_content()
    assert escalation.rcpt_tos == ["coordinators@region.test"]
    assert "karin.nilsson@sodersjukhuset.example" in escalation.message.get_content()


def test_an_answer_without_the_documents_restarts_the_reminder_clock(mailbox, smtp_sink, make_config):
    config = make_config()
    sample = _incomplete(mailbox, config)
    ack, request = smtp_sink.wait_for(2)
    answer = factory.mail(f"Re: {request.message['Subject']}", "Vi skickar beslutet nästa vecka.\n",
                          sender=sample.sender)
    answered = utcnow() + 10 * DAY
    mailbox.deliver(MAILBOX_USER, answer)
    daemon.run_once(config, now=answered)  # (the answer is taken in now; its clock is the real one)
    daemon.run_once(config, now=utcnow() + 13 * DAY)
    assert _types(smtp_sink) == ["ack", "request"]  # 13 days after the answer: not yet
    daemon.run_once(config, now=utcnow() + 15 * DAY)
    assert _types(smtp_sink) == ["ack", "request", "reminder"]  # still missing: remind after all


def test_a_rejected_reminder_is_not_queued_again_and_two_callers_queue_one(mailbox, smtp_sink, make_config):
    import threading

    from outbox import reminders
    config = make_config()
    _incomplete(mailbox, config)
    smtp_sink.wait_for(2)
    ctx = daemon.open_context(config)
    later = utcnow() + 15 * DAY
    threads = [threading.Thread(target=reminders.run, args=(db.make_engine(config.store.url), config, later))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with session_scope(ctx.engine) as s:
        [reminder] = s.exec(select(OutboxMail).where(OutboxMail.type == "reminder")).all()
        reminder.status = "rejected"  # a coordinator said no
    assert reminders.run(ctx.engine, config, later + timedelta(hours=1)) == []
    assert len(reminders.run(ctx.engine, config, later + 15 * DAY)) == 1  # the next one, in its time


def test_an_out_of_office_reply_from_the_null_sender_is_not_a_bounce(mailbox, smtp_sink, make_config):
    """Sieve vacation replies come from <> and cite our Message-ID: the request must stay 'sent'."""
    config = make_config()
    _incomplete(mailbox, config)
    ack, request = smtp_sink.wait_for(2)
    vacation = factory.mail(f"Autosvar: {request.message['Subject']}", "Jag är på semester till 1 augusti.\n",
                            sender="karin.nilsson@sodersjukhuset.example", in_reply_to=request.message["Message-ID"],
                            references=request.message["Message-ID"],
                            headers={"Auto-Submitted": "auto-replied", "Return-Path": "<>"})
    mailbox.deliver(MAILBOX_USER, vacation)
    daemon.run_once(config)
    with session_scope(db.make_engine(config.store.url)) as s:
        assert {r.status for r in s.exec(select(OutboxMail)).all()} == {"sent"}
    daemon.run_once(config, now=utcnow() + 15 * DAY)
    assert _types(smtp_sink)[-1] == "reminder"


def test_reminders_due_while_the_daemon_was_down_go_out_once(mailbox, smtp_sink, make_config):
    config = make_config()
    _incomplete(mailbox, config)
    smtp_sink.wait_for(2)
    later = utcnow() + 16 * DAY
    daemon.run_once(config, now=later)
    daemon.run_once(config, now=later + timedelta(minutes=5))  # restarted: nothing is sent twice
    assert _types(smtp_sink) == ["ack", "request", "reminder"]


AUTOMATIC_ELSEWHERE = ["flanker/disposition-notification.eml", "mail-parser/mail_malformed_2.eml"]


@pytest.mark.parametrize("folder", ["bounce", "complaints", "other automatic mail"])
def test_bounces_and_complaints_get_no_reply(mailbox, smtp_sink, make_config, folder):
    config = make_config()
    mime = SHARED / "corpus" / "mime"
    files = [mime / p for p in AUTOMATIC_ELSEWHERE] if folder == "other automatic mail" else \
        sorted((mime / "flanker" / folder).glob("*.eml"))
    for path in files:
        mailbox.deliver(MAILBOX_USER, path.read_bytes())
    report = daemon.run_once(config)
    assert report.taken_in == len(files)
    assert smtp_sink.messages == []


def test_a_bounce_of_our_reply_is_attached_to_its_case_and_flagged(mailbox, smtp_sink, make_config):
    config = make_config()
    mailbox.deliver(MAILBOX_USER, factory.mail())
    daemon.run_once(config)
    ack = smtp_sink.wait_for(2)[0]
    report = (b"--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n--b\r\n"
              b"Content-Type: message/delivery-status\r\n\r\nStatus: 5.1.1\r\n--b\r\n"
              b"Content-Type: text/rfc822-headers\r\n\r\nMessage-ID: " + ack.message["Message-ID"].encode() +
              b"\r\n--b--\r\n")
    bounce = (b"From: MAILER-DAEMON@mx.ki.example\r\nTo: halsodata@region.test\r\nSubject: Undeliverable\r\n"
              b"Return-Path: <>\r\nMessage-ID: <bounce1@mx.ki.example>\r\nMIME-Version: 1.0\r\n"
              b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" + report)
    mailbox.deliver(MAILBOX_USER, bounce)
    daemon.run_once(config)
    assert len(smtp_sink.messages) == 2  # never answered
    out = CliRunner().invoke(main, ["--config", str(config.source), "outbox", "list", "--status", "bounced",
                                    "--json"])
    [bounced] = json.loads(out.stdout)
    assert bounced["type"] == "acknowledgment" and bounced["message_id"] == ack.message["Message-ID"]


def test_ping_pong_with_an_auto_responder_stops_after_one_answer(mailbox, smtp_sink, make_config):
    config = make_config()
    mailbox.deliver(MAILBOX_USER, factory.mail())
    daemon.run_once(config)
    ack = smtp_sink.wait_for(2)[0]
    # a well-behaved auto-responder (RFC 3834) and one that sets no header at all
    for headers in ({"Auto-Submitted": "auto-replied"}, {}):
        for _ in range(3):
            mailbox.deliver(MAILBOX_USER, factory.mail(f"Re: {ack.message['Subject']}", "I am away until Monday.\n",
                                                       in_reply_to=ack.message["Message-ID"], headers=headers))
            daemon.run_once(config)
    assert len(smtp_sink.messages) == 2


def test_replies_wait_while_smtp_is_down_and_go_out_once_it_is_back(mailbox, smtp_sink, make_config):
    config = make_config()
    smtp_sink.stop()
    mailbox.deliver(MAILBOX_USER, factory.mail())
    with pytest.raises(SmtpUnavailable, match="cannot connect to the SMTP server"):
        daemon.run_once(config)
    engine = db.make_engine(config.store.url)
    with session_scope(engine) as s:
        assert {r.status for r in s.exec(select(OutboxMail)).all()} == {"queued"}  # taken in, waiting
    smtp_sink.start()
    daemon.run_once(config, now=utcnow() + timedelta(minutes=2))
    assert len(smtp_sink.wait_for(2)) == 2
    daemon.run_once(config, now=utcnow() + timedelta(hours=2))
    assert len(smtp_sink.messages) == 2


def test_a_crash_between_smtp_and_the_record_repeats_with_the_same_message_id(mailbox, smtp_sink, make_config,
                                                                              monkeypatch):
    config = make_config()
    config.outbox.require_approval = ["supplement_request"]  # one reply in flight keeps the test simple
    ctx = daemon.open_context(config)
    mailbox.deliver(MAILBOX_USER, factory.mail())
    accepted = []
    smtp_sink.on_message = lambda received: accepted.append(received)
    real_utcnow = send.utcnow

    def dies_once_the_server_has_the_mail():
        if accepted:
            raise RuntimeError("killed after SMTP accepted the mail, before the outbox recorded it")
        return real_utcnow()

    with pytest.raises(RuntimeError, match="killed after SMTP accepted"):
        with monkeypatch.context() as m:
            m.setattr(send, "utcnow", dies_once_the_server_has_the_mail)
            daemon.run_once(config)
    [first] = smtp_sink.wait_for(1)
    asyncio.run(send.send_due(ctx.engine, config.smtp, utcnow() + timedelta(minutes=5)))
    assert len(smtp_sink.messages) == 1  # still claimed: not resent while the claim lasts
    asyncio.run(send.send_due(ctx.engine, config.smtp, utcnow() + send.SENDING_LEASE + timedelta(minutes=1)))
    first, again = smtp_sink.wait_for(2)
    assert first.message["Message-ID"] == again.message["Message-ID"]
    with session_scope(ctx.engine) as s:
        ack = s.exec(select(OutboxMail).where(OutboxMail.type == "acknowledgment")).one()
        assert ack.status == "sent"


def test_coordinator_approves_edits_and_rejects(mailbox, smtp_sink, make_config):
    config = make_config(extra='[outbox]\nrequire_approval = ["supplement_request"]\n')
    mailbox.deliver(MAILBOX_USER, factory.mail())
    daemon.run_once(config)
    assert len(smtp_sink.wait_for(1)) == 1  # the acknowledgment only
    run = CliRunner().invoke
    listed = json.loads(run(main, ["--config", str(config.source), "outbox", "list", "--json"]).stdout)
    [waiting] = [r for r in listed if r["status"] == "pending_approval"]
    edited = run(main, ["--config", str(config.source), "outbox", "edit", str(waiting["id"]), "--body-file", "-"],
                 input="Hej Anna,\n\nVi behöver beslutet från Etikprövningsmyndigheten.\n")
    assert edited.exit_code == 0, edited.output
    refused = run(main, ["--config", str(config.source), "outbox", "edit", str(waiting["id"]), "--body-file", "-"],
                  input="Patient 19121212-1212\n")
    assert refused.exit_code != 0 and "identity number" in refused.output
    assert run(main, ["--config", str(config.source), "outbox", "approve", str(waiting["id"])]).exit_code == 0
    daemon.run_once(config)
    request = smtp_sink.wait_for(2)[1]
    text = request.message.get_content().replace("\r\n", "\n")
    assert text == "Hej Anna,\n\nVi behöver beslutet från Etikprövningsmyndigheten.\n"
    assert request.message["Auto-Submitted"] is None  # a person's text is not automatic mail
    rejected = run(main, ["--config", str(config.source), "outbox", "reject", str(waiting["id"])])
    assert rejected.exit_code != 0 and "already sent" in rejected.output


def test_coordinator_commands_refuse_what_would_hurt(mailbox, smtp_sink, make_config):
    config = make_config(extra='[outbox]\nrequire_approval = ["supplement_request"]\n')
    mailbox.deliver(MAILBOX_USER, factory.mail())
    daemon.run_once(config)
    run, cfg = CliRunner().invoke, ["--config", str(config.source)]
    [waiting] = json.loads(run(main, [*cfg, "outbox", "list", "--status", "pending_approval", "--json"]).stdout)
    untagged = run(main, [*cfg, "outbox", "edit", str(waiting["id"]), "--subject", "Komplettering"])
    assert untagged.exit_code != 0 and "keep the case tag" in untagged.output
    tagged = run(main, [*cfg, "outbox", "edit", str(waiting["id"]), "--subject",
                        f"[{waiting['case']}] Komplettering behövs"])  # no editor opens for a subject alone
    assert tagged.exit_code == 0, tagged.output
    assert run(main, [*cfg, "outbox", "reject", str(waiting["id"]), "--reason", "dubblett"]).exit_code == 0
    again = run(main, [*cfg, "outbox", "reject", str(waiting["id"])])
    assert again.exit_code != 0 and "already rejected (rejected: dubblett)" in again.output
    wrong_state = run(main, [*cfg, "cases", "list", "--state", "bogus"])
    assert wrong_state.exit_code != 0 and "incomplete" in wrong_state.output


def test_a_copy_of_each_reply_goes_to_the_sent_folder(mailbox, smtp_sink, make_config):
    config = make_config()
    config.imap.sent_folder = "Sent"
    mailbox.deliver(MAILBOX_USER, factory.mail())
    daemon.run_once(config)
    sent = smtp_sink.wait_for(2)
    with mailbox.imap() as client:
        client.select_folder("Sent", readonly=True)
        uids = client.search("ALL")
        ids = {client.fetch([u], ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])[u][b"BODY[HEADER.FIELDS (MESSAGE-ID)]"]
               .decode().split(":", 1)[1].strip() for u in uids}
    assert ids == {m.message["Message-ID"] for m in sent}


class _GoesAway:
    """An SMTP server that takes one message and then answers 421 (closing the session): it is going down."""

    def __init__(self):
        self.received: list[bytes] = []

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.received:
            return "421 4.3.2 Service shutting down"
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(envelope.original_content)
        return "250 OK"


def test_a_reply_sent_before_the_smtp_server_went_still_gets_its_sent_copy(mailbox, make_config):
    """The server takes the first reply and then goes away: that reply reached the researcher, so its copy
    belongs in the Sent folder, where the coordinators look for what was answered. (It was lost with the
    batch's report when the server went.)"""
    from aiosmtpd.controller import Controller

    from tests.support.dovecot import free_port

    config = make_config()
    config.imap.sent_folder = "Sent"
    mailbox.deliver(MAILBOX_USER, factory.mail())
    server = _GoesAway()
    controller = Controller(server, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        config.smtp.port = controller.port
        with pytest.raises(SmtpUnavailable):
            daemon.run_once(config)
    finally:
        controller.stop()
    [accepted] = server.received
    with mailbox.imap() as client:
        client.select_folder("Sent", readonly=True)
        copies = [client.fetch([u], ["BODY.PEEK[]"])[u][b"BODY[]"] for u in client.search("ALL")]
    assert [email.message_from_bytes(c)["Message-ID"] for c in copies] == [
        email.message_from_bytes(accepted)["Message-ID"]]
