"""The coordinators' daily digest, through the real mailbox, daemon and SMTP server."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from intake import daemon
from intake.cli import main
from tests.conftest import MAILBOX_USER
from tests.samples.demo import demo_set

COORDINATORS = "handlaggare@region.test"
SWEDEN = ZoneInfo("Europe/Stockholm")


@pytest.fixture(autouse=True)
def _quiet_smtp_sink():
    """The test SMTP server logs from its own thread; such a line must not land in a CLI's captured output."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    yield
    logging.getLogger("mail.log").setLevel(logging.NOTSET)


def _cli(config, *args):
    return CliRunner().invoke(main, ["--config", str(config.source), *args])


def _digests(sink) -> list:
    return [m for m in sink.messages if m.rcpt_tos == [COORDINATORS] and "sammanställning" in m.message["Subject"]]


def _tomorrow_at(hour: int, minute: int = 0) -> datetime:
    """A moment after every reply the test queues (the daemon sends what is due by then)."""
    day = datetime.now(SWEDEN).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SWEDEN)


def _first_digest() -> datetime:
    """When the first digest is due: a moment after the cases the test opens now, and less than 24 hours after
    them, since the first digest lists the cases opened in the day before it (before 06:00 Swedish time, today at
    07:30; else tomorrow at 05:30). Before, the test failed when run between midnight and 07:31 Swedish time."""
    now = datetime.now(SWEDEN)
    if now.hour < 6:
        return datetime(now.year, now.month, now.day, 7, 30, tzinfo=SWEDEN)
    return _tomorrow_at(5, 30)


def test_the_daily_digest_goes_out_once_a_day_with_new_overdue_and_waiting_cases(mailbox, smtp_sink, make_config):
    due = _first_digest()
    config = make_config(extra=f'[coordinators]\naddresses = ["{COORDINATORS}"]\nsummary_events = []\n'
                               f'digest_time = "{due:%H:%M}"\n')
    for m in demo_set(MAILBOX_USER):
        mailbox.deliver(MAILBOX_USER, m.raw)
    cases = {}
    daemon.run_once(config, now=due - timedelta(minutes=30))  # before the digest time: none yet
    assert _digests(smtp_sink) == []
    for c in json.loads(_cli(config, "cases", "list", "--json").stdout):
        cases[c["state"] + ":" + c["track"]] = cases.get(c["state"] + ":" + c["track"], []) + [c["number"]]

    daemon.run_once(config, now=due + timedelta(minutes=1))
    [first] = _digests(smtp_sink)
    day = due.date().isoformat()
    assert first.message["Subject"] == (f"Dagens sammanställning {day}: 5 nya, 0 ändrade, 0 att godkänna, "
                                        "0 försenade")
    assert first.message["In-Reply-To"] is None
    body = first.message.get_content()
    assert "Nya ärenden (5)" in body
    for number in cases["incomplete:personal_data"]:
        assert f"  {number}  Ofullständigt  " in body
    [aggregated] = cases["complete:aggregated"]
    assert f"  {aggregated}  Komplett, aggregerad statistik  lars.persson@su.example" in body

    daemon.run_once(config, now=due.replace(hour=12, minute=0))  # later the same day: no second digest
    daemon.run_once(config, now=due.replace(hour=23, minute=59))
    assert len(_digests(smtp_sink)) == 1

    # sixteen days on: the two incomplete cases are overdue (a reminder went out the same cycle)
    later = due + timedelta(days=16, minutes=15)
    daemon.run_once(config, now=later)
    second = _digests(smtp_sink)[-1].message
    assert len(_digests(smtp_sink)) == 2
    assert second["Subject"].endswith(": 0 nya, 0 ändrade, 0 att godkänna, 2 försenade")
    body = second.get_content()
    assert "Försenade: komplettering obesvarad (2)" in body
    for number in cases["incomplete:personal_data"]:
        assert f"  {number}  16 dagar sedan begäran, 1 påminnelse(r)" in body
    assert "Väntat längst på oss (3)" in body
    for number in cases["complete:personal_data"] + cases["complete:aggregated"]:
        assert f"  {number}  Komplett  " in body


def test_digest_command_prints_and_sends_once(mailbox, smtp_sink, make_config):
    config = make_config(extra=f'[coordinators]\naddresses = ["{COORDINATORS}"]\nsummary_events = []\n'
                               'digest = false\n[outbox]\nrequire_approval = ["supplement_request"]\n')
    for m in demo_set(MAILBOX_USER)[2:]:
        mailbox.deliver(MAILBOX_USER, m.raw)
    daemon.run_once(config)
    smtp_sink.wait_for(3)
    assert _digests(smtp_sink) == []  # digest = false: the daemon sends none

    printed = _cli(config, "digest", "--lang", "en")
    assert printed.exit_code == 0, printed.output
    assert "Replies waiting for approval (2): halsodata outbox show/approve ID" in printed.output
    assert printed.output.count("supplement_request to ") == 2
    assert "New cases (3)" in printed.output

    sent = _cli(config, "digest", "--send")
    assert sent.exit_code == 0 and "queued for handlaggare@region.test" in sent.output
    again = _cli(config, "digest", "--send")
    assert again.exit_code != 0 and "already in the outbox" in again.output
    daemon.run_once(config)
    [digest] = _digests(smtp_sink)
    assert "2 att godkänna" in digest.message["Subject"]
    # a digest is not a reply: the cases' replies are still the researchers' own
    for c in json.loads(_cli(config, "cases", "list", "--json").stdout):
        detail = json.loads(_cli(config, "cases", "show", c["number"], "--json").stdout)
        assert all(r["to"] != COORDINATORS for r in detail["replies"])


def test_digest_send_without_an_address_says_what_to_set(make_config):
    config = make_config()
    result = _cli(config, "digest", "--send")
    assert result.exit_code != 0 and "[coordinators] addresses" in result.output


@pytest.mark.parametrize("count, subject", [
    (1, "1 nytt, 1 ändrat, 0 att godkänna, 1 försenat"),
    (2, "2 nya, 2 ändrade, 0 att godkänna, 2 försenade"),
])
def test_the_swedish_subject_agrees_in_number(count, subject):
    """'1 nya' reads as a typo to every coordinator; one case is 'nytt', 'ändrat', 'försenat'."""
    from outbox.digest import CaseLine, Digest, render

    now = datetime(2026, 12, 4, 7, 30, tzinfo=SWEDEN)
    line = CaseLine("HD-2026-0001", "Återinläggning", "a@ki.example", "incomplete", "personal_data", now, now, 3)
    d = Digest(day=now.date(), since=now - timedelta(days=1), new=[line] * count, changed=[line] * count,
               overdue=[line] * count)
    assert render(d, "sv")[0].endswith(f": {subject}")
