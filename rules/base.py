"""What every rule sees and returns: the case's documents and mails, and one finding."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from intake import pnr

STATUSES = ("ok", "missing", "pending", "needs_review", "failed", "not_applicable")


class RulesConfig(BaseModel):
    """[rules] in the configuration file."""

    model_config = ConfigDict(extra="forbid")

    disabled: list[str] = Field(default_factory=list, description="rule ids to switch off")
    extensive_sources: int = Field(1, ge=0, description="more sources than this is extensive")
    extensive_population: int = Field(10000, ge=1, description="at least this many individuals is extensive")
    extensive_years: int = Field(5, ge=1, description="at least this many years is extensive")
    authserv_ids: list[str] = Field(default_factory=list, description="the region's receiving servers")

    @field_validator("disabled")
    @classmethod
    def _known_rules(cls, value: list[str]) -> list[str]:
        from rules.registry import RULE_IDS
        unknown = [r for r in value if r not in RULE_IDS]
        if unknown:
            raise ValueError(f"unknown rule id(s) {', '.join(unknown)}; known: {', '.join(RULE_IDS)}")
        return value


@dataclass
class Doc:
    """One document of the case as the rules see it (newest mail last)."""

    filename: str
    kind: str
    also: list[str] = field(default_factory=list)
    confidence: float = 1.0
    readable: bool = True
    reason: str | None = None
    facts: dict = field(default_factory=dict)
    variables: dict | None = None  # intake.variables.VariableList.as_dict() for spreadsheets
    pnr_count: int = 0
    received_at: datetime | None = None
    container: str | None = None

    def serves(self, kind: str) -> bool:
        return self.kind == kind or kind in self.also

    def cite(self, detail: str = "") -> dict:
        return {"document": pnr.redact(self.filename), **({"detail": detail} if detail else {})}


@dataclass
class Mail:
    """One mail of the case: what the body said and what the receiving server wrote about it."""

    subject: str = ""
    body: str = ""
    from_address: str = ""
    pnr_count: int = 0
    authentication_results: list[str] = field(default_factory=list)
    received_at: datetime | None = None


def mail_cite(mail: "Mail", detail: str) -> dict:
    """Evidence naming a mail by its subject: masked first, then shortened, so no number is cut in half."""
    return {"mail": pnr.redact(mail.subject)[:80], "detail": detail}


@dataclass
class CaseFile:
    """Everything received for a case so far, across all its mails."""

    docs: list[Doc] = field(default_factory=list)
    mails: list[Mail] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)  # parts that could not be unpacked: {"document", "detail"}
    track: str = "personal_data"

    def of(self, kind: str) -> list[Doc]:
        return [d for d in self.docs if d.serves(kind)]

    def newest(self, kind: str) -> Doc | None:
        docs = self.of(kind)
        return docs[-1] if docs else None


@dataclass
class Finding:
    rule: str
    status: str
    message_sv: str
    message_en: str
    evidence: list[dict] = field(default_factory=list)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"unknown finding status {self.status!r}")


@dataclass(frozen=True)
class Rule:
    """A rule: stable id, one-line description in Swedish and English, and its check function."""

    id: str
    description_sv: str
    description_en: str
    check: callable
    personal_data_only: bool = True  # not_applicable on the aggregated-statistics track


def finding(rule_id: str, status: str, sv: str, en: str, *evidence: dict) -> Finding:
    return Finding(rule_id, status, sv, en, list(evidence))


def presence(case: CaseFile, rule_id: str, kind: str, name_sv: str, name_en: str) -> Finding:
    """The common 'a document of this kind is present' check."""
    doc = case.newest(kind)
    if doc is None:
        return finding(rule_id, "missing", f"{name_sv} saknas.", f"The {name_en} is missing.")
    return finding(rule_id, "ok", f"{name_sv} finns: {doc.filename}.", f"The {name_en} is present: {doc.filename}.",
                   doc.cite(f"classified as {kind} ({doc.confidence:.0%})"))
