"""Hostile tests of what leaves the product: identity numbers in replies, control characters to terminals.

Each failing test is one bug; its docstring says what a user would experience.
"""

from __future__ import annotations

from click.testing import CliRunner

from intake import daemon
from intake.cli import main
from tests import factory
from tests.conftest import MAILBOX_USER

PNR = "19121212-1212"  # Skatteverket's published test number: Luhn-valid


def test_identity_number_after_a_hyphen_is_sent_back_in_the_acknowledgment(mailbox, smtp_sink, make_config):
    """A researcher who attaches a patient list named `Patientlista-19121212-1212.xlsx` by mistake gets
    the personal identity number back in clear in the acknowledgment ("Vi har tagit emot 1 bilaga: -
    Patientlista-19121212-1212.xlsx"), i.e. the region mails a personnummer out (DOMAIN.md section 11).

    `pnr._PATTERN` starts with the look-behind `(?<![\\d-])`, so a number preceded by "-" (the most
    common separator in file names, also "Journal-121212-1212.pdf") is never masked, in replies and in
    log lines alike. Fix: only forbid a preceding digit (or digit+hyphen, for longer digit runs).
    """
    config = make_config()
    mailbox.deliver(MAILBOX_USER, factory.mail(attachments=[
        (f"Patientlista-{PNR}.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         b"PK\x03\x04 fake")]))
    daemon.run_once(config)
    ack = smtp_sink.wait_for(1)[0]
    text = ack.message.get_content() + str(ack.message["Subject"])
    assert PNR not in text and "121212-1212" not in text, [line for line in text.splitlines() if "1212" in line]


def test_control_characters_in_a_subject_reach_the_coordinators_terminal(mailbox, smtp_sink, make_config):
    """A sender can drive the coordinator's terminal: `halsodata cases list` prints the case title with
    the raw ESC/BEL bytes from the mail's Subject (e.g. an OSC sequence that retitles the window, or with
    some terminals writes the clipboard, or CSI sequences that hide or rewrite lines).

    File names pass through `safe_filename`, which drops control characters; the subject only has its
    whitespace folded (`parse._header`) and `pipeline._title`/`_text` only strip NUL, so
    `Case.title`, `InboundMail.subject` and the reply Subject keep C0 controls. Fix: drop category-C
    characters from header text as `safe_filename` does.
    """
    config = make_config()
    mailbox.deliver(MAILBOX_USER, factory.mail("Ansökan \x1b]0;ALLA ÄRENDEN KLARA\x07 KOL-studien"))
    daemon.run_once(config)
    result = CliRunner().invoke(main, ["--config", str(config.source), "cases", "list"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output, repr(result.output)
