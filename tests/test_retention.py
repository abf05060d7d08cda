"""Retention: the content of cases closed longer ago than configured is deleted; the register row stays."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlmodel import select

from intake import actions, daemon, retention
from intake.cli import main
from store.blobs import BlobError
from store.db import session_scope
from store.models import Attachment, AuditEvent, Case, Finding, InboundMail, OutboxMail, utcnow
from tests import factory

RETENTION = "[retention]\npurge_closed_after_days = 365\n"


def _files_for(study: str):
    return [("Forskningsplan.txt", "text/plain", f"Forskningsplan för {study}\nSyfte och frågeställningar\n".encode()),
            ("variabellista.csv", "text/csv", f"Variabel;Källa\nkön;{study}\nålder;{study}\n".encode())]


def _two_cases(mailbox, config):
    mailbox.deliver("intake@halsodata.test", factory.mail("Ansökan om data, KOL-studien", sender="a@uni.example",
                                                          attachments=_files_for("KOL-studien")))
    mailbox.deliver("intake@halsodata.test", factory.mail("Ansökan om data, hjärtstudien", sender="b@uni.example",
                                                          attachments=_files_for("hjärtstudien")))
    daemon.run_once(config)
    ctx = daemon.open_context(config)
    with session_scope(ctx.engine) as s:
        old, kept = s.exec(select(Case).order_by(Case.id)).all()
        actions.move_case(s, "cli:test", old.id, "closed", note="withdrawn by the researcher")
    with session_scope(ctx.engine) as s:
        s.get(Case, old.id).closed_at = utcnow() - timedelta(days=400)
    return ctx, old.number, kept.number


def _files(session, number):
    case = session.exec(select(Case).where(Case.number == number)).one()
    mails = session.exec(select(InboundMail).where(InboundMail.case_id == case.id)).all()
    attachments = [a for m in mails for a in session.exec(select(Attachment).where(Attachment.mail_id == m.id))]
    return case, mails, attachments


def test_purge_deletes_the_content_of_old_closed_cases_and_keeps_the_register(mailbox, smtp_sink, make_config,
                                                                              store_url):
    config = make_config(store_url, extra=RETENTION)
    ctx, old, kept = _two_cases(mailbox, config)
    with session_scope(ctx.engine) as s:
        _case, old_mails, old_attachments = _files(s, old)
        _case, kept_mails, _ = _files(s, kept)
        assert old_attachments, "the sample mail should carry documents"
        # the same file in a case that is kept: it must survive the purge of the old case
        shared = old_attachments[0]
        s.add(Attachment(mail_id=kept_mails[0].id, filename="same.pdf", content_type="application/pdf",
                         size=shared.size, sha256=shared.sha256))
    out = CliRunner().invoke(main, ["--config", str(config.source), "purge", "--dry-run"])
    assert out.exit_code == 0 and old in out.output and kept not in out.output
    ctx.blobs.get(old_mails[0].sha256)  # a dry run deletes nothing

    out = CliRunner().invoke(main, ["--config", str(config.source), "purge"])
    assert out.exit_code == 0, out.output
    assert f"purged 1 case(s): {old}" in out.output

    with session_scope(ctx.engine) as s:
        case, mails, attachments = _files(s, old)
        assert case.state == "closed" and case.purged_at is not None and case.number == old
        assert case.researcher == "a@uni.example"  # the register keeps who applied
        assert all(m.body_text == "" and m.subject == retention.PURGED for m in mails)
        assert all(a.filename == retention.PURGED and a.fields == "{}" for a in attachments)
        assert all(a.kind for a in attachments)  # which kinds arrived is kept
        assert all(o.body == retention.PURGED for o in s.exec(select(OutboxMail).where(OutboxMail.case_id == case.id)))
        assert all(f.evidence == "[]" for f in s.exec(select(Finding).where(Finding.case_id == case.id)))
        [event] = s.exec(select(AuditEvent).where(AuditEvent.action == "case.purge")).all()
        assert event.case_id == case.id and event.actor.startswith("cli:")
        assert json.loads(event.detail)["mails"] == 1
        _c, kept_mails, kept_attachments = _files(s, kept)
        assert kept_mails[0].body_text and kept_mails[0].subject != retention.PURGED
    with pytest.raises(BlobError):
        ctx.blobs.get(old_mails[0].sha256)  # the raw mail is gone from the file store
    for a in old_attachments[1:]:
        if a.sha256 not in {k.sha256 for k in kept_attachments}:
            with pytest.raises(BlobError):
                ctx.blobs.get(a.sha256)
    assert ctx.blobs.get(shared.sha256)  # still needed by the kept case
    ctx.blobs.get(kept_mails[0].sha256)

    out = CliRunner().invoke(main, ["--config", str(config.source), "purge"])
    assert "no case was closed more than 365 days ago" in out.output


def test_recently_closed_open_and_reopened_cases_are_kept(mailbox, smtp_sink, make_config):
    config = make_config(extra=RETENTION)
    ctx, old, kept = _two_cases(mailbox, config)
    with session_scope(ctx.engine) as s:
        s.exec(select(Case).where(Case.number == old)).one().closed_at = utcnow() - timedelta(days=300)
    assert retention.purge(ctx.engine, ctx.blobs, config).cases == []
    assert retention.purge(ctx.engine, ctx.blobs, config, now=utcnow() + timedelta(days=66)).cases == [old]


def test_retention_off_by_default_purges_nothing(mailbox, smtp_sink, make_config):
    config = make_config()
    ctx, old, _kept = _two_cases(mailbox, config)
    assert retention.purge(ctx.engine, ctx.blobs, config, now=utcnow() + timedelta(days=3650)).cases == []
    out = CliRunner().invoke(main, ["--config", str(config.source), "purge"])
    assert out.exit_code == 0 and "retention is off" in out.output


def test_mail_that_joined_no_case_is_purged_after_its_own_period(mailbox, smtp_sink, make_config, store_url):
    """An out-of-office reply and a mail that could not be read carry personal data too (names, signatures,
    whatever was written); they never join a case, so closing cases never purged them."""
    config = make_config(store_url, extra="[retention]\npurge_caseless_after_days = 30\n")
    mailbox.deliver("intake@halsodata.test", factory.mail("Frånvaro: Ansökan", "Jag är ledig till 4 januari.",
                                                          sender="Per Holm <per.holm@uu.example>",
                                                          headers={"Auto-Submitted": "auto-replied"}))
    mailbox.deliver("intake@halsodata.test", b"\x00\x01 not a mail at all, from someone\r\n")
    mailbox.deliver("intake@halsodata.test", factory.mail("Ansökan om data, KOL-studien", sender="a@uni.example",
                                                          attachments=_files_for("KOL-studien")))
    daemon.run_once(config)
    ctx = daemon.open_context(config)
    with session_scope(ctx.engine) as s:
        mails = s.exec(select(InboundMail).order_by(InboundMail.id)).all()
        assert [m.status for m in mails] == ["ignored", "failed", "processed"]
        raws = [m.sha256 for m in mails]

    out = CliRunner().invoke(main, ["--config", str(config.source), "purge", "--dry-run"])
    assert "would purge 0 mail(s) without a case taken in more than 30 days ago" in out.output
    report = retention.purge(ctx.engine, ctx.blobs, config, now=utcnow() + timedelta(days=31))
    assert report.caseless == 2 and report.cases == []
    with session_scope(ctx.engine) as s:
        auto, unreadable, application = s.exec(select(InboundMail).order_by(InboundMail.id)).all()
        for m in (auto, unreadable):
            assert m.purged_at is not None and m.subject == retention.PURGED
            assert m.body_text == "" and m.from_address == "" and m.from_name == ""
            assert m.status in ("ignored", "failed") and "content purged (retention)" in m.outcome
        assert application.purged_at is None and application.body_text  # a case's mail follows its case
        [event] = s.exec(select(AuditEvent).where(AuditEvent.action == "mail.purge")).all()
        assert json.loads(event.detail) == {"mails": 2} and event.actor == "halsodata"
    for digest in raws[:2]:
        with pytest.raises(BlobError):
            ctx.blobs.get(digest)
    assert ctx.blobs.get(raws[2])
    assert retention.purge(ctx.engine, ctx.blobs, config, now=utcnow() + timedelta(days=62)).caseless == 0


def test_a_purged_case_keeps_its_register_entry_and_is_never_reopened(mailbox, smtp_sink, make_config):
    """Found by an operator trial: after a purge the register's organisation, project and ethics reference came
    out different (they were read again from documents that are gone), findings still quoted the documents, and
    'back to automatic assessment' reopened the case over nothing. A late reply with the case tag joined it."""
    from outbox import summary
    from tests.samples.demo import complete_swedish

    config = make_config(extra=RETENTION)
    mailbox.deliver("intake@halsodata.test", complete_swedish("intake@halsodata.test").raw)
    daemon.run_once(config)
    ctx = daemon.open_context(config)
    with session_scope(ctx.engine) as s:
        case = s.exec(select(Case)).one()
        number, before = case.number, summary.triage(s, case)
    assert before.ethics_reference and before.project_title and before.organisation
    cli = ["--config", str(config.source)]
    moved = CliRunner().invoke(main, [*cli, "cases", "move", number, "closed", "--note", "beslut skickat"])
    assert moved.exit_code == 0 and f"case {number} moved from complete to closed" in moved.output, moved.output
    with session_scope(ctx.engine) as s:
        s.exec(select(Case)).one().closed_at = utcnow() - timedelta(days=400)
    assert retention.purge(ctx.engine, ctx.blobs, config).cases == [number]

    with session_scope(ctx.engine) as s:
        case = s.exec(select(Case)).one()
        after = summary.triage(s, case)
        assert all(f.message_sv == retention.PURGED and f.message_en == retention.PURGED
                   for f in s.exec(select(Finding).where(Finding.case_id == case.id)))
    assert (after.organisation, after.project_title, after.ethics_reference, after.ethics_decision) == (
        before.organisation, before.project_title, before.ethics_reference, before.ethics_decision)
    assert "gallringsbeslutet" in after.next_step_sv
    reopen = CliRunner().invoke(main, [*cli, "cases", "move", number, "automatic"])
    assert reopen.exit_code != 0 and "was purged" in reopen.output

    mailbox.deliver("intake@halsodata.test", factory.mail(f"Sv: [{number}] En fråga till", sender="a@ki.example"))
    daemon.run_once(config)
    with session_scope(ctx.engine) as s:
        assert len(s.exec(select(Case)).all()) == 2  # a new case, not the purged one
