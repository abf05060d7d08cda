"""Hostile tests of the way back out: what a researcher's subject can do to our acknowledgment and the outbox.

Each failing test is one bug; its docstring says what a user would experience.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time

from aiosmtpd.controller import Controller
from click.testing import CliRunner
from sqlmodel import select

from intake import daemon
from intake.cli import main
from store import db
from store.db import session_scope
from store.models import OutboxMail
from tests import factory
from tests.conftest import MAILBOX_USER
from tests.support.dovecot import free_port


def _raw(subject_header: str, *, sender: str = "Anna Lindqvist <anna.lindqvist@ki.example>",
         message_id: str = "<break-1@ki.example>",
         body: str = "Hej,\r\nhär kommer vår ansökan om hälsodata.\r\nMed vänliga hälsningar\r\nAnna\r\n") -> bytes:
    """A mail with the Subject header exactly as given (no re-encoding by the stdlib)."""
    return (f"From: {sender}\r\nTo: intake@halsodata.test\r\nSubject: {subject_header}\r\n"
            f"Date: Mon, 30 Nov 2026 09:15:00 +0000\r\nMessage-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body).encode()


def _b64_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


# A real spam subject from the corpus (mail-parser/mail_test_9.eml): a GB2312 encoded-word that does not
# decode cleanly, so parse keeps it as literal "=?gb2312?B?...?=" text in the case title.
UNDECODABLE_SUBJECT = "=?gb2312?B?ztKw0b61zbfArb380KmjrMTjw8e/tL+01eK49srHyrLDtIzCo6zV4g==?="


def test_encoded_word_in_subject_injects_headers_into_the_acknowledgment(mailbox, smtp_sink, make_config):
    """A sender can add arbitrary headers to the region's acknowledgment.

    The Subject is decoded once by parse (an encoded-word whose text is itself an encoded-word), the
    literal `=?utf-8?q?...=0D=0AReply-To:...?=` goes into the case title, and when the reply is built
    the stdlib decodes it a second time: the CR LF becomes a real line break. The acknowledgment then
    carries `Reply-To: attacker@evil.example`, so a researcher who follows "reply to this email" sends the
    supplement (health data documents) to the attacker; with a forged From the region's own server
    mails attacker-chosen headers (or a body) to any address. `compose.header_safe` checks only the
    single-decoded text.
    """
    config = make_config()
    payload = "KOL =?utf-8?q?studien=0D=0AReply-To:_attacker@evil.example?="
    mailbox.deliver(MAILBOX_USER, _raw(_b64_word(payload)))

    daemon.run_once(config)

    ack = smtp_sink.wait_for(1)[0]
    assert ack.message["Reply-To"] is None, ack.data.split(b"\r\n\r\n")[0].decode()
    assert b"\r\nReply-To:" not in ack.data.split(b"\r\n\r\n")[0]


def test_undecodable_encoded_word_in_subject_crashes_sending(mailbox, smtp_sink, make_config):
    """One spam mail makes `halsodata run --once` die with a traceback and holds back the other replies.

    The literal GB2312 encoded-word kept in the case title is decoded again by EmailMessage when the
    acknowledgment is serialised; folding then raises UnicodeEncodeError inside `send.send_due`, which
    only expects SMTP/OS errors around `send_message`. `run_once` raises it (the CLI shows a traceback
    instead of a reason and the fix), the acknowledgment queued after it for a normal application is not
    sent in that run, and the broken reply stays claimed (`sending`) to crash again each time its
    10-minute lease runs out. It is never marked failed. Fix: neutralise `=?` in text taken from mail
    before it goes into a header, and treat any exception while building/sending one reply as that
    reply's failure.
    """
    config = make_config()
    mailbox.deliver(MAILBOX_USER, _raw(UNDECODABLE_SUBJECT, sender="zyb@sgis.example",
                                       message_id="<spam-1@sgis.example>"))
    mailbox.deliver(MAILBOX_USER, factory.mail())

    try:
        daemon.run_once(config)
    except Exception as exc:  # noqa: BLE001 - the point is that nothing escapes
        raise AssertionError(f"run_once raised {type(exc).__name__}: {exc}") from None

    received_by = [m.rcpt_tos for m in smtp_sink.messages]
    assert ["anna.lindqvist@ki.example"] in received_by, received_by


def test_daemon_exits_on_an_unexpected_error_in_a_cycle(mailbox, smtp_sink, make_config):
    """The long-running daemon (`halsodata run`) exits for good because of one mail.

    `run_forever` catches only MailboxUnavailable, StoreUnavailable, SQLAlchemyError, IMAPClientError and
    OSError around a cycle; the UnicodeEncodeError from sending the reply to the spam subject above
    ends the process. Restarted by systemd it meets the same queued reply and exits again, so no
    researcher gets an acknowledgment any more (mail is still taken in at each start, then it dies).
    """
    config = make_config()
    mailbox.deliver(MAILBOX_USER, _raw(UNDECODABLE_SUBJECT, sender="zyb@sgis.example",
                                       message_id="<spam-2@sgis.example>"))
    mailbox.deliver(MAILBOX_USER, factory.mail())
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "intake.cli", "--config", str(config.source), "run"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline and proc.poll() is None and not smtp_sink.messages:
            time.sleep(0.2)
        time.sleep(1.0)
        alive = proc.poll() is None
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert alive, f"the daemon exited with {proc.returncode}:\n{out[-1500:]}"


def test_run_once_is_silent_when_every_acknowledgment_is_refused(mailbox, smtp_sink, make_config):
    """An operator running `halsodata run --once` is not told that every acknowledgment was refused.

    With the SMTP server answering 550 to each message (e.g. "5.7.1 sender not authorised" after a
    relay change), both replies become `failed` for good, yet the command exits 0 and prints
    "... 0 reply(ies) sent" with no word about refused replies: `CycleReport` has no field for them,
    `daemon.send_due` drops `report.failed`, and the "refused permanently ... flagged for coordinators"
    warning in `send.send_due` is dead code (the `except` branches `continue` past it). Nothing retries
    the replies once the relay is fixed, so the researchers never get their case numbers and nobody
    notices.
    """
    config = make_config()
    mailbox.deliver(MAILBOX_USER, factory.mail())
    mailbox.deliver(MAILBOX_USER, factory.mail("Second application", sender="b@uni.example"))
    smtp_sink.fail_with = (550, "5.7.1 Sender address rejected: not owned by user")

    result = CliRunner().invoke(main, ["--config", str(config.source), "run", "--once"])

    refused_mentioned = "refused" in result.output.lower() or "failed to send" in result.output.lower()
    assert result.exit_code != 0 or refused_mentioned, result.output


class _TryLater:
    """An SMTP server that greylists/rate-limits: 421 to MAIL FROM, which closes the session."""

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        return "421 4.7.0 Too many messages, try again later"


def test_421_on_mail_from_loses_the_retry_bookkeeping(mailbox, smtp_sink, make_config):
    """A rate-limiting SMTP server's 421 leaves no trace on the reply.

    aiosmtplib closes the connection on 421, so `send_due` raises SmtpUnavailable *inside* the
    `session_scope` that holds the `_defer` change: that transaction is rolled back. `cases show` then
    shows the reply as `sending` with 0 attempts and no last error (only the 10-minute claim lease
    brings it back), so a coordinator cannot see why the researcher got nothing. The same rollback
    undoes a `failed` status for a 5xx followed by a disconnect, so a permanently refused reply is
    retried every 10 minutes forever and never flagged. Fix: commit the defer/fail before raising.
    """
    config = make_config()
    mailbox.deliver(MAILBOX_USER, factory.mail())
    port = free_port()
    controller = Controller(_TryLater(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config.smtp.port = port
        try:
            daemon.run_once(config)
        except Exception:  # SmtpUnavailable is the right reaction for run --once; the record is the point
            pass
    finally:
        controller.stop()
    engine = db.make_engine(config.store.url)
    with session_scope(engine) as s:
        reply = s.exec(select(OutboxMail).order_by(OutboxMail.id)).first()  # the acknowledgment, tried first
        state = (reply.status, reply.attempts, reply.last_error)
    assert state[1] == 1 and "421" in state[2], state
