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
