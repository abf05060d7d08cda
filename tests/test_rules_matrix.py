"""Every rule of rules/registry.py × every status it can give, on realistic applications read the real way.

Each row of MATRIX names a rule, a status and a scenario: a whole mail built with tests/samples (PDF, DOCX and
XLSX files made the way researchers' files are, a body written the way researchers write) that goes through
`intake.inspect.inspect_bytes`, i.e. unpack → read → classify → facts → rules. The row asserts the finding's
status and what its evidence cites: the document (or the mail) and the phrase, cell or field the rule rests on.

STATUSES_BY_RULE lists, by hand from each module in rules/, every status its check function can return;
AGGREGATED_NOT_APPLICABLE lists the rules the registry turns `not_applicable` on the aggregated track.
test_the_matrix_covers_every_status_each_rule_can_give keeps MATRIX and those lists in step.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from typing import Callable

import pytest
from pypdf import PdfReader, PdfWriter

from intake.config import Config
from intake.inspect import inspect_bytes
from rules.base import STATUSES
from rules.registry import RULE_IDS, RULES
from tests.samples import documents as d
from tests.samples.demo import aggregated_request
from tests.samples.mails import STOCKHOLM_WINTER, Attachment, application_body, att, build_mail
from tests.samples.projects import FALLS, HEART_FAILURE, SEPSIS, STROKE, Project
from tests.samples.render import docx_bytes

# --- what each rule module can return (read off rules/*.py) -------------------------------------------------------

STATUSES_BY_RULE: dict[str, set[str]] = {
    "application_form.present": {"ok", "missing"},                              # base.presence
    "application_form.signed": {"ok", "failed", "needs_review", "not_applicable"},
    "ethics_application.present": {"ok", "missing"},                            # base.presence
    "ethics_decision.present": {"ok", "missing"},
    "ethics_decision.approved": {"ok", "failed", "needs_review", "not_applicable"},
    "ethics.references_consistent": {"ok", "failed", "needs_review", "not_applicable"},
    "ethics_amendments.decided": {"ok", "missing", "not_applicable"},
    "research_plan.present": {"ok", "missing"},                                 # base.presence
    "variable_list.present": {"ok", "missing"},                                 # base.presence
    "variable_list.readable": {"ok", "failed", "not_applicable"},
    "consent.documented": {"ok", "missing"},
    "dpia.when_extensive": {"ok", "missing", "not_applicable"},
    "linkage.decision_when_linked": {"ok", "pending", "not_applicable"},
    "dpa.when_processor": {"ok", "missing", "not_applicable"},
    "dta.when_transfer": {"ok", "missing", "needs_review", "not_applicable"},
    "attachments.readable": {"ok", "failed"},
    "sensitive_data.not_in_mail": {"ok", "failed"},
    "sender.authenticated": {"ok", "needs_review", "not_applicable"},
}

# rules.registry.run: on track "aggregated" every rule with personal_data_only=True is not_applicable.
AGGREGATED_NOT_APPLICABLE = set(STATUSES_BY_RULE) - {
    "attachments.readable", "sensitive_data.not_in_mail", "sender.authenticated"}

# --- documents (the tests/samples builders cache themselves; the hand-made ones are cached here) ------------------

HF = HEART_FAILURE  # Swedish, consent waiver, extensive (3 sources, 48 000 patients, 10 years), no amendments
PARTNERS = replace(HEART_FAILURE, key="hjartsvikt-partner", processor="Statistikkonsulten Norden AB",
                   transfer="Nordic Institute for Ageing Research (NIAR), Oslo, Norway")
SUBJECT = "Ansökan om hälsodata – återinläggning vid hjärtsvikt"

FORM, FORM_DOCX = "Ansökningsblankett signerad.pdf", "Ansökningsblankett ifylld.docx"
ETHICS, DECISION, LOOKALIKE = "Etikansökan med bilagor.pdf", "Beslut EPM.pdf", "beslut.pdf"
LOOKALIKE_RENAMED = "Skrivelse från EPM.pdf"
PLAN, VLIST, VLIST_DOCX = "Forskningsplan.docx", "Variabellista.xlsx", "Variabellista.docx"
DPIA, DPO = "DPIA.pdf", "Yttrande dataskyddsombudet.pdf"
AMENDMENT, AMENDMENT_DECISION = "Ändringsansökan 2021-01987.pdf", "Beslut om ändring 2021-01987.pdf"
LINKAGE = "Beslut Socialstyrelsen samkörning.pdf"
FPI, INFO_ONLY = "FPI och samtycke v1.0.pdf", "Forskningspersonsinformation v1.0.pdf"
DPA, DTA = "PUB-avtal Statistikkonsulten.docx", "Data Transfer Agreement.pdf"
PATIENTS = "Patientlista urval.docx"
PATIENT_LIST = ("19121212-1212", "811218-9876", "19640823-3234")  # Luhn-valid, commonly used example numbers


@lru_cache(maxsize=None)
def locked(data: bytes) -> bytes:
    """The PDF as a researcher's office sends it when it 'protects' outgoing files: AES, user password."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password="Hjartsvikt2024", owner_password="kansli", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@lru_cache(maxsize=None)
def form_typed_in_word(p: Project) -> bytes:
    """The form re-typed in Word, sections 1–6 only: the page with fee and signature was left out."""
    a = p.applicant
    blocks = [
        ("title", "Ansökan om tillgång till data för forskningsändamål"),
        ("p", "Centrum för hälsodata, Region Stockholm – ansökningsblankett (version 2023-11)"),
        ("h1", "1. Sökande"),
        ("table", [["Namn", a.name], ["Titel", a.title_sv], ["Institution/avdelning", a.department],
                   ["E-post", a.email], ["Telefon", a.phone]]),
        ("h1", "2. Forskningshuvudman"), ("table", [["Organisation", p.principal]]),
        ("h1", "3. Projekt och etikprövning"),
        ("table", [["Projekttitel", p.title], ["Dnr hos Etikprövningsmyndigheten", p.dnr],
                   ["Datum för beslut", p.decided.isoformat()]]),
        ("h1", "4. Data som efterfrågas"),
        ("table", [["Datakällor", ", ".join(p.sources)], ["Tidsperiod", p.period_text()],
                   ["Population/urval", p.population_text], ["Variabellista bifogas", "Ja"]]),
        ("h1", "5. Samkörning, biträden och överföring"),
        ("table", [["Samkörning med annan myndighets data", "Nej"], ["Personuppgiftsbiträde", "Nej"],
                   ["Överföring till annan organisation/land", "Nej"]]),
        ("h1", "6. Informationssäkerhet"),
        ("p", f"Data lagras pseudonymiserade på {p.principal}s forskningsserver med tvåfaktorsinloggning."),
    ]
    return docx_bytes(blocks, created=date(2026, 2, 27), title="Ansökan om tillgång till data", author=a.name)


@lru_cache(maxsize=None)
def variable_list_in_word(p: Project) -> bytes:
    """The variable list written as a table in Word instead of the region's Excel template."""
    rows = [["Variabel", "Källa", "Period", "Beskrivning"]]
    rows += [[v.name, v.source, p.period_text(), v.description] for v in p.variables]
    blocks = [("title", "Variabellista"), ("p", f"Projekt: {p.title}"), ("p", f"Dnr: {p.dnr}"), ("table", rows)]
    return docx_bytes(blocks, created=date(2026, 2, 12), title="Variabellista", author=p.applicant.name)


@lru_cache(maxsize=None)
def patient_list(p: Project) -> bytes:
    """A selection list with identity numbers, attached by mistake."""
    rows = [["Personnummer", "Namn", "Inskrivningsdatum"],
            [PATIENT_LIST[0], "Tolvan Tolvansson", "2023-04-02"],
            [PATIENT_LIST[1], "Anna Exempel", "2023-05-17"],
            [PATIENT_LIST[2], "Bertil Prov", "2023-06-30"]]
    blocks = [("title", "Patientlista – urval för granskning"), ("p", f"Projekt: {p.title}"), ("table", rows)]
    return docx_bytes(blocks, created=date(2026, 2, 20), title="Patientlista", author=p.applicant.name)


NO_PERIOD = {"header_row": 1, "order": ["name", "source", "description"], "template": False, "dash": "–"}


def base_files(p: Project, *, decision: str | None = "approved", form: str = "pdf", signature: str | None =
               "handwritten", form_dnr: str | None = None, vlist: str = "xlsx", dpia: bool = True,
               amendment_decisions: bool = True, fpi: str | None = None) -> list[Attachment]:
    """A whole application for project p; each keyword changes the one thing a scenario is about."""
    files = []
    if form == "pdf":
        files.append(att(FORM, d.application_form(p, signature=signature, dnr=form_dnr), "application_form"))
    elif form == "docx":
        files.append(att(FORM_DOCX, form_typed_in_word(p), "application_form"))
    files.append(att(ETHICS, d.ethics_application(p), "ethics_application"))
    if decision == "locked":
        files.append(att(DECISION, locked(d.ethics_decision(p)), "ethics_decision"))
    elif decision in ("supplement_request", "supplement_request_renamed"):
        name = LOOKALIKE if decision == "supplement_request" else LOOKALIKE_RENAMED
        files.append(att(name, d.epm_supplement_request(p), "other",
                         said="det senaste vi fått från Etikprövningsmyndigheten"))
    elif decision:
        files.append(att(DECISION, d.ethics_decision(p, decision), "ethics_decision"))
    for am in p.amendments:
        files.append(att(AMENDMENT, d.ethics_amendment(p, am), "ethics_amendment"))
        if amendment_decisions:
            files.append(att(AMENDMENT_DECISION, d.ethics_amendment_decision(p, am), "ethics_amendment_decision"))
    files.append(att(PLAN, d.research_plan(p), "research_plan"))
    if vlist == "xlsx":
        files.append(att(VLIST, d.variable_list(p), "variable_list"))
    elif vlist == "no_period":
        files.append(att(VLIST, d.variable_list(p, layout=NO_PERIOD), "variable_list"))
    elif vlist == "truncated":
        whole = d.variable_list(p)
        files.append(att(VLIST, whole[: len(whole) // 2], "variable_list"))
    elif vlist == "docx":
        files.append(att(VLIST_DOCX, variable_list_in_word(p), "variable_list"))
    if fpi == "combined":
        files.append(att(FPI, d.participant_information(p, "1.0"), "participant_information", "consent_form",
                         said="forskningspersonsinformation och samtyckesblankett, version 1.0"))
    elif fpi == "information_only":
        files.append(att(INFO_ONLY, d.participant_information(p, "1.0", combined=False),
                         "participant_information", said="forskningspersonsinformation, version 1.0"))
    if dpia:
        files.append(att(DPIA, d.dpia(p), "dpia"))
    return files


def only(files: list[Attachment], *names: str) -> list[Attachment]:
    return [f for f in files if f.filename in names]


def application(p: Project, files: list[Attachment], *, note: str = "", subject: str = SUBJECT,
                headers: tuple[str, ...] = ()) -> bytes:
    """The researcher's first mail; `headers` are what the receiving server prepends (Authentication-Results)."""
    mail = build_mail(name=f"matrix/{p.key}/{subject}/{note}/{[f.filename for f in files]}", sender=p.applicant,
                      subject=subject, body=application_body(p, files, note=note), attachments=files,
                      lang=p.lang, sent=datetime(2026, 3, 10, 9, 40, tzinfo=STOCKHOLM_WINTER))
    return b"".join(h.encode() + b"\r\n" for h in headers) + mail.raw


# --- scenarios: one mail each, with the [rules] configuration it is inspected under --------------------------------

AUTHSERV = "mx1.region.example"
DMARC_PASS = (f"Authentication-Results: {AUTHSERV}; dkim=pass header.d=ki.example header.s=sel1; "
              "spf=pass smtp.mailfrom=ki.example; dmarc=pass header.from=ki.example")
DKIM_ALIGNED = (f"Authentication-Results: {AUTHSERV}; dkim=pass header.d=ki.example header.s=sel1; "
                "spf=none smtp.mailfrom=ki.example")
DMARC_FAIL = (f"Authentication-Results: {AUTHSERV}; dkim=fail header.d=ki.example; spf=softfail "
              "smtp.mailfrom=ki.example; dmarc=fail header.from=ki.example")
FORGED = ("Authentication-Results: mx.sender-controlled.example; dkim=pass header.d=ki.example; "
          "dmarc=pass header.from=ki.example")
TRUSTED = {"authserv_ids": [AUTHSERV]}

LINKAGE_NOTE = ("Beslutet från Socialstyrelsen om samkörning med dödsorsaksregistret har vi ansökt om och skickar "
                "det när det kommit.")
COLLABORATION_NOTE = "Projektet genomförs i internationellt samarbete med kardiologer vid universitetet i Oslo."
PATIENT_NOTE = ("Här är de patienter vi vill börja granska:\n" + "\n".join(PATIENT_LIST))


@dataclass(frozen=True)
class Scenario:
    build: Callable[[], bytes]
    rules: dict | None = None  # [rules] of the configuration; None: inspect without a configuration


def _hf(**kw) -> Callable[[], bytes]:
    return lambda: application(HF, base_files(HF, **kw))


SCENARIOS: dict[str, Scenario] = {
    # Heart failure (HF), a complete Swedish application, and one change at a time.
    "complete": Scenario(_hf()),
    "form-only": Scenario(lambda: application(HF, only(base_files(HF), FORM))),
    "everything-but-the-form": Scenario(lambda: application(HF, base_files(HF, form=""))),
    "plan-and-variable-list-only": Scenario(lambda: application(HF, only(base_files(HF), PLAN, VLIST))),
    "unsigned-form": Scenario(_hf(signature=None)),
    "form-typed-in-word-without-signature-page": Scenario(_hf(form="docx")),
    "form-cites-another-dnr": Scenario(_hf(form_dnr="2024-01243-01")),
    "decision-with-conditions": Scenario(_hf(decision="approved_with_conditions")),
    "decision-password-protected": Scenario(_hf(decision="locked")),
    "supplement-request-named-beslut": Scenario(_hf(decision="supplement_request")),
    "supplement-request-under-another-name": Scenario(_hf(decision="supplement_request_renamed")),
    "no-dpia": Scenario(_hf(dpia=False)),
    "dpo-statement-instead-of-dpia": Scenario(lambda: application(HF, base_files(HF, dpia=False) + [
        att(DPO, d.dpo_statement(HF), "dpo_statement")])),
    "no-dpia-thresholds-raised": Scenario(_hf(dpia=False), {"extensive_sources": 5, "extensive_population": 100_000,
                                                              "extensive_years": 20}),
    "variable-list-cut-off": Scenario(_hf(vlist="truncated")),
    "variable-list-without-period-column": Scenario(_hf(vlist="no_period")),
    "variable-list-in-word": Scenario(_hf(vlist="docx")),
    "collaboration-abroad-in-body": Scenario(lambda: application(HF, base_files(HF), note=COLLABORATION_NOTE)),
    "patient-list-in-body": Scenario(lambda: application(HF, base_files(HF), note=PATIENT_NOTE)),
    "patient-list-attached": Scenario(lambda: application(HF, base_files(HF) + [att(PATIENTS, patient_list(HF))])),
    # Authentication-Results on the complete application.
    "dmarc-pass-no-authserv-configured": Scenario(lambda: application(HF, base_files(HF), headers=(DMARC_PASS,))),
    "dmarc-pass-trusted": Scenario(lambda: application(HF, base_files(HF), headers=(DMARC_PASS,)), TRUSTED),
    "dkim-aligned-trusted": Scenario(lambda: application(HF, base_files(HF), headers=(DKIM_ALIGNED,)), TRUSTED),
    "dmarc-fail-trusted": Scenario(lambda: application(HF, base_files(HF), headers=(DMARC_FAIL,)), TRUSTED),
    "dmarc-pass-forged-authserv": Scenario(lambda: application(HF, base_files(HF), headers=(FORGED,)), TRUSTED),
    # Heart failure with an external analysis supplier (processor) and a partner in Norway (transfer).
    "processor-and-transfer-no-agreements": Scenario(lambda: application(PARTNERS, base_files(PARTNERS))),
    "processor-and-transfer-with-agreements": Scenario(lambda: application(PARTNERS, base_files(PARTNERS) + [
        att(DPA, d.data_processing_agreement(PARTNERS, fmt="docx"), "data_processing_agreement"),
        att(DTA, d.data_transfer_agreement(PARTNERS), "data_transfer_agreement")])),
    # The form follows later; the ethics application alone says an external supplier analyses the data and that
    # coded data go to Oslo (in its PDF text "överförs" ends one line and "till" starts the next).
    "processor-and-transfer-form-to-follow": Scenario(lambda: application(PARTNERS, base_files(PARTNERS, form=""))),
    # Sepsis: consent collected, not extensive (one source, 4 000 visits, 2 years).
    "sepsis-rejected": Scenario(lambda: application(SEPSIS, base_files(SEPSIS, decision="rejected", fpi="combined",
                                                                         dpia=False))),
    "sepsis-with-fpi": Scenario(lambda: application(SEPSIS, base_files(SEPSIS, fpi="combined", dpia=False))),
    "sepsis-without-fpi": Scenario(lambda: application(SEPSIS, base_files(SEPSIS, dpia=False))),
    "sepsis-information-without-consent-form": Scenario(lambda: application(
        SEPSIS, base_files(SEPSIS, fpi="information_only", dpia=False))),
    "sepsis-population-threshold-lowered": Scenario(lambda: application(
        SEPSIS, base_files(SEPSIS, fpi="combined", dpia=False)), {"extensive_population": 1000}),
    # Falls: quality follow-up, EPM dismissed it with an advisory opinion.
    "falls-advisory-opinion": Scenario(lambda: application(
        FALLS, base_files(FALLS, decision="advisory_only", dpia=False),
        note="Etikprövningsmyndigheten bedömde att projektet är kvalitetsuppföljning, se bifogat beslut med "
             "rådgivande yttrande.")),
    # Stroke: pre-2019 regional board number, an amendment, linkage with Socialstyrelsen and SCB.
    "stroke-linkage-decision-to-follow": Scenario(lambda: application(STROKE, base_files(STROKE), note=LINKAGE_NOTE,
                                                                      subject=f"Ansökan om hälsodata, stroke "
                                                                              f"(Dnr {STROKE.dnr})")),
    "stroke-amendment-without-decision": Scenario(lambda: application(
        STROKE, base_files(STROKE, amendment_decisions=False))),
    "stroke-with-linkage-decision": Scenario(lambda: application(STROKE, base_files(STROKE) + [
        att(LINKAGE, d.linkage_decision(STROKE), "linkage_decision")])),
    # A request for aggregated statistics (DOMAIN.md 7).
    "aggregated-statistics-request": Scenario(lambda: aggregated_request().raw),
}


def _config(rules: dict) -> Config:
    return Config.model_validate({"smtp": {"from_address": "halsodata@region.test"},
                                  "store": {"key_file": "/nonexistent/store.key"}, "rules": rules})


@lru_cache(maxsize=None)
def report(scenario: str) -> dict:
    s = SCENARIOS[scenario]
    return inspect_bytes(s.build(), f"{scenario}.eml", _config(s.rules) if s.rules is not None else None)


# --- the matrix ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    rule: str
    status: str
    scenario: str
    # (document file name, or "mail" for the mail itself; a phrase the same evidence entry's detail contains).
    # An empty tuple asserts the finding has no evidence at all (nothing to point at).
    cites: tuple[tuple[str, str], ...] = ()
    says: str = ""  # a phrase of message_en

    @property
    def id(self) -> str:
        return f"{self.rule}:{self.status}:{self.scenario}"


def c(where: str, detail: str = "") -> tuple[str, str]:
    return (where, detail)


NA_AGGREGATED = "Does not apply to aggregated statistics"

MATRIX: list[Row] = [
    # application_form.present
    Row("application_form.present", "ok", "complete", (c(FORM, "classified as application_form"),)),
    Row("application_form.present", "missing", "everything-but-the-form", (), "application form is missing"),
    Row("application_form.present", "not_applicable", "aggregated-statistics-request", (), NA_AGGREGATED),
    # application_form.signed
    Row("application_form.signed", "ok", "complete", (c(FORM, f"with “{HF.applicant.name}"),)),
    Row("application_form.signed", "failed", "unsigned-form", (c(FORM, "appears empty"),)),
    Row("application_form.signed", "needs_review", "form-typed-in-word-without-signature-page",
        (c(FORM_DOCX, "no signature line or digital signature found"),)),
    Row("application_form.signed", "not_applicable", "everything-but-the-form", ()),
    Row("application_form.signed", "not_applicable", "aggregated-statistics-request", (), NA_AGGREGATED),
    # ethics_application.present
    Row("ethics_application.present", "ok", "complete", (c(ETHICS, "classified as ethics_application"),)),
    Row("ethics_application.present", "missing", "form-only", (), "base application) is missing"),
    Row("ethics_application.present", "not_applicable", "aggregated-statistics-request", (), NA_AGGREGATED),
    # ethics_decision.present
    Row("ethics_decision.present", "ok", "complete", (c(DECISION, "classified as ethics_decision"),)),
    Row("ethics_decision.present", "missing", "supplement-request-named-beslut",
        (c(LOOKALIKE, "it is not a decision"),)),
    Row("ethics_decision.present", "missing", "supplement-request-under-another-name",
        (c(LOOKALIKE_RENAMED, "it is not a decision"),)),
    Row("ethics_decision.present", "missing", "form-only", ()),
    Row("ethics_decision.present", "not_applicable", "aggregated-statistics-request", (), NA_AGGREGATED),
    # ethics_decision.approved
    Row("ethics_decision.approved", "ok", "complete", (c(DECISION, "“godkänner forskningen”"),)),
    Row("ethics_decision.approved", "ok", "decision-with-conditions",
        (c(DECISION, "“godkänner forskningen”"), c(DECISION, "condition: ")), "approved with conditions"),
    Row("ethics_decision.approved", "failed", "sepsis-rejected", (c(DECISION, "“avslår”"),), "rejected"),
    Row("ethics_decision.approved", "needs_review", "falls-advisory-opinion", (c(DECISION, "“avvisar ansökan”"),),
        "advisory opinion"),
    Row("ethics_decision.approved", "needs_review", "decision-password-protected", (c(DECISION),),
        "could not be read"),
    Row("ethics_decision.approved", "not_applicable", "supplement-request-named-beslut", ()),
    Row("ethics_decision.approved", "not_applicable", "aggregated-statistics-request", (), NA_AGGREGATED),
    # ethics.references_consistent
    Row("ethics.references_consistent", "ok", "complete",
        (c(FORM, "Dnr 2024-01234"), c(ETHICS, "Dnr 2024-01234"), c(DECISION, "Dnr 2024-01234")), "2024-01234"),
    Row("ethics.references_consistent", "ok", "stroke-linkage-decision-to-follow",
        (c(FORM, "Dnr 2015/1234-31/2"), c(ETHICS, "Dnr 2015/1234-31/2"), c(DECISION, "Dnr 2015/1234-31/2")),
        "2015/1234-31/2"),
    Row("ethics.references_consistent", "failed", "form-cites-another-dnr",
        (c(FORM, "Dnr 2024-01243"), c(ETHICS, "Dnr 2024-01234"), c(DECISION, "Dnr 2024-01234")),
        f"{FORM}: 2024-01243"),
    Row("ethics.references_consistent", "needs_review", "form-only", (c(FORM, "Dnr 2024-01234"),)),
    Row("ethics.references_consistent", "not_applicable", "plan-and-variable-list-only", ()),
    Row("ethics.references_consistent", "not_applicable", "aggregated-statistics-request", (), NA_AGGREGATED),
    # ethics_amendments.decided
    Row("ethics_amendments.decided", "ok", "stroke-linkage-decision-to-follow", (c(AMENDMENT, "Dnr 2021-01987"),)),
    Row("ethics_amendments.decided", "missing", "stroke-amendment-without-decision",
        (c(AMENDMENT, "no decision cites this amendment"),), "2021-01987"),
    Row("ethics_amendments.decided", "not_applicable", "complete", ()),
    Row("ethics_amendments.decided", "not_applicable", "aggregated-statistics-request", (), NA_AGGREGATED),
    # research_plan.present
    Row("research_plan.present", "ok", "complete", (c(PLAN, "classified as research_plan"),)),
    Row("research_plan.present", "missing", "form-only", (), "research plan is missing"),
    Row("research_plan.present", "not_applicable", "aggregated-statistics-request", (), NA_AGGREGATED),
    # variable_list.present
    Row("variable_list.present", "ok", "complete", (c(VLIST, "classified as variable_list"),)),
    Row("variable_list.present", "missing", "form-only", (), "variable list is missing"),
    Row("variable_list.present", "not_applicable", "aggregated-statistics-request", (), NA_AGGREGATED),
    # variable_list.readable
    Row("variable_list.readable", "ok", "complete", (c(VLIST, "header row"),), f"{len(HF.variables)} variables"),
    Row("variable_list.readable", "failed", "variable-list-without-period-column",
        (c(VLIST, "no period column"),)),
    Row("variable_list.readable", "failed", "variable-list-cut-off", (c(VLIST, "corrupt"),)),
    Row("variable_list.readable", "failed", "variable-list-in-word", (c(VLIST_DOCX, "not a spreadsheet"),)),
    Row("variable_list.readable", "not_applicable", "form-only", ()),
    Row("variable_list.readable", "not_applicable", "aggregated-statistics-request", (), NA_AGGREGATED),
    # consent.documented
    Row("consent.documented", "ok", "complete", (c(DECISION, "waiver: “utan forskningspersonernas samtycke”"),)),
    Row("consent.documented", "ok", "sepsis-with-fpi", (c(FPI),)),
    Row("consent.documented", "missing", "sepsis-without-fpi", (),
        "Participant information and consent form missing"),
    Row("consent.documented", "missing", "sepsis-information-without-consent-form", (c(INFO_ONLY),),
        "Consent form missing"),
    Row("consent.documented", "not_applicable", "aggregated-statistics-request", (), NA_AGGREGATED),
    # dpia.when_extensive
    Row("dpia.when_extensive", "ok", "complete", (c(DPIA), c(VLIST, "sources Labbsystem, TakeCare, VAL"))),
    Row("dpia.when_extensive", "ok", "dpo-statement-instead-of-dpia", (c(DPO),)),
    Row("dpia.when_extensive", "missing", "no-dpia",
        (c(VLIST, "sources Labbsystem, TakeCare, VAL, 2015–2024"), c(FORM, "population about 48000")),
        "3 data sources"),
    Row("dpia.when_extensive", "missing", "form-only", (c(FORM, "sources: "), c(FORM, "period 2015–2024"))),
    Row("dpia.when_extensive", "missing", "sepsis-population-threshold-lowered",
        (c(FORM, "population about 4000"),), "about 4,000 individuals"),
    Row("dpia.when_extensive", "not_applicable", "sepsis-with-fpi", (c(VLIST, "sources TakeCare"),)),
    Row("dpia.when_extensive", "not_applicable", "no-dpia-thresholds-raised", (c(VLIST, "sources Labbsystem"),)),
    Row("dpia.when_extensive", "not_applicable", "aggregated-statistics-request", (), NA_AGGREGATED),
    # linkage.decision_when_linked
    Row("linkage.decision_when_linked", "ok", "stroke-with-linkage-decision", (c(LINKAGE), c(FORM, "samkörning"))),
    Row("linkage.decision_when_linked", "pending", "stroke-linkage-decision-to-follow",
        (c(FORM, "samkörning"), c(ETHICS, "samkörs"), c("mail", "samkörning")), "can be sent when"),
    Row("linkage.decision_when_linked", "not_applicable", "complete", ()),
    Row("linkage.decision_when_linked", "not_applicable", "aggregated-statistics-request", (), NA_AGGREGATED),
    # dpa.when_processor
    Row("dpa.when_processor", "ok", "processor-and-transfer-with-agreements",
        (c(DPA), c(ETHICS, "personuppgiftsbiträde"))),
    Row("dpa.when_processor", "missing", "processor-and-transfer-no-agreements",
        (c(FORM, "personuppgiftsbiträde"), c(ETHICS, "personuppgiftsbiträde"))),
    Row("dpa.when_processor", "missing", "processor-and-transfer-form-to-follow",
        (c(ETHICS, "personuppgiftsbiträde"),)),
    Row("dpa.when_processor", "not_applicable", "complete", ()),
    Row("dpa.when_processor", "not_applicable", "aggregated-statistics-request", (), NA_AGGREGATED),
    # dta.when_transfer
    Row("dta.when_transfer", "ok", "processor-and-transfer-with-agreements", (c(DTA), c(FORM, "överföring till"))),
    Row("dta.when_transfer", "missing", "processor-and-transfer-no-agreements", (c(FORM, "överföring till"),)),
    Row("dta.when_transfer", "missing", "processor-and-transfer-form-to-follow", (c(ETHICS, "överförs till"),),
        "transferred to another organisation or country"),
    Row("dta.when_transfer", "needs_review", "collaboration-abroad-in-body",
        (c("mail", "internationellt samarbete"),), "international collaboration"),
    Row("dta.when_transfer", "not_applicable", "complete", ()),
    Row("dta.when_transfer", "not_applicable", "aggregated-statistics-request", (), NA_AGGREGATED),
    # attachments.readable
    Row("attachments.readable", "ok", "complete", ()),
    Row("attachments.readable", "ok", "aggregated-statistics-request", ()),
    Row("attachments.readable", "failed", "decision-password-protected", (c(DECISION, "password-protected PDF"),),
        DECISION),
    Row("attachments.readable", "failed", "variable-list-cut-off", (c(VLIST, "corrupt"),), VLIST),
    # sensitive_data.not_in_mail
    Row("sensitive_data.not_in_mail", "ok", "complete", ()),
    Row("sensitive_data.not_in_mail", "failed", "patient-list-in-body", (c("mail", "3 identity number(s)"),),
        "security event"),
    Row("sensitive_data.not_in_mail", "failed", "patient-list-attached", (c(PATIENTS, "3 identity number(s)"),)),
    # sender.authenticated
    Row("sender.authenticated", "ok", "dmarc-pass-trusted", (c("mail", f"from {AUTHSERV}: dmarc=pass"),)),
    Row("sender.authenticated", "ok", "dkim-aligned-trusted", (c("mail", "dkim=pass aligned with ki.example"),)),
    Row("sender.authenticated", "needs_review", "dmarc-fail-trusted", (c("mail", "dmarc=fail"),)),
    Row("sender.authenticated", "not_applicable", "complete", ()),
    Row("sender.authenticated", "not_applicable", "dmarc-pass-no-authserv-configured", ()),
    Row("sender.authenticated", "not_applicable", "dmarc-pass-forged-authserv", ()),
]


def _where(entry: dict) -> str:
    return entry["document"] if "document" in entry else "mail" if "mail" in entry else "?"


@pytest.mark.parametrize("row", MATRIX, ids=lambda r: r.id)
def test_rule_gives_status_with_evidence(row: Row):
    got = report(row.scenario)
    found = [f for f in got["findings"] if f["rule"] == row.rule]
    assert len(found) == 1, f"one finding per rule, got {found}"
    finding = found[0]
    context = {"finding": finding, "kinds": {a["filename"]: a["kind"] for a in got["attachments"]}}
    assert finding["status"] == row.status, context
    assert finding["message_sv"] and finding["message_en"], context
    if row.says:
        assert row.says in finding["message_en"], context
    evidence = finding["evidence"]
    if not row.cites:
        assert evidence == [], context
    for where, detail in row.cites:
        assert any(_where(e) == where and detail.lower() in e.get("detail", "").lower() for e in evidence), (
            f"no evidence names {where!r} with {detail!r}", context)
    for e in evidence:
        if "mail" in e:
            assert e["mail"] == got["subject"][:80], e


def test_the_matrix_covers_every_status_each_rule_can_give():
    assert list(STATUSES_BY_RULE) == RULE_IDS, "one entry per rule of the registry, in its order"
    assert AGGREGATED_NOT_APPLICABLE == {r.id for r in RULES if r.personal_data_only}
    assert set().union(*STATUSES_BY_RULE.values()) | {"not_applicable"} == set(STATUSES)
    expected = {(rule, status) for rule, statuses in STATUSES_BY_RULE.items() for status in statuses}
    expected |= {(rule, "not_applicable") for rule in AGGREGATED_NOT_APPLICABLE}
    covered = {(row.rule, row.status) for row in MATRIX}
    assert sorted(expected - covered) == [], "statuses a rule can give that no row shows"
    assert sorted(covered - expected) == [], "rows for statuses no rule module gives (update STATUSES_BY_RULE)"
    assert {row.scenario for row in MATRIX} == set(SCENARIOS), "every scenario is used by a row"
    assert len({row.id for row in MATRIX}) == len(MATRIX), "row ids are unique"
    aggregated = [row for row in MATRIX if row.scenario == "aggregated-statistics-request"
                  and row.status == "not_applicable"]
    assert {row.rule for row in aggregated} == AGGREGATED_NOT_APPLICABLE


def test_identity_numbers_never_reach_findings():
    """The rows above that find identity numbers must not quote them in messages or evidence."""
    for scenario in ("patient-list-in-body", "patient-list-attached"):
        text = str(report(scenario)["findings"])
        assert not any(n in text for n in PATIENT_LIST), scenario
