"""The daemon as a Microsoft 365 region runs it: IMAP over implicit TLS and SMTP over STARTTLS, both verified
against the region's CA, both signed in with XOAUTH2 tokens from MSAL; and `doctor` on that configuration.

Dovecot checks each token at the local identity provider (oauth2 passdb, token introspection); the SMTP
server accepts exactly the tokens that provider issued and still honours.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from intake.cli import main
from store.blobs import new_key
from tests import factory
from tests.conftest import FROM_ADDRESS, MAILBOX_PASSWORD, MAILBOX_USER
from tests.support.certs import TestCA
from tests.support.dovecot import Dovecot, make_rundir
from tests.support.oauth_server import IdentityProvider
from tests.support.smtp_sink import SmtpSink

TENANT = "region-tenant-0001"
CLIENT_ID = "halsodata-app-0001"
CLIENT_SECRET = "the-app-secret"


class _IssuedToken:
    """Equal to any token the identity provider issued and has not revoked or let expire."""

    def __init__(self, idp: IdentityProvider):
        self.idp = idp

    def __eq__(self, token) -> bool:
        return any(i.token == token and i.active for i in self.idp.issued)

    __hash__ = None


@pytest.fixture(scope="module")
def region():
    directory = make_rundir("hdreg")
    ca = TestCA(directory, "region-ca")
    idp = IdentityProvider(TENANT, CLIENT_ID, CLIENT_SECRET, MAILBOX_USER, ca.issue("idp").pair)
    server_cert = ca.issue("mail")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REQUESTS_CA_BUNDLE", str(ca.path))  # MSAL (requests) verifies the token endpoint with it
        idp.start()
        dovecot = Dovecot(make_rundir(), users={MAILBOX_USER: MAILBOX_PASSWORD}, tls=server_cert.pair,
                          oauth2_introspection_url=idp.introspection_url)
        dovecot.start()
        sink = SmtpSink(tls=server_cert.pair, tls_mode="starttls", xoauth2_tokens={MAILBOX_USER: _IssuedToken(idp)})
        sink.start()
        yield {"ca": ca, "idp": idp, "dovecot": dovecot, "sink": sink}
        sink.stop()
        dovecot.stop()
        idp.stop()
    shutil.rmtree(dovecot.rundir, ignore_errors=True)
    shutil.rmtree(directory, ignore_errors=True)


def _config(tmp_path: Path, region) -> Path:
    (tmp_path / "client.secret").write_text(CLIENT_SECRET + "\n")
    (tmp_path / "store.key").write_text(new_key() + "\n")
    path = tmp_path / "halsodata.toml"
    path.write_text(f"""
[imap]
host = "127.0.0.1"
port = {region["dovecot"].imaps_port}
security = "tls"
ca_file = "{region["ca"].path}"
auth = "xoauth2"
username = "{MAILBOX_USER}"
idle_timeout = 30
timeout = 15

[smtp]
host = "127.0.0.1"
port = {region["sink"].port}
security = "starttls"
ca_file = "{region["ca"].path}"
auth = "xoauth2"
username = "{MAILBOX_USER}"
from_address = "{FROM_ADDRESS}"
timeout = 15

[store]
url = "sqlite:///halsodata.db"
files = "files"
key_file = "store.key"

[oauth]
tenant_id = "{TENANT}"
client_id = "{CLIENT_ID}"
client_secret_file = "client.secret"
authority = "{region["idp"].authority}"
""")
    return path


def test_the_daemon_takes_in_and_answers_over_tls_with_xoauth2(region, tmp_path):
    dovecot, sink, idp = region["dovecot"], region["sink"], region["idp"]
    config = _config(tmp_path, region)
    sink.clear()
    proc = subprocess.Popen([sys.executable, "-m", "intake.cli", "--config", str(config), "run"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        dovecot.deliver(MAILBOX_USER, factory.mail(sender="forskare@uni.example"))
        [reply, *_] = sink.wait_for(1, timeout=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    logins = [line for line in dovecot.log_tail(200).splitlines() if "imap-login: Info: Login: user=" in line]
    assert proc.returncode == 0, out
    assert reply.rcpt_tos == ["forskare@uni.example"] and "[HD-" in reply.message["Subject"]
    issued = {i.token for i in idp.issued}
    sent_tokens = {s.split("auth=Bearer ")[1].rstrip("\x01") for s in sink.auth_strings}
    assert sent_tokens and sent_tokens <= issued, "SMTP signed in with a token from the identity provider"
    assert logins and all("method=XOAUTH2" in line and ", TLS," in line for line in logins), logins
    assert dovecot.list_uids(MAILBOX_USER, MAILBOX_PASSWORD) == [], "the mail was filed away"
    assert "connected to the mailbox (IDLE)" in out and "forskare@" not in out


def test_doctor_passes_on_the_tls_and_xoauth2_configuration(region, tmp_path):
    result = CliRunner().invoke(main, ["--config", str(_config(tmp_path, region)), "doctor"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"a token from {region['idp'].authority}/{TENANT} for client {CLIENT_ID}" in out
    assert "(implicit TLS, xoauth2) as 'intake@halsodata.test'" in out
    assert f"signed in as '{MAILBOX_USER}' (xoauth2); MAIL FROM {FROM_ADDRESS}" in out


def test_doctor_names_a_certificate_the_region_ca_did_not_sign(region, tmp_path):
    config = _config(tmp_path, region)
    other = TestCA(tmp_path / "pki", "other-ca")
    config.write_text(config.read_text().replace(f'ca_file = "{region["ca"].path}"', f'ca_file = "{other.path}"'))
    result = CliRunner().invoke(main, ["--config", str(config), "doctor"])
    assert result.exit_code == 1
    problems = [line for line in result.output.splitlines() if line.startswith("PROBLEM")]
    assert [p.split()[1] for p in problems] == ["mailbox", "smtp"], result.output
    assert result.output.count("could not be verified against the CA file") == 2
    assert "Fix: set [imap] ca_file" in result.output and "Fix: set [smtp] ca_file" in result.output


def test_doctor_names_a_wrong_client_secret_once(region, tmp_path):
    config = _config(tmp_path, region)
    (tmp_path / "client.secret").write_text("an-old-secret\n")
    result = CliRunner().invoke(main, ["--config", str(config), "doctor"])
    assert result.exit_code == 1
    problems = [line for line in result.output.splitlines() if line.startswith("PROBLEM")]
    assert len(problems) == 1 and problems[0].split()[1:3] == ["oauth", "token"], result.output
    assert "invalid_client" in result.output and "Fix: check [oauth] tenant_id, client_id, the client secret" \
        in result.output
    assert "skipped  mailbox sign-in  not checked: needs an OAuth2 token" in result.output
    assert "skipped  smtp             not checked: needs an OAuth2 token" in result.output
