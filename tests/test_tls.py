"""TLS for IMAP and SMTP against a real Dovecot (ssl = yes) and aiosmtpd, with a CA made in the test.

Both modes (implicit TLS and STARTTLS) must verify the server against [imap|smtp] ca_file, and a server
whose certificate the configured CA did not sign must fail with an error naming the key to fix.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl

import aiosmtplib
import pytest

from intake.config import ImapConfig, SmtpConfig, load
from intake.mailbox import Mailbox, MailboxUnavailable
from outbox import send
from tests.conftest import FROM_ADDRESS, MAILBOX_PASSWORD, MAILBOX_USER
from tests.support.certs import TestCA
from tests.support.dovecot import Dovecot, make_rundir
from tests.support.smtp_sink import SmtpSink


@pytest.fixture(scope="module")
def pki():
    """The region's CA, an unrelated CA, and certificates for 127.0.0.1/localhost signed by each."""
    directory = make_rundir("hdpki")
    region = TestCA(directory, "region-ca")
    stranger = TestCA(directory, "stranger-ca")
    yield {
        "dir": directory,
        "ca": region,
        "other_ca": stranger,
        "server": region.issue("server"),
        "untrusted": stranger.issue("untrusted"),
        "wrong_name": region.issue("wrong-name", dns=("mail.region.example",), ips=()),
    }
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_dovecot(pki):
    rundir = make_rundir()
    server = Dovecot(rundir, users={MAILBOX_USER: MAILBOX_PASSWORD}, tls=pki["server"].pair)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(rundir, ignore_errors=True)


@pytest.fixture(scope="module")
def untrusted_dovecot(pki):
    rundir = make_rundir()
    server = Dovecot(rundir, users={MAILBOX_USER: MAILBOX_PASSWORD}, tls=pki["untrusted"].pair)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(rundir, ignore_errors=True)


def _port(dovecot: Dovecot, security: str) -> int:
    return dovecot.imaps_port if security == "tls" else dovecot.imap_port


def _imap(dovecot, security, **extra) -> ImapConfig:
    return ImapConfig(host="127.0.0.1", port=_port(dovecot, security), security=security, username=MAILBOX_USER,
                      password=MAILBOX_PASSWORD, timeout=10, **extra)


def _smtp(sink, security, **extra) -> SmtpConfig:
    return SmtpConfig(host="127.0.0.1", port=sink.port, security=security, from_address=FROM_ADDRESS, timeout=10,
                      **extra)


# -- IMAP -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_imap_verifies_the_server_against_the_ca_file(tls_dovecot, pki, security):
    dovecot = tls_dovecot
    dovecot.deliver(MAILBOX_USER, b"Subject: over TLS\r\nMessage-ID: <tls-1@test>\r\n\r\nhello\r\n")
    with Mailbox(_imap(dovecot, security, ca_file=pki["ca"].path)) as mailbox:
        sock = mailbox.client._imap.sock
        assert isinstance(sock, ssl.SSLSocket), "the session must be encrypted"
        assert sock.version() in ("TLSv1.2", "TLSv1.3")
        peer = sock.getpeercert()  # only filled in when the chain was verified
        assert ("IP Address", "127.0.0.1") in peer["subjectAltName"]
        assert mailbox.uids(), "the delivered mail is visible over the encrypted session"


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_imap_certificate_not_signed_by_the_ca_file_fails_naming_the_key(untrusted_dovecot, pki, security):
    cfg = _imap(untrusted_dovecot, security, ca_file=pki["ca"].path)
    with pytest.raises(MailboxUnavailable) as info:
        Mailbox(cfg).connect()
    message = str(info.value)
    assert "[imap] ca_file" in message and "could not be verified" in message
    assert "unable to get local issuer certificate" in message
    assert str(pki["ca"].path) in message


def test_imap_without_ca_file_trusts_only_the_system_cas(tls_dovecot):
    """Verification is on by default: a private CA is not trusted unless configured."""
    with pytest.raises(MailboxUnavailable, match=r"system's trusted CAs .*Fix: set \[imap\] ca_file"):
        Mailbox(_imap(tls_dovecot, "tls")).connect()


def test_imap_unreadable_ca_file_names_the_key(tls_dovecot, pki):
    missing = pki["dir"] / "no-such-ca.pem"
    with pytest.raises(MailboxUnavailable, match=r"\[imap\] ca_file = .*no-such-ca.pem.* cannot be used"):
        Mailbox(_imap(tls_dovecot, "tls", ca_file=missing)).connect()


# -- SMTP -------------------------------------------------------------------------------------------

@pytest.fixture
def make_sink():
    sinks = []

    def _make(cert, mode, **kwargs) -> SmtpSink:
        sink = SmtpSink(tls=cert.pair, tls_mode=mode, **kwargs)
        sink.start()
        sinks.append(sink)
        return sink

    yield _make
    for sink in sinks:
        sink.stop()


async def _send_one(cfg: SmtpConfig, subject: str) -> None:
    smtp = await send._open(cfg)
    try:
        await smtp.sendmail(cfg.from_address, ["researcher@uni.test"],
                            f"From: {cfg.from_address}\r\nSubject: {subject}\r\n\r\nhej\r\n")
        assert smtp.get_transport_info("peercert"), "the server certificate was verified"
    finally:
        await smtp.quit()


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_smtp_verifies_the_server_against_the_ca_file(make_sink, pki, security):
    sink = make_sink(pki["server"], security)
    cfg = _smtp(sink, security, ca_file=pki["ca"].path)
    asyncio.run(send.check(cfg))
    asyncio.run(_send_one(cfg, f"over {security}"))
    [received] = sink.wait_for(1)
    assert received.message["Subject"] == f"over {security}"


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_smtp_certificate_not_signed_by_the_ca_file_fails_naming_the_key(make_sink, pki, security):
    sink = make_sink(pki["untrusted"], security)
    with pytest.raises(send.SmtpUnavailable) as info:
        asyncio.run(send.check(_smtp(sink, security, ca_file=pki["ca"].path)))
    message = str(info.value)
    assert "[smtp] ca_file" in message and "could not be verified" in message
    assert "unable to get local issuer certificate" in message
    assert sink.messages == []


def test_smtp_certificate_for_another_host_names_the_host_key(make_sink, pki):
    sink = make_sink(pki["wrong_name"], "starttls")
    with pytest.raises(send.SmtpUnavailable, match=r"not for '127.0.0.1'.*Fix: set \[smtp\] host"):
        asyncio.run(send.check(_smtp(sink, "starttls", ca_file=pki["ca"].path)))


def test_smtp_starttls_server_refuses_mail_before_tls(make_sink, pki):
    """The sink in STARTTLS mode is a real STARTTLS server: it will not take mail in clear text."""
    sink = make_sink(pki["server"], "starttls")
    with pytest.raises(aiosmtplib.SMTPSenderRefused, match="STARTTLS"):
        asyncio.run(_send_one(_smtp(sink, "none"), "clear text"))
    assert sink.messages == []


# -- configuration -----------------------------------------------------------------------------------

def test_ca_file_is_read_relative_to_the_config_file(tmp_path):
    (tmp_path / "halsodata.toml").write_text("""
[imap]
ca_file = "pki/region-ca.pem"
[smtp]
from_address = "halsodata@region.test"
ca_file = "/etc/ssl/region-ca.pem"
[store]
key_file = "store.key"
""")
    config = load(tmp_path / "halsodata.toml", environ={})
    assert config.imap.ca_file == tmp_path / "pki" / "region-ca.pem"
    assert str(config.smtp.ca_file) == "/etc/ssl/region-ca.pem"
    default = load(tmp_path / "halsodata.toml", environ={"HALSODATA_IMAP__CA_FILE": "/x/ca.pem"})
    assert str(default.imap.ca_file) == "/x/ca.pem"
