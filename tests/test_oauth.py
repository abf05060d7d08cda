"""OAuth2 (SASL XOAUTH2) sign-in: tokens from the real MSAL library, checked by real servers.

A local identity provider (tests/support/oauth_server.py) plays Microsoft Entra ID over HTTPS (with a
certificate from a CA made here) for MSAL's client-credentials flow, and serves RFC 7662 token
introspection to Dovecot's oauth2 passdb. IMAP sign-in is checked by Dovecot; SMTP sign-in by aiosmtpd
with an XOAUTH2 authenticator that compares the exact SASL string.
"""

from __future__ import annotations

import asyncio
import shutil

import pytest

from intake import oauth
from intake.config import ConfigError, OAuthConfig, load
from intake.mailbox import Mailbox, MailboxUnavailable
from outbox import send
from tests.conftest import FROM_ADDRESS, MAILBOX_PASSWORD, MAILBOX_USER
from tests.support.certs import TestCA
from tests.support.dovecot import Dovecot, make_rundir
from tests.support.oauth_server import IdentityProvider
from tests.support.smtp_sink import SmtpSink

TENANT = "0b1f2c3d-region-tenant"
CLIENT_ID = "5e6f7a8b-halsodata-app"
CLIENT_SECRET = "app-secret-value"


# -- the refresh logic, with a fake clock and a fake fetcher ---------------------------------------

class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _counting_fetcher(expires_in=3600):
    calls = []

    def fetch():
        calls.append(1)
        return f"token-{len(calls)}", expires_in

    return fetch, calls


def test_token_is_reused_until_shortly_before_expiry_then_renewed():
    clock, (fetch, calls) = FakeClock(), _counting_fetcher(3600)
    source = oauth.RefreshingTokenSource(fetch, refresh_before=300, clock=clock)
    assert source.token() == "token-1"
    clock.now += 3600 - 301
    assert source.token() == "token-1" and len(calls) == 1
    clock.now += 1  # 300 s before expiry: renewed, never used up to the last second
    assert source.token() == "token-2" and len(calls) == 2
    clock.now += 10
    assert source.token() == "token-2" and len(calls) == 2


def test_a_refused_token_is_forgotten():
    clock, (fetch, calls) = FakeClock(), _counting_fetcher()
    source = oauth.RefreshingTokenSource(fetch, refresh_before=300, clock=clock)
    assert source.token() == "token-1"
    source.invalidate()
    assert source.token() == "token-2" and len(calls) == 2


def test_short_lived_tokens_are_renewed_halfway_not_on_every_call():
    clock, (fetch, calls) = FakeClock(), _counting_fetcher(expires_in=120)
    source = oauth.RefreshingTokenSource(fetch, refresh_before=300, clock=clock)
    source.token()
    clock.now += 59
    assert source.token() == "token-1" and len(calls) == 1
    clock.now += 1
    assert source.token() == "token-2" and len(calls) == 2


def test_fetch_errors_reach_the_caller_and_nothing_is_cached():
    def fail():
        raise oauth.OAuthError("token endpoint down")

    source = oauth.RefreshingTokenSource(fail, clock=FakeClock())
    with pytest.raises(oauth.OAuthError, match="down"):
        source.token()
    with pytest.raises(oauth.OAuthError):
        source.token()


def test_xoauth2_string_is_the_documented_format():
    assert oauth.xoauth2_string("a@b.se", "T0K") == "user=a@b.se\x01auth=Bearer T0K\x01\x01"


# -- the real servers --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def idp():
    directory = make_rundir("hdidp")
    ca = TestCA(directory, "idp-ca")
    provider = IdentityProvider(TENANT, CLIENT_ID, CLIENT_SECRET, MAILBOX_USER, ca.issue("idp").pair)
    provider.ca_path = ca.path
    with pytest.MonkeyPatch.context() as mp:
        # MSAL uses requests, which verifies the token endpoint against this CA bundle.
        mp.setenv("REQUESTS_CA_BUNDLE", str(ca.path))
        provider.start()
        yield provider
        provider.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def oauth_dovecot(idp):
    rundir = make_rundir()
    server = Dovecot(rundir, users={MAILBOX_USER: MAILBOX_PASSWORD}, oauth2_introspection_url=idp.introspection_url)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(rundir, ignore_errors=True)


@pytest.fixture
def xoauth2_config(tmp_path, idp, oauth_dovecot):
    """A halsodata.toml with auth = "xoauth2" for IMAP and SMTP and [oauth] pointing at the local provider."""
    (tmp_path / "client.secret").write_text(CLIENT_SECRET + "\n")
    (tmp_path / "store.key").write_text("unused\n")
    sink = SmtpSink()

    def _make(smtp_port: int | None = None, secret: str | None = None, **oauth_extra):
        if secret is not None:
            (tmp_path / "client.secret").write_text(secret + "\n")
        extra = "".join(f"{k} = {v!r}\n" for k, v in oauth_extra.items()).replace("'", '"')
        path = tmp_path / "halsodata.toml"
        path.write_text(f"""
[imap]
host = "127.0.0.1"
port = {oauth_dovecot.imap_port}
security = "none"
auth = "xoauth2"
username = "{MAILBOX_USER}"
timeout = 15

[smtp]
host = "127.0.0.1"
port = {smtp_port or sink.port}
security = "none"
auth = "xoauth2"
username = "{MAILBOX_USER}"
from_address = "{FROM_ADDRESS}"
timeout = 15

[store]
key_file = "store.key"

[oauth]
tenant_id = "{TENANT}"
client_id = "{CLIENT_ID}"
client_secret_file = "client.secret"
authority = "{idp.authority}"
{extra}""")
        return load(path, environ={})

    return _make


def test_msal_client_credentials_against_the_configured_authority(idp, xoauth2_config):
    config = xoauth2_config()
    token, expires_in = oauth.msal_fetcher(config.oauth)()
    assert token == idp.issued[-1].token and expires_in == idp.expires_in
    request = idp.token_requests[-1]
    assert request["grant_type"] == "client_credentials" and request["client_id"] == CLIENT_ID
    assert request["scope"].split() == ["https://outlook.office365.com/.default"]


def test_a_wrong_client_secret_names_the_oauth_keys(idp, xoauth2_config):
    config = xoauth2_config(secret="not-the-secret")
    with pytest.raises(oauth.OAuthError, match=r"invalid_client.*Fix: check \[oauth\] tenant_id, client_id"):
        oauth.msal_fetcher(config.oauth)()
    source = oauth.RefreshingTokenSource(oauth.msal_fetcher(config.oauth))
    with pytest.raises(MailboxUnavailable, match=r"cannot get an OAuth2 token for the IMAP server.*invalid_client"):
        Mailbox(config.imap, token_source=source).connect()


def test_imap_xoauth2_sign_in_at_dovecot_with_a_token_from_msal(idp, oauth_dovecot, xoauth2_config):
    config = xoauth2_config()
    oauth_dovecot.deliver(MAILBOX_USER, b"Subject: via oauth\r\nMessage-ID: <oauth-1@test>\r\n\r\nhej\r\n")
    introspected = len(idp.introspections)
    # The default token source: the process-wide one built from [oauth], as the daemon uses it.
    with Mailbox(config.imap) as mailbox:
        assert mailbox.uids()
    assert idp.introspections[introspected:] == [idp.issued[-1].token], "Dovecot checked MSAL's token"
    assert "method=XOAUTH2" in oauth_dovecot.log_tail(50)


def test_imap_token_is_renewed_before_expiry_and_the_old_one_stops_working(idp, oauth_dovecot, xoauth2_config):
    config = xoauth2_config()
    clock = FakeClock()
    source = oauth.RefreshingTokenSource(oauth.msal_fetcher(config.oauth), refresh_before=300, clock=clock)
    with Mailbox(config.imap, token_source=source):
        pass
    first = idp.issued[-1].token
    clock.now += idp.expires_in - 299
    idp.revoke_all()  # the provider would now refuse the first token; it must not be sent again
    with Mailbox(config.imap, token_source=source):
        pass
    assert idp.issued[-1].token != first and idp.introspections[-1] == idp.issued[-1].token


def test_imap_refused_token_is_a_clear_error_and_is_renewed_next_time(idp, oauth_dovecot, xoauth2_config):
    config = xoauth2_config()
    source = oauth.RefreshingTokenSource(oauth.msal_fetcher(config.oauth))
    source.token()
    idp.revoke_all()  # e.g. the admin withdrew the app's access
    with pytest.raises(MailboxUnavailable, match=r"refused the OAuth2 \(XOAUTH2\) sign-in for \[imap\] username"):
        Mailbox(config.imap, token_source=source).connect()
    with Mailbox(config.imap, token_source=source):  # a new token was fetched
        pass


def test_password_sign_in_still_works_next_to_xoauth2(oauth_dovecot):
    from intake.config import ImapConfig
    cfg = ImapConfig(host="127.0.0.1", port=oauth_dovecot.imap_port, security="none", username=MAILBOX_USER,
                     password=MAILBOX_PASSWORD)
    with Mailbox(cfg) as mailbox:
        assert mailbox.uidvalidity


def test_smtp_xoauth2_sends_the_exact_sasl_string(idp, xoauth2_config):
    config = xoauth2_config()
    token, _ = oauth.msal_fetcher(config.oauth)()
    with SmtpSink(xoauth2_tokens={MAILBOX_USER: token}) as sink:
        config = xoauth2_config(smtp_port=sink.port)
        source = oauth.StaticTokenSource(token)
        asyncio.run(send.check(config.smtp, token_source=source))
        assert sink.auth_strings == [f"user={MAILBOX_USER}\x01auth=Bearer {token}\x01\x01"]


def test_smtp_xoauth2_with_the_default_msal_source(idp, xoauth2_config):
    with SmtpSink(xoauth2_tokens={}) as sink:
        config = xoauth2_config(smtp_port=sink.port)
        # The sink accepts whatever token the provider issues next to this mailbox.
        token = oauth.token_source(config.oauth).token()
        sink.xoauth2_tokens[MAILBOX_USER] = token
        asyncio.run(send.check(config.smtp))
        assert sink.auth_strings[-1] == f"user={MAILBOX_USER}\x01auth=Bearer {token}\x01\x01"


def test_smtp_refused_token_is_a_clear_error(idp, xoauth2_config):
    with SmtpSink(xoauth2_tokens={MAILBOX_USER: "the-right-token"}) as sink:
        config = xoauth2_config(smtp_port=sink.port)
        with pytest.raises(send.SmtpUnavailable, match=r"refused the OAuth2 \(XOAUTH2\) sign-in for \[smtp\] username"):
            asyncio.run(send.check(config.smtp, token_source=oauth.StaticTokenSource("a-wrong-token")))


# -- configuration -----------------------------------------------------------------------------------

BASE = """
[smtp]
from_address = "halsodata@region.test"
[store]
key_file = "store.key"
"""


def _load(tmp_path, text):
    (tmp_path / "halsodata.toml").write_text(text)
    return load(tmp_path / "halsodata.toml", environ={})


def test_xoauth2_needs_the_oauth_section(tmp_path):
    with pytest.raises(ConfigError, match=r"\[imap\] auth = \"xoauth2\" needs \[oauth\] tenant_id, client_id"):
        _load(tmp_path, BASE + '[imap]\nauth = "xoauth2"\nusername = "hd@region.test"\n')


def test_xoauth2_takes_no_password_and_needs_the_mailbox_address(tmp_path):
    oauth_section = '[oauth]\ntenant_id = "t"\nclient_id = "c"\nclient_secret_file = "s"\n'
    with pytest.raises(ConfigError, match=r"imap: auth = \"xoauth2\" signs in with a token .* remove password"):
        _load(tmp_path, BASE + oauth_section + '[imap]\nauth = "xoauth2"\nusername = "u@r.se"\npassword = "x"\n')
    with pytest.raises(ConfigError, match=r"imap: auth = \"xoauth2\" needs username"):
        _load(tmp_path, BASE + oauth_section + '[imap]\nauth = "xoauth2"\n')
    config = _load(tmp_path, BASE + oauth_section + '[imap]\nauth = "xoauth2"\nusername = "u@r.se"\n')
    assert config.oauth.client_secret_file == tmp_path / "s"
    assert config.imap.oauth.authority_url == "https://login.microsoftonline.com/t"


def test_oauth_authority_must_be_https(tmp_path):
    with pytest.raises(ConfigError, match=r"oauth: authority must be an https:// URL"):
        _load(tmp_path, BASE + '[oauth]\nauthority = "http://127.0.0.1:9"\n')


def test_oauth_defaults_fit_microsoft_365():
    cfg = OAuthConfig()
    assert cfg.authority == "https://login.microsoftonline.com"
    assert cfg.scope == "https://outlook.office365.com/.default"
    assert cfg.refresh_before == 300 and not cfg.configured
