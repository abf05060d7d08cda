"""Hostile tests of what is stored: what the intake record says about a mail.

Each failing test is one bug; its docstring says what a user would experience.
"""

from __future__ import annotations

from sqlmodel import select

from intake import daemon
from store import db
from store.db import session_scope
from store.models import InboundMail
from tests import factory
from tests.conftest import MAILBOX_USER


def _statuses(config) -> list[tuple[str, str]]:
    engine = db.make_engine(config.store.url)
    with session_scope(engine) as s:
        return [(m.status, m.outcome) for m in s.exec(select(InboundMail).order_by(InboundMail.id)).all()]


def test_too_large_outcome_states_the_size(mailbox, smtp_sink, make_config):
    """A coordinator reads "too large (0 MB, over [limits] max_message_bytes)" for a 0.7 MB message.

    `receive._insert` formats the size as `too_large // 1_000_000` (integer MB, and decimal MB while the
    limit is configured in bytes/MiB), so any message under 1 MB, which is possible whenever the limit
    is set below 1 MB, is reported as 0 MB over the limit. The record also keeps neither sender nor
    subject, so `mails list` gives no clue whose mail is waiting in the mailbox.
    """
    config = make_config(extra="[limits]\nmax_message_bytes = 524288\n")
    mailbox.deliver(MAILBOX_USER, factory.mail(attachments=[("big.pdf", "application/pdf", b"%PDF" * 175_000)]))
    daemon.run_once(config)
    [(status, outcome)] = _statuses(config)
    assert status == "failed"
    assert "(0 MB" not in outcome, outcome


def test_a_damaged_stored_copy_holds_up_only_its_own_mail(mailbox, smtp_sink, make_config):
    """One stored mail damaged on disk made every cycle stop ('the store is the problem'), so no later mail was
    taken in until someone restored the file. Now that mail alone is set aside, left in the mailbox, and taken in
    afresh once a coordinator moves it out of the folder and back."""
    from store.blobs import BlobStore

    config = make_config()
    mailbox.deliver(MAILBOX_USER, factory.mail("Ansökan A", sender="a@ki.example"))
    mailbox.deliver(MAILBOX_USER, factory.mail("Ansökan B", sender="b@uu.example"))
    put, damaged = BlobStore.put, []

    def put_then_damage(self, data):
        digest = put(self, data)
        if not damaged:  # the first raw mail: cut short on disk, as a failing disk would
            damaged.append(digest)
            self._path(digest).write_bytes(self._path(digest).read_bytes()[:40])
        return digest

    BlobStore.put = put_then_damage
    try:
        daemon.run_once(config)
    finally:
        BlobStore.put = put
    [(first, why), (second, _)] = _statuses(config)
    assert (first, second) == ("failed", "processed")
    assert "damaged" in why and "move it out of the folder and back in" in why
    [left] = mailbox.list_uids(MAILBOX_USER, "intake-secret")  # A stays for the coordinator; B was filed away

    with mailbox.imap() as client:  # the coordinator moves it out and back
        client.select_folder("INBOX")
        raw = client.fetch([left], ["BODY.PEEK[]"])[left][b"BODY[]"]
        client.append("INBOX", raw)
        client.delete_messages([left])
        client.expunge()
    daemon.run_once(config)
    assert [s for s, _ in _statuses(config)] == ["failed", "processed", "processed"]

    # Years later A's case is purged: its raw mail goes, and the damaged copy set aside with it (the record of the
    # first attempt has no case and must not keep the file).
    from datetime import timedelta

    from intake import actions, retention
    from store.models import Case, utcnow

    ctx = daemon.open_context(config)
    with session_scope(ctx.engine) as s:
        case_a = s.exec(select(Case).where(Case.researcher == "a@ki.example")).one()
        actions.move_case(s, "cli:test", case_a.id, "closed", note="withdrawn")
    with session_scope(ctx.engine) as s:
        s.get(Case, case_a.id).closed_at = utcnow() - timedelta(days=400)
    config.retention.purge_closed_after_days = 365
    retention.purge(ctx.engine, ctx.blobs, config)
    [digest] = damaged
    assert list(config.store.files.glob(f"*/{digest}*")) == [], "the purged case's mail is still in the store"
