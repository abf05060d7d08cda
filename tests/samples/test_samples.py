"""Checks that the generated sample mails parse and their documents read back with pypdf, openpyxl, python-docx."""

from __future__ import annotations

import email
import functools
import io
import json
import re
from email.policy import default

import docx
import openpyxl
import pypdf
import pytest

from tests.samples import documents as d
from tests.samples.catalogue import catalogue
from tests.samples.demo import demo_follow_up, demo_set, main
from tests.samples.mails import SampleMail, reply_subject
from tests.samples.projects import HEART_FAILURE, LUNG_NODULES, STATIN, STROKE

KINDS = {"application_form", "ethics_application", "ethics_decision", "ethics_amendment",
         "ethics_amendment_decision", "research_plan", "variable_list", "participant_information", "consent_form",
         "data_processing_agreement", "data_transfer_agreement", "linkage_decision", "dpia", "dpo_statement",
         "cover_letter", "other"}
DECISION_PHRASE = {"approved": "godkänner forskningen", "approved_with_conditions": "Villkor",
                   "rejected": "avslår ansökan", "advisory_only": "avvisar ansökan"}


@pytest.fixture(scope="module")
def demo() -> list[SampleMail]:
    return demo_set()


@pytest.fixture(scope="module")
def every(demo) -> list[SampleMail]:
    return demo + [demo_follow_up("HD-2026-0003", demo[2].message_id, demo[2])] + catalogue()


def attachments(m: SampleMail) -> dict[str, bytes]:
    msg = email.message_from_bytes(m.raw, policy=default)
    return {part.get_filename(): part.get_content() for part in msg.iter_attachments()}


@functools.lru_cache(maxsize=None)
def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def test_demo_set_shape(demo):
    assert [m.name for m in demo] == ["01-komplett-svensk", "02-complete-english", "03-ofullstandig-svensk",
                                      "04-aggregerad-statistik", "05-avslag"]
    assert [m.lang for m in demo] == ["sv", "en", "sv", "sv", "sv"]
    assert [m.expected["complete"] for m in demo] == [True, True, False, True, False]
    assert demo[2].expected["missing"] == ["ethics_decision", "variable_list"]
    assert demo[3].expected["track"] == "aggregated"
    assert demo[4].expected["decision"] == "rejected"
    assert demo[4].expected["failed"] == ["ethics_decision.approved"]


def test_mails_parse_and_attachments_decode(every):
    names = [m.name for m in every]
    assert len(set(names)) == len(names)
    ids = set()
    for m in every:
        msg = email.message_from_bytes(m.raw, policy=default)
        assert b"\r\n" in m.raw
        for header in ("From", "To", "Subject", "Date", "Message-ID"):
            assert msg[header], (m.name, header)
        assert re.fullmatch(r"<[0-9A-F.]+@[a-z.]+\.example>", msg["Message-ID"]), msg["Message-ID"]
        assert msg["Date"].datetime.year == 2026
        assert msg["From"].addresses[0].display_name
        ids.add(msg["Message-ID"])
        assert msg.get_body(("plain",)).get_content().strip()
        files = attachments(m)
        assert list(files) == list(m.labels), m.name
        for name, data in files.items():
            assert isinstance(data, bytes) and len(data) > 500, name
            assert m.labels[name] and set(m.labels[name]) <= KINDS, name
    assert len(ids) == len(every)


def test_deterministic(demo):
    assert [m.raw for m in demo_set()] == [m.raw for m in demo]
    # bypass the builders' memo cache: a fresh build must give the same bytes
    for build, args in [(d.application_form, (STATIN,)), (d.ethics_decision, (HEART_FAILURE, "rejected")),
                        (d.research_plan, (HEART_FAILURE,)), (d.variable_list, (STATIN,))]:
        assert build.__wrapped__(*args) == build.__wrapped__(*args) == build(*args), build.__name__
    layout = d.variable_list_layout(HEART_FAILURE)
    assert d.variable_list(HEART_FAILURE, layout=layout) == d.variable_list(HEART_FAILURE)


def test_pdfs_extract_with_key_phrases(every):
    for m in every:
        refs = m.expected.get("ethics_refs", [])
        for name, data in attachments(m).items():
            if not name.endswith(".pdf"):
                continue
            text = pdf_text(data)
            kind = m.labels[name][0]
            assert "Ã" not in text and "\ufffd" not in text, name  # no mojibake
            if kind == "ethics_decision":
                assert refs[0] in text, (m.name, name)
                assert DECISION_PHRASE[m.expected["decision"]] in text, (m.name, name)
                assert "BESLUT" in text and re.search("Etikprövnings(myndigheten|nämnden)", text)
            if kind == "ethics_application":
                assert "Ansökan om etikprövning" in text and refs[0] in text
            if kind == "application_form":
                assert "Ansökan om tillgång till data för forskningsändamål" in text or \
                    "Application for access to data for research purposes" in text
                consistent = m.expected["findings"].get("ethics.references_consistent") != "failed"
                assert (refs[0] in text) == consistent, (m.name, name)
            if kind in ("ethics_amendment", "ethics_amendment_decision"):
                assert refs[0] in text and any(r in text for r in refs[1:]), (m.name, name)
            if name == "beslut.pdf":
                assert "Begäran om komplettering" in text and "godkänner" not in text


def test_decision_outcomes_and_trap():
    assert "Etikprövningsmyndigheten godkänner forskningen" in pdf_text(d.ethics_decision(HEART_FAILURE))
    assert "utan forskningspersonernas samtycke" in pdf_text(d.ethics_decision(HEART_FAILURE))
    cond = pdf_text(d.ethics_decision(STATIN, "approved_with_conditions"))
    assert "godkänner forskningen" in cond and "Villkor 1:" in cond
    adv = pdf_text(d.ethics_decision(STATIN, "advisory_only"))
    assert "avvisar ansökan" in adv and "Rådgivande yttrande" in adv and "inga etiska invändningar" in adv
    assert "2015/1234-31/2" in pdf_text(d.ethics_decision(STROKE))
    trap = pdf_text(d.epm_supplement_request(LUNG_NODULES))
    assert "BEGÄRAN OM KOMPLETTERING" in trap and "BESLUT" not in trap


def test_signature_variants():
    signed = pdf_text(d.application_form(HEART_FAILURE, signature="handwritten"))
    unsigned = pdf_text(d.application_form(HEART_FAILURE, signature=None))
    esign = pdf_text(d.application_form(HEART_FAILURE, signature="esign"))
    assert "Underskrift" in signed and "Stockholm 2026-02-27" in signed
    assert "Stockholm 2026-02-27" not in unsigned and "Underskrift" in unsigned
    assert "Signerad elektroniskt" in esign and "BankID" in esign


def test_consent_phrases():
    assert "Samtycke inhämtas inte" in pdf_text(d.ethics_application(HEART_FAILURE))
    assert "opt-out" in pdf_text(d.ethics_application(LUNG_NODULES))
    assert "Samtycke kommer att inhämtas" in pdf_text(d.ethics_application(STATIN))
    fpi = pdf_text(d.participant_information(STATIN, "2.0"))
    assert "Forskningspersonsinformation och samtyckesblankett" in fpi and "Version 2.0" in fpi


def test_xlsx_header_row(every):
    for m in every:
        for name, data in attachments(m).items():
            if m.labels.get(name, [""])[0] != "variable_list":
                continue
            ws = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
            rows = [[c for c in r] for r in ws.iter_rows(values_only=True)]
            header = next(i for i, r in enumerate(rows) if {"Variabel", "Källa"} <= set(r) or
                          {"Variable", "Source"} <= set(r))
            period_col = rows[header].index("Period")
            body = [r for r in rows[header + 1:] if any(r)]
            assert body and all(re.match(r"\d{4}-\d{2}-\d{2}", r[period_col]) for r in body), name


def test_docx_opens(every):
    for m in every:
        for name, data in attachments(m).items():
            if name.endswith(".docx"):
                text = "\n".join(p.text for p in docx.Document(io.BytesIO(data)).paragraphs)
                if m.labels[name][0] == "research_plan":
                    assert ("Forskningsplan" in text and "Frågeställning" in text) or \
                        ("Research plan" in text and "Research question" in text), name


def test_no_identity_numbers(every):
    from intake import pnr  # the product's own detector: what it would flag, the samples must not contain

    for m in every:
        texts = [email.message_from_bytes(m.raw, policy=default).get_body(("plain",)).get_content()]
        texts += [pdf_text(b) for n, b in attachments(m).items() if n.endswith(".pdf")]
        for text in texts:
            assert pnr.find(text) == [], m.name


def test_follow_up(demo):
    original = demo[2]
    fu = demo_follow_up("HD-2026-0003", "<ack-1@halsodata.test>", original)
    msg = email.message_from_bytes(fu.raw, policy=default)
    assert msg["Subject"] == "Re: [HD-2026-0003] Ansökan om datauttag: uppföljning av lungnoduler"
    assert msg["In-Reply-To"] == "<ack-1@halsodata.test>"
    assert original.message_id in msg["References"]
    assert sorted(k[0] for k in fu.labels.values()) == ["ethics_decision", "variable_list"]
    assert fu.expected["complete"] and fu.expected["replies"] == ["complete_notice"]
    assert reply_subject("SV: Re: [HD-2026-0003] X", "HD-2026-0003") == "Re: [HD-2026-0003] X"
    assert reply_subject("Ansökan", None) == "Re: Ansökan"


def test_aggregated_request(demo):
    body = email.message_from_bytes(demo[3].raw, policy=default).get_body(("plain",)).get_content()
    assert "aggregerad statistik" in body and "antal patienter per år" in body


def test_cli_writes_eml_and_labels(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--follow-up-tag", "HD-2026-0003"]) == 0
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files[:6] == ["01-komplett-svensk.eml", "02-complete-english.eml", "03-ofullstandig-svensk.eml",
                         "04-aggregerad-statistik.eml", "05-avslag.eml", "06-komplettering.eml"]
    labels = json.loads((tmp_path / "labels.json").read_text(encoding="utf-8"))
    assert labels["03-ofullstandig-svensk.eml"]["expected"]["missing"] == ["ethics_decision", "variable_list"]
    assert "Ansökan_signerad.pdf" in labels["01-komplett-svensk.eml"]["labels"]
