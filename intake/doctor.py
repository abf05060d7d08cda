"""`halsodata doctor`: checks a configuration against the real mailbox, SMTP server, database and file store.

Each check says what it found; a problem says what happened and the fix. The doctor only looks: it sends no
mail (MAIL FROM and RCPT TO, then RSET), creates no folder or schema, moves nothing, and removes the one file
it writes to test the file store at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import aiosmtplib
from sqlalchemy import inspect as sa_inspect
from sqlmodel import Session, select

from intake import config as config_mod
from intake import oauth
from intake.mailbox import Mailbox, MailboxUnavailable
from store.models import ServiceStatus, utcnow

OK, PROBLEM, SKIPPED = "ok", "problem", "skipped"
NO_FOLDER = {"processed": "processed mail stays and is marked \\Seen", "sent": "no copies of replies"}


@dataclass
class Check:
    name: str
    status: str  # ok | problem | skipped (could not be checked because of a problem above)
    detail: str  # what was found; for a problem what happened and "Fix: ..."

    @property
    def ok(self) -> bool:
        return self.status != PROBLEM


class _Probe(Mailbox):
    """Signs in like the daemon, but selects nothing and creates no folder: the doctor only looks."""

    def select(self) -> int:
        return 0


def run(config_path: str | os.PathLike | None, rcpt: str | None = None) -> Iterator[Check]:
    """Every check, in order, as it completes (so a slow server shows where the doctor is)."""
    try:
        config = config_mod.load(config_path)
    except config_mod.ConfigError as exc:
        yield Check("configuration", PROBLEM, str(exc))
        return
    yield Check("configuration", OK, f"{config.source} is valid")
    # A missing secret or token would make the sign-ins below fail for the same reason: named once, above.
    missing = {}
    for check in _secrets(config):
        missing[check.name.split()[0]] = "needs the password"
        yield check
    if "xoauth2" in (config.imap.auth, config.smtp.auth):
        token = _oauth(config)
        yield token
        if not token.ok:
            missing.update({name: "needs an OAuth2 token" for name in ("imap", "smtp")
                            if getattr(config, name).auth == "xoauth2"})
    if "imap" in missing:
        yield Check("mailbox sign-in", SKIPPED, f"not checked: {missing['imap']}")
    else:
        yield from _mailbox(config)
    if "smtp" in missing:
        yield Check("smtp", SKIPPED, f"not checked: {missing['smtp']}")
    else:
        yield _smtp(config, rcpt or config.smtp.from_address)
    yield from _database(config)
    yield from _files(config)
    if config.metrics.enabled:
        yield _metrics(config)


def _secrets(config: config_mod.Config) -> Iterator[Check]:
    for name in ("imap", "smtp"):
        section = getattr(config, name)
        if section.auth != "password" or not section.username:
            continue
        try:
            if not section.secret(name):
                yield Check(f"{name} password", PROBLEM, f"the password for [{name}] username {section.username!r} "
                                                         "is empty. Fix: put the password in the file or variable.")
        except config_mod.ConfigError as exc:
            yield Check(f"{name} password", PROBLEM, str(exc))


def _oauth(config: config_mod.Config) -> Check:
    try:
        oauth.token_source(config.oauth).token()
    except (oauth.OAuthError, config_mod.ConfigError) as exc:
        return Check("oauth token", PROBLEM, str(exc))
    return Check("oauth token", OK, f"a token from {config.oauth.authority_url} for client {config.oauth.client_id}")


def _mailbox(config: config_mod.Config) -> Iterator[Check]:
    cfg = config.imap
    try:
        probe = _Probe(cfg).connect()
    except MailboxUnavailable as exc:
        yield Check("mailbox sign-in", PROBLEM, str(exc))
        yield Check("mailbox folders", SKIPPED, "not checked: needs a working sign-in")
        return
    try:
        client = probe.client
        how = {"tls": "implicit TLS", "starttls": "STARTTLS", "none": "no encryption"}[cfg.security]
        caps = ", ".join(c for c in ("IDLE", "MOVE") if client.has_capability(c)) or "neither IDLE nor MOVE"
        yield Check("mailbox sign-in", OK, f"signed in to {cfg.host}:{cfg.port} ({how}, {cfg.auth}) as "
                                           f"{cfg.username!r}; the server offers {caps}")
        yield _folders(cfg, client)
    finally:
        probe.close()


def _folders(cfg: config_mod.ImapConfig, client) -> Check:
    names = sorted((n for _flags, _delim, n in client.list_folders()), key=lambda n: (n.upper() != "INBOX", n))
    if not _exists(cfg.folder, names):
        shown = ", ".join(repr(n) for n in names[:12]) + (", ..." if len(names) > 12 else "")
        return Check("mailbox folders", PROBLEM, f"the intake folder [imap] folder = {cfg.folder!r} does not exist in "
                                                 f"the mailbox. Fix: set [imap] folder to one of {shown}.")
    if cfg.processed_folder and cfg.processed_folder == cfg.folder:
        return Check("mailbox folders", PROBLEM, f"[imap] processed_folder is the intake folder {cfg.folder!r}: "
                                                 "processed mail would never leave it. Fix: set processed_folder to "
                                                 "another folder, e.g. \"Processed\", or to \"\" to only mark mail "
                                                 "\\Seen.")
    waiting = client.folder_status(cfg.folder, ["MESSAGES"])[b"MESSAGES"]
    notes = [f"intake folder {cfg.folder!r} has {waiting} message(s)"]
    for key, label in (("processed_folder", "processed"), ("sent_folder", "sent")):
        name = getattr(cfg, key)
        if not name:
            notes.append(f"no {label} folder ({NO_FOLDER[label]})")
        elif _exists(name, names):
            notes.append(f"{label} folder {name!r} exists")
        else:
            notes.append(f"{label} folder {name!r} does not exist yet (the daemon creates it at first use)")
    return Check("mailbox folders", OK, "; ".join(notes))


def _exists(name: str, names: list[str]) -> bool:
    # Folder names are exact, except INBOX, which IMAP treats as case-insensitive (RFC 3501).
    return name in names or (name.upper() == "INBOX" and any(n.upper() == "INBOX" for n in names))


def _smtp(config: config_mod.Config, rcpt: str) -> Check:
    from outbox import send
    cfg = config.smtp

    async def probe() -> None:
        smtp = await send._open(cfg)
        try:
            await smtp.mail(cfg.from_address)
            await smtp.rcpt(rcpt)
            await smtp.rset()
        finally:
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                pass

    try:
        asyncio.run(probe())
    except send.SmtpUnavailable as exc:
        return Check("smtp", PROBLEM, str(exc).replace("; replies stay queued until then.", ".")
                     .replace(" Replies stay queued until then.", ""))
    except aiosmtplib.SMTPSenderRefused as exc:
        return Check("smtp", PROBLEM, f"the SMTP server {cfg.host}:{cfg.port} refused the sender [smtp] from_address "
                                      f"= {cfg.from_address!r} ({exc.code} {exc.message}). Fix: use the address this "
                                      "account may send as (the shared mailbox's), or give the account send-as "
                                      "permission for it.")
    except aiosmtplib.SMTPRecipientRefused as exc:
        return Check("smtp", PROBLEM, f"the SMTP server {cfg.host}:{cfg.port} refused to send to {rcpt!r} "
                                      f"({exc.code} {exc.message}). Fix: allow this account to send (relay) to "
                                      "other addresses; test another recipient with `halsodata doctor --rcpt ADDRESS`.")
    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
        return Check("smtp", PROBLEM, f"the SMTP server {cfg.host}:{cfg.port} broke off the check "
                                      f"({type(exc).__name__}: {exc}). Fix: check [smtp] host, port and security.")
    login = f"signed in as {cfg.username!r} ({cfg.auth})" if cfg.username else "no sign-in configured"
    return Check("smtp", OK, f"{cfg.host}:{cfg.port}, {login}; MAIL FROM {cfg.from_address} and RCPT TO {rcpt} "
                             "accepted, then reset (nothing sent)")


def _database(config: config_mod.Config) -> Iterator[Check]:
    from store import db, migrate
    url = config.store.url
    if url.startswith("sqlite:///") and ":memory:" not in url:
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            writable = path.parent.is_dir() and os.access(path.parent, os.W_OK)
            if not writable:
                yield Check("database", PROBLEM, f"[store] url: the folder {path.parent} for the SQLite database does "
                                                 "not exist or is not writable. Fix: create it for the service's user, "
                                                 "or point [store] url elsewhere.")
            else:
                yield Check("database", OK, f"{path} does not exist yet: `halsodata db upgrade` (or the first start) "
                                            "creates it")
            return
    engine = db.make_engine(url)
    try:
        try:
            db.check(engine)
        except db.StoreUnavailable as exc:
            yield Check("database", PROBLEM, str(exc))
            return
        where = engine.url.render_as_string(hide_password=True)
        now, want = migrate.current(engine), migrate.head()
        if now == want:
            yield Check("database", OK, f"{where} reachable, schema revision {now} (current)")
            yield _heartbeat(engine)
        elif now is None and not sa_inspect(engine).get_table_names():
            yield Check("database", OK, f"{where} reachable and empty: `halsodata db upgrade` (or the first start) "
                                        f"creates the schema {want}")
        elif now is None:
            yield Check("database", PROBLEM, f"{where} has tables but no schema revision (made without migrations). "
                                             "Fix: back it up and start from a database made by `halsodata db "
                                             "upgrade`, or ask a developer to stamp it.")
        elif _known(now):
            yield Check("database", PROBLEM, f"{where} has schema revision {now}, this version of halsodata needs "
                                             f"{want}. Fix: back up the database, then run `halsodata db upgrade`.")
        else:
            yield Check("database", PROBLEM, f"{where} has schema revision {now}, which this version of halsodata "
                                             f"does not know (it needs {want}): a newer halsodata wrote it. Fix: "
                                             "install that newer version again; do not downgrade a database.")
    finally:
        engine.dispose()


def _known(revision: str) -> bool:
    from alembic.script import ScriptDirectory
    from store import migrate
    try:
        return ScriptDirectory.from_config(migrate._config()).get_revision(revision) is not None
    except Exception:  # alembic raises several kinds for an unknown revision
        return False


def _heartbeat(engine) -> Check:
    with Session(engine) as s:
        row = s.exec(select(ServiceStatus).order_by(ServiceStatus.updated_at.desc())).first()
    if row is None:
        return Check("daemon", OK, "no daemon has run against this database yet")
    polled = row.last_poll_at
    ago = f"{_ago(polled)} ago" if polled else "never"
    error = f"; its last error ({_ago(row.last_error_at)} ago): {row.last_error}" if row.last_error_at else ""
    from intake.metrics import _aware
    stale = polled is None or (utcnow() - _aware(polled)).total_seconds() > 3600
    hint = ("; that is over an hour ago: if the service should be running, see `systemctl status halsodata` "
            "and its log" if stale else "")
    return Check("daemon", OK, f"halsodata ({row.name}) last read the mailbox {ago}{error}{hint}")


def _ago(when) -> str:
    from intake.metrics import _aware
    seconds = max(0, int((utcnow() - _aware(when)).total_seconds()))
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min" if seconds < 7200 else f"{seconds // 3600} h"


def _files(config: config_mod.Config) -> Iterator[Check]:
    from store.blobs import BlobError, BlobStore, WrongKey, load_keys
    store = config.store
    try:
        keys = load_keys(store.key_file, store.key_env)
    except KeyError as exc:
        yield Check("encryption key", PROBLEM, exc.args[0])
        keys = None
    else:
        source = f"key_file {store.key_file}" if store.key_file else f"key_env {store.key_env}"
        yield Check("encryption key", OK, f"{len(keys)} key(s) from [store] {source}")
    root = store.files
    if not root.exists():
        parent = next((p for p in root.parents if p.exists()), None)
        if parent is not None and os.access(parent, os.W_OK):
            yield Check("file store", OK, f"{root} does not exist yet (the daemon creates it)")
        else:
            yield Check("file store", PROBLEM, f"[store] files = {str(root)!r} does not exist and cannot be created "
                                               f"({parent} is not writable). Fix: create it, owned by the service's "
                                               "user, or point [store] files elsewhere.")
        return
    try:
        fd, probe = tempfile.mkstemp(dir=root, prefix=".doctor-")
        os.write(fd, b"halsodata doctor")
        os.fsync(fd)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        yield Check("file store", PROBLEM, f"[store] files = {str(root)!r} is not writable ({exc.strerror}). Fix: give "
                                           "the service's user write access to it (and ReadWritePaths= in the "
                                           "systemd unit).")
        return
    stored = sorted((p for p in root.glob("??/*") if p.is_file() and len(p.name) == 64),
                    key=lambda p: p.stat().st_mtime)
    if keys is None:
        yield Check("file store", SKIPPED, f"{root} is writable; stored files not checked: needs the key")
        return
    if not stored:
        yield Check("file store", OK, f"{root} is writable; no stored files yet")
        return
    blobs = BlobStore(root, keys)
    for path in {stored[-1], stored[0]}:
        try:
            data = blobs.get(path.name)
        except WrongKey as exc:
            yield Check("file store", PROBLEM, f"{exc}. Fix: set [store] key_file to the key the files were stored "
                                               "with (after a rotation: new key first, old key on the next line).")
            return
        except BlobError as exc:
            yield Check("file store", PROBLEM, str(exc))
            return
        if hashlib.sha256(data).hexdigest() != path.name:
            yield Check("file store", PROBLEM, f"stored file {path.name[:12]}… does not match its name: it was changed "
                                               "or damaged. Fix: restore it from the backup.")
            return
    yield Check("file store", OK, f"{root} is writable; the newest and oldest of {len(stored)} stored file(s) "
                                  "decrypt with the key")


def _metrics(config: config_mod.Config) -> Check:
    host, port = config.metrics.address
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return Check("metrics", OK, f"a daemon answers on {url}: {response.read().decode().strip()}")
    except urllib.error.HTTPError as exc:
        if exc.code == 503:
            return Check("metrics", PROBLEM, f"the daemon on {url} reports: {exc.read().decode().strip()}")
        return Check("metrics", PROBLEM, f"something else answers on {url} ({exc.code}). Fix: choose another "
                                         "[metrics] listen address.")
    except (urllib.error.URLError, OSError):
        pass
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            return Check("metrics", PROBLEM, f"[metrics] listen = {config.metrics.listen!r} cannot be used "
                                             f"({exc.strerror or exc}). Fix: choose a free address and port.")
    return Check("metrics", OK, f"no daemon runs yet; {config.metrics.listen} is free for /metrics and /health")
