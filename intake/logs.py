"""Logging set-up: text or JSON lines, with identity numbers masked in every record as a last guard."""

from __future__ import annotations

import json
import logging
import sys

from intake import pnr


QUIET = ("imapclient", "aiosmtplib", "mailparser", "sqlalchemy", "apscheduler", "alembic", "pypdf", "pdfminer",
         "PIL", "extract_msg", "tnefparse", "asyncio")


class RedactingFilter(logging.Filter):
    """Masks personal identity numbers in the final message, whatever a caller passed in."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = str(record.msg)
        record.msg, record.args = pnr.redact(message), None
        return True


class RedactingFormatter(logging.Formatter):
    """Masks identity numbers in tracebacks too; the filter only sees the message."""

    def formatException(self, ei) -> str:
        return pnr.redact(super().formatException(ei))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["error"] = record.exc_info[0].__name__ if record.exc_info[0] else ""
        return json.dumps(entry, ensure_ascii=False)


def setup(level: str = "INFO", fmt: str = "text", stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries that log protocol traffic or mail content at DEBUG (imapclient logs whole FETCH responses)
    # stay at WARNING whatever the level: their DEBUG output is mail, and mail is personal data.
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
