"""Crash safety and outages, small: the real daemon killed with SIGKILL at random moments while it works, with
the IMAP server, the SMTP server and the database restarted under it. scripts/crash_test.py runs the large one."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import pytest
from sqlmodel import select

from outbox import send
from store import db
from store.db import session_scope
from store.models import OutboxMail, utcnow
from tests.conftest import MAILBOX_PASSWORD, write_config
from tests.samples.variants import labelled_set
from tests.support import crash
from tests.support.dovecot import make_rundir
from tests.support.postgres import PrivatePostgres, available


@pytest.fixture(scope="module")
def applications():
    return [m.raw for m in labelled_set(seed=7, n=8)]


def _config(tmp_path, dovecot, sink, url):
    return write_config(tmp_path / "halsodata.toml", imap_port=dovecot.imap_port, smtp_port=sink.port, store_url=url,
                        extra="[log]\nlevel = \"INFO\"\n")


def _check(counts: crash.Counts, daemon_logs: str = "") -> None:
    report = "\n".join(counts.lines())
    assert not counts.problems, report + "\n" + daemon_logs[-4000:]
    assert counts.kills > 0 and counts.recorded == counts.delivered == counts.cases
    assert counts.attachments_recorded == counts.attachments_expected > counts.delivered
    assert counts.replies_received == counts.replies_sent >= counts.cases


def test_sigkill_at_random_moments_loses_and_doubles_nothing(mailbox, smtp_sink, tmp_path, applications):
    url = f"sqlite:///{tmp_path / 'halsodata.db'}"
    path = _config(tmp_path, mailbox, smtp_sink, url)
    counts = crash.run(mails=applications, dovecot=mailbox, password=MAILBOX_PASSWORD, sink=smtp_sink,
                       config_path=path, store_url=url, workdir=tmp_path, kills=5, seed=11,
                       kill_after=(1.5, 4.0), finish_timeout=240)
    _check(counts, "\n".join(p.read_text(errors="replace") for p in sorted(tmp_path.glob("daemon-*.log"))))


@pytest.mark.skipif(not available(), reason="PostgreSQL's server programs are not installed")
def test_kills_and_outages_of_imap_smtp_and_a_restarted_postgresql(mailbox, smtp_sink, tmp_path, applications):
    # outside pytest's folder for temporary files, which pytest keeps closed to other users (the server runs
    # as postgres)
    with PrivatePostgres(make_rundir("hdpg")) as pg:
        path = _config(tmp_path, mailbox, smtp_sink, pg.url)
        counts = crash.run(mails=applications[:6], dovecot=mailbox, password=MAILBOX_PASSWORD, sink=smtp_sink,
                           config_path=path, store_url=pg.url, workdir=tmp_path, kills=6, seed=5,
                           outages=("imap", "smtp", "db"), pg=pg, kill_after=(2.0, 5.0), finish_timeout=240)
    assert sum(counts.outages.values()) > 0
    _check(counts, "\n".join(p.read_text(errors="replace") for p in sorted(tmp_path.glob("daemon-*.log"))))


def test_a_locked_sqlite_database_makes_the_daemon_wait_not_fail(mailbox, smtp_sink, tmp_path, applications):
    url = f"sqlite:///{tmp_path / 'halsodata.db'}"
    path = _config(tmp_path, mailbox, smtp_sink, url)
    counts = crash.run(mails=applications[:3], dovecot=mailbox, password=MAILBOX_PASSWORD, sink=smtp_sink,
                       config_path=path, store_url=url, workdir=tmp_path, kills=2, seed=3, outages=("db",),
                       kill_after=(3.0, 6.0), finish_timeout=240)
    _check(counts)


def _sending(engine, claimed_by: str) -> int:
    with session_scope(engine) as s:
        mail = OutboxMail(type="acknowledgment", status="sending", message_id=f"<{claimed_by}@t>", to="r@uni.example",
                          subject="s", language="sv", body="b", claimed_by=claimed_by,
                          next_attempt_at=utcnow() + timedelta(minutes=10))
        s.add(mail)
        s.flush()
        return mail.id


def test_a_restarted_daemon_sends_at_once_what_a_dead_one_had_claimed(make_config):
    """Without this, a reply claimed just before a crash waited for the ten-minute lease."""
    from intake import daemon

    config = make_config()
    engine = daemon.open_context(config).engine
    host = socket.gethostname()
    dead_pid = 2 ** 22 + 12345  # above any pid_max: no such process
    dead = _sending(engine, f"{host}:{dead_pid}")
    live = _sending(engine, f"{host}:{os.getpid()}")
    elsewhere = _sending(engine, f"other-host:{dead_pid}")
    assert send.release_dead_claims(engine) == 1
    with session_scope(engine) as s:
        status = {m.id: (m.status, m.claimed_by) for m in s.exec(select(OutboxMail)).all()}
    assert status[dead] == ("queued", "")
    assert status[live][0] == status[elsewhere][0] == "sending"
    db.make_engine(config.store.url).dispose()
