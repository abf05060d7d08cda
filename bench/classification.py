"""Per-kind precision and recall, and decision-outcome accuracy, of the classifier on the labelled variant set.

    .venv/bin/python bench/classification.py [--n N] [--seed S]

Builds `tests.samples.variants.labelled_set(seed, n)`, reads every mail as `halsodata inspect` does
(`intake.inspect.inspect_bytes`), finds each labelled file among the reported attachments by its sha256 (so a
file name the product spells differently still counts), and compares kinds (`kind` + `also` against the label)
and decision outcomes (`fields["decision"]` against the truth, None for look-alikes such as EPM's request for
supplement). Prints the tables and every miss with its evidence; always exits 0 (the test holds the thresholds).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from intake import classify  # noqa: E402
from intake.inspect import inspect_bytes  # noqa: E402
from intake.readers import read as read_file  # noqa: E402
from intake.unpack import unpack  # noqa: E402
from tests.samples.variants import labelled_set  # noqa: E402

KINDS = ("application_form", "ethics_application", "ethics_decision", "ethics_amendment", "ethics_amendment_decision",
         "research_plan", "variable_list", "participant_information", "consent_form", "data_processing_agreement",
         "data_transfer_agreement", "linkage_decision", "dpia", "dpo_statement", "cover_letter", "other")
NOT_FOUND = "(not found)"


@dataclass
class DocResult:
    """One labelled file, or one reported attachment nobody labelled (expected == [])."""

    mail: str
    filename: str
    expected: list[str]
    got: list[str]
    fmt: str
    traits: dict
    lang: str = "?"
    reported_name: str | None = None
    confidence: float | None = None
    evidence: list[str] = field(default_factory=list)
    reason: str | None = None
    scores: list[str] = field(default_factory=list)  # for misses: the classifier's score of each kind involved

    @property
    def correct(self) -> bool:
        return set(self.expected) == set(self.got)

    @property
    def primary_correct(self) -> bool:
        return bool(self.expected) and bool(self.got) and self.expected[0] == self.got[0]


@dataclass
class DecisionResult:
    mail: str
    filename: str
    expected: str | None
    got: str | None
    kind: str
    phrase: str | None

    @property
    def correct(self) -> bool:
        return self.expected == self.got


@dataclass
class Result:
    docs: list[DocResult]
    extras: list[DocResult]
    decisions: list[DecisionResult]
    problems: list[tuple[str, dict]]
    mails: int
    traits: list[dict]
    build_seconds: float
    inspect_seconds: float

    @property
    def accuracy(self) -> float:
        return sum(d.correct for d in self.docs) / max(1, len(self.docs))

    @property
    def primary_accuracy(self) -> float:
        return sum(d.primary_correct for d in self.docs) / max(1, len(self.docs))

    @property
    def decision_accuracy(self) -> float:
        return sum(d.correct for d in self.decisions) / max(1, len(self.decisions))

    def misses(self) -> list[DocResult]:
        return [d for d in self.docs if not d.correct] + self.extras


def evaluate(seed: int = 1, n: int = 40) -> Result:
    t0 = time.monotonic()
    mails = labelled_set(seed=seed, n=n)
    t1 = time.monotonic()
    docs, extras, decisions, problems = [], [], [], []
    for mail in mails:
        report = inspect_bytes(mail.raw, f"{mail.name}.eml")
        problems += [(mail.name, p) for p in report.get("problems", [])]
        by_sha: dict[str, list[dict]] = defaultdict(list)
        for a in report["attachments"]:
            by_sha[a["sha256"]].append(a)
        labelled = set(mail.sha256.values())
        for filename, kinds in mail.labels.items():
            found = by_sha.get(mail.sha256[filename]) or []
            a = found[0] if found else None
            docs.append(DocResult(
                mail=mail.name, filename=filename, expected=list(kinds),
                got=[a["kind"], *a["also"]] if a else [NOT_FOUND], fmt=mail.formats[filename], traits=mail.traits,
                lang=mail.languages.get(filename, "?"), reported_name=a["filename"] if a else None,
                confidence=a["confidence"] if a else None,
                evidence=a.get("evidence", []) if a else [], reason=a.get("reason") if a else None))
            if filename in mail.decisions:
                decisions.append(DecisionResult(
                    mail.name, filename, mail.decisions[filename], a["fields"].get("decision") if a else NOT_FOUND,
                    a["kind"] if a else NOT_FOUND, a["fields"].get("decision_phrase") if a else None))
        for a in report["attachments"]:
            if a["sha256"] not in labelled:
                extras.append(DocResult(mail.name, a["filename"], [], [a["kind"], *a["also"]], "?", mail.traits, "?",
                                        a["filename"], a["confidence"], a.get("evidence", []), a.get("reason")))
        for doc in docs:
            if doc.mail == mail.name and not doc.correct and not doc.scores:
                doc.scores = explain(mail.raw, mail.sha256[doc.filename], doc.expected + doc.got)
    return Result(docs, extras, decisions, problems, len(mails), [m.traits for m in mails], t1 - t0,
                  time.monotonic() - t1)


def explain(raw: bytes, sha256: str, kinds: list[str]) -> list[str]:
    """The classifier's score and evidence for each kind, from the file as unpacked (read here, not isolated)."""
    for item in unpack(raw).files:
        if hashlib.sha256(item.data).hexdigest() == sha256:
            scores, evidence, _titled = classify.score(read_file(item), item.filename)
            return [f"{k} scores {scores[k]:.1f}: " + ("; ".join(evidence[k][:5]) or "no cue")
                    for k in dict.fromkeys(kinds) if k in scores]
    return []


def per_kind(result: Result) -> list[tuple[str, int, int, int, float | None, float | None]]:
    """(kind, support, predicted, true positives, precision, recall); a document counts for each of its kinds."""
    rows = []
    for kind in KINDS:
        support = sum(kind in d.expected for d in result.docs)
        predicted = sum(kind in d.got for d in result.docs + result.extras)
        tp = sum(kind in d.expected and kind in d.got for d in result.docs)
        rows.append((kind, support, predicted, tp, tp / predicted if predicted else None,
                     tp / support if support else None))
    return rows


def _pct(x: float | None) -> str:
    return "   -  " if x is None else f"{100 * x:5.1f}%"


def breakdown(result: Result, key) -> list[tuple[str, int, int]]:
    total: Counter = Counter()
    right: Counter = Counter()
    for d in result.docs:
        k = key(d)
        total[k] += 1
        right[k] += d.correct
    return [(k, right[k], total[k]) for k in sorted(total)]


def report(result: Result) -> str:
    out = []
    docs = result.docs
    out.append(f"labelled set: {result.mails} mails, {len(docs)} labelled documents "
               f"(built in {result.build_seconds:.1f} s, inspected in {result.inspect_seconds:.1f} s)")
    out.append("")
    out.append("set contents:")
    for title, key in (("shape", "shape"), ("client", "client"), ("wrapper", "wrapper"), ("language", "lang"),
                       ("body charset", "charset"), ("body transfer encoding", "body_encoding"),
                       ("file-name encoding", "names"), ("decision the application comes with", "outcome")):
        counts = Counter(t[key] for t in result.traits)
        out.append(f"  mails by {title}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for title, counts in (("format", Counter(d.fmt for d in docs)), ("language", Counter(d.lang for d in docs))):
        out.append(f"  documents by {title}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    out.append("  documents by kind: see 'support' below (a document labelled with two kinds counts for both)")
    out.append("")
    out.append(f"{'kind':<27} {'support':>7} {'predicted':>9} {'TP':>4} {'precision':>9} {'recall':>7}")
    for kind, support, predicted, tp, p, r in per_kind(result):
        out.append(f"{kind:<27} {support:>7} {predicted:>9} {tp:>4} {_pct(p):>9} {_pct(r):>7}")
    out.append("")
    out.append(f"kind accuracy (kind + also = label):  {sum(d.correct for d in docs)}/{len(docs)} = "
               f"{_pct(result.accuracy).strip()}")
    out.append(f"primary kind accuracy:                {sum(d.primary_correct for d in docs)}/{len(docs)} = "
               f"{_pct(result.primary_accuracy).strip()}")
    dec = result.decisions
    outcomes = [x for x in dec if x.expected is not None]
    lookalikes = [x for x in dec if x.expected is None]
    out.append(f"decision outcomes right:              {sum(x.correct for x in dec)}/{len(dec)} = "
               f"{_pct(result.decision_accuracy).strip()}  (decisions {sum(x.correct for x in outcomes)}/"
               f"{len(outcomes)}, look-alikes with no outcome {sum(x.correct for x in lookalikes)}/{len(lookalikes)})")
    out.append(f"reported attachments nobody labelled: {len(result.extras)}")
    for title, key in (("format", lambda d: d.fmt), ("wrapper", lambda d: d.traits["wrapper"]),
                       ("client", lambda d: d.traits["client"]), ("mail language", lambda d: d.traits["lang"]),
                       ("document language", lambda d: d.lang)):
        out.append("")
        out.append(f"by {title}: " + ", ".join(f"{k} {r}/{t}" for k, r, t in breakdown(result, key)))
    misses = result.misses()
    out.append("")
    out.append(f"misclassified ({len(misses)}):" if misses else "misclassified: none")
    for d in misses:
        expected = "+".join(d.expected) or "(not a labelled file)"
        out.append(f"- {d.mail} | {d.filename!r} [{d.fmt}, {d.traits['wrapper']}] expected {expected}, got "
                   f"{'+'.join(d.got)} (confidence {d.confidence})")
        if d.reported_name and d.reported_name != d.filename:
            out.append(f"    reported as {d.reported_name!r}")
        if d.reason:
            out.append(f"    unreadable: {d.reason}")
        for e in d.evidence[:4]:
            out.append(f"    evidence: {e}")
        for line in d.scores:
            out.append(f"    {line}")
    wrong = [x for x in dec if not x.correct]
    out.append("")
    out.append(f"wrong decision outcomes ({len(wrong)}):" if wrong else "wrong decision outcomes: none")
    for x in wrong:
        out.append(f"- {x.mail} | {x.filename!r}: expected {x.expected}, got {x.got} "
                   f"(classified {x.kind}, phrase {x.phrase!r})")
    if result.problems:
        out.append("")
        out.append(f"unpacking problems ({len(result.problems)}):")
        for mail, p in result.problems:
            out.append(f"- {mail} | {p.get('file')!r} in {p.get('container')!r}: {p.get('reason')}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=40, help="number of mails (default 40)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the labelled set (default 1)")
    args = ap.parse_args(argv)
    started = time.monotonic()
    result = evaluate(seed=args.seed, n=args.n)
    print(report(result))
    print(f"\ntotal runtime {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
