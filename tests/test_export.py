"""The case register as an Excel workbook, for the demo's cases, opened again with openpyxl."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from click.testing import CliRunner

from intake import daemon
from intake.cli import main
from tests import factory
from tests.conftest import MAILBOX_USER
from tests.samples.demo import demo_follow_up, demo_set

TODAY = datetime.now(ZoneInfo("Europe/Stockholm")).date()


def _cli(config, *args):
    return CliRunner().invoke(main, ["--config", str(config.source), *args])


def _sheet(path):
    ws = openpyxl.load_workbook(path).active
    rows = list(ws.iter_rows(values_only=True))
    return ws, rows[0], [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


@pytest.fixture(scope="module")
def demo(tmp_path_factory, dovecot):
    """The five demo mails and Karin Nilsson's supplement, as `make demo` delivers them, processed once."""
    from tests.conftest import write_config
    from tests.support.smtp_sink import SmtpSink
    from intake import config as config_mod
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # the sink's thread must not log into CLI output
    sink = SmtpSink()
    sink.start()
    tmp = tmp_path_factory.mktemp("export")
    with dovecot.imap(MAILBOX_USER, "intake-secret") as client:
        client.select_folder("INBOX")
        if client.search("ALL"):
            client.delete_messages(client.search("ALL"))
            client.expunge()
    path = write_config(tmp / "halsodata.toml", imap_port=dovecot.imap_port, smtp_port=sink.port,
                        store_url=f"sqlite:///{tmp / 'halsodata.db'}")
    config = config_mod.load(path, environ={})
    mails = demo_set(MAILBOX_USER)
    for m in mails:
        dovecot.deliver(MAILBOX_USER, m.raw)
    daemon.run_once(config)
    numbers = {c["title"]: c["number"] for c in json.loads(_cli(config, "cases", "list", "--json").stdout)}
    lung = numbers[mails[2].subject]
    ack = next(m for m in sink.messages if lung in m.message["Subject"]).message
    dovecot.deliver(MAILBOX_USER, demo_follow_up(lung, ack["Message-ID"], mails[2]).raw)
    daemon.run_once(config)
    sink.stop()
    yield config, tmp, [numbers[m.subject] for m in mails]


def test_the_register_has_one_right_row_per_demo_case(demo):
    config, tmp, numbers = demo
    result = _cli(config, "export", str(tmp / "cases.xlsx"))
    assert result.exit_code == 0 and "5 case(s) written" in result.output
    ws, header, rows = _sheet(tmp / "cases.xlsx")
    assert header[:4] == ("Ärende", "Inkom", "Senast ändrat", "Forskare")
    assert ws.freeze_panes == "B2" and ws.auto_filter.ref == "A1:O6"
    assert ws.column_dimensions["G"].width > 40 and ws.column_dimensions["A"].width >= 12  # project, case number
    by = {r["Ärende"]: r for r in rows}
    assert [r["Ärende"] for r in rows] == sorted(numbers)
    heart, statin, lung, stats, sepsis = (by[n] for n in numbers)

    assert heart["Forskare"] == "Anna Lindqvist" and heart["Organisation"] == "Karolinska Institutet"
    assert heart["Projekt"].startswith("Återinläggning efter sjukhusvård för hjärtsvikt")
    assert (heart["Etik-Dnr"], heart["Etikbeslut"], heart["Status"]) == ("2024-01234", "godkänd", "Komplett")
    assert heart["Inkom"].date() == TODAY and heart["Dagar väntat"] == 0 and heart["Väntar på"] == "centrum"

    assert statin["E-post"] == "johan.ekstrom@su.example" and statin["Etikbeslut"] == "godkänd med villkor"
    assert lung["Status"] == "Komplett" and lung["Etikbeslut"] == "godkänd"  # completed by the supplement
    assert lung["Saknas eller fel"] is None
    assert (stats["Spår"], stats["Status"], stats["Etik-Dnr"]) == ("Aggregerad statistik", "Komplett", None)
    assert stats["Organisation"] == "Stockholms universitet"
    assert (sepsis["Status"], sepsis["Etikbeslut"], sepsis["Väntar på"]) == ("Ofullständigt", "avslag", "forskaren")
    assert sepsis["Saknas eller fel"] == "Etikprövningsmyndigheten har avslagit ansökan."


def test_filters_and_english_headers(demo):
    config, tmp, numbers = demo
    out = tmp / "incomplete.xlsx"
    assert _cli(config, "export", str(out), "--state", "incomplete", "--lang", "en").exit_code == 0
    ws, header, rows = _sheet(out)
    assert header[:3] == ("Case", "Opened", "Last changed") and ws.title == "Cases"
    assert [(r["Case"], r["Ethics decision"], r["Waiting for"], r["State"]) for r in rows] == [
        (numbers[4], "rejected", "researcher", "Incomplete")]
    assert rows[0]["Missing or failed"] == "The Ethical Review Authority rejected the application."

    assert _cli(config, "export", str(out), "--track", "aggregated").exit_code == 0
    assert [r["Ärende"] for r in _sheet(out)[2]] == [numbers[3]]
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    result = _cli(config, "export", str(out), "--since", tomorrow)
    assert result.exit_code == 0 and "0 case(s) written" in result.output and _sheet(out)[2] == []
    assert _cli(config, "export", str(out), "--since", TODAY.isoformat(), "--until", TODAY.isoformat()).exit_code == 0
    assert len(_sheet(out)[2]) == 5


def test_bad_arguments_say_what_to_write(demo):
    config, tmp, _ = demo
    result = _cli(config, "export", str(tmp / "cases.csv"))
    assert result.exit_code != 0 and "ending in .xlsx" in result.output
    result = _cli(config, "export", str(tmp / "x.xlsx"), "--since", "1 mars")
    assert result.exit_code != 0 and "YYYY-MM-DD" in result.output
    result = _cli(config, "export", str(tmp / "missing-folder" / "x.xlsx"))
    assert result.exit_code != 0 and "cannot write" in result.output


def test_a_title_that_looks_like_a_formula_stays_text(mailbox, smtp_sink, make_config, tmp_path):
    config = make_config()
    mailbox.deliver(MAILBOX_USER, factory.mail('=HYPERLINK("http://evil.example","klicka") 19121212-1212'))
    daemon.run_once(config)
    assert _cli(config, "export", str(tmp_path / "c.xlsx")).exit_code == 0
    ws = openpyxl.load_workbook(tmp_path / "c.xlsx").active
    cell = ws["G2"]
    assert cell.data_type == "s" and cell.value.startswith("=HYPERLINK")
    assert "19121212-1212" not in cell.value and "ÅÅÅÅMMDD-XXXX" in cell.value
    assert ws["B2"].is_date and ws["B2"].number_format == "yyyy-mm-dd"
