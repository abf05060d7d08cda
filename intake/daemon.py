"""The daemon's cycle: take in new mail, process it, file it away, send what is due; forever or once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler

from imapclient.exceptions import IMAPClientError
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError, SQLAlchemyError
from sqlmodel import select

from intake import pipeline, retention
from intake.config import Config, ConfigError
from intake.mailbox import Mailbox, MailboxUnavailable
from intake.metrics import Heartbeat, Monitor
from intake.receive import known_uids, record
from outbox import digest, reminders, send, summary
from store import db, migrate
from store.blobs import BlobError, BlobStore, WrongKey, load_keys
from store.db import session_scope
from store.models import InboundMail, utcnow

log = logging.getLogger("halsodata.daemon")

# How many recorded mails may wait, prepared or being prepared, while one is processed: enough that the preparer
# is never idle when the main thread is quick, few enough that little is prepared twice after a failure.
READ_AHEAD = 3
SWEEP_MINUTES = 60  # how often half-written stored files of killed processes are looked for


def _never() -> bool:
    return False


@dataclass
class CycleReport:
    taken_in: int = 0
    processed: int = 0
    failed: int = 0
    moved: int = 0
    sent: int = 0
    not_sent: int = 0  # refused for good; flagged for the coordinators
    deferred: int = 0
    stopped: bool = False  # a stop was requested: the rest waits for the next run

def open_context(config: Config) -> pipeline.Context:
    """Engine, schema and file store; raises StoreUnavailable or ConfigError with the fix."""
    for name, section in (("imap", config.imap), ("smtp", config.smtp)):
        if section.username and getattr(section, "auth", "password") == "password":
            section.secret(name)  # a missing password file or variable is a configuration error: say so now
    try:
        keys = load_keys(config.store.key_file, config.store.key_env)
    except KeyError as exc:
        raise ConfigError(exc.args[0]) from None
    engine = db.make_engine(config.store.url)
    db.check(engine)
    try:
        migrate.ensure(engine)
    except migrate.StoreOutdated as exc:
        raise ConfigError(str(exc)) from None
    send.release_dead_claims(engine)
    try:
        config.store.files.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ConfigError(f"store.files: cannot create {config.store.files} ({exc.strerror}). Fix: point it at "
                          "a writable directory.") from None
    return pipeline.Context(config=config, engine=engine, blobs=BlobStore(config.store.files, keys))


def _process(ctx: pipeline.Context, mail_id: int, report: CycleReport,
             ahead: pipeline.ReadAhead | None = None) -> None:
    try:
        status = pipeline.process(ctx, mail_id, ahead)
    except (OperationalError, InterfaceError, DisconnectionError, OSError, WrongKey):
        raise  # the database, the disk or the key is the problem, not the mail: retry the cycle later
    except pipeline.PrepareInterrupted:
        raise  # the daemon is stopping: the mail stays recorded and is processed at the next start
    except pipeline.PrepareFailed as exc:  # this mail crashed the process reading it (or took all its memory)
        log.error("mail #%s: %s; recorded as failed, going on", mail_id, exc)
        pipeline.fail(ctx, mail_id, f"{exc}; raw message kept and left in the mailbox folder: move it out of the "
                                    "folder and back in to have it taken in again", leave_in_mailbox=True)
        status = "failed"
    except BlobError as exc:  # this one stored copy is damaged or gone: the others must not wait for it
        log.error("mail #%s: %s; left in the mailbox for a coordinator, going on", mail_id, exc)
        pipeline.set_aside(ctx, mail_id, str(exc))
        status = "failed"
    except Exception as exc:  # one hostile mail (even one the database refuses) must never stop the daemon
        log.exception("mail #%s failed in processing (%s); recorded, going on", mail_id, type(exc).__name__)
        pipeline.fail(ctx, mail_id, f"processing failed ({type(exc).__name__}); raw message kept")
        status = "failed"
    report.processed += 1
    report.failed += status == "failed"


def take_in(ctx: pipeline.Context, mailbox: Mailbox, report: CycleReport,
            should_stop: Callable[[], bool] = _never) -> list[int]:
    """Record and process every message not seen before; return the folder's current UIDs. On a stop request it
    returns between two mails: what was recorded and not processed is processed at the next start."""
    folder = ctx.config.imap.folder
    uidvalidity = mailbox.select()
    uids = mailbox.uids()
    seen = known_uids(ctx.engine, mailbox.account, folder, uidvalidity)

    def new_mails() -> Iterator[tuple[int, str]]:
        for uid in uids:
            if should_stop():
                return
            if uid not in seen:
                taken = _take_one(ctx, mailbox, uid, uidvalidity, report)
                if taken is not None:
                    yield taken

    _process_all(ctx, new_mails(), report, should_stop)
    return uids


def _process_all(ctx: pipeline.Context, mails: Iterable[tuple[int, str]], report: CycleReport,
                 should_stop: Callable[[], bool]) -> None:
    """Process recorded mails (id, digest) in order while the next ones are prepared in a child process. A mail
    that crashes or hangs the preparer fails alone; on a stop request the rest wait for the next start."""
    ahead, waiting = pipeline.ReadAhead(ctx, should_stop), deque()
    try:
        for mail_id, digest in mails:
            ahead.start(mail_id, digest)
            waiting.append(mail_id)
            if len(waiting) > READ_AHEAD:
                _process(ctx, waiting.popleft(), report, ahead)
        while waiting and not should_stop():
            _process(ctx, waiting.popleft(), report, ahead)
    except pipeline.PrepareInterrupted:
        pass
    finally:
        ahead.close()


def _take_one(ctx: pipeline.Context, mailbox: Mailbox, uid: int, uidvalidity: int,
              report: CycleReport) -> tuple[int, str] | None:
    """Fetch and record one message; the id and digest of its record when it is to be processed."""
    folder, limit = ctx.config.imap.folder, ctx.config.limits.max_message_bytes
    size = mailbox.size(uid)
    if size is None:
        return None  # expunged by someone else meanwhile
    if size > limit:
        raw, too_large = mailbox.fetch_header(uid), size
    else:
        raw, too_large = mailbox.fetch(uid), None
    if raw is None:
        return None
    row = record(ctx.engine, ctx.blobs, account=mailbox.account, folder=folder, uidvalidity=uidvalidity,
                 uid=uid, raw=raw, too_large=too_large, max_bytes=limit)
    if row is None:
        return None  # another daemon recorded it first
    report.taken_in += 1
    return (row.id, row.sha256) if row.status == "fetched" else None


def process_leftovers(ctx: pipeline.Context, report: CycleReport, should_stop: Callable[[], bool] = _never) -> None:
    """Mails recorded but not processed (the daemon stopped in between) are processed now, prepared in a child
    process like new mail: one that crashed the daemon's preparer before fails alone and does not stop the daemon."""
    with session_scope(ctx.engine) as s:
        rows = s.exec(select(InboundMail.id, InboundMail.sha256).where(InboundMail.status == "fetched")
                      .order_by(InboundMail.id)).all()
    _process_all(ctx, [(mail_id, digest) for mail_id, digest in rows], report, should_stop)


def file_away(ctx: pipeline.Context, mailbox: Mailbox, current: list[int], report: CycleReport) -> None:
    """Move every finished mail out of the intake folder, only after its outcome is committed."""
    present = set(current)
    with session_scope(ctx.engine) as s:
        rows = s.exec(select(InboundMail).where(InboundMail.account == mailbox.account,
                                                InboundMail.folder == ctx.config.imap.folder,
                                                InboundMail.status != "fetched",
                                                InboundMail.leave_in_mailbox == False,  # noqa: E712
                                                InboundMail.moved_at.is_(None))).all()
        stale = [r for r in rows if r.uidvalidity != mailbox.uidvalidity or r.uid not in present]
        todo = [r for r in rows if r not in stale]
        mailbox.finish([r.uid for r in todo])
        now = utcnow()
        for r in rows:  # stale ones are no longer here under that UID: nothing left to move
            r.moved_at = now
    report.moved += len(todo)


def send_due(ctx: pipeline.Context, report: CycleReport, now: datetime | None = None,
             mailbox: Mailbox | None = None) -> None:
    try:
        result = asyncio.run(send.send_due(ctx.engine, ctx.config.smtp, now))
    except send.SmtpUnavailable as exc:  # the server went in the middle: what was sent before still gets its copy
        if exc.report is not None:
            _account_sent(ctx, report, exc.report, mailbox)
        raise
    _account_sent(ctx, report, result, mailbox)


def _account_sent(ctx: pipeline.Context, report: CycleReport, result: send.SendReport, mailbox: Mailbox | None) -> None:
    if mailbox is not None and ctx.config.imap.sent_folder and result.copies:
        try:
            mailbox.append_sent(result.copies)
        except (IMAPClientError, OSError) as exc:  # the replies went out; only the copy is missing
            log.warning("could not put %s sent reply(ies) in the Sent folder: %s", len(result.copies), _short(exc))
    report.sent += len(result.sent)
    report.not_sent += len(result.failed)
    report.deferred += len(result.deferred)


def cycle(ctx: pipeline.Context, mailbox: Mailbox, now: datetime | None = None,
          should_stop: Callable[[], bool] = _never) -> CycleReport:
    """One pass: leftovers, new mail, filing away, due reminders, sending. `now` is for tests of time; on a stop
    request the pass ends after filing away what was processed."""
    report = CycleReport()
    process_leftovers(ctx, report, should_stop)
    current = take_in(ctx, mailbox, report, should_stop)
    file_away(ctx, mailbox, current, report)
    if should_stop():
        log.info("cycle stopped early: %s taken in, %s processed (%s failed)", report.taken_in, report.processed,
                 report.failed)
        report.stopped = True
        return report
    try:
        reminders.run(ctx.engine, ctx.config, now)
    except Exception as exc:  # reminders must never keep replies from going out
        log.error("reminder check failed: %s", _short(exc))
    try:
        summary.queue_due(ctx.engine, ctx.config, now)
        digest.queue_due(ctx.engine, ctx.config, now)
    except Exception as exc:  # mail to the coordinators must never keep replies from going out
        log.error("coordinators' summary or digest check failed: %s", _short(exc))
    send_due(ctx, report, now, mailbox)
    if report.taken_in or report.sent:
        log.info("cycle: %s taken in, %s processed (%s failed), %s filed away, %s replies sent",
                 report.taken_in, report.processed, report.failed, report.moved, report.sent)
    return report


def run_once(config: Config, now: datetime | None = None) -> CycleReport:
    """Take in everything now in the mailbox and send what is due; raise on an unreachable server."""
    ctx = open_context(config)
    _sweep(ctx)
    stop = _Stop()
    with _stopping_on_signals(stop):  # a cron job's timeout or Ctrl-C: stop between two mails, as `run` does
        with Mailbox(config.imap) as mailbox:
            report = cycle(ctx, mailbox, now, should_stop=lambda: stop.requested)  # replies wait if SMTP is down
    Heartbeat(ctx.engine).polled()  # so `doctor` and the metrics tell when the mailbox was last read, by cron too
    if not report.stopped:
        asyncio.run(send.check(config.smtp))  # an unreachable SMTP server is reported even with nothing due
    return report


def _reminder_job(ctx: pipeline.Context) -> None:
    """APScheduler job: queue due reminders even while no mail arrives; the next cycle sends them."""
    try:
        reminders.run(ctx.engine, ctx.config)
    except Exception as exc:  # the next run tries again; the cycle also queues what is due
        log.error("reminder check failed: %s", _short(exc))


def _sweep(ctx: pipeline.Context) -> None:
    """Remove the half-written stored files a killed process (daemon, preparer, rekey) left behind."""
    removed = ctx.blobs.remove_stale_temporaries()
    if removed:
        log.info("removed %s half-written stored file(s) left by an interrupted process", removed)


def _sweep_job(ctx: pipeline.Context) -> None:
    """APScheduler job: the sweep, also while the daemon runs for weeks (a preparer killed mid-mail leaves some)."""
    try:
        _sweep(ctx)
    except OSError as exc:
        log.error("could not sweep half-written stored files: %s", _short(exc))


def _retention_job(ctx: pipeline.Context) -> None:
    """APScheduler job: purge the content of closed cases and caseless mail older than [retention] allows."""
    try:
        retention.purge(ctx.engine, ctx.blobs, ctx.config)
    except Exception as exc:  # tried again at the next run; nothing is half-purged (one transaction per case)
        log.error("retention purge failed: %s", _short(exc))


def _scheduler(ctx: pipeline.Context) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(_reminder_job, "interval", args=[ctx], minutes=ctx.config.reminders.check_minutes,
                      next_run_time=datetime.now(timezone.utc), max_instances=1, coalesce=True)
    scheduler.add_job(_sweep_job, "interval", args=[ctx], minutes=SWEEP_MINUTES, max_instances=1, coalesce=True)
    if ctx.config.retention.enabled:
        scheduler.add_job(_retention_job, "interval", args=[ctx], hours=ctx.config.retention.check_hours,
                          next_run_time=datetime.now(timezone.utc), max_instances=1, coalesce=True)
    scheduler.start()
    return scheduler


def _short(exc: Exception) -> str:
    """One line about an error, without the SQL parameters or mail content some exceptions carry."""
    if isinstance(exc, SQLAlchemyError):
        return f"database error ({type(getattr(exc, 'orig', None) or exc).__name__}): " + \
            str(getattr(exc, "orig", "") or "").strip().split("\n")[0][:200]
    return (str(exc) or type(exc).__name__).split("\n")[0][:300]


class _Stop:
    def __init__(self):
        self.requested = False

    def __call__(self, signum, _frame):
        log.info("signal %s received: stopping after the current step", signum)
        self.requested = True


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)  # a service manager, Ctrl-C, a closed terminal


def _stop_signals() -> list[int]:
    """The signals to stop on: not SIGHUP when it is ignored (`nohup halsodata run`: meant to outlive the terminal)."""
    return [s for s in STOP_SIGNALS if not (s == signal.SIGHUP and signal.getsignal(s) == signal.SIG_IGN)]


@contextlib.contextmanager
def _stopping_on_signals(stop: _Stop):
    """Signals set `stop` while the block runs (in the main thread; elsewhere they keep their handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {signum: signal.signal(signum, stop) for signum in _stop_signals()}
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


def run_forever(config: Config, max_backoff: float = 300.0) -> None:
    """The daemon: IDLE (or poll) and cycle; reconnect with growing delays when anything is unreachable."""
    stop = _Stop()
    for signum in _stop_signals():
        signal.signal(signum, stop)
    delay = 1.0
    ctx = None
    scheduler = None
    monitor = Monitor(config)  # the heartbeat in the database; /metrics and /health when enabled
    while not stop.requested:
        try:
            if ctx is None:
                ctx = open_context(config)
                _sweep(ctx)
                scheduler = _scheduler(ctx)
            with Mailbox(config.imap) as mailbox:
                log.info("connected to the mailbox (%s)", "IDLE" if mailbox.has_idle else "polling")
                while not stop.requested:
                    try:
                        cycle(ctx, mailbox, should_stop=lambda: stop.requested)
                    except send.SmtpUnavailable as exc:
                        log.error("%s", exc)  # intake goes on; replies wait in the outbox
                        monitor.failed(str(exc))
                    delay = 1.0  # only a whole cycle proves the trouble is over
                    monitor.polled()
                    period = config.imap.idle_timeout if mailbox.has_idle else config.imap.poll_interval
                    mailbox.wait(period, should_stop=lambda: stop.requested)
        except ConfigError:
            raise
        except Exception as exc:  # nothing ends the service: unreachable servers and bugs alike are retried
            known = isinstance(exc, (MailboxUnavailable, db.StoreUnavailable, SQLAlchemyError, IMAPClientError,
                                     OSError, BlobError))
            reason = _short(exc) if known else f"unexpected error ({type(exc).__name__})"
            if ctx is not None and isinstance(exc, (OperationalError, InterfaceError, DisconnectionError)):
                reason = db.describe(exc, ctx.engine)  # where, why, and what to check
            log.error("%s Retrying in %.0f s.", reason.rstrip(".") + ".", delay,
                      exc_info=not known and config.log.level == "DEBUG")
            monitor.failed(reason)
            end = time.monotonic() + delay
            while not stop.requested and time.monotonic() < end:
                time.sleep(min(1.0, end - time.monotonic()))
            delay = min(delay * 2, max_backoff)
    if scheduler is not None:
        scheduler.shutdown(wait=False)
    monitor.close()
    log.info("stopped")
