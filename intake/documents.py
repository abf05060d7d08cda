"""The typed values passed between unpacking, reading, classification and rules: one file, what was read, what it is."""

from __future__ import annotations

from dataclasses import dataclass, field

# DOMAIN.md section 2: document kinds (contract identifiers).
KINDS = (
    "application_form", "ethics_application", "ethics_decision", "ethics_amendment",
    "ethics_amendment_decision", "research_plan", "variable_list", "participant_information",
    "consent_form", "data_processing_agreement", "data_transfer_agreement", "linkage_decision", "dpia",
    "dpo_statement", "cover_letter", "other",
)

# DOMAIN.md section 3: decision outcomes.
DECISIONS = ("approved", "approved_with_conditions", "rejected", "advisory_only")


@dataclass
class FileItem:
    """One file found in a mail, wherever it was hidden (attachment, forward, archive, winmail.dat, .msg, S/MIME)."""

    filename: str
    content_type: str
    data: bytes
    container: str | None = None  # where it came from, e.g. "winmail.dat" or "bilagor.zip"; None at top level


@dataclass
class Problem:
    """Something in the mail that could not be taken apart within the limits, recorded instead of crashing."""

    filename: str
    reason: str  # short, for people: "zip bomb: expands more than 100x", "nested deeper than 5 levels", ...
    container: str | None = None


@dataclass
class Unpacked:
    files: list[FileItem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)  # S/MIME signatures seen (recorded, not required)


@dataclass
class ReadResult:
    """What a reader got out of one file; not `readable` when encrypted, corrupt, password-protected or over limits."""

    readable: bool = True
    reason: str | None = None
    text: str = ""
    pages: int | None = None
    form_fields: dict[str, str] = field(default_factory=dict)  # PDF AcroForm fields that carry a value
    signatures: list[str] = field(default_factory=list)  # digital-signature evidence, e.g. "PDF signature field 'Sig1'"
    sheets: dict[str, list[list[str]]] = field(default_factory=dict)  # spreadsheet/CSV rows as text cells
    ocr: bool = False  # text came from OCR of page images
    format: str = ""  # pdf, docx, xlsx, csv, odt, text, html, image, unknown


@dataclass
class Classification:
    kind: str = "other"
    also: list[str] = field(default_factory=list)
    confidence: float = 0.0
    evidence: list[str] = field(default_factory=list)
