"""The long-running daemon: IDLE wakes it for new mail, it survives a server restart, it stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

from tests import factory
from tests.conftest import MAILBOX_USER


def _start(config) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "intake.cli", "--config", str(config.source), "run"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    return out


def test_daemon_answers_new_mail_and_reconnects_after_an_imap_restart(mailbox, smtp_sink, make_config):
    config = make_config()
    proc = _start(config)
    try:
        time.sleep(1.5)  # let it connect and enter IDLE
        mailbox.deliver(MAILBOX_USER, factory.mail())
        smtp_sink.wait_for(1, timeout=15)

        mailbox.restart()  # the connection drops under the daemon
        mailbox.deliver(MAILBOX_USER, factory.mail("Another application", sender="b@uni.example"))
        smtp_sink.wait_for(2, timeout=40)
    finally:
        out = _stop(proc)
    assert proc.returncode == 0, out
    assert "IDLE" in out and "Retrying in" in out and "stopped" in out
    assert "anna.lindqvist" not in out and "b@uni.example" not in out  # no addresses in the log


def test_a_mail_delivered_during_a_cycle_does_not_wait_for_the_idle_timeout(mailbox, smtp_sink, make_config):
    """Regression: a mail that arrived after the cycle listed the folder was announced (EXISTS) in the answer to a
    later command of the same cycle; IDLE does not say it again, so it waited a whole idle_timeout (a flaky outage
    test showed 30 s)."""
    from intake.mailbox import Mailbox

    config = make_config()
    with Mailbox(config.imap) as box:
        box.select()
        assert box.uids() == []
        mailbox.deliver(MAILBOX_USER, factory.mail())
        box.client.noop()  # some command of the cycle after the listing: its answer carries the EXISTS
        assert box.wait(10) is True, "the waiting mail was not noticed"


class _SearchRanAsTheMailLanded:
    """An IMAP client whose second UNDELETED search ran just as a mail was delivered: the result does not show it,
    but the server announced it (EXISTS) at the end of that very command, and IDLE never says it again."""

    def __init__(self):
        self._imap = SimpleNamespace(untagged_responses={"EXISTS": [b"0"]})  # from the SELECT before the listing
        self.searches, self.idled = 0, False

    def search(self, criteria):
        self.searches += 1
        if self.searches == 2:
            self._imap.untagged_responses.setdefault("EXISTS", []).append(b"1")
        return []

    def has_capability(self, name):
        return name == "IDLE"

    def idle(self):
        self.idled = True

    def idle_check(self, timeout):
        time.sleep(timeout)
        return []

    def idle_done(self):
        return b"", []


def test_a_mail_announced_at_the_end_of_the_last_search_before_idle_is_not_left_for_the_idle_timeout(make_config):
    """Seen as a flaky daemon and outage test: a mail delivered as the daemon entered IDLE waited the whole
    idle_timeout (600 s by default) for the next cycle."""
    from intake.mailbox import Mailbox

    box = Mailbox(make_config().imap)
    box.client = _SearchRanAsTheMailLanded()
    assert box.uids() == []
    assert box.wait(3) is True and not box.client.idled
    assert box.wait(0.1) is False  # said once, taken once: no endless cycling


def test_run_once_stopped_by_the_disk_says_so_and_that_nothing_is_lost(make_config, monkeypatch):
    """Before, an OSError (a full disk, a closed pipe to a dead child process) ended `run --once` with exit 1 and no
    word at all."""
    from click.testing import CliRunner

    from intake import cli, daemon

    config = make_config()

    def full_disk(_config):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(daemon, "run_once", full_disk)
    result = CliRunner().invoke(cli.main, ["--config", str(config.source), "run", "--once"])
    assert result.exit_code == 1
    assert "intake stopped: [Errno 28] No space left on device" in result.output
    assert "Nothing is lost" in result.output


def test_a_closed_terminal_stops_the_daemon_as_sigterm_does(mailbox, smtp_sink, make_config):
    """SIGHUP (the terminal running `halsodata run` closed) ended the daemon at once, in the middle of a mail."""
    config = make_config()
    proc = _start(config)
    try:
        time.sleep(1.5)
        mailbox.deliver(MAILBOX_USER, factory.mail())
        smtp_sink.wait_for(1, timeout=15)
        proc.send_signal(signal.SIGHUP)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            _stop(proc)
    assert proc.returncode == 0, out
    assert "stopped" in out


def test_run_once_stops_between_two_mails_on_sigterm(make_config, monkeypatch):
    """A cron job's `timeout` or Ctrl-C: `run --once` stops between two mails instead of dying in the middle of
    one, and gives the signals back afterwards."""
    from intake import daemon

    seen = []

    def cycle(ctx, mailbox, now=None, should_stop=daemon._never):
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + 10
        while not should_stop() and time.monotonic() < deadline:
            time.sleep(0.01)
        seen.append(should_stop())
        return daemon.CycleReport(stopped=should_stop())

    def outside(signum, _frame):  # what the caller had: it must not be the one to hear the signal
        seen.append("the caller's handler")

    monkeypatch.setattr(daemon, "cycle", cycle)
    before = signal.signal(signal.SIGTERM, outside)
    try:
        report = daemon.run_once(make_config())
        assert signal.getsignal(signal.SIGTERM) is outside
    finally:
        signal.signal(signal.SIGTERM, before)
    assert seen == [True] and report.stopped


def test_nohup_keeps_the_daemon_running_after_the_terminal_closes():
    from intake import daemon

    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # what nohup does
    try:
        assert signal.SIGHUP not in daemon._stop_signals()
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        assert signal.SIGHUP in daemon._stop_signals()
    finally:
        signal.signal(signal.SIGHUP, before)


def test_run_once_stopped_on_request_exits_75_so_a_script_can_tell(make_config, monkeypatch):
    """From a fresh-user trial: stopped by SIGTERM, `run --once` exited 0 as if it had finished."""
    from click.testing import CliRunner

    from intake import cli, daemon

    config = make_config()
    monkeypatch.setattr(daemon, "run_once", lambda _config: daemon.CycleReport(taken_in=3, processed=1,
                                                                              stopped=True))
    result = CliRunner().invoke(cli.main, ["--config", str(config.source), "run", "--once"])
    assert result.exit_code == 75
    assert "3 mail(s) taken in, 1 processed" in result.output and "Stopped on request" in result.output
