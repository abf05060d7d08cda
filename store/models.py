"""The tables: cases, the mails taken in, their attachments, findings and the outbox."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Now, aware, in UTC: SQLModel stores aware datetimes and returns them in UTC on every database."""
    return datetime.now(timezone.utc).replace(microsecond=0)


class Case(SQLModel, table=True):
    """A researcher's application (*ärende*), from the first mail to closing."""

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(unique=True, index=True)
    year: int
    seq: int
    state: str = "received"
    track: str = "personal_data"
    researcher: str = Field(index=True, description="the applicant's address")
    researcher_name: str = ""
    title: str = ""
    language: str = "sv"
    opened_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    closed_at: datetime | None = None  # set when a coordinator moves the case to `closed`; retention counts from it
    purged_at: datetime | None = None  # mails, attachments and bodies deleted after the retention period
    # What the register showed when the case was purged (organisation, project, ethics reference and decision):
    # read from documents that are gone afterwards.
    register_entry: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}", server_default="{}"))


class CaseCounter(SQLModel, table=True):
    """The last case sequence number handed out in a year; one row per year, updated atomically."""

    year: int = Field(primary_key=True)
    seq: int = 0


class InboundMail(SQLModel, table=True):
    """One message as found in the mailbox: the server's identity of it, where its raw bytes are, and its outcome."""

    __table_args__ = (UniqueConstraint("account", "folder", "uidvalidity", "uid", name="uq_mail_server_identity"),)

    id: int | None = Field(default=None, primary_key=True)
    account: str
    folder: str
    uidvalidity: int
    uid: int
    message_id: str | None = Field(default=None, index=True)
    sha256: str = Field(index=True)
    size: int
    fetched_at: datetime = Field(default_factory=utcnow)
    # fetched -> processed | duplicate | ignored | failed
    status: str = Field(default="fetched", index=True)
    outcome: str = ""
    processed_at: datetime | None = None
    moved_at: datetime | None = None
    leave_in_mailbox: bool = False
    purged_at: datetime | None = None  # content deleted by retention (a mail without a case; cases have their own)
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    from_address: str = ""
    from_name: str = ""
    subject: str = ""
    sent_date: datetime | None = None
    in_reply_to: str | None = None
    references: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    language: str | None = None
    auto_generated: bool = False
    body_text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    pnr_count: int = 0  # identity numbers found in subject and body; the numbers themselves are never stored apart
    authentication_results: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    problems: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    signatures: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))


class Attachment(SQLModel, table=True):
    """A file that came with a mail; its bytes live encrypted in the file store under its sha256."""

    id: int | None = Field(default=None, primary_key=True)
    mail_id: int = Field(foreign_key="inboundmail.id", index=True)
    filename: str
    content_type: str
    size: int
    sha256: str
    container: str | None = None
    kind: str | None = None
    also: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    confidence: float = 0.0
    evidence: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    fields: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    readable: bool = True
    reason: str | None = None
    pnr_count: int = 0
    # "product" when classification chose the kind; "coordinator" when a person corrected it (never overwritten)
    kind_source: str = "product"


class Finding(SQLModel, table=True):
    """A rule's verdict on a case at one moment; the newest per rule is current, older ones are history."""

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    rule: str
    status: str
    message_sv: str = ""
    message_en: str = ""
    evidence: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    created_at: datetime = Field(default_factory=utcnow)
    current: bool = True


class OutboxMail(SQLModel, table=True):
    """A reply waiting to leave, or sent; its Message-ID is fixed when it is queued so a resend is recognisable."""

    id: int | None = Field(default=None, primary_key=True)
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    type: str
    # pending_approval -> queued -> sending -> sent | failed | bounced; or rejected by a coordinator
    status: str = Field(default="queued", index=True)
    message_id: str = Field(unique=True)
    to: str
    subject: str
    language: str
    body: str = Field(sa_column=Column(Text, nullable=False))
    in_reply_to: str | None = None
    references: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    auto_submitted: bool = True
    items: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))  # rule ids it asks for
    note: str = ""  # why it waits, e.g. "already answered within 24 hours"
    # e.g. "reminder:<request id>:2": the database refuses a second one, whoever queues it
    dedupe_key: str | None = Field(default=None, unique=True)
    queued_at: datetime = Field(default_factory=utcnow)
    next_attempt_at: datetime = Field(default_factory=utcnow)
    attempts: int = 0
    sent_at: datetime | None = None
    last_error: str = ""
    # "<host>:<pid>" of the daemon handing it to SMTP; a restarted daemon releases claims of dead processes
    claimed_by: str = ""


class AuditEvent(SQLModel, table=True):
    """Who did what and when: every coordinator action (and sign-in) in the web view and the CLI."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str  # the coordinator's user name, "cli:<os user>", or "halsodata" for the product itself
    action: str  # e.g. "outbox.approve", "case.state", "attachment.kind", "signin", "case.purge"
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    target: str = ""  # e.g. "outbox:12", "attachment:40"
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))  # JSON: from/to, note


class UserAccount(SQLModel, table=True):
    """A coordinator's local account for the web view (when sign-in is not delegated to a reverse proxy)."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, index=True)
    display_name: str = ""
    password_hash: str = ""  # argon2id; never the password
    language: str = "sv"
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    last_signin_at: datetime | None = None


class ServiceStatus(SQLModel, table=True):
    """A running daemon's heartbeat: the health endpoint, `doctor` and the web view read it from here."""

    name: str = Field(primary_key=True)  # "<host>:<pid>"
    started_at: datetime = Field(default_factory=utcnow)
    last_poll_at: datetime | None = None  # the last time the mailbox was read successfully
    last_error: str = ""
    last_error_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)
