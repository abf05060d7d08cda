"""Fuzzing (Hypothesis), bounded in time: hostile mail through the whole intake of one message, and hostile
files through the readers. The properties are the promises: every message ends in a recorded outcome, nothing
raises out of intake, no file name can climb directories or carry control characters, and nothing a sender
wrote can add a header to a reply.

HALSODATA_FUZZ_EXAMPLES=2000 runs longer (the suite's default keeps it to seconds)."""

from __future__ import annotations

import email
import email.policy
import os
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from intake import daemon, pipeline
from intake.documents import FileItem
from intake.readers import read_isolated
from intake.readers.limits import ReadLimits
from intake.receive import record
from intake.unpack import unpack
from outbox.send import build_message
from store.db import session_scope
from store.models import Attachment, InboundMail, OutboxMail
from tests import factory
from tests.conftest import SHARED
from tests.samples import documents as docs
from tests.samples.projects import HEART_FAILURE

EXAMPLES = int(os.environ.get("HALSODATA_FUZZ_EXAMPLES", "0")) or None
OUTCOMES = {"processed", "failed", "ignored", "duplicate"}
REPLY_HEADERS = {"from", "to", "subject", "date", "message-id", "in-reply-to", "references", "auto-submitted",
                 "x-auto-response-suppress", "content-type", "content-transfer-encoding", "mime-version"}


def _seeds() -> list[bytes]:
    corpus = sorted((SHARED / "corpus" / "mime").rglob("*.eml"))
    small = [p.read_bytes() for p in corpus if p.stat().st_size < 60_000][:25]
    return small + [factory.mail(attachments=[("plan.pdf", "application/pdf", factory.PDF),
                                              ("lista.csv", "text/csv", "a;b\n1;2\n".encode())])]


SEEDS = _seeds()

hostile_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80) | st.sampled_from([
    "../../etc/passwd", "..\\..\\boot.ini", "a\r\nBcc: victim@example.org", "x\nSubject: injected",
    "=?utf-8?q?a=0D=0ABcc=3A_x=40example.org?=", "\x00\x07\x1b[31m", "CON", "  ", ".", "é" * 300,
    "=?utf-8?b?Li4vLi4vZXRjL3Bhc3N3ZA==?=", "19121212-1212", "Re: [HD-2026-0001] sv: Fwd:",
])


@st.composite
def mutated_mail(draw) -> bytes:
    """A real mail, cut, flipped and spliced: what broken clients, gateways and attackers send."""
    raw = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "dup", "header", "boundary"]))
        at = draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == "flip" and raw:
            raw[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del raw[at:]
        elif op == "insert":
            raw[at:at] = draw(st.binary(max_size=64))
        elif op == "dup" and raw:
            end = min(len(raw), at + draw(st.integers(1, 400)))
            raw[at:at] = raw[at:end] * draw(st.integers(1, 30))
        elif op == "header":
            name = draw(st.sampled_from(["Subject", "From", "Content-Type", "Content-Disposition", "Message-ID",
                                         "In-Reply-To", "References", "Content-Transfer-Encoding", "X-Junk"]))
            value = draw(hostile_text).encode("utf-8", "surrogateescape")
            raw[0:0] = name.encode() + b": " + value + b"\r\n"
        elif op == "boundary":
            raw[at:at] = b"\r\n--" + draw(st.binary(min_size=0, max_size=20)) + b"\r\n"
    return bytes(raw)


def _one(value: str) -> str:
    """A header value the sending side's library accepts (what arrives raw is mutated_mail's job)."""
    return " ".join(value.splitlines())


@st.composite
def built_mail(draw) -> bytes:
    """A well-formed mail whose every field is hostile: names, subject, file names, charsets, nesting."""
    msg = EmailMessage()
    msg["From"] = f'"{_one(draw(hostile_text))[:40]}" <r{draw(st.integers(0, 9))}@uni.example>'
    msg["To"] = "intake@halsodata.test"
    msg["Subject"] = _one(draw(hostile_text))
    msg["Message-ID"] = f"<fuzz{draw(st.integers(0, 10**9))}@uni.example>"
    msg.set_content(draw(hostile_text) or "hej")
    for _ in range(draw(st.integers(0, 3))):
        ctype = draw(st.sampled_from(["application/pdf", "application/zip", "application/octet-stream",
                                      "message/rfc822", "text/plain", "application/ms-tnef",
                                      "application/pkcs7-mime", "application/vnd.ms-outlook"]))
        data = draw(st.binary(max_size=2000)) if draw(st.booleans()) else draw(st.sampled_from(
            [factory.PDF, b"PK\x03\x04" + bytes(40), b"From: x\r\n\r\nbody", b"\x78\x9f\x3e\x22"]))
        main, sub = ctype.split("/")
        msg.add_attachment(data, maintype=main, subtype=sub,
                           filename=_one(draw(hostile_text)) or "f")
    if msg.is_multipart():
        msg.set_boundary("=_fuzz_boundary")  # else the stdlib draws one from `random`, which Hypothesis forbids
    try:
        return msg.as_bytes()
    except (ValueError, TypeError, UnicodeError):  # the stdlib refuses to write it: no client could send it either
        assume(False)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store for the whole module (Hypothesis examples share it; each mail is recorded under a new UID)."""
    from tests.conftest import write_config
    from intake import config as config_mod

    path = write_config(tmp_path_factory.mktemp("fuzz") / "halsodata.toml", imap_port=1, smtp_port=1,
                        store_url=f"sqlite:///{tmp_path_factory.mktemp('fuzzdb') / 'halsodata.db'}")
    ctx = daemon.open_context(config_mod.load(path, environ={}))
    ctx.uid = 0  # type: ignore[attr-defined]
    return ctx


def _take_in(ctx, raw: bytes) -> InboundMail:
    ctx.uid += 1
    row = record(ctx.engine, ctx.blobs, account="fuzz", folder="INBOX", uidvalidity=1, uid=ctx.uid, raw=raw,
                 max_bytes=ctx.config.limits.max_message_bytes)
    assert row is not None
    if row.status == "fetched":
        pipeline.process(ctx, row.id)
    with session_scope(ctx.engine) as s:
        return s.get(InboundMail, row.id)


def _check_outcome(ctx, mail: InboundMail) -> None:
    assert mail.status in OUTCOMES, f"mail #{mail.id} left as {mail.status!r}"
    with session_scope(ctx.engine) as s:
        for a in s.exec(select(Attachment).where(Attachment.mail_id == mail.id)).all():
            assert "/" not in a.filename and "\\" not in a.filename and a.filename not in ("", ".", "..")
            assert not any(ord(c) < 32 or ord(c) == 127 for c in a.filename), repr(a.filename)
        replies = s.exec(select(OutboxMail).where(OutboxMail.case_id == mail.case_id)).all() if mail.case_id else []
    for reply in replies:
        sent = email.message_from_bytes(build_message(reply, "halsodata@region.test", reply.queued_at).as_bytes(),
                                        policy=email.policy.default)
        assert {k.lower() for k in sent.keys()} <= REPLY_HEADERS, sent.keys()
        assert len(sent.get_all("To")) == 1 and sent.get_all("Bcc") is None and sent.get_all("Cc") is None
        assert sent["To"].addresses[0].addr_spec == reply.to


def _settings(default: int):
    return settings(max_examples=EXAMPLES or default, deadline=None, derandomize=EXAMPLES is None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])


@_settings(150)
@given(raw=mutated_mail())
def test_mutated_mail_always_ends_in_a_recorded_outcome(store, raw):
    _check_outcome(store, _take_in(store, raw))


@_settings(100)
@given(raw=built_mail())
def test_hostile_fields_never_reach_a_file_name_or_a_reply_header(store, raw):
    _check_outcome(store, _take_in(store, raw))
    for item in unpack(raw).files:
        assert not Path(item.filename).is_absolute() and ".." not in Path(item.filename).parts


@pytest.mark.parametrize("sender", ["bob \x00bob@example.com>", "Bob <bob bob@example.com>", "a\u202e@x.se",
                                    "\"x\"@a.se <>"])
def test_a_sender_address_that_is_not_one_gets_no_reply(store, sender):
    """Found by the fuzzer: a NUL inside From became a space, and the reply went to "bob bob"@example.com."""
    raw = f"From: {sender}\r\nTo: intake@halsodata.test\r\nSubject: Ansökan\r\n\r\nHej\r\n".encode()
    mail = _take_in(store, raw)
    assert mail.status == "failed" and "no sender address" in mail.outcome and mail.case_id is None


def _valid_files() -> list[tuple[str, bytes]]:
    p = HEART_FAILURE
    return [("ansokan.pdf", docs.application_form(p, signature="handwritten")),
            ("plan.docx", docs.research_plan(p)), ("variabler.xlsx", docs.variable_list(p))]


VALID = _valid_files()


@st.composite
def damaged_file(draw) -> tuple[str, bytes]:
    name, data = draw(st.sampled_from(VALID))
    data = bytearray(data)
    rng = draw(st.randoms(use_true_random=False))
    for _ in range(draw(st.integers(1, 12))):
        if not data:
            break
        if rng.random() < 0.2:
            del data[rng.randrange(len(data)):]
        elif data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    return name, bytes(data)


@_settings(80)
@given(file=damaged_file())
def test_damaged_documents_are_read_or_reported_never_raised(file):
    name, data = file
    limits = ReadLimits(timeout=20)
    result = read_isolated(FileItem(filename=name, content_type="application/octet-stream", data=data), limits)
    assert result.readable or result.reason, "an unreadable file must say why"



@settings(max_examples=EXAMPLES or 300, deadline=None)
@given(content=st.binary(max_size=300), width=st.integers(1, 120),
       noise=st.lists(st.tuples(st.integers(0, 10_000),
                                st.sampled_from(["=", "!", " ", "\r\n", "é", "\x00", "-", "A"])), max_size=4),
       cut=st.integers(0, 3))
def test_fast_base64_decoding_gives_what_the_email_package_gives(content, width, noise, cut):
    """intake.parse.decoded_payload decodes base64 itself (the stdlib's way holds four times the file); for any
    payload, well-formed or broken (bad padding, stray characters, 8-bit bytes), it must give the same bytes."""
    import base64

    from intake.parse import decoded_payload, message_from_bytes

    text = base64.b64encode(content).decode()
    text = "\r\n".join(text[i:i + width] for i in range(0, len(text), width))
    for at, extra in noise:
        at %= len(text) + 1
        text = text[:at] + extra + text[at:]
    text = text[:len(text) - cut] if cut < len(text) else text
    raw = ("Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + text).encode(
        "utf-8", "surrogateescape")
    expected = email.message_from_bytes(raw).get_payload(decode=True)
    assert decoded_payload(message_from_bytes(raw)) == expected
