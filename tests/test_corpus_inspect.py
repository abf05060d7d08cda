"""`halsodata inspect --json` over every mail of the public corpus: no exception, one report per file, within limits.

The real command runs once over all files in ../shared/corpus/mime (read in place, never copied). It runs in an
empty working directory with no HALSODATA_* variables, so there is no configuration file: `inspect` then
catches the "configuration file ... not found" error and falls back to the default [rules] and [cases]
settings (Swedish as default language, no own address), which is what these tests rely on.
"""

from __future__ import annotations

import email
import json
import os
import shutil
import subprocess
import sys
import time
import unicodedata
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path

import pytest

from intake import pnr

from tests.conftest import SHARED  # noqa: E402
MIME = SHARED / "corpus" / "mime"
FILES = sorted(p for p in MIME.rglob("*") if p.is_file())

# Measured on the development machine: 28-35 s for the whole corpus (OCR of torture.eml's and mail_test_7.eml's
# images is most of it). The bound keeps 3x headroom; the subprocess timeout only stops a hang.
RUN_BOUND_SECONDS = 105
HANG_TIMEOUT_SECONDS = 900

REPORT_KEYS = {"file", "message_id", "from", "subject", "language", "auto_generated", "attachments", "problems",
               "findings"}
ATTACHMENT_KEYS = {"filename", "content_type", "size", "sha256", "kind", "also", "confidence", "readable", "reason",
                   "fields", "container"}
REPORT_TYPES = {"multipart/report", "message/delivery-status", "message/disposition-notification",
                "message/feedback-report"}


def _rel(path: Path) -> str:
    return str(path.relative_to(MIME))


def _cli() -> list[str]:
    """The installed `halsodata` entry point next to this Python, else the module."""
    script = shutil.which("halsodata", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "intake.cli"]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HALSODATA_")}


def run_inspect(files: list[Path], cwd: Path, *extra: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    proc = subprocess.run([*_cli(), *extra, "inspect", "--json", *map(str, files)], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=HANG_TIMEOUT_SECONDS)
    return proc, time.monotonic() - started


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    """(completed process, seconds, parsed JSON or None): the one CLI run over the whole corpus."""
    assert len(FILES) > 50, f"the public corpus is missing under {MIME}"
    cwd = tmp_path_factory.mktemp("no-config")
    assert not (cwd / "halsodata.toml").exists()
    proc, seconds = run_inspect(FILES, cwd)
    try:
        parsed = json.loads(proc.stdout)
    except json.JSONDecodeError:
        parsed = None
    return proc, seconds, parsed


@pytest.fixture(scope="module")
def reports(corpus_run) -> dict[str, dict]:
    proc, _seconds, parsed = corpus_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert parsed is not None, f"stdout is not JSON: {proc.stdout[:500]!r}"
    return {_rel(Path(r["file"])): r for r in parsed}


# --- the run as a whole ----------------------------------------------------------------------------------------------

def test_cli_exits_cleanly_without_a_configuration(corpus_run):
    proc, _seconds, _parsed = corpus_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]


def test_output_is_one_json_object_per_file_in_order(corpus_run):
    proc, _seconds, parsed = corpus_run
    assert isinstance(parsed, list), f"stdout is not a JSON list: {proc.stdout[:500]!r}"
    assert [r["file"] for r in parsed] == [str(p) for p in FILES]
    assert all(isinstance(r, dict) for r in parsed)


def test_whole_corpus_within_the_measured_bound(corpus_run):
    _proc, seconds, _parsed = corpus_run
    assert seconds < RUN_BOUND_SECONDS, f"inspect took {seconds:.1f} s over {len(FILES)} mails"


# --- each report ---------------------------------------------------------------------------------------------------

def _has_sender(path: Path) -> bool:
    """An independent check: does the raw mail carry any From address at all?"""
    message = email.message_from_bytes(path.read_bytes())
    return bool(message.keys()) and any("@" in addr for _, addr in getaddresses(message.get_all("From") or []))


@pytest.mark.parametrize("path", FILES, ids=[_rel(p) for p in FILES])
def test_each_mail_has_a_full_report_or_says_why_it_cannot_be_parsed(reports, path):
    report = reports[_rel(path)]
    if "error" in report:
        reason = report["error"]
        assert isinstance(reason, str) and reason.startswith("cannot be parsed: ") and len(reason) > 20
        assert "Traceback" not in reason and "\n" not in reason
        assert not _has_sender(path), f"a mail with a sender is reported as unparseable: {reason}"
        return
    assert REPORT_KEYS <= set(report), REPORT_KEYS - set(report)
    assert isinstance(report["auto_generated"], bool)
    assert report["findings"], "a parsed mail gets the rules' findings"
    for finding in report["findings"]:
        assert finding["rule"] and finding["status"] and finding["message_en"]
    for att in report["attachments"]:
        assert ATTACHMENT_KEYS <= set(att), ATTACHMENT_KEYS - set(att)
        assert {"ethics_refs", "decision"} <= set(att["fields"])
        assert 0 <= att["confidence"] <= 1
        if not att["readable"]:
            assert att["reason"], f"{att['filename']} is unreadable without a reason"
    for problem in report["problems"]:
        assert problem["file"] and problem["reason"]


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "C"  # Cc controls, Cf (e.g. U+202E right-to-left override), Co, Cs


@pytest.mark.parametrize("path", FILES, ids=[_rel(p) for p in FILES])
def test_attachment_names_have_no_control_characters_or_path_separators(reports, path):
    report = reports[_rel(path)]
    for att in report.get("attachments", []):
        name = att["filename"]
        assert name and name not in (".", ".."), repr(name)
        assert not any(_is_control(ch) for ch in name), repr(name)
        assert "/" not in name and "\\" not in name, repr(name)
        assert not any(_is_control(ch) for ch in att["container"] or ""), repr(att["container"])
    for problem in report.get("problems", []):
        assert not any(_is_control(ch) for ch in problem["file"]), repr(problem["file"])


# --- automatic mail ------------------------------------------------------------------------------------------------

def _looks_automatic(path: Path) -> bool:
    """An independent oracle: a delivery/disposition/feedback report, or RFC 3834 Auto-Submitted."""
    message = email.message_from_bytes(path.read_bytes())
    auto = str(message.get("Auto-Submitted", "no")).strip().lower()
    return message.get_content_type() in REPORT_TYPES or not auto.startswith("no")


AUTOMATIC = sorted({p for p in FILES if _rel(p).startswith(("flanker/bounce/", "flanker/complaints/"))}
                   | {MIME / "flanker" / "disposition-notification.eml"}
                   | {p for p in FILES if _looks_automatic(p)})


def test_the_automatic_set_is_what_the_corpus_holds():
    names = {_rel(p) for p in AUTOMATIC}
    assert len([n for n in names if n.startswith("flanker/bounce/")]) == 9
    assert len([n for n in names if n.startswith("flanker/complaints/")]) == 2
    assert {"flanker/disposition-notification.eml", "mail-parser/mail_malformed_2.eml"} <= names  # the latter: a DSN


@pytest.mark.parametrize("path", AUTOMATIC, ids=[_rel(p) for p in AUTOMATIC])
def test_automatic_mail_is_recognised(reports, path):
    report = reports[_rel(path)]
    assert report.get("auto_generated") is True, (
        f"auto_generated={report.get('auto_generated')!r}, error={report.get('error')!r}")


# --- identity numbers ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", FILES, ids=[_rel(p) for p in FILES])
def test_no_identity_number_in_the_findings_of_corpus_mail(reports, path):
    findings = reports[_rel(path)].get("findings", [])
    assert pnr.find(json.dumps(findings, ensure_ascii=False)) == []


# Luhn-valid numbers of Skatteverket's well-known test person and two others (one a coordination number).
PNRS = ["19121212-1212", "811218-9876", "701063-2391"]


def _mail_with_identity_numbers() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Forskare Forskarsson <forskare@kustlanda-uni.example>"
    msg["To"] = "halsodata@region.example"
    msg["Subject"] = f"Ansökan om hälsodata, gäller patient {PNRS[0]}"
    msg["Message-ID"] = "<pnr-test@kustlanda-uni.example>"
    msg.set_content(f"Hej!\n\nPatienterna {PNRS[1]} och {PNRS[2]} ska ingå i uttaget.\n\nMvh Forskare\n")
    msg.add_attachment(f"Deltagarlista\n{PNRS[0]}\n{PNRS[1]}\n".encode(), maintype="text", subtype="plain",
                       filename=f"Deltagare {PNRS[1]}.txt")
    return msg.as_bytes()


def test_no_identity_number_in_the_findings_of_a_mail_full_of_them(tmp_path):
    raw = _mail_with_identity_numbers()
    assert set(pnr.find(raw.decode())) >= set(PNRS)  # the oracle sees every number
    path = tmp_path / "personnummer.eml"
    path.write_bytes(raw)
    proc, _seconds = run_inspect([path], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [report] = json.loads(proc.stdout)
    by_rule = {f["rule"]: f for f in report["findings"]}
    assert by_rule["sensitive_data.not_in_mail"]["status"] == "failed"  # the numbers were noticed...
    leaks = {f["rule"]: pnr.find(json.dumps(f, ensure_ascii=False)) for f in report["findings"]}
    assert {rule: found for rule, found in leaks.items() if found} == {}  # ...and are quoted nowhere


def test_inspect_with_a_broken_configuration_says_so(tmp_path):
    """README: wrong configuration stops the program with the key and the fix; inspect must not hide it."""
    config = tmp_path / "halsodata.toml"
    config.write_text("[rules\nthis is not toml\n")
    proc, _seconds = run_inspect([MIME / "flanker" / "text-only.eml"], tmp_path, "--config", str(config))
    assert proc.returncode != 0 or "configuration" in proc.stderr.lower(), (
        f"exit {proc.returncode}, stderr {proc.stderr!r}: the broken configuration was silently ignored")
