"""The daemon's /metrics and /health: what a monitoring system sees, read from the database.

One test runs the real daemon against Dovecot and the SMTP sink and watches /health turn 503 when the
mailbox goes away; the others check the health rules with a clock and a database of their own.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta

import httpx
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from intake import metrics
from intake.cli import main
from intake.config import ConfigError, load
from store import db, migrate
from store.db import session_scope
from store.models import InboundMail, ServiceStatus
from tests import factory
from tests.conftest import MAILBOX_USER, write_config
from tests.support.dovecot import free_port


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5)
    except httpx.TransportError:
        return None


def test_a_running_daemon_reports_intake_and_turns_unhealthy_when_the_mailbox_goes_away(mailbox, smtp_sink,
                                                                                       tmp_path):
    port = free_port()
    path = write_config(tmp_path / "halsodata.toml", imap_port=mailbox.imap_port, smtp_port=smtp_sink.port,
                        store_url=f"sqlite:///{tmp_path / 'halsodata.db'}",
                        extra=f'[metrics]\nenabled = true\nlisten = "127.0.0.1:{port}"\nstall_after = 15\n')
    # stall_after must exceed the IDLE period, so that goes down to its minimum for a short test
    path.write_text(path.read_text().replace("idle_timeout = 30", "idle_timeout = 10"))
    config = load(path, environ={})
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "intake.cli", "--config", str(config.source), "run"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        _wait(lambda: _get(f"{base}/health"), 15, "the health endpoint to answer")
        mailbox.deliver(MAILBOX_USER, factory.mail())
        smtp_sink.wait_for(1, timeout=20)

        def settled():
            values = _samples(_get(f"{base}/metrics").text)
            waiting = sum(values.get(("halsodata_outbox", (("status", s),)), 1) for s in ("queued", "sending"))
            sent = values.get(("halsodata_outbox", (("status", "sent"),)))
            polled = ("halsodata_last_successful_poll_timestamp_seconds", ()) in values  # written after the cycle
            return values if waiting == 0 and sent and polled else None
        values = _wait(settled, 15, "the sent reply and the finished cycle to show in /metrics")
        assert values[("halsodata_database_up", ())] == 1
        assert values[("halsodata_outbox", (("status", "sent"),))] == len(smtp_sink.messages)
        assert values[("halsodata_mails_taken_in_total", ())] == 1
        assert values[("halsodata_mails", (("outcome", "processed"),))] == 1
        assert values[("halsodata_failures", (("kind", "mail"),))] == 0
        assert values[("halsodata_oldest_unprocessed_mail_age_seconds", ())] == 0
        assert abs(values[("halsodata_last_successful_poll_timestamp_seconds", ())] - time.time()) < 15
        page = _get(f"{base}/metrics").text
        assert "anna.lindqvist" not in page and "uni.example" not in page  # no addresses, no subjects
        healthy = _get(f"{base}/health")
        assert healthy.status_code == 200 and healthy.text.startswith("ok: mailbox read")
        doctor = CliRunner().invoke(main, ["--config", str(path), "doctor"])
        assert doctor.exit_code == 0, doctor.output
        assert re.search(rf"^ok +metrics +a daemon answers on {base}/health: ok: mailbox read", doctor.output, re.M)
        assert re.search(rf"^ok +daemon +halsodata \(\S+:{proc.pid}\) last read the mailbox \d+ s ago$", doctor.output,
                         re.M), doctor.output

        mailbox.stop()  # the mailbox server goes away; the daemon retries, intake stalls
        try:
            sick = _wait(lambda: (r := _get(f"{base}/health")) is not None and r.status_code == 503 and r, 40,
                         "/health to report the stall")
        finally:
            mailbox.start()
        assert "intake has stalled: the mailbox has not been read successfully for" in sick.text
        assert "stall_after = 15 s" in sick.text and "cannot connect to the IMAP server" in sick.text
        assert "Fix:" in sick.text
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"metrics and health on http://127.0.0.1:{port}/metrics" in out


# -- the health rules, with a clock ---------------------------------------------------------------------

@pytest.fixture
def engine(store_url):
    engine = db.make_engine(store_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def test_health_follows_the_heartbeat_and_the_oldest_waiting_mail(engine):
    beat = metrics.Heartbeat(engine, name="host:1")
    now = beat.started_at

    def check(at):
        return metrics.health(engine, 600, beat.name, beat.started_at, now=at)

    assert check(now).ok and "starting" in check(now).reason  # not read yet, but only just started
    stalled = check(now + timedelta(seconds=601))
    assert not stalled.ok and "since the daemon started 601 s ago" in stalled.reason

    beat.polled()
    assert check(now + timedelta(seconds=60)).ok
    beat.failed("cannot connect to the IMAP server imap.region.example:993 (timed out). Fix: check [imap] host")
    late = check(now + timedelta(seconds=700))
    assert not late.ok and re.search(r"has not been read successfully for (699|70\d) s", late.reason), late.reason
    assert late.reason.endswith("; last error: cannot connect to the IMAP server imap.region.example:993 (timed out)."
                                " Fix: check [imap] host.")

    with session_scope(engine) as s:  # a long cycle through a backlog: mails are processed, the cycle not done
        s.add(InboundMail(account="a", folder="INBOX", uidvalidity=1, uid=6, sha256="aa", size=10, status="processed",
                          processed_at=now + timedelta(seconds=650)))
    busy = check(now + timedelta(seconds=700))
    assert busy.ok and re.search(r"working through a backlog, last mail processed (49|50) s ago", busy.reason)
    assert not check(now + timedelta(seconds=1300)).ok

    with session_scope(engine) as s:  # a mail taken in but never processed (a reader hangs, say)
        s.add(InboundMail(account="a", folder="INBOX", uidvalidity=1, uid=7, sha256="ab", size=10,
                          fetched_at=now - timedelta(seconds=900), from_address="forskare@uni.example"))
    beat.polled()
    waiting = check(now)
    assert not waiting.ok and "mail #2 was taken in 900 s ago and is still not processed" in waiting.reason
    assert "forskare" not in waiting.reason


def test_heartbeats_of_several_daemons_and_a_failed_write_never_raise(engine, tmp_path):
    metrics.Heartbeat(engine, name="a:1").polled()
    metrics.Heartbeat(engine, name="b:2").failed("database error")
    with session_scope(engine) as s:
        rows = {r.name: r for r in s.exec(ServiceStatus.__table__.select()).all()}
    assert set(rows) == {"a:1", "b:2"} and rows["a:1"].last_poll_at and rows["b:2"].last_error == "database error"
    broken = db.make_engine(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    metrics.Heartbeat(broken).polled()  # the database is gone: the daemon must go on


def test_unreachable_database_is_unhealthy_and_metrics_say_so(make_config, tmp_path):
    port = free_port()
    config = make_config(store_url=f"sqlite:///{tmp_path}/no/such/dir/x.db",
                         extra=f'[metrics]\nenabled = true\nlisten = "127.0.0.1:{port}"\n')
    monitor = metrics.Monitor(config)
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/health")
        assert response.status_code == 503
        assert response.text.startswith("database unreachable: cannot use the database sqlite:///")
        assert "Fix: check [store] url" in response.text
        values = _samples(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
        assert values[("halsodata_database_up", ())] == 0
        assert httpx.get(f"http://127.0.0.1:{port}/other").status_code == 404
    finally:
        monitor.close()


def test_a_taken_port_stops_start_up_naming_the_key(make_config):
    first = make_config(extra=f'[metrics]\nenabled = true\nlisten = "127.0.0.1:{free_port()}"\n')
    monitor = metrics.Monitor(first)
    try:
        with pytest.raises(ConfigError, match=r"\[metrics\] listen = '127.0.0.1:\d+': cannot listen there .*Fix"):
            metrics.Monitor(first)
    finally:
        monitor.close()


def test_stall_after_must_be_longer_than_the_idle_period(tmp_path):
    (tmp_path / "halsodata.toml").write_text('[smtp]\nfrom_address = "hd@region.test"\n[store]\nkey_file = "k"\n'
                                             '[metrics]\nstall_after = 300\n')
    with pytest.raises(ConfigError, match=r"stall_after \(300 s\) must be longer than \[imap\] idle_timeout .*"
                                          r"Fix: set stall_after to at least 1200"):
        load(tmp_path / "halsodata.toml", environ={})
    (tmp_path / "halsodata.toml").write_text('[smtp]\nfrom_address = "hd@region.test"\n[store]\nkey_file = "k"\n'
                                             '[metrics]\nlisten = "9464"\n')
    with pytest.raises(ConfigError, match=r"metrics: listen must be HOST:PORT"):
        load(tmp_path / "halsodata.toml", environ={})
