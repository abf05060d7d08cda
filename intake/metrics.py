"""What the daemon tells the outside world: its heartbeat in the database, and a metrics and health endpoint.

Everything the endpoint reports is read from the database when it is asked (the database is the only thing
that remembers), so the numbers are the same whichever daemon serves them and survive restarts. Labels are
fixed words (an outcome, a status, a kind of failure), never an address, a subject or a case number.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import delete, func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from intake import pnr
from intake.config import Config, ConfigError
from store import db
from store.db import session_scope
from store.models import Attachment, InboundMail, OutboxMail, ServiceStatus, utcnow

log = logging.getLogger("halsodata.metrics")

MAIL_OUTCOMES = ("fetched", "processed", "duplicate", "ignored", "failed")
OUTBOX_STATUSES = ("pending_approval", "queued", "sending", "sent", "failed", "rejected", "bounced")
# Heartbeats of daemons that stopped long ago are dropped; the newest poll time is kept by whoever runs now.
FORGET_AFTER = timedelta(days=30)


def service_name() -> str:
    """This daemon's name in ServiceStatus: "<host>:<pid>"."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every time stored is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


class Heartbeat:
    """Writes this daemon's ServiceStatus row: when it last read the mailbox, and its last error.

    A write that fails (the database is down) is skipped: the heartbeat must never stop the daemon, and a
    missing heartbeat is exactly what /health then reports.
    """

    def __init__(self, engine: Engine, name: str | None = None):
        self.engine = engine
        self.name = name or service_name()
        self.started_at = utcnow()
        self._pruned = False

    def polled(self) -> None:
        """The mailbox was read and everything found in it taken in."""
        self._write(last_poll_at=utcnow())

    def failed(self, reason: str) -> None:
        """An outage or error the daemon will retry; `reason` is the one line it logged."""
        self._write(last_error=pnr.redact(reason)[:500], last_error_at=utcnow())

    def _write(self, **values) -> None:
        now = utcnow()
        try:
            with session_scope(self.engine) as s:
                if not self._pruned:
                    s.execute(delete(ServiceStatus).where(ServiceStatus.updated_at < now - FORGET_AFTER))
                row = s.get(ServiceStatus, self.name) or ServiceStatus(name=self.name, started_at=self.started_at)
                for key, value in values.items():
                    setattr(row, key, value)
                row.updated_at = now
                s.add(row)
            self._pruned = True
        except SQLAlchemyError as exc:
            log.debug("heartbeat not written (%s)", type(exc).__name__)


@dataclass
class Health:
    ok: bool
    reason: str


def _seconds(later: datetime, earlier: datetime) -> int:
    return max(0, int((later - earlier).total_seconds()))


def health(engine: Engine, stall_after: int, name: str, started_at: datetime, now: datetime | None = None) -> Health:
    """Healthy unless the database cannot be used, the mailbox has not been read for `stall_after` seconds
    (counted from `started_at` before the first read) and no mail was processed in that time either (a long
    cycle through a backlog), or a mail taken in has waited that long to be processed."""
    now = now or utcnow()
    try:
        with Session(engine) as s:
            row = s.get(ServiceStatus, name)
            waiting = s.exec(select(InboundMail.id, InboundMail.fetched_at).where(InboundMail.status == "fetched")
                             .order_by(InboundMail.fetched_at, InboundMail.id).limit(1)).first()
            processed = _aware(s.exec(select(func.max(InboundMail.processed_at))).one())
    except SQLAlchemyError as exc:
        return Health(False, f"database unreachable: {db.describe(exc, engine)}")
    last_poll = _aware(row.last_poll_at) if row is not None else None
    since = last_poll or started_at
    # The heartbeat is written when a cycle ends; one cycle through a large backlog is long but not stalled.
    busy = processed is not None and _seconds(now, processed) <= stall_after
    if _seconds(now, since) > stall_after and not busy:
        what = (f"the mailbox has not been read successfully for {_seconds(now, since)} s" if last_poll else
                f"the mailbox has not been read successfully since the daemon started {_seconds(now, since)} s ago")
        error = f"; last error: {row.last_error.rstrip('.')}." if row is not None and row.last_error else "."
        fix = "" if "Fix:" in error else (" Fix: see the daemon's log; `halsodata doctor` checks the mailbox, SMTP "
                                          "and database.")
        return Health(False, f"intake has stalled: {what} (limit [metrics] stall_after = {stall_after} s){error}{fix}")
    if waiting is not None and _seconds(now, _aware(waiting[1])) > stall_after:
        return Health(False, f"intake has stalled: mail #{waiting[0]} was taken in {_seconds(now, _aware(waiting[1]))}"
                             f" s ago and is still not processed (limit [metrics] stall_after = {stall_after} s). "
                             "Fix: see the daemon's log for that mail; `halsodata mails list --status fetched` "
                             "lists what waits.")
    if _seconds(now, since) > stall_after:
        read = f"working through a backlog, last mail processed {_seconds(now, processed)} s ago"
    elif last_poll:
        read = f"mailbox read {_seconds(now, last_poll)} s ago"
    else:
        read = "starting, mailbox not read yet"
    return Health(True, f"ok: {read}, {'a mail is being processed' if waiting else 'nothing waiting'}")


class StoreCollector:
    """Prometheus collector that reads the intake and outbox records at scrape time."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def describe(self):
        return []  # values come from the database at each scrape; nothing to check at registration

    def collect(self):
        up = GaugeMetricFamily("halsodata_database_up", "1 when the database answered this scrape, 0 when not.")
        try:
            values = self._read()
        except SQLAlchemyError as exc:
            log.warning("metrics: %s", db.describe(exc, self.engine))
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        outcomes, outbox, unreadable, oldest, last_poll, last_error = values
        taken = CounterMetricFamily("halsodata_mails_taken_in", "Mails taken in from the mailbox (every outcome).")
        taken.add_metric([], sum(outcomes.values()))
        yield taken
        mails = GaugeMetricFamily("halsodata_mails", "Mails taken in, by their outcome now (fetched: recorded, not "
                                  "yet processed).", labels=["outcome"])
        for outcome in sorted(set(MAIL_OUTCOMES) | set(outcomes)):
            mails.add_metric([outcome], outcomes.get(outcome, 0))
        yield mails
        failures = GaugeMetricFamily(
            "halsodata_failures", "Failures on record, by kind: mail (could not be processed; kept with the reason), "
            "reply_refused (refused by the SMTP server for good), reply_bounced (a delivery failure came back), "
            "attachment_unreadable.", labels=["kind"])
        failures.add_metric(["mail"], outcomes.get("failed", 0))
        failures.add_metric(["reply_refused"], outbox.get("failed", 0))
        failures.add_metric(["reply_bounced"], outbox.get("bounced", 0))
        failures.add_metric(["attachment_unreadable"], unreadable)
        yield failures
        depth = GaugeMetricFamily("halsodata_outbox", "Replies in the outbox, by status.", labels=["status"])
        for status in sorted(set(OUTBOX_STATUSES) | set(outbox)):
            depth.add_metric([status], outbox.get(status, 0))
        yield depth
        age = GaugeMetricFamily("halsodata_oldest_unprocessed_mail_age_seconds",
                                "Age of the oldest mail taken in but not yet processed; 0 when none waits.")
        age.add_metric([], _seconds(utcnow(), oldest) if oldest else 0)
        yield age
        if last_poll is not None:
            poll = GaugeMetricFamily("halsodata_last_successful_poll_timestamp_seconds",
                                     "When a daemon last read the mailbox successfully (Unix time).")
            poll.add_metric([], last_poll.timestamp())
            yield poll
        if last_error is not None:
            error = GaugeMetricFamily("halsodata_last_error_timestamp_seconds",
                                      "When a daemon last logged an outage or error it retries (Unix time).")
            error.add_metric([], last_error.timestamp())
            yield error
        info = GaugeMetricFamily("halsodata_build_info", "The running version.", labels=["version"])
        info.add_metric([_version()], 1)
        yield info

    def _read(self):
        with Session(self.engine) as s:
            outcomes = dict(s.exec(select(InboundMail.status, func.count()).group_by(InboundMail.status)).all())
            outbox = dict(s.exec(select(OutboxMail.status, func.count()).group_by(OutboxMail.status)).all())
            unreadable = s.exec(select(func.count()).select_from(Attachment)
                                .where(Attachment.readable == False)).one()  # noqa: E712
            oldest = s.exec(select(func.min(InboundMail.fetched_at)).where(InboundMail.status == "fetched")).one()
            last_poll, last_error = s.exec(select(func.max(ServiceStatus.last_poll_at),
                                                  func.max(ServiceStatus.last_error_at))).one()
        return outcomes, outbox, unreadable, _aware(oldest), _aware(last_poll), _aware(last_error)


def _version() -> str:
    try:
        return version("halsodata-intake")
    except PackageNotFoundError:
        return "unknown"


class MetricsServer:
    """/metrics (Prometheus text format) and /health (200 or 503, plain text) on [metrics] listen."""

    def __init__(self, config: Config, engine: Engine, heartbeat: Heartbeat):
        self.config, self.engine, self.heartbeat = config, engine, heartbeat
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StoreCollector(engine))
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> "MetricsServer":
        host, port = self.config.metrics.address
        server_class = type("_Server", (ThreadingHTTPServer,), {
            "address_family": socket.AF_INET6 if ":" in host else socket.AF_INET, "daemon_threads": True})
        try:
            self._server = server_class((host, port), _handler(self))
        except OSError as exc:
            raise ConfigError(f"[metrics] listen = {self.config.metrics.listen!r}: cannot listen there "
                              f"({exc.strerror or exc}). Fix: choose a free address and port (each daemon on a "
                              "host needs its own), or set [metrics] enabled = false.") from None
        threading.Thread(target=self._server.serve_forever, name="halsodata-metrics", daemon=True).start()
        log.info("metrics and health on http://%s/metrics and /health", self.config.metrics.listen)
        return self

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def health(self) -> Health:
        return health(self.engine, self.config.metrics.stall_after, self.heartbeat.name, self.heartbeat.started_at)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()


def _handler(owner: MetricsServer):
    class Handler(BaseHTTPRequestHandler):
        server_version = "halsodata"

        def log_message(self, *args):  # scrapes every few seconds would drown the log
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                return self._send(200, generate_latest(owner.registry), CONTENT_TYPE_LATEST)
            if path in ("/health", "/healthz"):
                result = owner.health()
                return self._send(200 if result.ok else 503, (result.reason + "\n").encode(),
                                  "text/plain; charset=utf-8")
            self._send(404, b"not found: try /metrics or /health\n", "text/plain; charset=utf-8")

        do_HEAD = do_GET

    return Handler


class Monitor:
    """The daemon's side: its heartbeat, and the endpoint when [metrics] enabled; never stops the daemon."""

    def __init__(self, config: Config, engine: Engine | None = None):
        self._own_engine = engine is None
        self.engine = engine or db.make_engine(config.store.url)
        self.heartbeat = Heartbeat(self.engine)
        self.server = MetricsServer(config, self.engine, self.heartbeat).start() if config.metrics.enabled else None

    def polled(self) -> None:
        self.heartbeat.polled()

    def failed(self, reason: str) -> None:
        self.heartbeat.failed(reason)

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self._own_engine:
            self.engine.dispose()
