"""First step of intake: store a message's raw bytes durably and record its server identity, before anything else."""

from __future__ import annotations

import logging
import re

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from store.blobs import BlobStore
from store.db import session_scope
from store.models import InboundMail, utcnow

log = logging.getLogger("halsodata.intake")

_MSGID = re.compile(rb"^Message-ID:[ \t]*(<[^<>\s]+>)", re.I | re.M)


def header_message_id(raw: bytes) -> str | None:
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    m = _MSGID.search(head[:200_000])
    return m.group(1).decode("ascii", "replace").replace("\x00", "")[:500] if m else None


def known_uids(engine: Engine, account: str, folder: str, uidvalidity: int) -> set[int]:
    with session_scope(engine) as s:
        return set(s.exec(select(InboundMail.uid).where(InboundMail.account == account,
                                                        InboundMail.folder == folder,
                                                        InboundMail.uidvalidity == uidvalidity)).all())


def record(engine: Engine, blobs: BlobStore, *, account: str, folder: str, uidvalidity: int, uid: int,
           raw: bytes, too_large: int | None = None, max_bytes: int = 0) -> InboundMail | None:
    """Write the bytes to the encrypted store (fsynced), then commit the record; return it.

    A message whose content was recorded before (the mailbox's UIDVALIDITY changed, or it was put back)
    is recorded as a duplicate of the first and is never processed again. With `too_large` set, `raw` is
    only the header and the message stays in the mailbox for a person. Returns None when another daemon
    recorded the same server identity first.
    """
    with blobs.locked():  # retention must not purge an identical stored mail between the two steps
        digest = blobs.put(raw)
        try:
            return _insert(engine, digest, account, folder, uidvalidity, uid, raw, too_large, max_bytes)
        except IntegrityError:
            return None


def _header_fields(mail: InboundMail, header: bytes) -> None:
    """Sender and subject from a kept header, so a coordinator can tell whose mail waits in the mailbox."""
    from intake.parse import ParseError, parse
    try:
        parsed = parse(header)
    except ParseError:
        return
    mail.from_address, mail.from_name, mail.subject = parsed.from_address, parsed.from_name, parsed.subject


def _insert(engine, digest, account, folder, uidvalidity, uid, raw, too_large, max_bytes) -> InboundMail:
    with session_scope(engine) as s:
        # A mail left in the mailbox (too large, or its stored copy was damaged) is no first copy: put back into the
        # folder, it is taken in again.
        first = s.exec(select(InboundMail).where(InboundMail.sha256 == digest, InboundMail.status != "duplicate",
                                                 InboundMail.leave_in_mailbox == False)  # noqa: E712
                       .order_by(InboundMail.id)).first()
        mail = InboundMail(account=account, folder=folder, uidvalidity=uidvalidity, uid=uid,
                           message_id=header_message_id(raw), sha256=digest, size=too_large or len(raw))
        if too_large is not None:
            mail.status = "failed"
            mail.outcome = (f"too large ({too_large / 1_048_576:.1f} MiB, over [limits] max_message_bytes = "
                            f"{max_bytes / 1_048_576:.1f} MiB): header kept, message left in the mailbox for a "
                            "coordinator")
            _header_fields(mail, raw)
            mail.processed_at = utcnow()
            mail.leave_in_mailbox = True
        elif first is not None:
            mail.status, mail.case_id = "duplicate", first.case_id
            mail.outcome = f"same content as mail #{first.id}, taken in before"
            mail.processed_at = utcnow()
        s.add(mail)
    log.info("mail uid=%s uidvalidity=%s recorded as #%s (%s)", uid, uidvalidity, mail.id, mail.status)
    return mail
