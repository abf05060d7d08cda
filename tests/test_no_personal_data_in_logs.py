"""No personal identity numbers, addresses, subjects or bodies in any log line, even at DEBUG."""

from __future__ import annotations

import os
import subprocess
import sys

from tests import factory
from tests.conftest import MAILBOX_USER
from tests.samples.demo import demo_set

PNRS = ["19121212-1212", "701063-2391", "121212+1212"]


def test_every_log_line_is_free_of_personal_data(mailbox, smtp_sink, make_config):
    config = make_config(extra="")
    text = config.source.read_text().replace('[cases]', '[log]\nlevel = "DEBUG"\n\n[cases]')
    config.source.write_text(text)
    csv = ("personnummer;namn\n" + "\n".join(f"{p};Patient {i}" for i, p in enumerate(PNRS))).encode()
    mailbox.deliver(MAILBOX_USER, factory.mail(
        f"Ansökan om data för patient {PNRS[0]}", f"Hej! Här är patienterna:\n{PNRS[1]}\n{PNRS[2]}\n",
        sender="Greta Garbo-Testsson <greta.testsson@ki.example>",
        attachments=[(f"patientlista {PNRS[0]}.csv", "text/csv", csv)]))
    for sample in demo_set(MAILBOX_USER)[:2]:
        mailbox.deliver(MAILBOX_USER, sample.raw)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run([sys.executable, "-m", "intake.cli", "--config", str(config.source), "run", "--once"],
                            capture_output=True, text=True, env=env, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    log = result.stdout + result.stderr
    assert "DEBUG" in log or "INFO" in log  # the run did log
    for secret in [*PNRS, "greta", "Garbo", "patientlista", "Patient 0", "anna.lindqvist", "hjärtsvikt",
                   "KOL-studien", "Här är patienterna"]:
        where = log.lower().find(secret.lower())
        assert where == -1, (secret, log[max(0, where - 300):where + 100])
