"""Finds and masks Swedish personal identity and coordination numbers (personnummer, samordningsnummer)."""

from __future__ import annotations

import re
from datetime import date

# YYMMDD-NNNN, YYMMDD+NNNN, YYYYMMDD-NNNN, YYYYMMDDNNNN, YYMMDDNNNN; not inside longer digit runs.
_PATTERN = re.compile(r"(?<!\d)((?:19|20)?\d{2})(\d{2})(\d{2})\s?([-+]?)\s?(\d{4})(?!\d)")


def _luhn_ok(ten: str) -> bool:
    total = 0
    for i, ch in enumerate(ten):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _valid(m: re.Match) -> bool:
    century_year, month, day, _sep, last4 = m.groups()
    yy = century_year[-2:]
    mm, dd = int(month), int(day)
    if dd > 60:  # coordination numbers add 60 to the day
        dd -= 60
    if not 1 <= mm <= 12 or not 1 <= dd <= 31:
        return False
    if len(century_year) == 4:
        try:
            date(int(century_year), mm, dd)
        except ValueError:
            return False
    return _luhn_ok(yy + month + day + last4)


def find(text: str) -> list[str]:
    """The Luhn-valid identity numbers in the text, as written."""
    return [m.group(0) for m in _PATTERN.finditer(text or "") if _valid(m)]


def redact(text: str) -> str:
    """The text with every Luhn-valid identity number replaced by a mask of the same shape."""
    if not text:
        return text
    return _PATTERN.sub(lambda m: "ÅÅÅÅMMDD-XXXX" if _valid(m) else m.group(0), text)


# Identifiers a program matches on: a run of their hex digits or characters may look like a number, and masking
# it would break the match (they are made by mail clients and by us, not written by a researcher).
_IDENTIFIERS = frozenset({"sha256", "message_id", "in_reply_to", "references"})


def redact_all(value):
    """`value` (text, or lists and dicts of them, as shown by the CLI) with every identity number masked; the values
    of identifier keys (sha256, message ids) are left as they are."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: v if k in _IDENTIFIERS else redact_all(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_all(v) for v in value]
    return value
