"""Crash and outage harness: a real daemon on a real mailbox, killed (SIGKILL) at random moments, with the
IMAP server, the SMTP server and the database failing under it; then the counts that prove nothing was lost
and nothing doubled.

Used small by tests/test_crash.py and large by scripts/crash_test.py. The daemon runs as a child process
group (`halsodata run`, as systemd would run it) and is killed as a group, reader processes included, like a
power cut. At the end one daemon runs until everything is done; then the database and the SMTP server's
record are compared with what was delivered.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sqlalchemy import func
from sqlmodel import select

from intake.receive import header_message_id
from intake.unpack import unpack
from store import db
from store.db import session_scope
from store.models import Attachment, Case, InboundMail, OutboxMail
from tests.support.dovecot import Dovecot
from tests.support.smtp_sink import SmtpSink

INTAKE_USER = "intake@halsodata.test"
DAEMON = ("import sys; from intake.cli import main; sys.exit(main(prog_name='halsodata'))",)


@dataclass
class Counts:
    """What the harness found; `problems` is empty when nothing was lost and nothing doubled."""

    delivered: int = 0
    kills: int = 0
    outages: Counter = field(default_factory=Counter)
    recorded: int = 0  # rows in the mail table
    distinct_recorded: int = 0  # distinct Message-IDs among them
    unprocessed: int = 0  # still "fetched"
    failed: int = 0
    cases: int = 0
    attachments_expected: int = 0
    attachments_recorded: int = 0
    replies_queued: int = 0
    replies_sent: int = 0  # rows marked sent
    replies_received: int = 0  # distinct Message-IDs at the SMTP server
    resent: int = 0  # Message-IDs the SMTP server got more than once (at least once, recognisable)
    left_in_inbox: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        outages = ", ".join(f"{k} {v}" for k, v in sorted(self.outages.items())) or "none"
        return [
            f"mails delivered:                 {self.delivered}",
            f"daemon kills (SIGKILL):          {self.kills}",
            f"outages:                         {outages}",
            f"mails recorded (rows, distinct): {self.recorded}, {self.distinct_recorded}",
            f"mails unprocessed / failed:      {self.unprocessed} / {self.failed}",
            f"cases opened:                    {self.cases}",
            f"documents expected / recorded:   {self.attachments_expected} / {self.attachments_recorded}",
            f"replies queued / sent:           {self.replies_queued} / {self.replies_sent}",
            f"replies at the SMTP server:      {self.replies_received} distinct, {self.resent} sent again "
            "(same Message-ID)",
            f"left in the intake folder:       {self.left_in_inbox}",
            f"time:                            {self.seconds:.0f} s",
            "RESULT: " + ("nothing lost, nothing doubled" if not self.problems else
                          "PROBLEMS: " + "; ".join(self.problems)),
        ]


class Daemon:
    """`halsodata run` as a child process group, with its output in a log file."""

    def __init__(self, config_path: Path, logdir: Path):
        self.config_path, self.logdir = config_path, logdir
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = open(self.logdir / f"daemon-{self.starts:03}.log", "wb")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-c", *DAEMON, "--config", str(self.config_path), "run"],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        log.close()

    def kill(self) -> None:
        """SIGKILL to the whole group: the daemon and any reader it had started, in the middle of whatever."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.proc = None

    def stop(self) -> int:
        """SIGTERM, as systemd stops it; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9
        self.proc = None
        return code

    def connected(self) -> bool:
        current = self.logdir / f"daemon-{self.starts:03}.log"
        return current.exists() and b"connected to the mailbox" in current.read_bytes()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logdir.glob("daemon-*.log")))


def _inbox_count(dovecot: Dovecot, password: str) -> int:
    return len(dovecot.list_uids(INTAKE_USER, password, "INBOX"))


def _done(engine, delivered: int, dovecot: Dovecot, password: str) -> bool:
    with session_scope(engine) as s:
        recorded = s.exec(select(func.count()).select_from(InboundMail)).one()
        waiting = s.exec(select(func.count()).select_from(InboundMail)
                         .where(InboundMail.status == "fetched")).one()
        unsent = s.exec(select(func.count()).select_from(OutboxMail)
                        .where(OutboxMail.status.in_(("queued", "sending")))).one()
    return recorded >= delivered and waiting == 0 and unsent == 0 and _inbox_count(dovecot, password) == 0


def _hold_sqlite_lock(path: str, seconds: float) -> None:
    """Another program holds SQLite's write lock for a while (a backup, a coordinator's long query)."""
    conn = sqlite3.connect(path, timeout=5)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        conn.rollback()
    finally:
        conn.close()


def run(*, mails: list[bytes], dovecot: Dovecot, password: str, sink: SmtpSink, config_path: Path, store_url: str,
        workdir: Path, kills: int, seed: int = 1, outages: tuple[str, ...] = (), pg=None,
        kill_after: tuple[float, float] = (1.0, 4.0), finish_timeout: float = 600,
        say: Callable[[str], None] = lambda _line: None) -> Counts:
    """Deliver `mails`, kill the daemon `kills` times at random moments (with the `outages` in between:
    "imap", "smtp", "db"), let one daemon finish, and count. The intake folder must be empty at the start."""
    rng = random.Random(seed)
    counts = Counts(delivered=len(mails))
    started = time.monotonic()
    for raw in mails:
        dovecot.deliver(INTAKE_USER, raw)
    say(f"delivered {len(mails)} mails")
    daemon = Daemon(config_path, workdir)
    engine = db.make_engine(store_url)
    sqlite_path = store_url.split("sqlite:///", 1)[1] if store_url.startswith("sqlite") else None
    try:
        for k in range(kills):
            daemon.start()
            time.sleep(rng.uniform(*kill_after) / 2)
            if outages and rng.random() < 0.5:
                what = rng.choice(outages)
                counts.outages[what] += 1
                if what == "imap":
                    dovecot.restart(graceful=rng.random() < 0.5)
                elif what == "smtp":
                    sink.stop()
                    time.sleep(rng.uniform(0.5, 3))
                    sink.start()
                elif what == "db" and pg is not None:
                    pg.restart("immediate" if rng.random() < 0.5 else "fast")
                elif what == "db" and sqlite_path:
                    _hold_sqlite_lock(sqlite_path, rng.uniform(1, 4))
            time.sleep(rng.uniform(*kill_after) / 2)
            daemon.kill()
            counts.kills += 1
            if (k + 1) % 5 == 0 or k + 1 == kills:
                say(f"{k + 1} kills so far")
        daemon.start()
        deadline = time.monotonic() + finish_timeout
        while time.monotonic() < deadline:
            # the last daemon must have done a cycle of its own (and set up its signal handling) first
            if daemon.connected() and _done(engine, len(mails), dovecot, password):
                break
            if not daemon.alive():
                counts.problems.append("the daemon exited on its own")
                break
            time.sleep(0.5)
        else:
            counts.problems.append(f"not finished after {finish_timeout:.0f} s")
        if daemon.alive():
            code = daemon.stop()
            if code != 0:
                counts.problems.append(f"the daemon exited with {code} on SIGTERM")
    finally:
        daemon.kill()
    counts.seconds = time.monotonic() - started
    _count(counts, mails, engine, sink, dovecot, password)
    engine.dispose()
    return counts


def _count(counts: Counts, mails: list[bytes], engine, sink: SmtpSink, dovecot: Dovecot, password: str) -> None:
    wanted = {header_message_id(raw): len(unpack(raw).files) for raw in mails}
    counts.attachments_expected = sum(wanted.values())
    with session_scope(engine) as s:
        rows = s.exec(select(InboundMail)).all()
        counts.recorded = len(rows)
        per_id = Counter(r.message_id for r in rows)
        counts.distinct_recorded = len(per_id)
        counts.unprocessed = sum(r.status == "fetched" for r in rows)
        counts.failed = sum(r.status == "failed" for r in rows)
        cases = s.exec(select(Case)).all()
        counts.cases = len(cases)
        attachments = Counter(s.exec(select(Attachment.mail_id)).all())
        counts.attachments_recorded = sum(attachments.values())
        outbox = s.exec(select(OutboxMail)).all()
        counts.replies_queued = len(outbox)
        counts.replies_sent = sum(o.status == "sent" for o in outbox)
        per_case_type = Counter((o.case_id, o.type) for o in outbox)
        ids = {o.message_id for o in outbox}
        lost = [m for m in wanted if m not in per_id]
        doubled = [m for m, n in per_id.items() if n > 1]
        if lost:
            counts.problems.append(f"{len(lost)} delivered mail(s) never recorded")
        if doubled:
            counts.problems.append(f"{len(doubled)} mail(s) recorded more than once")
        if counts.unprocessed or counts.failed:
            counts.problems.append(f"{counts.unprocessed} unprocessed, {counts.failed} failed")
        if counts.cases != len(mails):
            counts.problems.append(f"{counts.cases} cases for {len(mails)} applications")
        by_case = Counter(r.case_id for r in rows)
        if any(n != 1 for n in by_case.values()) or None in by_case:
            counts.problems.append("a case does not have exactly one application mail")
        short = [r.id for r in rows if attachments.get(r.id, 0) != wanted.get(r.message_id, -1)]
        if short:
            counts.problems.append(f"{len(short)} mail(s) with documents missing or doubled")
        if counts.replies_sent != counts.replies_queued:
            counts.problems.append(f"{counts.replies_queued - counts.replies_sent} replies not sent")
        if any(n > 1 for n in per_case_type.values()):
            counts.problems.append("a case got the same kind of reply twice (different Message-IDs)")
        # the first answer: an acknowledgment, or the aggregated-statistics answer (DOMAIN.md section 7)
        acks = {o.case_id for o in outbox if o.type in ("acknowledgment", "aggregated_answer") and o.status == "sent"}
        if len(acks) != counts.cases:
            counts.problems.append(f"{counts.cases - len(acks)} case(s) without a sent acknowledgment")
    received = Counter(header_message_id(m.data) for m in sink.messages)
    counts.replies_received = len(received)
    counts.resent = sum(1 for n in received.values() if n > 1)
    strangers = set(received) - ids
    if strangers:
        counts.problems.append(f"{len(strangers)} message(s) at the SMTP server the outbox does not know")
    missing = {o.message_id for o in outbox if o.status == "sent"} - set(received)
    if missing:
        counts.problems.append(f"{len(missing)} reply(ies) marked sent never reached the SMTP server")
    counts.left_in_inbox = _inbox_count(dovecot, password)
    if counts.left_in_inbox:
        counts.problems.append(f"{counts.left_in_inbox} mail(s) left in the intake folder")
