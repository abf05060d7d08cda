"""Where the application mentions linkage, processors or transfers: documents' facts and the mail bodies."""

from __future__ import annotations

import re

from intake import facts as fx
from rules.base import CaseFile, mail_cite

WHERE = ("application_form", "ethics_application", "research_plan", "ethics_decision", "dpia")
_PATTERNS = {"linkage": fx._LINKAGE, "processors": fx._PROCESSOR, "transfers": fx._TRANSFER}


def mentions(case: CaseFile, what: str) -> list[dict]:
    """Evidence of one kind of mention, one entry per place, citing the phrase."""
    out = []
    for kind in WHERE:
        doc = case.newest(kind)
        if doc is not None:
            for phrase in doc.facts.get(what, [])[:2]:
                out.append(doc.cite(f"“{phrase}”"))
    for mail in case.mails:
        for phrase in fx._mentions(_PATTERNS[what], mail.body)[:2]:
            out.append(mail_cite(mail, f"“{phrase}”"))
    return out


def weak(evidence: list[dict], strong: re.Pattern) -> bool:
    return not any(strong.search(e.get("detail", "")) for e in evidence)
