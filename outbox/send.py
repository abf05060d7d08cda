"""Sends due outbox mail over SMTP with aiosmtplib; retries transient failures, flags permanent ones."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import _header_value_parser as hvp
from email import headerregistry, policy
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib
from sqlalchemy.engine import Engine
from sqlalchemy import and_, or_, update
from sqlmodel import select

from intake import oauth, tls
from intake.config import ConfigError, SmtpConfig
from store.db import session_scope
from outbox.summary import COORDINATOR_TYPES
from store.models import OutboxMail, utcnow

log = logging.getLogger("halsodata.outbox")

MAX_BACKOFF = timedelta(hours=1)
# A reply being handed to SMTP is claimed for this long; if the sender died meanwhile, it is sent again
# (same Message-ID) once the lease runs out: at least once, never lost.
SENDING_LEASE = timedelta(minutes=10)


def holder() -> str:
    """This process, as it is written into the claims it takes."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release_dead_claims(engine: Engine, now: datetime | None = None) -> int:
    """At start-up: replies claimed by a daemon on this host that no longer runs (killed, crashed, power cut)
    are due again at once, instead of after the lease. Claims of live or other hosts' daemons stay."""
    now = now or utcnow()
    host = socket.gethostname()
    released = 0
    with session_scope(engine) as session:
        for mail in session.exec(select(OutboxMail).where(OutboxMail.status == "sending")).all():
            name, _, pid = mail.claimed_by.rpartition(":")
            if name != host or not pid.isdigit() or _alive(int(pid)):
                continue
            n = session.execute(update(OutboxMail).where(OutboxMail.id == mail.id, OutboxMail.status == "sending",
                                                         OutboxMail.claimed_by == mail.claimed_by)
                                .values(status="queued", next_attempt_at=now, claimed_by="")).rowcount
            released += n
    if released:
        log.warning("%s reply(ies) were being sent by a daemon that stopped without finishing; they are sent "
                    "again now (same Message-ID, so a copy the researcher may already have is recognisable)",
                    released)
    return released


class SmtpUnavailable(Exception):
    """The SMTP server cannot be reached or refuses us; replies stay queued. `report` holds what the batch did
    before the server went: the replies already sent, whose copies still belong in the Sent folder."""

    report: "SendReport | None" = None


@dataclass
class SendReport:
    sent: list[int] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    copies: list[bytes] = field(default_factory=list)  # the mails as sent, for the Sent folder


# RFC 5322 msg-id, strictly: dot-atom "@" (dot-atom or a domain literal). Intake keeps whatever stood in angle brackets.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATEXT}(?:\.{_ATEXT})*"
_STRICT_MSG_ID = re.compile(rf"<{_DOT_ATOM}@(?:{_DOT_ATOM}|\[[\x21-\x5a\x5e-\x7e]*\])>")


def _id_tokens(value: str) -> list:
    """The msg-ids in a header value that can go into a mail as they are: ASCII, and one whole msg-id each. An id a
    researcher's client wrote in 8-bit (or not as an id at all) cannot be written into our reply; it is left out
    rather than stopping the reply."""
    tokens = []
    for part in value.split():
        if not _STRICT_MSG_ID.fullmatch(part):
            continue
        try:
            token, rest = hvp.get_msg_id(part)
            token.all_defects  # noqa: B018 -- raises for some ids the parser half-accepts
        except Exception:  # the stdlib's parser raises more than HeaderParseError on odd ids (IndexError, ...)
            continue
        if not rest:
            tokens.append(token)
    return tokens


def _message_ids(value: str) -> hvp.TokenList:
    """A list of msg-ids as the email package's parse tree: folded between ids, never RFC 2047-encoded."""
    tree = hvp.TokenList()
    for token in _id_tokens(value):
        if tree:
            tree.append(hvp.WhiteSpaceTerminal(" ", "fws"))
        tree.append(token)
    return tree


class _MessageIdsHeader:
    """In-Reply-To and References. As unstructured text, the email package RFC 2047-encodes an id longer than a
    line (Outlook's are), and the researcher's client no longer threads the reply under the mail it answers."""

    max_count = 1

    @classmethod
    def parse(cls, value: str, kwds: dict) -> None:
        kwds["parse_tree"] = tree = _message_ids(value)
        kwds["decoded"] = str(tree)
        kwds["defects"].extend(tree.all_defects)


_HEADERS = headerregistry.HeaderRegistry()
_HEADERS.map_to_type("in-reply-to", _MessageIdsHeader)
_HEADERS.map_to_type("references", _MessageIdsHeader)
_POLICY = policy.default.clone(header_factory=_HEADERS)


def build_message(mail: OutboxMail, from_address: str, now: datetime) -> EmailMessage:
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = from_address
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = mail.message_id
    if mail.in_reply_to and _id_tokens(mail.in_reply_to):
        msg["In-Reply-To"] = mail.in_reply_to
    if mail.references and _id_tokens(mail.references):
        msg["References"] = mail.references
    if mail.auto_submitted:
        # RFC 3834: an answer to a mail is auto-replied; the coordinators' summaries and digests answer nothing
        msg["Auto-Submitted"] = "auto-generated" if mail.type in COORDINATOR_TYPES else "auto-replied"
        # Asks Exchange/Outlook not to answer with out-of-office mail: one loop fewer.
        msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(mail.body, charset="utf-8")
    return msg


def _client(cfg: SmtpConfig) -> aiosmtplib.SMTP:
    context = tls.client_context(cfg, "smtp")
    return aiosmtplib.SMTP(hostname=cfg.host, port=cfg.port, use_tls=cfg.security == "tls",
                           start_tls=True if cfg.security == "starttls" else False,
                           tls_context=context, timeout=cfg.timeout)


def _unavailable(cfg: SmtpConfig, exc: Exception) -> SmtpUnavailable:
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        if cfg.auth == "xoauth2":
            return SmtpUnavailable(
                f"the SMTP server {cfg.host}:{cfg.port} refused the OAuth2 (XOAUTH2) sign-in for [smtp] username "
                f"{cfg.username!r} ({exc.code}). Fix: check that username is the shared mailbox's address, that "
                "SMTP AUTH is enabled for it, and that the app registration of [oauth] client_id may send as it.")
        return SmtpUnavailable(f"the SMTP server {cfg.host}:{cfg.port} refused the login for [smtp] username "
                               f"{cfg.username!r}. Fix: check the username and password.")
    cert_error = tls.certificate_error(exc)
    if cert_error is not None:
        return SmtpUnavailable(tls.explain_certificate_error(cert_error, cfg, "smtp", "SMTP") + " Replies stay "
                               "queued until then.")
    return SmtpUnavailable(f"cannot connect to the SMTP server {cfg.host}:{cfg.port} ({exc or type(exc).__name__})."
                           " Fix: check [smtp] host, port and security, and that the server runs; replies stay "
                           "queued until then.")


async def _auth_xoauth2(smtp: aiosmtplib.SMTP, username: str, token: str) -> None:
    """AUTH XOAUTH2 with the initial response; on refusal the server sends a 334 JSON error first,
    which is answered with an empty line to get the final 535 (RFC 4954, Microsoft's and Google's flow)."""
    if smtp.is_ehlo_or_helo_needed:
        await smtp.ehlo()
    if "xoauth2" not in smtp.server_auth_methods:
        raise aiosmtplib.SMTPException(f"the SMTP server does not offer AUTH XOAUTH2 (it offers "
                                       f"{', '.join(smtp.server_auth_methods) or 'no AUTH'})")
    response = await smtp.execute_command(b"AUTH", b"XOAUTH2", oauth.xoauth2_b64(username, token).encode("ascii"))
    if response.code == 334:
        response = await smtp.execute_command(b"")
    if response.code != 235:
        raise aiosmtplib.SMTPAuthenticationError(response.code, response.message)


async def _open(cfg: SmtpConfig, token_source: oauth.TokenSource | None = None) -> aiosmtplib.SMTP:
    try:
        smtp = _client(cfg)
    except tls.TlsSetupError as exc:
        raise SmtpUnavailable(str(exc)) from None
    try:
        await smtp.connect()
        if cfg.auth == "xoauth2":
            source = token_source or oauth.token_source(cfg.oauth)
            try:
                await _auth_xoauth2(smtp, cfg.username, await asyncio.to_thread(source.token))
            except aiosmtplib.SMTPAuthenticationError:
                source.invalidate()  # perhaps revoked or expired early: the next attempt gets a new one
                raise
        elif cfg.username:
            await smtp.login(cfg.username, cfg.secret("smtp"))
    except (oauth.OAuthError, ConfigError) as exc:
        smtp.close()
        what = "get an OAuth2 token for" if cfg.auth == "xoauth2" else "sign in to"
        raise SmtpUnavailable(f"cannot {what} the SMTP server {cfg.host}:{cfg.port}: {exc}; replies stay queued "
                              "until then.") from None
    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
        smtp.close()
        raise _unavailable(cfg, exc) from None
    return smtp


async def check(cfg: SmtpConfig, token_source: oauth.TokenSource | None = None) -> None:
    """Connect, greet and log in, then QUIT; raise SmtpUnavailable when that fails."""
    smtp = await _open(cfg, token_source)
    try:
        await smtp.quit()
    except aiosmtplib.SMTPException:
        pass


def _due(now: datetime):
    return or_(and_(OutboxMail.status == "queued", OutboxMail.next_attempt_at <= now),
               and_(OutboxMail.status == "sending", OutboxMail.next_attempt_at <= now))


def _claim(engine: Engine, mail_id: int, now: datetime) -> bool:
    """Mark one reply as being sent, in its own committed transaction, so no other daemon sends it too."""
    with session_scope(engine) as session:
        return session.execute(update(OutboxMail).where(OutboxMail.id == mail_id, _due(now))
                               .values(status="sending", next_attempt_at=now + SENDING_LEASE,
                                       claimed_by=holder())).rowcount == 1


def _defer(mail: OutboxMail, now: datetime, reason: str) -> None:
    mail.status, mail.claimed_by = "queued", ""
    mail.attempts += 1
    mail.last_error = reason[:500]
    mail.next_attempt_at = now + min(timedelta(seconds=15 * 2 ** min(mail.attempts - 1, 12)), MAX_BACKOFF)


async def _send_one(smtp: aiosmtplib.SMTP, engine: Engine, cfg: SmtpConfig, mail_id: int,
                    now: datetime) -> tuple[str, SmtpUnavailable | None, bytes | None]:
    """Hand one claimed reply to SMTP and record the result; ("sent"|"deferred"|"failed", error to stop on)."""
    unavailable = None
    with session_scope(engine) as session:
        mail = session.get(OutboxMail, mail_id)
        try:
            msg = build_message(mail, cfg.from_address, now)
            await smtp.send_message(msg, sender=cfg.from_address, recipients=[a.strip() for a in mail.to.split(",")])
        except aiosmtplib.SMTPSenderRefused as exc:
            # The server refuses our own address: every reply would fail, so stop and say what to fix.
            _defer(mail, now, f"sender refused ({exc.code})")
            return "deferred", SmtpUnavailable(
                f"the SMTP server refused the sender address [smtp] from_address = {cfg.from_address!r} "
                f"({exc.code}). Fix: use an address this server may send from."), None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [e.code for e in exc.recipients] or [0]
            if all(500 <= c < 600 for c in codes):
                mail.status, mail.last_error = "failed", f"recipient refused ({codes[0]})"
                return "failed", None, None
            _defer(mail, now, f"recipient deferred ({codes[0]})")
            return "deferred", None, None
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                mail.status, mail.last_error = "failed", f"SMTP {exc.code}: {exc.message[:200]}"
                outcome = "failed"
            else:
                _defer(mail, now, f"SMTP {exc.code}: {exc.message[:200]}")
                outcome = "deferred"
            if not smtp.is_connected:
                unavailable = SmtpUnavailable(f"the SMTP server closed the connection ({exc.code})")
            return outcome, unavailable, None  # the session commits the bookkeeping before the caller stops
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            _defer(mail, now, f"connection: {type(exc).__name__}")
            return "deferred", _unavailable(cfg, exc), None
        except Exception as exc:  # a reply we cannot even build (bad header, bad address) must not block others
            mail.status, mail.last_error = "failed", f"could not be built or sent ({type(exc).__name__})"
            return "failed", None, None
        # `now` is later than the wall clock only in tests that simulate time; then it is the truth.
        mail.status, mail.sent_at, mail.attempts = "sent", max(now, utcnow()), mail.attempts + 1
        mail.claimed_by = ""
        return "sent", None, msg.as_bytes()


async def send_due(engine: Engine, cfg: SmtpConfig, now: datetime | None = None,
                   token_source: oauth.TokenSource | None = None) -> SendReport:
    """Send every queued mail whose time has come; one SMTP session for the batch."""
    now = now or utcnow()
    report = SendReport()
    with session_scope(engine) as session:
        due = session.exec(select(OutboxMail.id).where(_due(now)).order_by(OutboxMail.id)).all()
    if not due:
        return report
    smtp = await _open(cfg, token_source)
    try:
        for mail_id in due:
            if not _claim(engine, mail_id, now):
                continue
            outcome, unavailable, copy = await _send_one(smtp, engine, cfg, mail_id, now)
            getattr(report, outcome).append(mail_id)
            if copy is not None:
                report.copies.append(copy)
            if outcome == "sent":
                log.info("reply #%s sent", mail_id)
            elif outcome == "failed":
                log.warning("reply #%s could not be sent and is flagged for the coordinators", mail_id)
            else:
                log.warning("reply #%s deferred; it will be tried again", mail_id)
            if unavailable is not None:
                unavailable.report = report
                raise unavailable
    finally:
        try:
            await smtp.quit()
        except (aiosmtplib.SMTPException, OSError):
            pass
    return report
