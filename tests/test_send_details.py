"""Details of sending that a coordinator or an operator would notice."""

from __future__ import annotations

import asyncio
import email
import email.policy

import pytest

from intake.config import load
from intake.mailbox import Mailbox, MailboxUnavailable
from outbox import send
from store.models import OutboxMail, utcnow
from tests.conftest import write_config


def _mail(kind: str) -> OutboxMail:
    return OutboxMail(type=kind, message_id="<x@region.test>", to="r@uni.example", subject="s", language="sv",
                      body="b")


def test_summaries_and_digests_are_auto_generated_replies_are_auto_replied():
    """RFC 3834: a coordinators' summary answers no mail, so it must not say it does."""
    now = utcnow()
    assert send.build_message(_mail("acknowledgment"), "h@region.test", now)["Auto-Submitted"] == "auto-replied"
    for kind in ("triage_summary", "digest", "escalation"):
        assert send.build_message(_mail(kind), "h@region.test", now)["Auto-Submitted"] == "auto-generated"


def test_a_missing_password_file_is_not_called_an_oauth_problem(tmp_path, dovecot, smtp_sink):
    """Found in review: with password sign-in, an unreadable password_file was reported as an OAuth2 token error."""
    path = write_config(tmp_path / "halsodata.toml", imap_port=dovecot.imap_port, smtp_port=smtp_sink.port,
                        store_url="sqlite://")
    text = path.read_text().replace('from_address = "halsodata@region.test"',
                                    'from_address = "halsodata@region.test"\nusername = "u"\n'
                                    'password_file = "missing-smtp.pw"')
    text = text.replace('password = "intake-secret"', 'password_file = "missing-imap.pw"')
    path.write_text(text)
    config = load(path, environ={})
    with pytest.raises(send.SmtpUnavailable) as smtp:
        asyncio.run(send.check(config.smtp))
    assert "cannot sign in to the SMTP server" in str(smtp.value) and "OAuth2" not in str(smtp.value)
    assert "password_file" in str(smtp.value)
    with pytest.raises(MailboxUnavailable) as imap:
        with Mailbox(config.imap):
            pass
    assert "cannot sign in to the IMAP server" in str(imap.value) and "OAuth2" not in str(imap.value)
    assert "password_file" in str(imap.value)


OUTLOOK_ID = "<GV1P189MB2626DBB8ABD0D1C0619173FFF7C4@GV1P189MB2626.eurprd07.prod.outlook.com>"


def test_long_outlook_message_ids_are_not_encoded_so_the_reply_threads():
    # Regression: the email package RFC 2047-encoded an In-Reply-To longer than a line, as Outlook's ids are, and
    # the researcher's client could not thread the acknowledgment under the application.
    mail = _mail("acknowledgment")
    mail.in_reply_to = OUTLOOK_ID
    mail.references = f"<first@kth.example> {OUTLOOK_ID} <a@b.c> not-an-id"
    raw = send.build_message(mail, "halsodata@region.test", utcnow()).as_bytes()
    header_block = raw.split(b"\n\n", 1)[0].decode()
    assert "=?" not in header_block
    assert f"In-Reply-To: {OUTLOOK_ID}" in header_block
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["In-Reply-To"] == OUTLOOK_ID
    assert parsed["References"].split() == ["<first@kth.example>", OUTLOOK_ID, "<a@b.c>"]
    assert all(len(line) <= 998 for line in raw.split(b"\n"))


def test_an_id_a_client_wrote_in_8_bit_or_not_as_an_id_is_left_out_not_the_reply():
    # Regression: intake keeps any <...> as a Message-ID, 8-bit ones too; written into In-Reply-To it made SMTP
    # flattening fail, so the acknowledgment (and every later reply of the case) was never sent.
    mail = _mail("acknowledgment")
    mail.in_reply_to = "<ansökan.1@ki.example>"
    # ids the stdlib's parser chokes on in other ways (IndexError, AttributeError), found in review
    mail.references = "<ansökan.1@ki.example> <a@b@c> <@c.d> <[x]@c.d> <(x)@c.d> <a@[x> <ok@ki.example>"
    msg = send.build_message(mail, "halsodata@region.test", utcnow())
    raw = msg.as_bytes(policy=email.policy.SMTP)  # as aiosmtplib writes it to the server
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["In-Reply-To"] is None  # no empty header either
    assert parsed["References"] == "<ok@ki.example>"


@pytest.mark.parametrize("msg_id", ["<AM0PR07MB4435.eurprd07.prod.outlook.com@AM0PR07MB4435.eurprd07.prod.outlook.com>",
                                    "<CAF=+x_y-Z@mail.gmail.com>", "<1a2b.3c@[192.0.2.1]>", "<x!#$%&'*/=?^_`{|}~@y.z>"])
def test_every_well_formed_id_still_threads(msg_id):
    mail = _mail("acknowledgment")
    mail.in_reply_to = msg_id
    parsed = email.message_from_bytes(send.build_message(mail, "halsodata@region.test", utcnow()).as_bytes(
        policy=email.policy.SMTP), policy=email.policy.default)
    assert parsed["In-Reply-To"] == msg_id
