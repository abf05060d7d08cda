"""Prove the test servers in tests/support (real Dovecot, aiosmtpd sink) behave like the real thing."""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import json
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import uuid
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from imapclient import IMAPClient

from tests.support.dovecot import DEFAULT_USERS, Dovecot, make_rundir
from tests.support.smtp_sink import SmtpSink

REPO = Path(__file__).resolve().parents[1]
USER, PASSWORD = next(iter(DEFAULT_USERS.items()))

needs_dovecot = pytest.mark.skipif(
    shutil.which("dovecot") is None, reason="dovecot not installed (apt-get install dovecot-imapd dovecot-lmtpd)"
)


def raw_mail(subject: str = "Remiss") -> bytes:
    # CRLF throughout, as on the wire, so IMAP returns exactly these bytes.
    return (
        f"From: Vardcentral <sender@example.org>\r\n"
        f"To: {USER}\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4()}@example.org>\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n"
        f"\r\n"
        f"Hej, remiss bifogas.\r\n"
        f".leading dot survives dot-stuffing\r\n"
    ).encode()


def connection_refused(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


# -- Dovecot --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dovecot():
    rundir = make_rundir()
    dc = Dovecot(rundir)
    try:
        yield dc.start()
    finally:
        dc.stop(graceful=False)  # the graceful path is covered below; this saves a second
        shutil.rmtree(rundir, ignore_errors=True)


@needs_dovecot
def test_delivered_mail_is_visible_over_imap(dovecot: Dovecot):
    raw = raw_mail("Delivered over LMTP")
    dovecot.deliver(USER, raw)

    with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=10) as client:
        client.login(USER, PASSWORD)
        client.select_folder("INBOX")
        [uid] = client.search(["SUBJECT", "Delivered over LMTP"])
        fetched = client.fetch([uid], ["BODY.PEEK[]", "FLAGS"])[uid]

    body = fetched[b"BODY[]"]
    added, sep, rest = body.partition(raw)
    assert sep == raw and rest == b"", f"sent bytes not found verbatim at the end of:\n{body!r}"
    # Dovecot's LMTP prepends trace headers like a real MTA would.
    assert b"Return-Path: <sender@example.org>" in added
    assert f"Delivered-To: {USER}".encode() in added
    assert b"\\Seen" not in fetched[b"FLAGS"]  # PEEK must not mark it read


@needs_dovecot
def test_imap_capabilities_include_idle_and_move(dovecot: Dovecot):
    with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=10) as client:
        client.login(USER, PASSWORD)
        caps = set(client.capabilities())
    assert {b"IDLE", b"MOVE", b"UIDPLUS"} <= caps


@needs_dovecot
def test_create_folder_and_list_uids_track_a_move(dovecot: Dovecot):
    dovecot.create_folder(USER, PASSWORD, "Processed")
    dovecot.create_folder(USER, PASSWORD, "Processed")  # idempotent
    dovecot.deliver(USER, raw_mail("To be moved"))
    before = dovecot.list_uids(USER, PASSWORD)

    with dovecot.imap(USER, PASSWORD) as client:
        client.select_folder("INBOX")
        [uid] = client.search(["SUBJECT", "To be moved"])
        client.move([uid], "Processed")

    assert dovecot.list_uids(USER, PASSWORD) == [u for u in before if u != uid]
    assert len(dovecot.list_uids(USER, PASSWORD, "Processed")) == 1


@needs_dovecot
def test_delivery_to_unknown_user_is_refused(dovecot: Dovecot):
    with pytest.raises(RuntimeError, match="nobody@halsodata.test"):
        dovecot.deliver("nobody@halsodata.test", raw_mail())


@needs_dovecot
def test_wrong_password_is_rejected(dovecot: Dovecot):
    from imapclient.exceptions import LoginError

    with pytest.raises(LoginError):
        dovecot.imap(USER, "wrong")


@needs_dovecot
def test_stop_restart_keeps_ports_and_mail():
    rundir = make_rundir()
    try:
        dc = Dovecot(rundir, users={"a@halsodata.test": "pw-a", "b@halsodata.test": "pw-b"})
        dc.start()
        ports = (dc.imap_port, dc.lmtp_port)
        dc.deliver("b@halsodata.test", raw_mail("Survives restart"))
        idler = dc.imap("b@halsodata.test", "pw-b")
        idler.select_folder("INBOX")
        idler.idle()

        dc.stop()
        assert not dc.is_running()
        assert not dc.pid_path.exists()
        assert connection_refused(dc.host, dc.imap_port)
        # The outage must reach an IDLE-ing client, not leave its session lingering.
        with pytest.raises((IMAPClient.AbortError, OSError)):
            idler.idle_done()
        with contextlib.suppress(OSError):
            idler.shutdown()
        dc.stop()  # stopping a stopped instance is a no-op

        dc.start()
        assert (dc.imap_port, dc.lmtp_port) == ports
        assert dc.list_uids("b@halsodata.test", "pw-b") == [1]
        assert dc.list_uids("a@halsodata.test", "pw-a") == []

        dc.restart(graceful=False)  # crash-like and instant
        assert dc.list_uids("b@halsodata.test", "pw-b") == [1]
        dc.stop(graceful=False)
    finally:
        Dovecot(rundir).stop()
        shutil.rmtree(rundir, ignore_errors=True)


def test_long_rundir_is_refused_with_a_hint(tmp_path: Path):
    with pytest.raises(ValueError, match="mkdtemp"):
        Dovecot(tmp_path / ("x" * 80))


@needs_dovecot
def test_dovecot_cli_start_deliver_stop(tmp_path: Path):
    rundir = make_rundir()
    eml = tmp_path / "one.eml"
    eml.write_bytes(raw_mail("From the CLI").replace(b"\r\n", b"\n"))  # files on disk use LF
    cli = [sys.executable, "-m", "tests.support.dovecot"]
    try:
        out = subprocess.run([*cli, "start", "--dir", str(rundir), "--user", "demo@halsodata.test",
                              "--password", "demo"], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        info = json.loads(out.stdout.strip().splitlines()[-1])
        assert info["host"] == "127.0.0.1" and info["imap_port"] and info["lmtp_port"]

        out = subprocess.run([*cli, "deliver", "--dir", str(rundir), "--to", "demo@halsodata.test", str(eml)],
                             cwd=REPO, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert Dovecot.from_state(rundir).list_uids("demo@halsodata.test", "demo") == [1]

        out = subprocess.run([*cli, "stop", "--dir", str(rundir)], cwd=REPO, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        assert connection_refused("127.0.0.1", info["imap_port"])
    finally:
        Dovecot(rundir).stop()
        shutil.rmtree(rundir, ignore_errors=True)


# -- SMTP sink -------------------------------------------------------------------------------


@pytest.fixture
def sink(tmp_path: Path):
    with SmtpSink(out_dir=tmp_path / "sink") as s:
        yield s


def email_message(subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "intake@halsodata.test"
    msg["To"] = "journal@example.org"
    msg["Subject"] = subject
    msg.set_content("Vidarebefordrad remiss, åäö.\n")
    return msg


def test_sink_receives_from_smtplib(sink: SmtpSink):
    raw = email_message("via smtplib").as_bytes(policy=email.policy.SMTP)
    with smtplib.SMTP(sink.host, sink.port, local_hostname="localhost", timeout=10) as client:
        client.sendmail("intake@halsodata.test", ["journal@example.org", "copy@example.org"], raw)

    [got] = sink.wait_for(1)
    assert got.mail_from == "intake@halsodata.test"
    assert got.rcpt_tos == ["journal@example.org", "copy@example.org"]
    assert got.data == raw
    assert got.message["Subject"] == "via smtplib"
    assert "åäö" in got.message.get_content()
    assert (sink.out_dir / "0001.eml").read_bytes() == raw
    assert sorted(p.name for p in sink.out_dir.iterdir()) == ["0001.eml"]  # no temp files left


def test_sink_receives_from_aiosmtplib(sink: SmtpSink):
    async def send() -> None:
        await aiosmtplib.send(email_message("via aiosmtplib"), hostname=sink.host, port=sink.port,
                              start_tls=False, local_hostname="localhost", timeout=10)

    asyncio.run(send())
    [got] = sink.wait_for(1)
    assert got.rcpt_tos == ["journal@example.org"]
    assert got.message["Subject"] == "via aiosmtplib"


def test_fail_with_transient_then_permanent_is_seen_by_clients(sink: SmtpSink):
    sink.fail_with = (451, "4.3.0 try later")
    with smtplib.SMTP(sink.host, sink.port, local_hostname="localhost", timeout=10) as client:
        with pytest.raises(smtplib.SMTPDataError) as exc_info:
            client.sendmail("intake@halsodata.test", ["journal@example.org"], b"Subject: x\r\n\r\nx\r\n")
    assert exc_info.value.smtp_code == 451

    sink.fail_with = (550, "5.1.1 no such user")

    async def send() -> None:
        await aiosmtplib.send(email_message("refused"), hostname=sink.host, port=sink.port, start_tls=False,
                              local_hostname="localhost", timeout=10)

    with pytest.raises(aiosmtplib.SMTPDataError) as aio_exc:
        asyncio.run(send())
    assert aio_exc.value.code == 550
    assert sink.messages == []
    assert list(sink.out_dir.iterdir()) == []

    sink.fail_with = None
    asyncio.run(send())
    assert len(sink.wait_for(1)) == 1


def test_sink_stop_then_start_on_same_port(sink: SmtpSink):
    port = sink.port
    with smtplib.SMTP(sink.host, port, local_hostname="localhost", timeout=10) as client:
        client.sendmail("a@example.org", ["b@example.org"], b"Subject: before\r\n\r\n1\r\n")
    sink.stop()
    assert connection_refused(sink.host, port)
    with pytest.raises(OSError):
        smtplib.SMTP(sink.host, port, local_hostname="localhost", timeout=5)

    sink.start()
    assert sink.port == port
    with smtplib.SMTP(sink.host, port, local_hostname="localhost", timeout=10) as client:
        client.sendmail("a@example.org", ["b@example.org"], b"Subject: after\r\n\r\n2\r\n")
    assert [m.message["Subject"] for m in sink.wait_for(2)] == ["before", "after"]
    assert sorted(p.name for p in sink.out_dir.iterdir()) == ["0001.eml", "0002.eml"]


def test_wait_for_timeout_says_what_arrived(sink: SmtpSink):
    with smtplib.SMTP(sink.host, sink.port, local_hostname="localhost", timeout=10) as client:
        client.sendmail("a@example.org", ["b@example.org"], b"Subject: only one\r\n\r\n1\r\n")
    with pytest.raises(AssertionError, match=r"(?s)got 1:.*only one"):
        sink.wait_for(2, timeout=0.3)
    sink.clear()
    assert sink.messages == []


def test_sink_cli_runs_until_sigterm(tmp_path: Path):
    with subprocess.Popen([sys.executable, "-m", "tests.support.smtp_sink", "--port", "0", "--dir", str(tmp_path)],
                          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            info = json.loads(proc.stdout.readline())
            with smtplib.SMTP(info["host"], info["port"], local_hostname="localhost", timeout=10) as client:
                client.sendmail("a@example.org", ["b@example.org"], b"Subject: cli\r\n\r\n1\r\n")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0, proc.stderr.read()
            assert (tmp_path / "0001.eml").read_bytes() == b"Subject: cli\r\n\r\n1\r\n"
            assert "received" in proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
