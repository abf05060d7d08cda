"""Hostile tests of reading mail: headers and wrappers that real senders produce.

Each failing test is one bug; its docstring says what a user would experience.
"""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from intake import daemon, receive
from store.db import session_scope
from store.models import InboundMail
from tests import factory
from tests.conftest import MAILBOX_USER, SHARED

WRAPPED = SHARED / "corpus" / "wrapped"


def test_8bit_return_path_makes_a_researchers_mail_fail(make_config):
    """A researcher with an internationalised address (RFC 6531/6532, e.g. `åsa.öberg@exempel.se`) gets
    no case and no acknowledgment: the mail is recorded as `failed` ("processing failed (AttributeError)").

    The receiving MTA writes the envelope sender as a raw UTF-8 `Return-Path:`; under the compat32 policy
    `msg.get("Return-Path")` is then an `email.header.Header`, and `automatic.reasons` calls `.strip()`
    on it. The same happens for raw 8-bit `Auto-Submitted` or `Precedence` values. parse already copes
    with such headers (`_raw_header`); automatic.py reads them with bare `msg.get`.
    """
    config = make_config()
    ctx = daemon.open_context(config)
    raw = ("Return-Path: <åsa.öberg@exempel.se>\r\nFrom: Åsa Öberg <åsa.öberg@exempel.se>\r\n"
           "To: intake@halsodata.test\r\nSubject: Ansökan om hälsodata\r\nMessage-ID: <eai-1@exempel.se>\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           "Hej, här är vår ansökan om hälsodata.\r\n").encode()
    row = receive.record(ctx.engine, ctx.blobs, account="a", folder="INBOX", uidvalidity=1, uid=1, raw=raw)
    daemon._process(ctx, row.id, daemon.CycleReport())
    with session_scope(ctx.engine) as s:
        mail = s.exec(select(InboundMail)).one()
        assert mail.status == "processed", mail.outcome


def test_forwarded_mail_without_a_name_is_listed_under_a_random_file_name(mailbox, smtp_sink, make_config):
    """The acknowledgment tells the researcher they sent a file called e.g. `xkbnayfevy.txt`.

    A `message/rfc822` part without a file name (the usual "forward as attachment", as in
    corpus/wrapped/forwarded-two-levels.eml) gets a random 10-letter `.txt` name from mail-parser, and
    `parse` keeps it as an attachment; the name differs on every parse of the same stored bytes, so the
    stored attachment list is not reproducible, and the ack lists a file that never existed (the wrapper
    is not a document, per corpus/wrapped/README.md). Fix: name unnamed parts deterministically (or use
    `intake/unpack.py`, which labels forwards by subject) and do not list wrappers as files.
    """
    config = make_config()
    mailbox.deliver(MAILBOX_USER, (WRAPPED / "forwarded-two-levels.eml").read_bytes())
    daemon.run_once(config)
    ack = smtp_sink.wait_for(1)[0]
    listed = [line.strip() for line in ack.message.get_content().splitlines() if line.startswith("  - ")]
    random_names = [n for n in listed if re.fullmatch(r"- [a-z]{10}\.txt", n)]
    assert not random_names, listed


@pytest.mark.parametrize("name, expected", [
    ("tnef-winmail-dat.eml", "Beslut 2025-04618-01.pdf"),
    ("smime-opaque-signed.eml", "Beslut 2025-04618-01.pdf"),
    ("outlook-msg-attached.eml", "EPM decision 2026-01342-01.pdf"),
    ("uuencoded-in-body.eml", "epm_decision.pdf"),
])
def test_acknowledgment_lists_the_wrapper_instead_of_the_documents(mailbox, smtp_sink, make_config, name,
                                                                   expected):
    """A researcher whose client wraps the attachments gets an acknowledgment that lists `winmail.dat`,
    `smime.p7m` or an `.msg` as the only file, or, for uuencoded files, says "Vi hittade inga bilagor i
    ditt mejl" / "We found no attachments" although six documents were sent.

    `parse` takes mail-parser's attachment list as is; `intake/unpack.py` exists but the pipeline does
    not use it, so TNEF, S/MIME opaque-signed, attached Outlook items and uuencode are never opened.
    (One bug: wrappers are not unpacked; four wrappers from corpus/wrapped show it.)
    """
    config = make_config()
    mailbox.deliver(MAILBOX_USER, (WRAPPED / name).read_bytes())
    daemon.run_once(config)
    ack = smtp_sink.wait_for(1)[0]
    body = ack.message.get_content()
    assert expected in body, body[:1200]


def test_a_mail_nested_thousands_of_levels_deep_is_refused_in_a_moment_not_parsed_for_minutes():
    """The stdlib's parser checks every line against every open boundary: 8,000 levels in 540 kB held the preparer
    (and so all intake behind it) for 40 s, and 2 MB would have held it for the whole of [limits] mail_timeout."""
    import time

    from intake.parse import MAX_MULTIPARTS, ParseError, parse
    from intake.unpack import unpack
    from tests.test_read_ahead import _nested

    deep = _nested(5000)
    began = time.monotonic()
    with pytest.raises(ParseError, match=f"more than {MAX_MULTIPARTS} multipart parts"):
        parse(deep)
    assert time.monotonic() - began < 5  # the parse alone took about 15 s here
    forwarded = factory.mail("Fwd: ansökan", attachments=[("ansokan.eml", "message/rfc822", deep)])
    problems = [p.reason for p in unpack(forwarded).problems]
    assert any(f"more than {MAX_MULTIPARTS} multipart parts" in reason for reason in problems)
    parse(_nested(200))  # deep, but within what a mail may hold


def test_a_forwarded_mail_sent_base64_encoded_is_read_not_dropped():
    """message/rfc822 may not be base64-encoded (RFC 2046), but some clients send it so. The stdlib then takes the
    encoded text for the forwarded mail: the forward and every document in it were dropped without a word."""
    from intake.unpack import unpack
    from tests.test_read_ahead import _nested

    forwarded = factory.mail("Fwd: ansökan", attachments=[("ansokan.eml", "message/rfc822", _nested(3))])
    assert b"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64" in forwarded.replace(b"\r\n", b"\n")
    unpacked = unpack(forwarded)
    assert [f.filename for f in unpacked.files] == ["forskningsplan.txt"] and unpacked.problems == []


def test_a_forwarded_mail_sent_quoted_printable_is_read_and_bad_base64_padding_loses_nothing():
    import base64
    import quopri

    from intake.unpack import unpack
    from tests.test_read_ahead import _nested

    def forward(encoding: str, body: bytes) -> bytes:
        return (b"From: Forskare <forskare@uni.example>\nTo: intake@halsodata.test\nSubject: Fwd\n"
                b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"OUT\"\n\n--OUT\n"
                b"Content-Type: text/plain\n\nSe bifogat.\n--OUT\nContent-Type: message/rfc822\n"
                b"Content-Transfer-Encoding: " + encoding.encode() + b"\n\n" + body + b"\n--OUT--\n")

    inner = _nested(3)
    quoted = forward("quoted-printable", quopri.encodestring(inner.replace(b"\xc3\xa4", b"\xc3\xa4" * 30)))
    unpadded = forward("base64", base64.encodebytes(inner + b"x").rstrip(b"=\n"))
    for raw in (quoted, unpadded):
        unpacked = unpack(raw)
        assert [f.filename for f in unpacked.files] == ["forskningsplan.txt"] and unpacked.problems == []


def test_bare_carriage_returns_do_not_hide_thousands_of_nested_parts():
    """The stdlib's parser ends lines at a lone CR too; counting only after LF let such a mail through."""
    import time

    from intake.parse import ParseError, parse
    from tests.test_read_ahead import _nested

    began = time.monotonic()
    with pytest.raises(ParseError, match="multipart parts"):
        parse(_nested(5000).replace(b"\n", b"\r"))
    assert time.monotonic() - began < 5


def test_a_refused_mail_without_a_sender_is_judged_automatic_from_its_header_alone():
    """A mail with no usable From is checked for signs of automatic mail. That check parsed the whole mail again in
    the daemon's main thread, with the file store locked: a refused mail nested deep took minutes there."""
    import time

    from intake.automatic import reasons_without_sender
    from tests.test_read_ahead import _nested

    raw = b"Auto-Submitted: auto-replied\n" + _nested(5000).split(b"\n", 1)[1]  # no From line
    began = time.monotonic()
    assert "Auto-Submitted: auto-replied" in reasons_without_sender(raw)
    assert time.monotonic() - began < 5
