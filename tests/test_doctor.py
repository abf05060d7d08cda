"""`halsodata doctor` against the real Dovecot, SMTP server and database: a good configuration passes, and each
broken one is named with its fix, without the doctor changing or sending anything."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from intake.cli import main
from store import db, migrate
from store.blobs import BlobStore, load_keys, new_key
from tests import factory
from tests.conftest import MAILBOX_USER
from tests.support.dovecot import free_port


def _doctor(config, *args):
    result = CliRunner().invoke(main, ["--config", str(config.source), "doctor", *args])
    lines = result.output.splitlines()
    problems = [line for line in lines if line.startswith("PROBLEM")]
    return result, problems


def test_a_good_configuration_passes_and_nothing_is_sent_or_changed(mailbox, smtp_sink, make_config):
    config = make_config(extra='[metrics]\nenabled = true\nlisten = "127.0.0.1:%d"\n' % free_port())
    mailbox.deliver(MAILBOX_USER, factory.mail())
    assert CliRunner().invoke(main, ["--config", str(config.source), "run", "--once"]).exit_code == 0
    sent = len(smtp_sink.wait_for(1))
    mailbox.deliver(MAILBOX_USER, factory.mail("A second application", sender="b@uni.example"))

    result, problems = _doctor(config)
    assert result.exit_code == 0, result.output
    assert problems == []
    out = result.output
    assert re.search(r"^ok +mailbox sign-in +signed in to 127.0.0.1:\d+ \(no encryption, password\) as "
                     r"'intake@halsodata.test'; the server offers IDLE, MOVE", out, re.M)
    assert "intake folder 'INBOX' has 1 message(s); processed folder 'Processed' exists" in out
    assert re.search(r"^ok +smtp +127.0.0.1:\d+, no sign-in configured; MAIL FROM halsodata@region.test and "
                     r"RCPT TO halsodata@region.test accepted, then reset \(nothing sent\)", out, re.M)
    assert f"schema revision {migrate.head()} (current)" in out
    assert "the newest and oldest of" in out and "decrypt with the key" in out
    assert "is free for /metrics and /health" in out
    # `run --once` (the demo, a cron job) leaves its heartbeat too: not "no daemon has run against this database"
    assert re.search(r"^ok +daemon +halsodata \(\S+\) last read the mailbox \d+ s ago$", out, re.M), out
    from datetime import timedelta

    from sqlmodel import Session, select

    from store.models import ServiceStatus, utcnow
    with Session(db.make_engine(config.store.url)) as s:  # a service that stopped reading the mailbox long ago
        for row in s.exec(select(ServiceStatus)).all():
            row.last_poll_at = utcnow() - timedelta(hours=56)
            s.add(row)
        s.commit()
    stale, _ = _doctor(config)
    assert "last read the mailbox 56 h ago; that is over an hour ago" in stale.output
    assert "systemctl status halsodata" in stale.output
    assert out.rstrip().endswith("No problems found.")
    assert len(smtp_sink.messages) == sent, "the doctor must not send mail"
    assert mailbox.list_uids(MAILBOX_USER, "intake-secret") != [], "the waiting mail is left where it is"


def _break_password(config, tmp_path):
    _edit(config, 'password = "intake-secret"', 'password = "not-the-password"')


def _break_folder(config, tmp_path):
    _edit(config, 'folder = "INBOX"', 'folder = "Ansokningar"')


def _break_smtp(config, tmp_path):
    _edit(config, f"port = {config.smtp.port}", f"port = {free_port()}")


def _break_schema(config, tmp_path):
    migrate.upgrade(db.make_engine(config.store.url), "0001")


def _break_key_file(config, tmp_path):
    _edit(config, 'key_file = "store.key"', 'key_file = "keys/store.key"')


def _break_key(config, tmp_path):
    config.store.files.mkdir(parents=True)
    BlobStore(config.store.files, load_keys(config.store.key_file, None)).put(b"a stored mail")
    config.store.key_file.write_text(new_key() + "\n")  # a new key, the old one thrown away


def _break_password_file(config, tmp_path):
    _edit(config, 'password = "intake-secret"', 'password_file = "imap.password"')


def _break_config(config, tmp_path):
    _edit(config, "[cases]", "[cases]\nnumber_fromat = \"X-{seq}\"")


def _edit(config, old: str, new: str) -> None:
    text = config.source.read_text()
    assert old in text
    config.source.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("brk, check, what, fix", [
    (_break_password, "mailbox sign-in", "refused the login for [imap] username 'intake@halsodata.test'",
     "check the username and password"),
    (_break_folder, "mailbox folders", "the intake folder [imap] folder = 'Ansokningar' does not exist",
     "set [imap] folder to one of 'INBOX'"),
    (_break_smtp, "smtp", "cannot connect to the SMTP server 127.0.0.1:", "check [smtp] host, port and security"),
    (_break_schema, "database", "has schema revision 0001, this version of halsodata needs",
     "back up the database, then run `halsodata db upgrade`"),
    (_break_key_file, "encryption key", "store.key_file: cannot read", "create it with `halsodata keygen --out"),
    (_break_key, "file store", "cannot be decrypted with the configured key(s)",
     "set [store] key_file to the key the files were stored with"),
    (_break_config, "configuration", "cases.number_fromat: unknown key", "remove it or check its spelling"),
    (_break_password_file, "imap password", "imap.password_file: cannot read", "point it at a readable file"),
], ids=["wrong-password", "missing-folder", "smtp-unreachable", "outdated-schema", "missing-key-file",
        "key-does-not-decrypt", "unknown-key", "missing-password-file"])
def test_a_broken_configuration_names_the_problem_and_its_fix(mailbox, make_config, tmp_path, brk, check, what, fix):
    config = make_config()
    brk(config, tmp_path)
    result, problems = _doctor(config)
    assert result.exit_code == 1, result.output
    assert len(problems) == 1, result.output
    assert re.match(rf"PROBLEM +{re.escape(check)} ", problems[0]), result.output
    assert what in result.output
    assert f"Fix: {fix}" in result.output or f"fix: {fix}" in result.output.lower(), result.output
    assert "1 problem(s). Fix them and run `halsodata doctor` again." in result.output
