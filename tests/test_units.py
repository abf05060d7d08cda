"""Small pieces of intake without servers: identity numbers, language, automatic mail, tags, file names."""

from __future__ import annotations

import base64
import email
import io
import json
import logging

import pytest

from intake import automatic, language, logs, pnr
from intake.matching import tag_pattern
from intake.parse import ParseError, parse, safe_filename
from intake.unpack import unpack
from outbox import compose
from tests import factory

# Luhn-valid test numbers (Skatteverket's published test series style), never real people.
VALID = ["19121212-1212", "121212-1212", "191212121212", "121212+1212", "701063-2391"]


@pytest.mark.parametrize("number", VALID)
def test_valid_identity_numbers_are_found_and_masked(number):
    text = f"Patient {number} kom in igen."
    assert pnr.find(text) == [number]
    assert number not in pnr.redact(text) and "Patient" in pnr.redact(text)


@pytest.mark.parametrize("text", ["Dnr 2024-01234-01", "19121212-1213", "tel 070-123 45 67", "2019-01234",
                                  "order 121212-1213", "20240101-0001"])
def test_things_that_are_not_identity_numbers_stay(text):
    assert pnr.find(text) == [] and pnr.redact(text) == text


def test_log_lines_never_carry_identity_numbers():
    stream = io.StringIO()
    logs.setup("INFO", "json", stream=stream)
    logging.getLogger("halsodata.test").info("looked at %s", "19121212-1212")
    assert "19121212-1212" not in stream.getvalue() and "looked at" in stream.getvalue()


@pytest.mark.parametrize("text, expected", [
    ("Hej! Här kommer vår ansökan om hälsodata med bilagor. Vänliga hälsningar", "sv"),
    ("Dear colleagues, please find attached our application for the research. Kind regards", "en"),
    ("", "sv"),
])
def test_language(text, expected):
    assert language.detect(text) == expected


@pytest.mark.parametrize("headers, sender, expected", [
    ({"Auto-Submitted": "auto-replied"}, "a@x.example", "Auto-Submitted"),
    ({"Auto-Submitted": "no"}, "a@x.example", None),
    ({"Precedence": "bulk"}, "a@x.example", "Precedence"),
    ({"List-Id": "<researchers.list.example>"}, "a@x.example", "mailing list"),
    ({"Return-Path": "<>"}, "a@x.example", "bounce"),
    ({}, "no-reply@x.example", "no-reply"),
    ({}, "MAILER-DAEMON@x.example", "no-reply"),
    ({}, "halsodata@region.test", "sent by this mailbox"),
    ({"Subject": "Automatiskt svar: Ansökan"}, "a@x.example", "subject"),
    ({"Subject": "Out of Office: application"}, "a@x.example", "subject"),
])
def test_automatic_mail_is_recognised(headers, sender, expected):
    subject = headers.pop("Subject", "Ansökan")
    msg = email.message_from_bytes(factory.mail(subject, headers=headers))
    found = automatic.reasons(msg, sender.lower(), {"halsodata@region.test"})
    if expected is None:
        assert found == []
    else:
        assert any(expected in r for r in found), found


def test_tag_pattern_follows_the_number_format():
    assert tag_pattern("HD-{year}-{seq:04}").findall("Sv: [HD-2026-0042] ansökan") == ["HD-2026-0042"]
    assert tag_pattern("HD-{year}-{seq:04}").findall("[ hd-2026-0042 ]") == ["hd-2026-0042"]
    assert tag_pattern("CHD/{seq}/{year}").findall("Re: [CHD/7/2026]") == ["CHD/7/2026"]
    assert tag_pattern("HD-{year}-{seq:04}").findall("HD-2026-0042 without brackets") == []


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\anna\\ansökan.pdf", "ansökan.pdf"),
    ("beslut\r\n.pdf", "beslut.pdf"),
    ("", "attachment-1"),
    (".hidden", "hidden"),
    ("a" * 300 + ".pdf", "a" * 190 + ".pdf"),
])
def test_file_names_are_neutralised(name, expected):
    assert safe_filename(name, "attachment-1") == expected


def test_parse_decodes_headers_and_threading():
    raw = factory.mail("Sv: [HD-2026-0001] Ansökan", sender="Åsa Öberg <Asa.Oberg@KI.example>",
                       in_reply_to="<a@b>", references="<root@b> <a@b>",
                       attachments=[("Forskningsplan v3.docx", "application/octet-stream", b"x")])
    mail = parse(raw)
    assert mail.from_address == "asa.oberg@ki.example" and mail.from_name == "Åsa Öberg"
    assert mail.subject == "Sv: [HD-2026-0001] Ansökan"
    assert mail.thread_ids == ["<a@b>", "<root@b>"]
    assert [(f.filename, f.data) for f in unpack(raw).files] == [("Forskningsplan v3.docx", b"x")]


def test_parse_refuses_mail_without_sender():
    with pytest.raises(ParseError, match="no sender"):
        parse(b"Subject: hello\r\n\r\nbody\r\n")


def test_replies_refuse_line_breaks_in_headers_and_mask_identity_numbers():
    with pytest.raises(compose.HeaderInjection):
        compose.header_safe("x@y.example\r\nBcc: everyone@example.org")
    subject, body = compose.render("acknowledgment", "sv", tag="[HD-2026-0001]", number="HD-2026-0001",
                                   title="Patient 19121212-1212", name="Anna",
                                   files=["lista 19121212-1212.xlsx"], complete=False,
                                   request_follows=False)
    assert "19121212-1212" not in subject + body


@pytest.mark.parametrize("from_header, name, address", [
    ("=?utf-8?q?Str=C3=B6m=2C_Anna?= <anna@x.example>", "Ström, Anna", "anna@x.example"),
    ("=?utf-8?q?a_=3Cx=40evil.example=3E?= <real@x.example>", "a <x@evil.example>", "real@x.example"),
])
def test_encoded_display_names_never_change_the_address(from_header, name, address):
    """Outlook writes "Last, First"; an attacker may hide "<other@address>" in an encoded word."""
    mail = parse(f"From: {from_header}\r\nSubject: x\r\n\r\nbody\r\n".encode())
    assert (mail.from_name, mail.from_address) == (name, address)


def test_raw_8bit_headers_are_read_as_utf8():
    mail = parse("From: Åsa Öberg <asa@x.example>\r\nSubject: Ansökan\r\n\r\nbody\r\n".encode())
    assert (mail.from_name, mail.subject) == ("Åsa Öberg", "Ansökan")


def test_inspect_shows_no_identity_number_from_the_subject_or_a_file_name():
    from intake import pnr as pnr_mod
    from intake.inspect import inspect_bytes

    raw = factory.mail("Ansökan 19121212-1212", "Hej\n",
                       attachments=[("lista 19121212-1212.txt", "text/plain", b"Forskningsplan\n")])
    report = inspect_bytes(raw, "mail.eml")
    assert pnr_mod.find(json.dumps(report, ensure_ascii=False)) == []
    assert report["subject"] == "Ansökan ÅÅÅÅMMDD-XXXX"


def test_an_ethics_condition_wrapped_over_lines_is_kept_whole():
    """Found in a fresh-user trial: a condition wrapped by the PDF was cut at the end of its first line, losing its
    substance ("... att kodade data" without "överförs till samarbetspartnern i Norge.")."""
    from intake import facts

    text = ("Etikprövningsmyndigheten godkänner forskningen.\nVillkor: Forskningspersonsinformationen ska kompletteras "
            "med uppgift om att kodade data\növerförs till samarbetspartnern i Norge.\nBeslutet har fattats av\n")
    assert facts.decision(text)[1] == ["Forskningspersonsinformationen ska kompletteras med uppgift om att kodade "
                                       "data överförs till samarbetspartnern i Norge."]
    listed = "Forskningen godkänns.\nVillkor 1: Data förvaras krypterat.\nVillkor 2: Rapportera\nårligen.\n\nRubrik\n"
    assert facts.decision(listed)[1] == ["Data förvaras krypterat.", "Rapportera årligen."]


def test_masking_for_display_leaves_identifiers_alone():
    """Regression: masking every string of `inspect --json` changed a sha256 whose digits looked like an identity
    number, and the classification bench could no longer find that file."""
    from intake import pnr as pnr_mod

    digest = "ab" + "8112189876" + "c" * 52  # 811218-9876 is Luhn-valid
    assert pnr_mod.find(digest)
    shown = pnr_mod.redact_all({"sha256": digest, "message_id": f"<{digest}@x>", "subject": "Ansökan 811218-9876",
                                "attachments": [{"sha256": digest, "filename": "lista 811218-9876.txt"}]})
    assert shown["sha256"] == digest and shown["message_id"] == f"<{digest}@x>"
    assert shown["attachments"][0]["sha256"] == digest
    assert shown["subject"] == "Ansökan ÅÅÅÅMMDD-XXXX" and "811218" not in shown["attachments"][0]["filename"]


def test_a_cut_title_says_it_was_cut():
    from intake.cli import _cut

    assert _cut("Återinläggning vid hjärtsvikt", 60) == "Återinläggning vid hjärtsvikt"
    long = "Återinläggning vid hjärtsvikt hos patienter över 65 år i Region Stockholm 2015–2024"
    assert _cut(long, 60).endswith("…") and len(_cut(long, 60)) == 60


@pytest.mark.parametrize("cte", ["base64", "Base64", "base64 ", " BASE64\t"])
@pytest.mark.parametrize("padding", ["=", ""])  # some mailers leave the padding off
def test_base64_attachments_decode_whatever_the_spacing_and_padding(cte, padding):
    """A Content-Transfer-Encoding with a stray space still says base64: kept as base64 text, the PDF is lost."""
    from intake.parse import decoded_payload, message_from_bytes

    pdf = b"%PDF-1.7 etikbeslut"  # 19 bytes: the encoding ends in one '='
    encoded = base64.b64encode(pdf).decode().rstrip("=") + padding
    raw = f"Content-Type: application/pdf\r\nContent-Transfer-Encoding: {cte}\r\n\r\n{encoded}\r\n".encode()
    assert decoded_payload(message_from_bytes(raw)) == pdf
