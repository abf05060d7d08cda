"""Reads every document of a mail: unpack the wrappers, read each file in isolation, classify it, extract its facts."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from intake import classify, facts, pnr
from intake.documents import Classification, FileItem, Problem, ReadResult
from intake.readers import read_isolated
from intake.readers.limits import read_each
from intake.readers.limits import ReadLimits
from intake.unpack import UnpackLimits, unpack
from intake.variables import VariableList, parse_sheets
from store.blobs import Sealed


@dataclass
class Document:
    """One file of a mail with everything learned about it."""

    item: FileItem
    read: ReadResult
    classification: Classification
    facts: facts.Facts
    variables: VariableList | None = None
    pnr_count: int = 0
    stored: Sealed | None = None  # sealed in the file store by intake's preparer; the item's bytes are then dropped

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.item.data).hexdigest()

    def fields(self) -> dict:
        """What is stored with the document and what rules read: facts, the variable table, how it was read."""
        out = self.facts.as_dict()
        out["format"] = self.read.format
        out["pages"] = self.read.pages
        out["ocr"] = self.read.ocr
        out["form_fields"] = sorted(self.read.form_fields)[:50]  # names only: values may be personal data
        if self.variables is not None:
            out["variables"] = self.variables.as_dict()
        return out


@dataclass
class MailDocuments:
    documents: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)


DEFAULT_READ = ReadLimits()
DEFAULT_UNPACK = UnpackLimits()


def read_document(item: FileItem, limits: ReadLimits = DEFAULT_READ) -> Document:
    return _document(item, read_isolated(item, limits))


def _document(item: FileItem, read: ReadResult) -> Document:
    """Classify a file that has been read, extract its facts and count identity numbers."""
    cls = classify.classify(read, item.filename)
    doc_facts = facts.extract(read, cls.kind)
    variables = parse_sheets(read.sheets) if read.sheets else None
    text = read.text + "\n" + "\n".join(" ".join(r) for rows in read.sheets.values() for r in rows)
    return Document(item=item, read=read, classification=cls, facts=doc_facts, variables=variables,
                    pnr_count=len(pnr.find(text)))


def _understand(item: FileItem, read: ReadResult) -> Document:
    """Runs in the reader process: the Document without the file's bytes and the read result, which the daemon
    has already."""
    doc = _document(item, read)
    doc.item, doc.read = None, None  # type: ignore[assignment]
    return doc


def read_mail(raw: bytes | Iterable[bytes], unpack_limits: UnpackLimits = DEFAULT_UNPACK,
              read_limits: ReadLimits = DEFAULT_READ) -> MailDocuments:
    """Every document in the raw mail, in the order found; what could not be unpacked is a problem, not a crash."""
    unpacked = unpack(raw, unpack_limits)
    # Files are read several at a time in reader processes, which also classify them (in parallel, and within the
    # same time and memory limits); a file whose reader ran out of time or memory is classified here from the reason.
    docs: list[Document | None] = [None] * len(unpacked.files)
    for index, read, understood in read_each(unpacked.files, read_limits, then=_understand):
        item = unpacked.files[index]
        if isinstance(understood, Document):
            understood.item, understood.read = item, read
            docs[index] = understood
        else:
            docs[index] = _document(item, read)
    return MailDocuments(documents=docs, problems=unpacked.problems, signatures=unpacked.signatures)
