"""Finds the case a mail belongs to: the case tag in the subject, or a thread pointing at a mail of the case."""

from __future__ import annotations

import re

from sqlmodel import Session, func, select

from intake.parse import ParsedMail
from store.models import Case, InboundMail, OutboxMail


def tag_pattern(number_format: str) -> re.Pattern:
    """A regex for "[<case number>]" in a subject, built from [cases] number_format."""
    parts = re.split(r"(\{year\}|\{seq(?::[^}]*)?\})", number_format)
    regex = "".join(r"\d{4}" if p == "{year}" else r"\d+" if p.startswith("{seq") else re.escape(p)
                    for p in parts)
    return re.compile(r"\[\s*(" + regex + r")\s*\]", re.I)


def case_tag(number: str) -> str:
    return f"[{number}]"


def find_case(session: Session, mail: ParsedMail, number_format: str) -> tuple[Case | None, str]:
    """The case this mail continues and how it was recognised, or (None, "") for a new case. A case whose content
    was purged (retention) is continued by nothing: what comes years later is a new application."""
    for number in tag_pattern(number_format).findall(mail.subject or ""):
        case = session.exec(select(Case).where(func.upper(Case.number) == number.upper())).first()
        if case is not None and case.purged_at is None:
            return case, f"case tag {number.upper()} in the subject"
    ids = mail.thread_ids
    if ids:
        sent = session.exec(select(OutboxMail).where(OutboxMail.message_id.in_(ids),
                                                     OutboxMail.case_id.is_not(None))).all()
        received = session.exec(select(InboundMail).where(InboundMail.message_id.in_(ids),
                                                          InboundMail.case_id.is_not(None))).all()
        by_id = {m.message_id: m.case_id for m in [*received, *sent]}
        for mid in ids:  # the nearest ancestor wins
            if mid in by_id:
                case = session.get(Case, by_id[mid])
                if case is not None and case.purged_at is None:
                    return case, "reply to a mail of the case"
    return None, ""
