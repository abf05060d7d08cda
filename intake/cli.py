"""The `halsodata` command: run the daemon, look at cases and intake records, make a storage key."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click
from sqlmodel import func, select

from intake import config as config_mod
from intake import daemon, logs, views
from intake.mailbox import MailboxUnavailable
from outbox.send import SmtpUnavailable
from store import db
from store.blobs import BlobError, new_key
from store.db import session_scope
from store.models import Case, InboundMail, OutboxMail, UserAccount

log = logging.getLogger("halsodata")


class _Obj:
    def __init__(self, config_path):
        self.config_path = config_path
        self._config = None

    @property
    def config(self) -> config_mod.Config:
        if self._config is None:
            try:
                self._config = config_mod.load(self.config_path)
            except config_mod.ConfigError as exc:
                raise click.ClickException(f"configuration error: {exc}") from None
            logs.setup(self._config.log.level, self._config.log.format)
        return self._config


def _n_days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _cut(text: str, limit: int) -> str:
    """Text shortened to `limit` characters, with "…" when something was left out."""
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _engine(obj: _Obj):
    try:
        ctx = daemon.open_context(obj.config)
    except (db.StoreUnavailable, config_mod.ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    return ctx.engine


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="halsodata-intake", prog_name="halsodata")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Configuration file. Default: $HALSODATA_CONFIG, else ./halsodata.toml.")
@click.pass_context
def main(ctx: click.Context, config_path):
    """halsodata: the mail-intake daemon of the Centre for Health Data.

    Reads applications for health data from a mailbox, opens and updates cases and answers researchers.
    """
    ctx.obj = _Obj(config_path)


EX_TEMPFAIL = 75  # sysexits.h: not finished, try again (run --once stopped on request)


@main.command()
@click.option("--once", is_flag=True, help="Take in everything now in the mailbox, send what is due, then exit.")
@click.pass_obj
def run(obj: _Obj, once: bool):
    """Run the intake daemon (IMAP IDLE, or polling where the server has no IDLE).

    SIGTERM, SIGHUP (unless started with nohup) or Ctrl-C stops it, and --once, between two mails; a mail
    recorded and not yet processed is processed at the next start. --once stopped so exits with 75."""
    config = obj.config
    try:
        if once:
            report = daemon.run_once(config)
            click.echo(f"{report.taken_in} mail(s) taken in, {report.processed} processed "
                       f"({report.failed} failed), {report.moved} filed away, {report.sent} reply(ies) sent")
            if report.stopped:
                click.echo("Stopped on request before the end; what is left is taken in on the next run.", err=True)
                raise SystemExit(EX_TEMPFAIL)
            if report.deferred:
                click.echo(f"{report.deferred} reply(ies) deferred by the SMTP server; they are tried again on "
                           "the next run.", err=True)
            if report.not_sent:
                raise click.ClickException(
                    f"{report.not_sent} reply(ies) refused by the SMTP server for good. `halsodata mails list` and "
                    "`halsodata cases show CASE` show which and why; check [smtp] and the recipient addresses.")
        else:
            daemon.run_forever(config)
    except (MailboxUnavailable, SmtpUnavailable, db.StoreUnavailable, config_mod.ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    except (OSError, BlobError) as exc:  # the disk, the file store, the key or a connection; never a single mail
        raise click.ClickException(
            f"intake stopped: {str(exc) or type(exc).__name__}. Nothing is lost: mail recorded and not yet processed "
            "is processed on the next run. Fix what the message names (the disk, [store] files, the connection to "
            "the mail server), then run again.") from None


@main.group()
def cases():
    """List and show cases."""


STATES = ("received", "incomplete", "complete", "clarification", "confidentiality_review", "decided", "extraction",
          "closed")


def local(iso: str | None) -> str:
    """A stored UTC time as a coordinator reads it: Swedish time, to the minute."""
    if not iso:
        return "-"
    from datetime import datetime
    from zoneinfo import ZoneInfo
    return datetime.fromisoformat(iso).astimezone(ZoneInfo("Europe/Stockholm")).strftime("%Y-%m-%d %H:%M")


@cases.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: a list of case objects (times in UTC).")
@click.option("--state", type=click.Choice(STATES), default=None, help="Only cases in this state.")
@click.pass_obj
def cases_list(obj: _Obj, as_json: bool, state: str | None):
    """List cases, newest first."""
    with session_scope(_engine(obj)) as s:
        query = select(Case).order_by(Case.opened_at.desc(), Case.id.desc())
        if state:
            query = query.where(Case.state == state)
        rows = [views.case_summary(c) for c in s.exec(query).all()]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo(f"No cases in state {state}." if state else "No cases yet.")
        return
    width = max(len(r["researcher"]) for r in rows)
    click.echo(f"{'CASE':<14} {'STATE':<12} {'TRACK':<14} {'OPENED (SE)':<17} {'RESEARCHER':<{width}} TITLE")
    for r in rows:
        click.echo(f"{r['number']:<14} {r['state']:<12} {r['track']:<14} {local(r['opened_at']):<17} "
                   f"{r['researcher']:<{width}} {_cut(r['title'], 60)}")


@cases.command("move")
@click.argument("number")
@click.argument("state", type=click.Choice(["clarification", "confidentiality_review", "decided", "extraction",
                                            "closed", "automatic"]))
@click.option("--note", default="", help="Why, for the case's history (audited).")
@click.pass_obj
def cases_move(obj: _Obj, number: str, state: str, note: str):
    """Move a case to a coordinator's state (DOMAIN.md section 8), as the web view's case page does.

    STATE is one of clarification, confidentiality_review, decided, extraction, closed, or automatic (hand the
    case back to the product: received, incomplete or complete as its findings say). Closing starts the
    retention period ([retention] purge_closed_after_days)."""
    from intake import actions

    try:
        with session_scope(_engine(obj)) as s:
            case = s.exec(select(Case).where(func.upper(Case.number) == number.strip().upper())).first()
            if case is None:
                raise click.ClickException(f"no case {number}; `halsodata cases list` shows the numbers")
            before = case.state
            moved = actions.move_case(s, actions.cli_actor(), case.id, state, note=note)
            after = moved.state
    except actions.ActionRefused as exc:
        raise click.ClickException(exc.en) from None
    click.echo(f"case {number.upper()} moved from {before} to {after}")


@cases.command("show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON: the case with messages, findings, replies and its triage summary.")
@click.option("--summary", "only_summary", is_flag=True, help="Print only the triage summary, as coordinators get it.")
@click.option("--lang", type=click.Choice(["sv", "en"]), default=None,
              help="Language of the summary. Default: [coordinators] language.")
@click.pass_obj
def cases_show(obj: _Obj, number: str, as_json: bool, only_summary: bool, lang: str | None):
    """Show one case: its triage summary, messages and attachments, findings and replies."""
    from outbox import summary
    lang = lang or obj.config.coordinators.language
    with session_scope(_engine(obj)) as s:
        case = s.exec(select(Case).where(func.upper(Case.number) == number.strip("[] ").upper())).first()
        if case is None:
            raise click.ClickException(f"no case {number}. `halsodata cases list` shows the cases.")
        detail = views.case_detail(s, case)
        triage = summary.triage(s, case, obj.config)
    if as_json:
        click.echo(json.dumps({**detail, "triage": triage.as_dict()}, ensure_ascii=False, indent=2))
        return
    if only_summary:
        click.echo(summary.render_text(triage, lang), nl=False)
        return
    d = detail
    click.echo(f"{d['number']}  {d['title']}")
    click.echo(f"  state {d['state']}, track {d['track']}, language {d['language']}")
    click.echo(f"  researcher {d['researcher_name']} <{d['researcher']}>")
    click.echo(f"  opened {local(d['opened_at'])}, updated {local(d['updated_at'])} (Swedish time)")
    t, sv = triage, lang == "sv"
    click.echo(f"\n{'Sammanfattning' if sv else 'Triage'} (`--summary` {'visar hela' if sv else 'shows all of it'})")
    click.echo(f"  {'organisation':<13} {t.organisation or '-'}")
    click.echo(f"  {'projekt' if sv else 'project':<13} {t.project_title or '-'}")
    ethics = f"Dnr {t.ethics_reference}" if t.ethics_reference else "-"
    decision = summary.DECISION_WORDS[lang].get(t.ethics_decision or "", summary.DECISION_WORDS[lang][""])
    click.echo(f"  {'etik' if sv else 'ethics':<13} {ethics}, {decision}")
    for w in t.warnings:
        click.echo(f"  ! {w.message_sv if sv else w.message_en}")
    click.echo(f"  {'nästa steg' if sv else 'next step':<13} {t.next_step_sv if sv else t.next_step_en}")
    click.echo(f"\nMessages ({len(d['messages'])})")
    for m in d["messages"]:
        click.echo(f"  {local(m['received_at'])}  {m['subject']}")
        click.echo(f"    {m['outcome']}")
        for a in m["attachments"]:
            kind = f"  [{a['kind']}]" if a["kind"] else ""
            click.echo(f"    - {a['filename']} ({a['content_type']}, {a['size']:,} bytes){kind}")
    click.echo(f"\nFindings ({len(d['findings'])})")
    for f in d["findings"]:
        click.echo(f"  {f['status']:<14} {f['rule']}: {f['message_en']}")
    click.echo(f"\nReplies ({len(d['replies'])})")
    for r in d["replies"]:
        when = f"sent {local(r['sent_at'])}" if r["sent_at"] else f"queued {local(r['queued_at'])}"
        click.echo(f"  {r['type']:<20} {r['status']:<10} {r['language']}  to {r['to']}  {when}")
        click.echo(f"    {r['subject']}")
    if d["summaries"]:
        click.echo(f"\nSummaries to the coordinators ({len(d['summaries'])})")
        for r in d["summaries"]:
            when = f"sent {local(r['sent_at'])}" if r["sent_at"] else f"queued {local(r['queued_at'])}"
            click.echo(f"  {r['status']:<10} to {r['to']}  {when}  {r['subject']}")


@main.command()
@click.option("--print", "mode", flag_value="print", default=True, help="Print today's digest (the default).")
@click.option("--send", "mode", flag_value="send", help="Queue today's digest for the coordinators ([coordinators] "
              "addresses); the daemon or `halsodata run --once` sends it.")
@click.option("--lang", type=click.Choice(["sv", "en"]), default=None,
              help="Language when printing. Default: [coordinators] language.")
@click.pass_obj
def digest(obj: _Obj, mode: str, lang: str | None):
    """The coordinators' daily digest: new and changed cases, replies to approve, overdue cases, longest waiting."""
    from outbox import digest as digest_mod
    config = obj.config
    with session_scope(_engine(obj)) as s:
        if mode == "print":
            d = digest_mod.build(s, config)
            subject, body = digest_mod.render(d, lang or config.coordinators.language)
            click.echo(f"Subject: {subject}\n\n{body}", nl=False)
            return
        if not config.coordinators.addresses:
            raise click.ClickException("no address to send the digest to. Fix: set [coordinators] addresses in "
                                       f"{config.source}, e.g. addresses = [\"handlaggare@region.example\"].")
        out = digest_mod.queue(s, config)
        if out is None:
            raise click.ClickException("today's digest is already in the outbox (`halsodata outbox list --status "
                                       "sent` shows it); it is sent once a day.")
        s.flush()
        reply_id, status = out.id, out.status
    click.echo(f"digest #{reply_id} {'waits for approval' if status == 'pending_approval' else 'queued'} for "
               f"{', '.join(config.coordinators.addresses)}; it goes out with the next send (the daemon, or "
               "`halsodata run --once`).")


def _day(_ctx, _param, value):
    if value is None:
        return None
    from datetime import date
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-03-01") from None


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@click.option("--state", "states", type=click.Choice(STATES), multiple=True, help="Only cases in this state "
              "(repeat for several).")
@click.option("--track", "tracks", type=click.Choice(["personal_data", "aggregated"]), multiple=True,
              help="Only cases on this track.")
@click.option("--since", callback=_day, help="Only cases opened on or after this date (YYYY-MM-DD, Swedish time).")
@click.option("--until", callback=_day, help="Only cases opened on or before this date.")
@click.option("--changed-since", callback=_day, help="Only cases changed on or after this date.")
@click.option("--lang", type=click.Choice(["sv", "en"]), default="sv", show_default=True,
              help="Language of the headers and texts.")
@click.pass_obj
def export(obj: _Obj, path: str, states, tracks, since, until, changed_since, lang: str):
    """Write the case register to an Excel workbook (.xlsx): one row per case."""
    from intake import export as export_mod
    if not path.lower().endswith(".xlsx"):
        raise click.ClickException(f"{path}: the register is an Excel workbook; give a file name ending in .xlsx.")
    filters = export_mod.Filters(states=states, tracks=tracks, since=since, until=until, changed_since=changed_since)
    with session_scope(_engine(obj)) as s:
        data = export_mod.rows(s, obj.config, filters, lang)
    try:
        export_mod.write(Path(path), data, lang)
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror}. Fix: choose a folder you can write to, "
                                   "and close the file if Excel has it open.") from None
    click.echo(f"{len(data)} case(s) written to {path}")


@main.group(name="db")
def db_group():
    """The database schema: status and upgrade (Alembic migrations)."""


def _bare_engine(obj: _Obj):
    from store import db as store_db
    engine = store_db.make_engine(obj.config.store.url)
    try:
        store_db.check(engine)
    except store_db.StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    return engine


@db_group.command("status")
@click.pass_obj
def db_status(obj: _Obj):
    """Show the database's schema revision and the one this version needs."""
    from store import migrate
    engine = _bare_engine(obj)
    now, want = migrate.current(engine), migrate.head()
    click.echo(f"database revision: {now or 'none'}\nthis version needs: {want}\n"
               + ("up to date" if now == want else "out of date: run `halsodata db upgrade` (after a backup)"))


@db_group.command("upgrade")
@click.pass_obj
def db_upgrade(obj: _Obj):
    """Bring the database schema up to this version (back up the database first)."""
    from store import migrate
    engine = _bare_engine(obj)
    before = migrate.current(engine)
    if before == migrate.head():
        click.echo(f"database schema already up to date ({before}); nothing to do")
        return
    migrate.upgrade(engine)
    click.echo(f"database schema upgraded from {before or 'empty'} to {migrate.head()}")


@main.command()
@click.option("--rcpt", default=None, metavar="ADDRESS",
              help="The recipient to try (RCPT TO) when checking that sending is allowed; nothing is sent. "
                   "Default: [smtp] from_address.")
@click.pass_obj
def doctor(obj: _Obj, rcpt: str | None):
    """Check the configuration, mailbox, SMTP server, database, file store and key; print each problem with its fix.

    Signs in to the mailbox and looks at the folders, signs in to SMTP and tries MAIL FROM / RCPT TO
    (then RSET: nothing is sent), checks the database's schema revision, that the file store is writable
    and that the key decrypts stored files. Changes nothing (the file written to test the store is removed
    at once). Exits 1 when there is any problem.
    """
    from intake import doctor as doctor_mod
    logs.setup("WARNING")  # the doctor's own lines are the report; library chatter would hide them
    problems = 0
    for check in doctor_mod.run(obj.config_path, rcpt):
        problems += not check.ok
        label = {"ok": "ok", "problem": "PROBLEM", "skipped": "skipped"}[check.status]
        first, *more = check.detail.splitlines()
        what, _, fix = first.partition(" Fix: ") if not more else (first, "", "")
        click.echo(f"{label:<8} {check.name:<16} {what}")
        for line in more + ([f"Fix: {fix}"] if fix else []):
            click.echo(f"{'':<8} {'':<16} {line.strip()}")
    if problems:
        click.echo(f"\n{problems} problem(s). Fix them and run `halsodata doctor` again.")
        sys.exit(1)
    click.echo("\nNo problems found.")


@main.group()
def outbox():
    """Replies waiting for approval, queued or sent: list, show, approve, edit, reject."""


def _reply(session, reply_id: int):
    reply = session.get(OutboxMail, reply_id)
    if reply is None:
        raise click.ClickException(f"no reply #{reply_id}. `halsodata outbox list` shows the outbox.")
    return reply


@outbox.command("list")
@click.option("--status", type=click.Choice(["pending_approval", "queued", "sending", "sent", "failed", "rejected",
                                             "bounced"]), default=None, help="Only replies with this status.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def outbox_list(obj: _Obj, status: str | None, as_json: bool):
    """List replies, newest first (default: those waiting for approval, queued, being sent, failed or bounced)."""
    with session_scope(_engine(obj)) as s:
        query = select(OutboxMail, Case.number).join(Case, isouter=True).order_by(OutboxMail.id.desc())
        if status:
            query = query.where(OutboxMail.status == status)
        else:
            query = query.where(OutboxMail.status.in_(("pending_approval", "queued", "sending", "failed", "bounced")))
        rows = [{"id": r.id, "case": number, **views.reply_view(r), "note": r.note or None}
                for r, number in s.exec(query).all()]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("Nothing waiting in the outbox.")
    for r in rows:
        click.echo(f"#{r['id']:<5} {r['status']:<17} {r['type']:<19} {r['case'] or '-':<14} {r['to']}")
        if r["note"] or r["last_error"]:
            click.echo(f"       {r['note'] or r['last_error']}")


@outbox.command("show")
@click.argument("reply_id", type=int)
@click.pass_obj
def outbox_show(obj: _Obj, reply_id: int):
    """Show one reply as it will be (or was) sent."""
    with session_scope(_engine(obj)) as s:
        r = _reply(s, reply_id)
        click.echo(f"#{r.id} {r.type}, {r.status}{' (' + r.note + ')' if r.note else ''}")
        click.echo(f"To: {r.to}\nSubject: {r.subject}\nMessage-ID: {r.message_id}\n")
        click.echo(r.body)


@outbox.command("approve")
@click.argument("reply_id", type=int)
@click.pass_obj
def outbox_approve(obj: _Obj, reply_id: int):
    """Let a reply that waits for approval go out with the next send."""
    from intake import actions
    try:
        with session_scope(_engine(obj)) as s:
            actions.approve_reply(s, actions.cli_actor(), reply_id)
    except actions.ActionRefused as exc:
        raise click.ClickException(exc.en) from None
    click.echo(f"reply #{reply_id} approved; it goes out with the next send (the daemon, or `halsodata run --once`).")


@outbox.command("reject")
@click.argument("reply_id", type=int)
@click.option("--reason", default="", help="Why, for the record.")
@click.pass_obj
def outbox_reject(obj: _Obj, reply_id: int, reason: str):
    """Never send this reply."""
    from intake import actions
    try:
        with session_scope(_engine(obj)) as s:
            actions.reject_reply(s, actions.cli_actor(), reply_id, reason)
    except actions.ActionRefused as exc:
        raise click.ClickException(exc.en) from None
    click.echo(f"reply #{reply_id} rejected.")


@outbox.command("edit")
@click.argument("reply_id", type=int)
@click.option("--body-file", type=click.File("r", encoding="utf-8"), default=None,
              help="The new text ('-' for standard input). Without it, $EDITOR opens the text.")
@click.option("--subject", default=None, help="A new subject; it must keep the case tag, e.g. [HD-2026-0042].")
@click.pass_obj
def outbox_edit(obj: _Obj, reply_id: int, body_file, subject: str | None):
    """Change a reply's text before approving it; the reply then waits for approval."""
    from intake import actions
    engine = _engine(obj)
    with session_scope(engine) as s:
        r = _reply(s, reply_id)
        if r.status not in actions.EDITABLE:
            raise click.ClickException(f"reply #{reply_id} is {r.status} and can no longer be changed.")
        current = r.body
    if body_file is not None:
        body = body_file.read()
    elif subject is None:
        body = click.edit(current)  # outside any transaction: the editor may stay open for a while
    else:
        body = None  # only the subject changes: no editor needed
    if body is None and subject is None:
        click.echo("nothing changed.")
        return
    try:
        with session_scope(engine) as s:
            actions.edit_reply(s, actions.cli_actor(), reply_id, body=body, subject=subject)
    except actions.ActionRefused as exc:
        raise click.ClickException(exc.en) from None
    click.echo(f"reply #{reply_id} changed; approve it with `halsodata outbox approve {reply_id}`.")


@main.group()
def mails():
    """The intake record: every mail taken from the mailbox and its outcome."""


@mails.command("list")
@click.option("--status", type=click.Choice(["fetched", "processed", "duplicate", "ignored", "failed"]),
              default=None, help="Only mails with this outcome (fetched: recorded, not yet processed).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def mails_list(obj: _Obj, status: str | None, as_json: bool):
    """List mails taken in, with their outcome (failed ones say why)."""
    with session_scope(_engine(obj)) as s:
        query = select(InboundMail, Case.number).join(Case, isouter=True).order_by(InboundMail.id)
        if status:
            query = query.where(InboundMail.status == status)
        rows = [views.mail_view(m, number) for m, number in s.exec(query).all()]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo(f"No mails with outcome {status}." if status else "No mails taken in yet.")
        return
    click.echo(f"{'#':<6} {'RECEIVED (SE)':<17} {'OUTCOME':<10} {'CASE':<14} WHAT HAPPENED")
    for r in rows:
        click.echo(f"#{r['id']:<5} {local(r['received_at']):<17} {r['status']:<10} {r['case'] or '-':<14} "
                   f"{r['outcome']}")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON: a list with one object per mail.")
@click.pass_obj
def inspect(obj: _Obj, files: tuple[Path, ...], as_json: bool):
    """Read mail files (.eml) offline as the daemon would: documents, kinds, facts and findings.

    Needs no mailbox, SMTP server or database and writes nothing. Uses the configuration's [rules] and
    [cases] settings when a configuration file is found, the defaults otherwise.
    """
    from intake.inspect import inspect_file
    # Offline use without any configuration file is fine; a configuration that is there but wrong is not.
    config = obj.config if config_mod.config_path(obj.config_path).exists() else None
    reports = [inspect_file(path, config) for path in files]
    if as_json:
        click.echo(json.dumps(reports, ensure_ascii=False, indent=2, default=str))
        return
    for r in reports:
        click.echo(f"{r['file']}")
        if "error" in r:
            click.echo(f"  {r['error']}")
            continue
        if r["auto_generated"]:
            click.echo(f"  from {r['from']}: automatic mail (auto-reply, bounce, list or our own): the daemon "
                       "records it as ignored, opens no case and sends no reply")
            continue
        click.echo(f"  from {r['from']}, language {r['language']}, track {r['track']}, state {r['state']}")
        for a in r["attachments"]:
            also = f" +{','.join(a['also'])}" if a["also"] else ""
            unread = "" if a["readable"] else f"  UNREADABLE: {a['reason']}"
            where = f"  (in {a['container']})" if a["container"] else ""
            click.echo(f"  - {a['filename']}: {a['kind']}{also} {a['confidence']:.2f}{where}{unread}")
        for p in r["problems"]:
            click.echo(f"  ! {p['file']}: {p['reason']}")
        shown = [f for f in r["findings"] if f["status"] not in ("ok", "not_applicable")]
        for f in shown:
            click.echo(f"  {f['status']:<13} {f['rule']}: {f['message_en']}")
        click.echo(f"  {len(r['findings']) - len(shown)} other rule(s) ok or not applicable; --json shows every "
                   "finding and the facts read from each document")


@main.command()
@click.option("--dry-run", is_flag=True, help="Only say what would be purged: the cases by number, the mails without "
                                              "a case by count.")
@click.pass_obj
def purge(obj: _Obj, dry_run: bool):
    """Delete the content of cases closed longer ago than [retention] purge_closed_after_days, and of mail that
    joined no case taken in longer ago than purge_caseless_after_days.

    The case register row stays (number, dates, state, researcher, project); mails, attachments, bodies,
    evidence and reply texts are deleted for good. Of a mail without a case (automatic mail, mail that could
    not be read) the record of its arrival and outcome stays. The daemon does this by itself every check_hours."""
    from intake import actions, retention

    cfg = obj.config.retention
    days, caseless_days = cfg.purge_closed_after_days, cfg.purge_caseless_after_days
    if not cfg.enabled:
        click.echo("retention is off ([retention] purge_closed_after_days = 0 and purge_caseless_after_days = 0): "
                   "nothing is purged. Set them from the region's records-management plan.")
        return
    try:
        ctx = daemon.open_context(obj.config)
    except (db.StoreUnavailable, config_mod.ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    report = retention.purge(ctx.engine, ctx.blobs, obj.config, dry_run=dry_run, actor=actions.cli_actor())
    if days:
        if not report.cases:
            click.echo(f"no case was closed more than {_n_days(days)} ago: no case to purge")
        elif dry_run:
            click.echo(f"would purge {len(report.cases)} case(s) closed more than {_n_days(days)} ago: "
                       + ", ".join(report.cases))
        else:
            click.echo(f"purged {len(report.cases)} case(s): {', '.join(report.cases)} ({report.mails} mail(s))")
    if caseless_days:
        verb = "would purge" if dry_run else "purged"
        click.echo(f"{verb} {report.caseless} mail(s) without a case taken in more than {_n_days(caseless_days)} ago")
    if not dry_run and report.files_deleted:
        click.echo(f"{report.files_deleted} stored file(s) deleted")


@main.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the key to this file (mode 0600) instead of printing it.")
def keygen(out: Path | None):
    """Make a key for encrypting stored mail and attachments ([store] key_file or key_env)."""
    key = new_key()
    if out is None:
        click.echo(key)
        return
    if out.exists():
        raise click.ClickException(f"{out} exists; refusing to overwrite a key (stored files need it). To "
                                   "rotate, put the new key as the first line and keep the old one below it.")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.touch(mode=0o600)
    out.write_text(key + "\n")
    click.echo(f"wrote a new key to {out}")


@main.command()
@click.pass_obj
def rekey(obj: _Obj):
    """Re-encrypt every stored file with the newest key (the first line of the key file).

    Run it after putting a new key on top and restarting the daemon; when it reports no file left on an old key,
    the old key lines can leave the key file (keep them in the secret store while backups made before are kept).
    Safe to run while the daemon runs, and to run again after an interruption."""
    from store.blobs import BlobError, Missing, WrongKey

    try:
        ctx = daemon.open_context(obj.config)
    except (db.StoreUnavailable, config_mod.ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    ctx.blobs.remove_stale_temporaries()  # pieces an earlier, interrupted run left behind
    changed = current = wrong_key = 0
    failed: list[str] = []
    for digest in ctx.blobs.digests():
        try:
            if ctx.blobs.rotate(digest):
                changed += 1
            else:
                current += 1
        except Missing:
            continue  # purged meanwhile: nothing left to re-encrypt
        except WrongKey:
            wrong_key += 1
        except BlobError as exc:
            failed.append(str(exc))
        except OSError as exc:
            failed.append(f"stored file {digest[:12]}…: {exc.strerror or exc}")
    click.echo(f"re-encrypted {changed} stored file(s) with the newest key; {current} already were")
    for line in failed[:20]:
        click.echo(f"  {line}", err=True)
    if wrong_key:
        raise click.ClickException(f"{wrong_key} stored file(s) were encrypted with a key that is not in the key "
                                   "file. Fix: put the old key back on the line below the newest and run rekey again")
    if failed:
        raise click.ClickException(f"{len(failed)} stored file(s) could not be re-encrypted (listed above): keep the "
                                   "old key lines until they are dealt with")
    if ctx.blobs.key_count > 1:
        click.echo("no stored file needs an older key any more: the lines below the first can leave the key file "
                   "(keep them in the secret store as long as older backups are kept)")


@main.command()
@click.option("--host", default=None, help="Listen on this address instead of [web] host.")
@click.option("--port", type=int, default=None, help="Listen on this port instead of [web] port.")
@click.pass_obj
def web(obj: _Obj, host: str | None, port: int | None):
    """The coordinators' web view: cases, documents, findings, replies to approve (see [web])."""
    import uvicorn
    from intake.web import create_app
    config = obj.config
    try:
        app = create_app(config)
    except (db.StoreUnavailable, config_mod.ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    host, port = host or config.web.host, port or config.web.port
    click.echo(f"halsodata web on http://{host}:{port}/ (sign-in: {config.web.auth})", err=True)
    # proxy_headers off: the peer address must be the real one, the proxy header is trusted by it alone
    uvicorn.run(app, host=host, port=port, proxy_headers=False, server_header=False, log_level="warning")


@main.group()
def users():
    """Coordinators' accounts for the web view: add, list, disable, enable, password."""


def _new_password(name: str) -> str:
    from intake.web.auth import MIN_PASSWORD
    if sys.stdin.isatty():
        password = click.prompt(f"password for {name}", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")  # e.g. from a password manager: one line
    if len(password) < MIN_PASSWORD:
        raise click.ClickException(f"the password must have at least {MIN_PASSWORD} characters; nothing changed.")
    return password


def _account(session, name: str) -> UserAccount:
    user = session.exec(select(UserAccount).where(UserAccount.username == name)).first()
    if user is None:
        raise click.ClickException(f"no account {name!r}. `halsodata users list` shows the accounts.")
    return user


@users.command("add")
@click.argument("name")
@click.option("--display-name", default="", help="The name shown in the web view and the audit log.")
@click.option("--language", type=click.Choice(["sv", "en"]), default="sv", help="The interface's language.")
@click.pass_obj
def users_add(obj: _Obj, name: str, display_name: str, language: str):
    """Add an account; the password is asked for (or read as one line from standard input)."""
    from intake import actions
    from intake.web.auth import hash_password
    name = name.strip()
    if not name or len(name) > 100 or any(c.isspace() for c in name):
        raise click.ClickException("the user name must be one word of at most 100 characters, e.g. anna.berg.")
    engine = _engine(obj)
    with session_scope(engine) as s:
        if s.exec(select(UserAccount).where(UserAccount.username == name)).first() is not None:
            raise click.ClickException(f"account {name!r} exists; `halsodata users password {name}` sets a new "
                                       "password.")
    password_hash = hash_password(_new_password(name))
    with session_scope(engine) as s:
        s.add(UserAccount(username=name, display_name=display_name, password_hash=password_hash, language=language))
        actions.audit(s, actions.cli_actor(), "user.add", target=f"user:{name}")
    click.echo(f"account {name} added; it signs in at the web view (`halsodata web`).")


@users.command("password")
@click.argument("name")
@click.pass_obj
def users_password(obj: _Obj, name: str):
    """Set a new password for an account (asked for, or read as one line from standard input)."""
    from intake import actions
    from intake.web.auth import hash_password
    engine = _engine(obj)
    with session_scope(engine) as s:
        _account(s, name)
    password_hash = hash_password(_new_password(name))
    with session_scope(engine) as s:
        _account(s, name).password_hash = password_hash
        actions.audit(s, actions.cli_actor(), "user.password", target=f"user:{name}")
    click.echo(f"new password set for {name}.")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (times in UTC).")
@click.pass_obj
def users_list(obj: _Obj, as_json: bool):
    """List the accounts, whether they may sign in, and when they last did."""
    with session_scope(_engine(obj)) as s:
        rows = [{"username": u.username, "display_name": u.display_name, "language": u.language, "active": u.active,
                 "local_password": bool(u.password_hash),
                 "created_at": u.created_at.isoformat() if u.created_at else None,
                 "last_signin_at": u.last_signin_at.isoformat() if u.last_signin_at else None}
                for u in s.exec(select(UserAccount).order_by(UserAccount.username)).all()]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("No accounts yet. `halsodata users add NAME` adds one.")
        return
    width = max(len(r["username"]) for r in rows)
    click.echo(f"{'USER':<{width}} {'ACTIVE':<8} {'LANG':<5} {'LAST SIGN-IN (SE)':<18} NAME")
    for r in rows:
        click.echo(f"{r['username']:<{width}} {'yes' if r['active'] else 'no':<8} {r['language']:<5} "
                   f"{local(r['last_signin_at']):<18} {r['display_name']}")


def _set_active(obj: _Obj, name: str, active: bool) -> None:
    from intake import actions
    with session_scope(_engine(obj)) as s:
        user = _account(s, name)
        if user.active == active:
            raise click.ClickException(f"account {name} is already {'enabled' if active else 'disabled'}.")
        user.active = active
        actions.audit(s, actions.cli_actor(), "user.enable" if active else "user.disable", target=f"user:{name}")


@users.command("disable")
@click.argument("name")
@click.pass_obj
def users_disable(obj: _Obj, name: str):
    """Stop an account from signing in; its open sessions end at their next request."""
    _set_active(obj, name, False)
    click.echo(f"account {name} disabled.")


@users.command("enable")
@click.argument("name")
@click.pass_obj
def users_enable(obj: _Obj, name: str):
    """Let a disabled account sign in again."""
    _set_active(obj, name, True)
    click.echo(f"account {name} enabled.")


if __name__ == "__main__":
    sys.exit(main())
