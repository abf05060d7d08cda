"""`make demo`: a local Dovecot and SMTP server, five sample applications and a follow-up, processed by halsodata.

Everything runs on 127.0.0.1. The demo's state (configuration, database, encrypted files, the replies the
SMTP server received) stays in .demo/ so you can look around afterwards with the printed commands.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from email import message_from_bytes, policy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.samples.demo import demo_follow_up, demo_set  # noqa: E402
from tests.support.dovecot import Dovecot, make_rundir  # noqa: E402
from tests.support.smtp_sink import SmtpSink  # noqa: E402

DEMO = ROOT / ".demo"
USER, PASSWORD = "intake@halsodata.test", "demo-secret"
HALSODATA = [str(ROOT / ".venv" / "bin" / "halsodata"), "--config", str(DEMO / "halsodata.toml")]


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def halsodata(*args: str, capture: bool = False) -> str:
    result = subprocess.run([*HALSODATA, *args], text=True, capture_output=capture)
    if result.returncode != 0:
        sys.exit(f"halsodata {' '.join(args)} failed:\n{result.stderr if capture else ''}")
    return result.stdout if capture else ""


def write_config(imap_port: int, smtp_port: int) -> None:
    (DEMO / "halsodata.toml").write_text(textwrap.dedent(f"""\
        # Written by scripts/demo.py for the local demo servers; see config.example.toml for every key.
        [imap]
        host = "127.0.0.1"
        port = {imap_port}
        security = "none"
        username = "{USER}"
        password = "{PASSWORD}"

        [smtp]
        host = "127.0.0.1"
        port = {smtp_port}
        security = "none"
        from_address = "halsodata@region.test"

        [store]
        url = "sqlite:///halsodata.db"
        files = "files"
        key_file = "store.key"

        [cases]
        coordinators = ["handlaggare@region.test"]

        [coordinators]
        # a triage summary for each new or changed case, and a daily digest, go here
        addresses = ["handlaggare@region.test"]

        [web]
        # `halsodata web` on http://127.0.0.1:8080; plain http, so cookies without Secure (loopback only)
        secret_file = "web.secret"
        secure_cookies = false
        """))


def main() -> None:
    shutil.rmtree(DEMO, ignore_errors=True)
    (DEMO / "sent").mkdir(parents=True)
    rundir = make_rundir("hddemo")
    dovecot = Dovecot(rundir, users={USER: PASSWORD})
    sink = SmtpSink(out_dir=DEMO / "sent")
    try:
        say("Starting a local Dovecot (IMAP) and a local SMTP server on 127.0.0.1")
        dovecot.start()
        sink.start()
        print(f"IMAP 127.0.0.1:{dovecot.imap_port}, SMTP 127.0.0.1:{sink.port}, mailbox {USER}")
        write_config(dovecot.imap_port, sink.port)
        halsodata("keygen", "--out", str(DEMO / "store.key"))
        halsodata("keygen", "--out", str(DEMO / "web.secret"))

        samples = demo_set(USER)
        say(f"Delivering {len(samples)} sample applications into the mailbox")
        for sample in samples:
            dovecot.deliver(USER, sample.raw, mail_from=sample.sender)
            print(f"  {sample.name}: {sample.subject}")

        say("halsodata run --once")
        halsodata("run", "--once")

        incomplete = next(s for s in samples if s.name.startswith("03"))
        cases = json.loads(halsodata("cases", "list", "--json", capture=True))
        case = next(c for c in cases if c["researcher"] == incomplete.sender.lower())
        detail = json.loads(halsodata("cases", "show", case["number"], "--json", capture=True))
        ack_id = detail["replies"][0]["message_id"]
        follow = demo_follow_up(case["number"], ack_id, incomplete, USER)
        say(f"The researcher of {case['number']} answers the acknowledgment with the missing documents")
        dovecot.deliver(USER, follow.raw, mail_from=follow.sender)
        print(f"  {follow.subject}")

        say("halsodata run --once")
        halsodata("run", "--once")

        say("halsodata cases list")
        halsodata("cases", "list")
        say(f"halsodata cases show {case['number']}")
        halsodata("cases", "show", case["number"])

        say(f"Mail received by the SMTP server ({len(sink.messages)}), saved in .demo/sent/")
        for received in sink.messages:
            msg = message_from_bytes(received.data, policy=policy.default)
            print(f"  to {', '.join(received.rcpt_tos)}: {msg['Subject']}")
        mails = [message_from_bytes(r.data, policy=policy.default) for r in sink.messages]
        first = next(m for m in mails if m["Auto-Submitted"] == "auto-replied")
        say("The first acknowledgment, as the researcher sees it")
        print(f"Subject: {first['Subject']}\nAuto-Submitted: {first['Auto-Submitted']}\n"
              f"In-Reply-To: {first['In-Reply-To']}\n")
        print(textwrap.indent(first.get_content().strip(), "  "))
        summaries = [m for m in mails if m["Auto-Submitted"] == "auto-generated"]
        if summaries:
            say("The last triage summary, as the coordinators get it")
            print(f"Subject: {summaries[-1]['Subject']}\n")
            print(textwrap.indent(summaries[-1].get_content().strip(), "  "))

        say("halsodata export .demo/cases.xlsx (the case register)")
        halsodata("export", str(DEMO / "cases.xlsx"))

        say("Look around")
        print(f"  .venv/bin/halsodata --config .demo/halsodata.toml cases show {case['number']} --json\n"
              "  .venv/bin/halsodata --config .demo/halsodata.toml mails list\n"
              "  .venv/bin/halsodata --config .demo/halsodata.toml digest\n"
              "  .venv/bin/halsodata --config .demo/halsodata.toml outbox list\n"
              "  .venv/bin/halsodata --config .demo/halsodata.toml users add anna   # asks for a password\n"
              "  .venv/bin/halsodata --config .demo/halsodata.toml web              # http://127.0.0.1:8080\n"
              "The demo's IMAP and SMTP servers stop when the demo ends; `make demo` again starts afresh (it "
              "empties .demo/).")
    finally:
        sink.stop()
        dovecot.stop()
        shutil.rmtree(rundir, ignore_errors=True)


if __name__ == "__main__":
    main()
