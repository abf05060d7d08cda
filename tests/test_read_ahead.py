"""The preparer process that reads the next mails while the daemon processes the current one: a mail that kills it
fails alone, and what it sealed for mails never processed does not stay behind in the file store."""

from __future__ import annotations

import os
import time

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
