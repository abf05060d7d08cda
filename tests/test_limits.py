"""The [limits] of one mail, set by configuration: beyond each, the part becomes a finding on the case."""

from __future__ import annotations

import io
import json
import zipfile

from sqlmodel import select

from intake import daemon
from intake.config import LimitsConfig
from intake.reading import DEFAULT_READ, DEFAULT_UNPACK
from store.db import session_scope
from store.models import Case, Finding, InboundMail
from tests import factory


def test_the_defaults_are_the_readers_own():
    limits = LimitsConfig()
    assert limits.unpack_limits() == DEFAULT_UNPACK and limits.read_limits() == DEFAULT_READ


def _zip_of(n: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for i in range(n):
            z.writestr(f"bilaga-{i}.txt", f"Bilaga {i}\n")
    return out.getvalue()


def test_configured_limits_turn_big_files_and_archives_into_findings(mailbox, smtp_sink, make_config):
    config = make_config(extra="[limits]\nmax_attachment_bytes = 2048\nmax_archive_members = 3\n")
    mailbox.deliver("intake@halsodata.test", factory.mail(attachments=[
        ("Forskningsplan.txt", "text/plain", ("Forskningsplan för KOL-studien.\n" * 200).encode()),
        ("bilagor.zip", "application/zip", _zip_of(5)),
        ("variabellista.csv", "text/csv", b"Variabel;Kalla\nkon;NPR\n"),
    ]))
    report = daemon.run_once(config)
    assert report.taken_in == 1 and report.failed == 0
    with session_scope(daemon.open_context(config).engine) as s:
        mail = s.exec(select(InboundMail)).one()
        assert mail.status == "processed"
        problems = json.loads(mail.problems)
        case = s.get(Case, mail.case_id)
        [finding] = s.exec(select(Finding).where(Finding.case_id == case.id, Finding.rule == "attachments.readable",
                                                 Finding.current == True)).all()  # noqa: E712
    text = json.dumps(problems)
    assert "Forskningsplan.txt" in text and "bilagor.zip" in text
    assert finding.status != "ok"
    assert "Forskningsplan.txt" in finding.message_en and "bilagor.zip" in finding.message_en


class _DaemonGone:
    """A reader's connection whose daemon died while the file was being read."""

    def __init__(self):
        self.tasks = [("note.txt", "text/plain", None, DEFAULT_READ, None)]

    def fileno(self) -> int:
        return -1

    def recv(self):
        return self.tasks.pop(0) if self.tasks else None

    def recv_bytes(self) -> bytes:
        return b"Forskningsplan"

    def send(self, _message) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_whose_daemon_died_ends_quietly(capfd):
    """Regression: after a SIGKILL of the daemon every reader printed a BrokenPipeError traceback into its log."""
    import multiprocessing

    from intake.readers.limits import _serve

    child = multiprocessing.get_context("fork").Process(target=_serve, args=(_DaemonGone(),))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert "Traceback" not in capfd.readouterr().err


def test_reader_processes_let_go_of_the_daemons_pipes():
    """Regression: readers forked from the daemon kept every pipe it had open, so the other end never saw end of
    file (a test run hung at the end waiting for the browser driver's pipe a reader still held)."""
    import os
    import select

    from intake.documents import FileItem
    from intake.readers import limits

    limits._POOL.shutdown()  # readers forked before the pipe existed would not hold it anyway
    r, w = os.pipe()
    try:
        result = limits.read_isolated(FileItem(filename="plan.txt", content_type="text/plain", data=b"Forskningsplan"))
        assert result.readable
        assert limits._POOL.idle, "the reader stays for the next file"
        os.close(w)
        w = None
        ready, _, _ = select.select([r], [], [], 10)
        assert ready and os.read(r, 1) == b"", "a reader process still holds the write end of the pipe"
    finally:
        os.close(r)
        if w is not None:
            os.close(w)
        limits._POOL.shutdown()


def test_a_reader_lets_go_of_a_socket_opened_after_its_list_of_descriptors(monkeypatch):
    """Readers are forked from the read-ahead thread: a connection the main thread opens between the list and the
    fork (IMAP, SMTP, PostgreSQL) must not stay open in the reader, or the server never sees it closed."""
    import socket

    from intake.documents import FileItem
    from intake.readers import limits

    limits._POOL.shutdown()
    listed = limits._descriptors
    monkeypatch.setattr(limits, "_descriptors", lambda full=False: listed(full) if full else {})  # listed too early
    ours, server_side = socket.socketpair()
    try:
        limits.read_isolated(FileItem(filename="plan.txt", content_type="text/plain", data=b"Forskningsplan"))
        assert limits._POOL.idle, "the reader stays for the next file"
        ours.close()  # the daemon hangs up
        server_side.settimeout(10)
        assert server_side.recv(1) == b"", "a reader process still holds the daemon's connection"
    finally:
        ours.close()
        server_side.close()
        limits._POOL.shutdown()


def test_a_reader_ends_when_the_daemon_lets_go_of_its_pipe():
    """Regression: a reader kept the daemon's end of its own pipe, so when the daemon was killed the reader waited
    for its next file forever (orphaned reader processes after every SIGKILL)."""
    from intake.documents import FileItem
    from intake.readers import limits

    limits._POOL.shutdown()
    limits.read_isolated(FileItem(filename="plan.txt", content_type="text/plain", data=b"Forskningsplan"))
    [reader] = limits._POOL.idle
    limits._POOL.idle.clear()
    reader.conn.close()  # what the kernel does for a daemon killed with SIGKILL; no farewell is sent
    reader.proc.join(10)
    alive = reader.proc.is_alive()
    if alive:
        reader.kill()
    assert not alive, "the reader did not see its daemon go"
