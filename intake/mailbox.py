"""Thin adapter over imapclient: the IMAP commands intake needs, returning plain Python values."""

from __future__ import annotations

import logging
import socket
import ssl
import time

import imapclient
from imapclient.exceptions import IMAPClientError, LoginError

from intake import oauth, tls
from intake.config import ConfigError, ImapConfig

log = logging.getLogger("halsodata.imap")

class MailboxUnavailable(Exception):
    """The IMAP server cannot be reached or refuses us; the text says what to check."""


class Mailbox:
    """One authenticated connection with one selected folder."""

    def __init__(self, cfg: ImapConfig, token_source: oauth.TokenSource | None = None):
        self.cfg = cfg
        # For auth = "xoauth2": where tokens come from; by default the shared source for [oauth].
        self._token_source = token_source
        self.client: imapclient.IMAPClient | None = None
        self.uidvalidity: int | None = None
        self.account = f"{cfg.username}@{cfg.host}:{cfg.port}"
        self._listed: set[int] | None = None  # what the last uids() found

    # -- connection -------------------------------------------------------------------------------
    def connect(self) -> "Mailbox":
        """TCP (+TLS) connect, LOGIN, and SELECT the configured folder."""
        cfg = self.cfg
        where = f"{cfg.host}:{cfg.port}"
        client = None
        try:
            context = tls.client_context(cfg, "imap")
            client = imapclient.IMAPClient(cfg.host, port=cfg.port, ssl=cfg.security == "tls",
                                           ssl_context=context, timeout=cfg.timeout)
            if cfg.security == "starttls":
                client.starttls(context)
            self._login(client)
        except tls.TlsSetupError as exc:
            raise MailboxUnavailable(str(exc)) from None
        except (oauth.OAuthError, ConfigError) as exc:
            _shutdown(client)
            if cfg.auth == "xoauth2":
                raise MailboxUnavailable(f"cannot get an OAuth2 token for the IMAP server {where}: {exc}") from None
            raise MailboxUnavailable(f"cannot sign in to the IMAP server {where}: {exc}") from None
        except LoginError:
            _shutdown(client)
            if cfg.auth == "xoauth2":
                self._tokens().invalidate()  # perhaps revoked or expired early: the next attempt gets a new one
                raise MailboxUnavailable(
                    f"the IMAP server {where} refused the OAuth2 (XOAUTH2) sign-in for [imap] username "
                    f"{cfg.username!r}. Fix: check that username is the shared mailbox's address and that the "
                    "app registration of [oauth] client_id may use it (IMAP.AccessAsApp and mailbox "
                    "permission).") from None
            raise MailboxUnavailable(f"the IMAP server {where} refused the login for [imap] username "
                                     f"{cfg.username!r}. Fix: check the username and password.") from None
        except (OSError, socket.timeout, IMAPClientError, ssl.SSLError) as exc:
            _shutdown(client)
            cert_error = tls.certificate_error(exc)
            if cert_error is not None:
                raise MailboxUnavailable(tls.explain_certificate_error(cert_error, cfg, "imap", "IMAP")) from None
            raise MailboxUnavailable(f"cannot connect to the IMAP server {where} ({exc or type(exc).__name__}). "
                                     "Fix: check [imap] host, port and security, and that the server runs.") from None
        self.client = client
        self.select()
        return self

    def _tokens(self) -> oauth.TokenSource:
        if self._token_source is None:
            self._token_source = oauth.token_source(self.cfg.oauth)
        return self._token_source

    def _login(self, client: imapclient.IMAPClient) -> None:
        cfg = self.cfg
        if cfg.auth == "xoauth2":
            client.oauth2_login(cfg.username, self._tokens().token())
        else:
            client.login(cfg.username, cfg.secret("imap"))

    def close(self) -> None:
        if self.client is None:
            return
        try:
            self.client.logout()
        except Exception:  # closing a broken connection must not hide the error that broke it
            pass
        self.client = None

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc):
        self.close()

    @property
    def has_idle(self) -> bool:
        return self.client is not None and self.client.has_capability("IDLE")

    # -- commands ---------------------------------------------------------------------------------
    def select(self) -> int:
        """SELECT the intake folder; return its UIDVALIDITY."""
        try:
            info = self.client.select_folder(self.cfg.folder)
        except IMAPClientError as exc:
            raise MailboxUnavailable(f"cannot open the folder [imap] folder = {self.cfg.folder!r} ({exc}). "
                                     "Fix: check the folder name.") from None
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        if self.cfg.processed_folder and not self.client.folder_exists(self.cfg.processed_folder):
            log.info("creating the processed folder")
            self.client.create_folder(self.cfg.processed_folder)
        return self.uidvalidity

    def uids(self) -> list[int]:
        """UID SEARCH UNDELETED: every message still in the folder."""
        self._announced()  # what the server said before this listing is in it
        found = self._undeleted()
        self._listed = set(found)
        return found

    def _undeleted(self) -> list[int]:
        return sorted(int(u) for u in self.client.search(["UNDELETED"]))

    def _announced(self) -> bool:
        """Whether the server said EXISTS (new mail) among its answers to our commands since the last look, and
        forget it. imaplib keeps such unsolicited answers until they are asked for; IDLE never repeats them."""
        responses = getattr(getattr(self.client, "_imap", None), "untagged_responses", None)
        return bool(responses.pop("EXISTS", None)) if isinstance(responses, dict) else False

    def _arrived_since_listed(self) -> bool:
        """A mail delivered after the last uids() was announced in the answer to some command since (the server
        says EXISTS once, and IDLE does not repeat it): look before idling, or it waits a whole idle_timeout. The
        search may not show a mail that arrived while it ran, though the server announced it at its end."""
        if self._listed is None:
            return False
        new = bool(set(self._undeleted()) - self._listed)
        return self._announced() or new

    def size(self, uid: int) -> int | None:
        """UID FETCH RFC822.SIZE; None when the message is gone."""
        data = self.client.fetch([uid], ["RFC822.SIZE"]).get(uid)
        return int(data[b"RFC822.SIZE"]) if data else None

    def fetch(self, uid: int) -> bytes | None:
        """UID FETCH BODY.PEEK[]: the whole message without setting \\Seen; None when it is gone."""
        data = self.client.fetch([uid], ["BODY.PEEK[]"]).get(uid)
        return bytes(data[b"BODY[]"]) if data else None

    def fetch_header(self, uid: int) -> bytes | None:
        """UID FETCH BODY.PEEK[HEADER]: only the header, for messages too large to take in."""
        data = self.client.fetch([uid], ["BODY.PEEK[HEADER]"]).get(uid)
        return bytes(data[b"BODY[HEADER]"]) if data else None

    def finish(self, uids: list[int]) -> None:
        """UID MOVE to the processed folder (COPY + \\Deleted + EXPUNGE without MOVE), or set \\Seen."""
        if not uids:
            return
        if not self.cfg.processed_folder:
            self.client.add_flags(uids, [imapclient.SEEN])
            return
        if self.client.has_capability("MOVE"):
            self.client.move(uids, self.cfg.processed_folder)
            return
        self.client.copy(uids, self.cfg.processed_folder)
        self.client.add_flags(uids, [imapclient.DELETED])
        if self.client.has_capability("UIDPLUS"):
            self.client.uid_expunge(uids)
        else:
            self.client.expunge()

    def append_sent(self, messages: list[bytes]) -> None:
        """APPEND each message to [imap] sent_folder, marked \\Seen, creating the folder the first time."""
        folder = self.cfg.sent_folder
        if not folder or not messages:
            return
        if not self.client.folder_exists(folder):
            self.client.create_folder(folder)
        for raw in messages:
            self.client.append(folder, raw, flags=[imapclient.SEEN])

    def wait(self, timeout: float, should_stop=lambda: False) -> bool:
        """IDLE (RFC 2177) until the server reports new mail, `timeout` seconds pass or `should_stop()`.

        Without IDLE: sleep, then NOOP. Returns True when new mail was announced. The caller bounds
        `timeout` by [imap] idle_timeout, well within the server's 30-minute IDLE limit.
        """
        deadline = time.monotonic() + timeout
        if self._arrived_since_listed():
            return True
        if not self.has_idle:
            while not should_stop() and time.monotonic() < deadline:
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            return _announces_mail(self.client.noop()[1])  # NOOP also notices a dropped connection
        self.client.idle()
        arrived = False
        try:
            while not arrived and not should_stop() and (left := deadline - time.monotonic()) > 0:
                asked, started = min(left, 5.0), time.monotonic()
                responses = self.client.idle_check(timeout=asked)
                arrived = _announces_mail(responses)
                if not responses and time.monotonic() - started < asked / 2:
                    break  # idle_check returns [] at once on a dead connection; DONE below then raises
        finally:
            # Responses that came in just before DONE count too, or that mail would wait a whole period.
            arrived = _announces_mail(self.client.idle_done()[1]) or arrived
        return arrived


def _shutdown(client: imapclient.IMAPClient | None) -> None:
    if client is None:
        return
    try:
        client.shutdown()
    except Exception:  # already reporting the error that made us give up
        pass


def _announces_mail(responses) -> bool:
    return any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses or [] if isinstance(r, tuple))
