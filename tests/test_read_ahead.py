"""The preparer process that reads the next mails while the daemon processes the current one: a mail that kills or
hangs it fails alone, a stop request is heard while it works, and the documents it seals end in the store exactly when
a committed mail refers to them."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import time

import pytest
from sqlmodel import select

from intake import daemon, pipeline
from intake.receive import record
from store.db import session_scope
from store.models import Attachment, InboundMail
from tests import factory


def _recorded(ctx: pipeline.Context, n: int) -> list[tuple[int, str]]:
    out = []
    for uid in range(1, n + 1):
        row = record(ctx.engine, ctx.blobs, account="acc", folder="INBOX", uidvalidity=1, uid=uid,
                     raw=factory.mail(f"Ansökan {uid}", sender=f"r{uid}@uni.example",
                                      attachments=[("forskningsplan.txt", "text/plain",
                                                    f"Forskningsplan {uid}\nSyfte och metod".encode())]))
        out.append((row.id, row.sha256))
    return out


def _temporaries(ctx: pipeline.Context) -> list[str]:
    return [name for _, _, files in os.walk(ctx.blobs.root) for name in files if ".tmp" in name]


def test_a_mail_that_kills_the_preparer_fails_alone_and_the_others_are_processed(make_config, monkeypatch):
    ctx = daemon.open_context(make_config())
    mails = _recorded(ctx, 3)
    poisoned = mails[1][1]
    real = pipeline.prepare

    def prepare(blobs, limits, digest):  # runs in the forked preparer
        if digest == poisoned:
            os._exit(9)  # as the kernel's OOM killer would end it
        return real(blobs, limits, digest)

    monkeypatch.setattr(pipeline, "prepare", prepare)
    report, ahead = daemon.CycleReport(), pipeline.ReadAhead(ctx)
    try:
        for mail_id, digest in mails:
            ahead.start(mail_id, digest)
        for mail_id, _ in mails:
            daemon._process(ctx, mail_id, report, ahead)
    finally:
        ahead.close()
    assert (report.processed, report.failed) == (3, 1)
    with session_scope(ctx.engine) as s:
        rows = {r.id: r for r in s.exec(select(InboundMail)).all()}
        assert [rows[m].status for m, _ in mails] == ["processed", "failed", "processed"]
        failed = rows[mails[1][0]]
        assert "crashed or ran out of memory" in failed.outcome and failed.leave_in_mailbox
        kept = s.exec(select(Attachment)).all()
    assert len(kept) == 2 and all(ctx.blobs.get(a.sha256) for a in kept)  # the others' documents are in the store
    assert _temporaries(ctx) == []


def test_documents_prepared_for_mails_never_processed_leave_no_files_behind(make_config):
    ctx = daemon.open_context(make_config())
    mails = _recorded(ctx, 3)
    ahead = pipeline.ReadAhead(ctx)
    try:
        for mail_id, digest in mails:
            ahead.start(mail_id, digest)
        prepared = ahead.take(mails[0][0])
        assert prepared.sealed and all(os.path.exists(s.tmp) for s in prepared.sealed)
        deadline = time.monotonic() + 60
        while len(_temporaries(ctx)) < 3 * len(prepared.sealed) and time.monotonic() < deadline:
            time.sleep(0.05)  # until the preparer has sealed the other two as well and sent its answers
        assert len(_temporaries(ctx)) == 3 * len(prepared.sealed)
    finally:
        ahead.close()  # the daemon stops before processing them
    ctx.blobs.discard(prepared.sealed)
    assert _temporaries(ctx) == []
    assert set(ctx.blobs.digests()) == {d for _, d in mails}  # the raw mails only: no document was kept


def _statuses(ctx: pipeline.Context, mails: list[tuple[int, str]]) -> list[str]:
    with session_scope(ctx.engine) as s:
        return [s.get(InboundMail, mail_id).status for mail_id, _ in mails]


def _outcome(ctx: pipeline.Context, mail_id: int) -> InboundMail:
    with session_scope(ctx.engine) as s:
        row = s.get(InboundMail, mail_id)
        s.expunge(row)
        return row


def _poison(monkeypatch, digest: str, action) -> None:
    """`action` runs instead of preparing the mail `digest`, in whichever process prepares it."""
    real = pipeline.prepare

    def prepare(blobs, limits, d):
        if d == digest:
            action()
        return real(blobs, limits, d)

    monkeypatch.setattr(pipeline, "prepare", prepare)


def test_a_preparer_that_died_before_the_next_mail_was_handed_to_it_fails_only_its_own_mail(make_config, monkeypatch):
    """The preparer dies on mail 1 while the daemon still fetches mail 2 from the server: handing mail 2 over meets
    a closed pipe. Before, that error ended the whole run."""
    ctx = daemon.open_context(make_config())
    mails = _recorded(ctx, 3)
    _poison(monkeypatch, mails[0][1], lambda: os._exit(9))

    def slow_server():
        for n, mail in enumerate(mails):
            if n:
                time.sleep(1.0)  # fetching: long enough for the preparer to be gone
            yield mail

    report = daemon.CycleReport()
    daemon._process_all(ctx, slow_server(), report, daemon._never)
    assert _statuses(ctx, mails) == ["failed", "processed", "processed"]
    assert "crashed or ran out of memory" in _outcome(ctx, mails[0][0]).outcome
    assert _temporaries(ctx) == []


def test_a_leftover_mail_that_kills_the_preparer_does_not_kill_the_daemon(make_config, monkeypatch):
    """Mails recorded but not processed when the daemon stopped are prepared in the child process too: before, they
    were prepared in the daemon itself, and one that crashed the preparer then crashed the daemon at every start."""
    ctx = daemon.open_context(make_config())
    mails = _recorded(ctx, 3)
    daemon_pid = os.getpid()

    def crash():
        if os.getpid() == daemon_pid:
            raise AssertionError("prepared in the daemon's own process")
        os._exit(9)

    _poison(monkeypatch, mails[1][1], crash)
    report = daemon.CycleReport()
    daemon.process_leftovers(ctx, report)
    assert _statuses(ctx, mails) == ["processed", "failed", "processed"]
    failed = _outcome(ctx, mails[1][0])
    assert "crashed or ran out of memory" in failed.outcome and failed.leave_in_mailbox


def test_a_mail_that_keeps_the_preparer_past_mail_timeout_fails_and_the_next_ones_go_on(make_config, monkeypatch):
    ctx = daemon.open_context(make_config(extra="[limits]\nread_timeout = 1\nmail_timeout = 2\n"))
    mails = _recorded(ctx, 3)
    _poison(monkeypatch, mails[1][1], lambda: time.sleep(3600))  # a reader library stuck in a loop
    report = daemon.CycleReport()
    daemon._process_all(ctx, iter(mails), report, daemon._never)
    assert _statuses(ctx, mails) == ["processed", "failed", "processed"]
    failed = _outcome(ctx, mails[1][0])
    assert "[limits] mail_timeout (2 s)" in failed.outcome and failed.leave_in_mailbox
    assert "move it out of the folder and back in to have it taken in again" in failed.outcome  # what to do


def test_a_stop_request_while_a_mail_is_being_read_stops_at_once_and_the_mail_waits_for_the_next_start(
        make_config, monkeypatch):
    ctx = daemon.open_context(make_config())
    mails = _recorded(ctx, 3)
    _poison(monkeypatch, mails[1][1], lambda: time.sleep(3600))  # a long OCR, say
    report = daemon.CycleReport()
    began = time.monotonic()
    daemon._process_all(ctx, iter(mails), report, should_stop=lambda: report.processed >= 1)
    assert time.monotonic() - began < 30  # not the hour, nor [limits] mail_timeout
    assert _statuses(ctx, mails) == ["processed", "fetched", "fetched"]
    assert _temporaries(ctx) == []
    monkeypatch.undo()  # the next start: the waiting mails are processed
    daemon.process_leftovers(ctx, report)
    assert _statuses(ctx, mails) == ["processed", "processed", "processed"]


def test_a_stop_request_ends_the_wait_for_a_mail_still_being_read(make_config, monkeypatch):
    ctx = daemon.open_context(make_config())
    mails = _recorded(ctx, 2)
    _poison(monkeypatch, mails[1][1], lambda: time.sleep(3600))
    stop, report = [], daemon.CycleReport()
    ahead = pipeline.ReadAhead(ctx, should_stop=lambda: bool(stop))
    try:
        for mail in mails:
            ahead.start(*mail)
        daemon._process(ctx, mails[0][0], report, ahead)
        stop.append("SIGTERM")
        began = time.monotonic()
        with pytest.raises(pipeline.PrepareInterrupted):
            daemon._process(ctx, mails[1][0], report, ahead)
        assert time.monotonic() - began < 30
    finally:
        ahead.close()
    assert _statuses(ctx, mails) == ["processed", "fetched"]


class _Folder:
    """A mailbox folder holding the recorded test mails, for take_in; counts what is fetched."""

    account = "acc"

    def __init__(self, raws: list[bytes]):
        self.raws, self.fetched = raws, 0

    def select(self):
        return 7

    def uids(self):
        return list(range(1, len(self.raws) + 1))

    def size(self, uid):
        return len(self.raws[uid - 1])

    def fetch(self, uid):
        self.fetched += 1
        return self.raws[uid - 1]


def test_a_stop_request_ends_fetching_between_two_mails(make_config):
    ctx = daemon.open_context(make_config())
    folder = _Folder([factory.mail(f"Ansökan {n}", sender=f"r{n}@uni.example") for n in range(10)])
    report = daemon.CycleReport()
    daemon.take_in(ctx, folder, report, should_stop=lambda: folder.fetched >= 2)
    assert folder.fetched == 2 and report.taken_in == 2


def test_signals_to_the_whole_process_group_leave_the_preparer_to_the_daemon(make_config, monkeypatch, tmp_path):
    """`systemctl stop` (without KillMode=mixed), Ctrl-C and a closed terminal signal every process of the group.
    The preparer must finish its mail: killed, it would have that innocent mail failed."""
    ctx = daemon.open_context(make_config())
    mails = _recorded(ctx, 1)
    began = tmp_path / "began"

    def slow():
        began.touch()
        time.sleep(1.0)

    _poison(monkeypatch, mails[0][1], slow)
    ahead = pipeline.ReadAhead(ctx)
    try:
        ahead.start(*mails[0])
        deadline = time.monotonic() + 30
        while not began.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            os.kill(ahead._proc.pid, signum)
        report = daemon.CycleReport()
        daemon._process(ctx, mails[0][0], report, ahead)
    finally:
        ahead.close()
    assert _statuses(ctx, mails) == ["processed"]


def _nested(depth: int) -> bytes:
    """A real attachment beside a multipart nested `depth` levels deep (within the parser's limits)."""
    body = "Content-Type: text/plain\n\nhej\n"
    for i in range(depth):
        body = f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n{body}\n--b{i}--\n'
    plan = base64.encodebytes("Forskningsplan\nSyfte och metod för studien.\n".encode()).decode()
    return (f"From: Forskare <forskare@uni.example>\nTo: intake@halsodata.test\nSubject: Ansökan\n"
            f"Message-ID: <deep{depth}@uni.example>\nMIME-Version: 1.0\n"
            f'Content-Type: multipart/mixed; boundary="TOP"\n\n--TOP\nContent-Type: text/plain; charset=utf-8\n\n'
            f'Hej, här är vår ansökan.\n--TOP\nContent-Type: text/plain; name="forskningsplan.txt"\n'
            f'Content-Disposition: attachment; filename="forskningsplan.txt"\nContent-Transfer-Encoding: base64\n\n'
            f"{plan}\n--TOP\n{body}\n--TOP--\n").encode()


def test_a_deeply_nested_mail_is_handed_over_from_the_preparer_and_processed(make_config):
    """Before, its parsed form was too deep to pickle: the mail failed with 'processing failed (RuntimeError)' and
    its sealed document stayed behind."""
    ctx = daemon.open_context(make_config())
    row = record(ctx.engine, ctx.blobs, account="acc", folder="INBOX", uidvalidity=1, uid=1, raw=_nested(200))
    report = daemon.CycleReport()
    daemon._process_all(ctx, [(row.id, row.sha256)], report, daemon._never)
    assert _statuses(ctx, [(row.id, row.sha256)]) == ["processed"]
    with session_scope(ctx.engine) as s:
        assert [a.filename for a in s.exec(select(Attachment)).all()] == ["forskningsplan.txt"]
    assert _temporaries(ctx) == []


def _with_documents(ctx: pipeline.Context, uid: int, docs: list[bytes]) -> int:
    raw = factory.mail(f"Ansökan {uid}", sender=f"r{uid}@uni.example",
                       attachments=[(f"bilaga{n}.txt", "text/plain", d) for n, d in enumerate(docs)])
    return record(ctx.engine, ctx.blobs, account="acc", folder="INBOX", uidvalidity=1, uid=uid, raw=raw).id


def test_a_document_purged_while_a_mail_with_the_same_content_is_prepared_is_stored_again(make_config):
    """Retention deletes a file no kept mail refers to. The preparer found the same content already stored and did
    not write it; purge then deleted it, and the new mail's attachment pointed at a missing file."""
    ctx = daemon.open_context(make_config())
    plan = "Forskningsplan\nSyfte och metod för studien om hjärtsvikt.\n".encode()
    first = _with_documents(ctx, 1, [plan])
    assert pipeline.process(ctx, first) == "processed"
    second = _with_documents(ctx, 2, [plan])
    prepared = pipeline._read(ctx, second)  # the preparer, before the second mail's transaction
    digest = prepared.sealed[0].digest
    assert ctx.blobs.delete(digest)  # retention purges the first mail's case meanwhile
    try:
        assert pipeline._process(ctx, second, prepared) == "processed"
    finally:
        ctx.blobs.discard(prepared.sealed)
    assert ctx.blobs.get(digest) == plan


def test_documents_of_a_mail_whose_transaction_failed_do_not_stay_in_the_store(make_config, monkeypatch):
    """Their files were put in place before the transaction failed: nothing refers to them, and no purge would ever
    find them. A file another mail keeps stays."""
    ctx = daemon.open_context(make_config())
    shared, own = b"Forskningsplan\nSyfte och metod.\n", b"Samtycke\nJag samtycker till att delta.\n"
    first = _with_documents(ctx, 1, [shared])
    assert pipeline.process(ctx, first) == "processed"
    second = _with_documents(ctx, 2, [shared, own])

    def broken(*_args, **_kwargs):
        raise RuntimeError("a rule failed")

    monkeypatch.setattr(pipeline, "evaluate", broken)
    report = daemon.CycleReport()
    daemon._process(ctx, second, report)
    assert report.failed == 1
    stored = set(ctx.blobs.digests())
    assert hashlib.sha256(shared).hexdigest() in stored
    assert hashlib.sha256(own).hexdigest() not in stored
    assert _temporaries(ctx) == []


class _Picky(Exception):
    """An exception that pickles but cannot be rebuilt (its constructor wants two arguments)."""

    def __init__(self, what, why):
        super().__init__(what)
        self.why = why


def _raise_picky():
    raise _Picky("bad", "worse")


def test_an_error_the_daemon_cannot_rebuild_fails_its_own_mail_and_the_next_mails_keep_their_own_answers(
        make_config, monkeypatch):
    """Before, the answer was read off the pipe but not matched to its mail: every later mail got the answer meant
    for the one after it (mail 3 was answered with mail 4's content) and the last waited for mail_timeout."""
    ctx = daemon.open_context(make_config(extra="[limits]\nread_timeout = 5\nmail_timeout = 5\n"))
    mails = _recorded(ctx, 4)
    _poison(monkeypatch, mails[1][1], _raise_picky)
    report = daemon.CycleReport()
    daemon._process_all(ctx, iter(mails), report, daemon._never)
    assert _statuses(ctx, mails) == ["processed", "failed", "processed", "processed"]
    assert "_Picky" in _outcome(ctx, mails[1][0]).outcome
    for n in (0, 2, 3):
        assert _outcome(ctx, mails[n][0]).from_address == f"r{n + 1}@uni.example"


def test_the_clock_of_mail_timeout_stops_while_the_daemon_is_busy_elsewhere(make_config):
    """A large answer waits in the pipe while the daemon fetches and commits other mails: that time is not the
    mail's. Before, such a mail was failed as too slow although it had been read in a moment."""
    ctx = daemon.open_context(make_config(extra="[limits]\nread_timeout = 1\nmail_timeout = 2\n"))
    text = ("Forskningsplan\nSyfte och metod för studien om hjärtsvikt.\n" * 8000).encode()  # 400 kB of text
    mail_id = _with_documents(ctx, 1, [text])
    ahead = pipeline.ReadAhead(ctx)
    try:
        ahead.start(mail_id, _outcome(ctx, mail_id).sha256)
        time.sleep(4)  # fetching and committing other mails
        report = daemon.CycleReport()
        daemon._process(ctx, mail_id, report, ahead)
    finally:
        ahead.close()
    assert _outcome(ctx, mail_id).status == "processed"


def test_a_preparer_that_cannot_be_started_is_reported_as_such(make_config, monkeypatch):
    """Before, the failed start was hidden behind "AssertionError: can only join a started process"."""
    import multiprocessing.process

    ctx = daemon.open_context(make_config())
    mails = _recorded(ctx, 1)

    def no_fork(_self):
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", no_fork)
    with pytest.raises(OSError, match="Resource temporarily unavailable"):
        daemon._process_all(ctx, iter(mails), daemon.CycleReport(), daemon._never)
    assert _statuses(ctx, mails) == ["fetched"]  # processed at the next cycle


def _sleep_reading(item, limits):
    with open(os.environ["HALSODATA_TEST_READER_PID"], "w") as f:
        f.write(str(os.getpid()))
    time.sleep(3600)


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ")[1].startswith("Z"):
                    return True  # dead; only its entry waits for the parent
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_the_readers_of_a_preparer_killed_for_a_hung_mail_do_not_run_on(make_config, monkeypatch, tmp_path):
    """A reader's deadline was kept by the preparer: with the preparer killed, a reader stuck on a file ran on
    until the daemon stopped, and after `run --once` for ever."""
    from intake import readers

    ctx = daemon.open_context(make_config())
    mails = _recorded(ctx, 1)
    pid_file = tmp_path / "reader.pid"
    monkeypatch.setenv("HALSODATA_TEST_READER_PID", str(pid_file))
    monkeypatch.setitem(readers.READERS, "text", _sleep_reading)
    ahead = pipeline.ReadAhead(ctx)
    try:
        ahead.start(*mails[0])
        deadline = time.monotonic() + 30
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        reader = int(pid_file.read_text())
        assert open(f"/proc/{ahead._proc.pid}/comm").read().strip() == "hd-prepare"  # as top and ps show it
        assert open(f"/proc/{reader}/comm").read().strip() == "hd-reader"
        os.kill(ahead._proc.pid, signal.SIGKILL)  # as after mail_timeout
        assert _gone(reader, within=10)
    finally:
        ahead.close()


def test_a_lock_held_by_another_thread_at_the_fork_is_not_kept_by_the_preparer(make_config, monkeypatch):
    """The retention thread may hold the file store's lock at the moment the preparer is forked. The preparer's copy
    of that descriptor kept the lock held for as long as it lived, and purge and intake waited for it."""
    import fcntl

    ctx = daemon.open_context(make_config())
    mails = _recorded(ctx, 1)
    lock = ctx.blobs.root / ".lock"
    held, real = [], pipeline.fork_context()

    class Racing:
        """The fork context, with the store's lock taken by "another thread" just before the fork."""

        def __getattr__(self, name):
            return getattr(real, name)

        def Pipe(self, *args, **kwargs):  # noqa: N802 - multiprocessing's name
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            held.append(fd)
            return real.Pipe(*args, **kwargs)

    monkeypatch.setattr(pipeline, "fork_context", lambda: Racing())
    ahead = pipeline.ReadAhead(ctx)
    try:
        ahead.start(*mails[0])
        assert ahead.take(mails[0][0]) is not None  # the preparer is running
        os.close(held[0])  # the other thread is done with the lock
        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError while the preparer still holds it
        finally:
            os.close(fd)
    finally:
        ahead.close()


def test_retention_waits_for_a_mail_whose_files_are_in_place_but_not_yet_committed(make_config, monkeypatch):
    """Retention asks the database which files nothing refers to, then deletes them. A mail whose transaction has
    put its files in place but not committed had no reference yet: its attachment pointed at a deleted file."""
    import threading

    from intake import retention

    ctx = daemon.open_context(make_config())
    plan = "Forskningsplan\nSyfte och metod för studien om hjärtsvikt.\n".encode()
    digest = hashlib.sha256(plan).hexdigest()
    mail_id = _with_documents(ctx, 1, [plan])
    real, purged = pipeline.evaluate, []

    def evaluate_while_retention_runs(*args, **kwargs):
        assert os.path.exists(ctx.blobs._path(digest))  # in place, not committed
        purge = threading.Thread(target=lambda: purged.append(
            retention.delete_unreferenced(ctx.engine, ctx.blobs, {digest})))
        purge.start()
        purge.join(1.0)  # it must wait for this transaction
        purged.append(purge)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "evaluate", evaluate_while_retention_runs)
    assert pipeline.process(ctx, mail_id) == "processed"
    purged[0].join(30)
    assert purged[1:] == [0]  # nothing deleted: the mail refers to it now
    assert ctx.blobs.get(digest) == plan


def test_what_a_preparer_sealed_before_it_died_is_removed_at_once(make_config, monkeypatch):
    """Before, the sealed copies of the mail it died on stayed until the hourly sweep found them over an hour old,
    and a purge in that time left them."""
    ctx = daemon.open_context(make_config())
    mails = _recorded(ctx, 2)
    real = pipeline.prepare

    def seal_then_die(blobs, limits, digest):
        prepared = real(blobs, limits, digest)
        if digest == mails[1][1]:
            os._exit(9)  # killed after sealing, before handing over
        return prepared

    monkeypatch.setattr(pipeline, "prepare", seal_then_die)
    report = daemon.CycleReport()
    daemon._process_all(ctx, iter(mails), report, daemon._never)
    assert _statuses(ctx, mails) == ["processed", "failed"]
    assert _temporaries(ctx) == []


def test_a_preparer_whose_daemon_is_gone_removes_what_it_sealed(make_config, monkeypatch):
    ctx = daemon.open_context(make_config())
    mails = _recorded(ctx, 1)
    real = pipeline.prepare

    def slow(blobs, limits, digest):
        prepared = real(blobs, limits, digest)
        time.sleep(1.0)  # the daemon goes meanwhile
        return prepared

    monkeypatch.setattr(pipeline, "prepare", slow)
    ahead = pipeline.ReadAhead(ctx)
    ahead.start(*mails[0])
    proc = ahead._proc
    ahead._conn.close()  # as when the daemon is killed
    proc.join(30)
    assert not proc.is_alive()
    assert _temporaries(ctx) == []


def test_retention_waits_for_a_mail_being_recorded(make_config, monkeypatch):
    """A stored mail identical to one being purged (a mail set aside and put back into the folder) was deleted
    between being stored and being recorded, and was then set aside again as missing."""
    import threading

    from intake import receive, retention

    ctx = daemon.open_context(make_config())
    raw = factory.mail("Ansökan", sender="r1@uni.example")
    digest = hashlib.sha256(raw).hexdigest()
    real, purged = receive._insert, []

    def insert_while_retention_runs(*args, **kwargs):
        purge = threading.Thread(target=lambda: purged.append(
            retention.delete_unreferenced(ctx.engine, ctx.blobs, {digest})))
        purge.start()
        purge.join(1.0)
        purged.append(purge)
        return real(*args, **kwargs)

    monkeypatch.setattr(receive, "_insert", insert_while_retention_runs)
    record(ctx.engine, ctx.blobs, account="acc", folder="INBOX", uidvalidity=1, uid=1, raw=raw)
    purged[0].join(30)
    assert purged[1:] == [0] and ctx.blobs.get(digest) == raw
