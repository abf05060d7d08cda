"""Every rule on realistic applications: the labelled sample set and the wrapped corpus, each mail as a whole."""

from __future__ import annotations

from functools import lru_cache

import pytest

from intake.inspect import inspect_bytes
from tests.conftest import SHARED
from tests.samples.catalogue import catalogue
from tests.samples.demo import demo_follow_up, demo_set

SAMPLES = {s.name: s for s in demo_set() + catalogue()}
WRAPPED = sorted((SHARED / "corpus" / "wrapped").glob("*.eml"))


@lru_cache(maxsize=None)
def report(name: str) -> dict:
    sample = SAMPLES[name]
    return inspect_bytes(sample.raw, name)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_track_state_and_each_labelled_finding(name):
    expected, got = SAMPLES[name].expected, report(name)
    assert got["track"] == expected["track"]
    if SAMPLES[name].labels and not SAMPLES[name].subject.lower().startswith(("re:", "sv:")) and "complete" in expected:
        assert got["state"] == ("complete" if expected["complete"] else "incomplete"), _problems(got)
    statuses = {f["rule"]: f["status"] for f in got["findings"]}
    if SAMPLES[name].subject.lower().startswith(("re:", "sv:")):
        return  # a follow-up is judged with the rest of its case, not alone
    wrong = {rule: (statuses.get(rule), want) for rule, want in expected.get("findings", {}).items()
             if statuses.get(rule) != want}
    assert not wrong, wrong


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_document_kind_and_decision(name):
    sample, got = SAMPLES[name], report(name)
    kinds = {a["filename"]: [a["kind"], *a["also"]] for a in got["attachments"]}
    assert kinds == {f: k for f, k in sample.labels.items()}
    decisions = [a["fields"]["decision"] for a in got["attachments"] if a["kind"] == "ethics_decision"]
    if sample.expected.get("decision") and any(k[0] == "ethics_decision" for k in sample.labels.values()):
        assert decisions == [sample.expected["decision"]]


def test_every_finding_carries_messages_in_both_languages_and_evidence_for_problems():
    for name in SAMPLES:
        for f in report(name)["findings"]:
            assert f["message_sv"] and f["message_en"], f
            if f["status"] in ("failed", "needs_review") and f["rule"] != "ethics.references_consistent":
                assert f["evidence"], (name, f)


def test_the_traps():
    """The cases a hurried person gets wrong, one assertion each."""
    f = {n: {x["rule"]: x for x in report(n)["findings"]} for n in SAMPLES}
    # a request for supplement named beslut.pdf is not a decision
    assert f["x02-komplettering-som-beslut"]["ethics_decision.present"]["status"] == "missing"
    assert f["05-avslag"]["ethics_decision.approved"]["status"] == "failed"
    assert f["x03-radgivande-yttrande"]["ethics_decision.approved"]["status"] == "needs_review"
    assert f["x06-andring-utan-beslut"]["ethics_amendments.decided"]["status"] == "missing"
    assert f["x05-dnr-stammer-inte"]["ethics.references_consistent"]["status"] == "failed"
    assert f["x01-osignerad-blankett"]["application_form.signed"]["status"] == "failed"
    # the consent waiver stands only in the decision
    waiver = f["01-komplett-svensk"]["consent.documented"]
    assert waiver["status"] == "ok" and "beslut" in waiver["evidence"][0]["document"].lower()
    # an old regional-board reference number is read and compared
    old = f["x04-gammalt-dnr-samkorning"]["ethics.references_consistent"]
    assert old["status"] == "ok" and "2015/1234-31/2" in old["message_en"]
    assert f["x04-gammalt-dnr-samkorning"]["linkage.decision_when_linked"]["status"] == "pending"


def test_a_pasted_patient_list_fails_without_quoting_the_numbers():
    from tests import factory
    body = "Hej, här är patienterna:\n19121212-1212 Anna\n701063-2391 Bertil\n"
    got = inspect_bytes(factory.mail(body=body), "pasted.eml")
    finding = next(x for x in got["findings"] if x["rule"] == "sensitive_data.not_in_mail")
    assert finding["status"] == "failed"
    assert "19121212-1212" not in str(got["findings"]) and "701063-2391" not in str(got["findings"])


def test_follow_up_completes_the_incomplete_application():
    """The two mails of the demo taken together satisfy every rule (checked through the store elsewhere)."""
    follow = demo_follow_up("HD-2026-0003", None)
    kinds = {a["kind"] for a in inspect_bytes(follow.raw, "follow.eml")["attachments"]}
    assert kinds == {"ethics_decision", "variable_list"}


@pytest.mark.parametrize("path", WRAPPED, ids=lambda p: p.name)
def test_wrapped_applications_are_complete_first_applications(path):
    """corpus/wrapped/README.md: every mail, once unwrapped, is a complete first application."""
    got = inspect_bytes(path.read_bytes(), path.name)
    statuses = {f["rule"]: f["status"] for f in got["findings"]}
    assert (got["track"], got["state"]) == ("personal_data", "complete"), statuses
    assert len(got["attachments"]) == 6
    for rule in ("ethics_decision.approved", "ethics.references_consistent", "application_form.signed",
                 "consent.documented", "variable_list.readable", "attachments.readable"):
        assert statuses[rule] == "ok", (rule, statuses[rule])
    for rule in ("ethics_amendments.decided", "dpia.when_extensive", "linkage.decision_when_linked",
                 "dpa.when_processor", "dta.when_transfer", "sender.authenticated"):
        assert statuses[rule] == "not_applicable", (rule, statuses[rule])


def _problems(got):
    return [(f["rule"], f["status"]) for f in got["findings"] if f["status"] not in ("ok", "not_applicable")]
