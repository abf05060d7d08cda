"""Two daemons sharing one database (failover): no mail processed twice, no reply sent twice."""

from __future__ import annotations

import asyncio
import threading

from sqlmodel import select

from intake import daemon, pipeline
from intake.receive import record
from outbox import send
from store import db
from store.db import session_scope
from store.models import Case, InboundMail, OutboxMail
from tests import factory


def _contexts(config, n=2):
    first = daemon.open_context(config)
    return [first] + [pipeline.Context(config=config, engine=db.make_engine(config.store.url), blobs=first.blobs)
                      for _ in range(n - 1)]


def _race(*fns):
    errors = []
    barrier = threading.Barrier(len(fns))

    def run(fn):
        barrier.wait()
        try:
            fn()
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_a_recorded_mail_is_processed_by_one_daemon_only(make_config, store_url):
    config = make_config(store_url)
    a, b = _contexts(config)
    for uid in range(1, 6):
        row = record(a.engine, a.blobs, account="acc", folder="INBOX", uidvalidity=1, uid=uid,
                     raw=factory.mail(f"Ansökan {uid}", sender=f"r{uid}@uni.example"))
        _race(lambda mail_id=row.id: pipeline.process(a, mail_id), lambda mail_id=row.id: pipeline.process(b, mail_id))
    with session_scope(a.engine) as s:
        assert len(s.exec(select(Case)).all()) == 5
        assert len(s.exec(select(OutboxMail)).all()) == 10  # acknowledgment + supplement request each
        assert {m.status for m in s.exec(select(InboundMail)).all()} == {"processed"}


def test_recording_the_same_uid_twice_is_not_an_error(make_config):
    config = make_config()
    [ctx] = _contexts(config, 1)
    raw = factory.mail()
    assert record(ctx.engine, ctx.blobs, account="acc", folder="INBOX", uidvalidity=1, uid=1, raw=raw) is not None
    assert record(ctx.engine, ctx.blobs, account="acc", folder="INBOX", uidvalidity=1, uid=1, raw=raw) is None


def test_a_reply_is_sent_by_one_daemon_only(mailbox, smtp_sink, make_config, store_url):
    config = make_config(store_url)
    a, b = _contexts(config)
    for uid in range(1, 4):
        row = record(a.engine, a.blobs, account="acc", folder="INBOX", uidvalidity=1, uid=uid,
                     raw=factory.mail(f"Ansökan {uid}", sender=f"r{uid}@uni.example"))
        pipeline.process(a, row.id)
    _race(lambda: asyncio.run(send.send_due(a.engine, config.smtp)),
          lambda: asyncio.run(send.send_due(b.engine, config.smtp)))
    smtp_sink.wait_for(6)
    assert len(smtp_sink.messages) == 6
    with session_scope(a.engine) as s:
        assert {m.status for m in s.exec(select(OutboxMail)).all()} == {"sent"}


def test_a_mail_the_database_refuses_is_recorded_as_failed_and_intake_goes_on(mailbox, smtp_sink, make_config,
                                                                             store_url):
    """A NUL character (PostgreSQL refuses it in text) must not block every later mail."""
    config = make_config(store_url)
    mailbox.deliver("intake@halsodata.test", factory.mail("KOL\x00studien", "Hej\x00hopp, här är ansökan.\n"))
    mailbox.deliver("intake@halsodata.test", factory.mail("Nästa ansökan", sender="b@uni.example"))
    report = daemon.run_once(config)
    assert report.taken_in == 2 and report.failed == 0 and report.sent == 4
    with session_scope(daemon.open_context(config).engine) as s:
        assert len(s.exec(select(Case)).all()) == 2
