"""Pulls the facts rules need out of a document's text: reference numbers, decision, signature, consent, scope."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from intake.documents import ReadResult
from intake.prefilter import Narrowed, lowered

# DOMAIN.md section 3. Order matters: longer forms first so "2023-01234-01" is not read as "2023-01234".
_REF_PATTERNS = [
    re.compile(r"(?<![\d/-])((?:19|20)\d{2})\s?-\s?(\d{5})(?:\s?-\s?(\d{2}))?(?![\d/-])"),   # 2019-01234(-01)
    # 2015/1234-31/2 (regional boards before 2019)
    re.compile(r"(?<![\d/-])((?:19|20)\d{2})\s?/\s?(\d{1,4})\s?-\s?(\d{1,2})(?:\s?/\s?(\d{1,2}))?(?![\d/])"),
    re.compile(r"\bÖ\s?(\d{1,4})\s?-\s?((?:19|20)\d{2})\s?/\s?(\d\.\d)"),                   # Ö 32-2021/3.1
]


def ethics_refs(text: str) -> list[str]:
    """Every EPM or regional-board reference number in the text, normalised (no spaces), in order of appearance."""
    found: list[tuple[int, str]] = []
    taken: list[range] = []
    for i, rx in enumerate(_REF_PATTERNS):
        for m in rx.finditer(text or ""):
            if any(m.start() in r for r in taken):
                continue
            g = m.groups()
            if i == 0:
                ref = f"{g[0]}-{g[1]}" + (f"-{g[2]}" if g[2] else "")
            elif i == 1:
                ref = f"{g[0]}/{g[1]}-{g[2]}" + (f"/{g[3]}" if g[3] else "")
            else:
                ref = f"Ö {g[0]}-{g[1]}/{g[2]}"
            found.append((m.start(), ref))
            taken.append(range(m.start(), m.end()))
    return list(dict.fromkeys(ref for _, ref in sorted(found)))


def base_ref(ref: str) -> str:
    """The application number without the EPM document suffix: 2023-01234-01 and 2023-01234 are one application."""
    m = re.fullmatch(r"(\d{4}-\d{5})-\d{2}", ref)
    return m.group(1) if m else ref


def _phrases(pattern: str, flags: int = re.I) -> re.Pattern:
    """A pattern whose spaces match any run of whitespace: PDF text breaks lines in the middle of phrases."""
    return re.compile(pattern.replace(" ", r"\s+"), flags)


# DOMAIN.md section 3: decision outcomes.
_SUPPLEMENT = _phrases(r"begäran om komplettering|request for (supplement|supplementary|additional) information",
                         re.I)
_ADVISORY = _phrases(r"avvisar ansökan|ansökan avvisas|dismisses the application|the application is dismissed", re.I)
_ADVISORY_CONTEXT = _phrases(r"rådgivande yttrande|inga etiska invändningar|advisory opinion|no ethical objections",
                             re.I)
_REJECTED = _phrases(r"\bavslår\b|\bavslås\b|rejects the (application|amendment)|(application|amendment) is rejected",
                     re.I)
_APPROVED = _phrases(r"approves the (research|amendment)|(research|amendment) is approved|"
                     r"godkänner (forskningen|ändringen)|(forskningen|ansökan|ändringen) godkänns|\bgodkänns\b|"
                       r"\bbifalls\b|bifaller ansökan", re.I)
_CONDITIONS = re.compile(r"(?:^|\n)\s*(?:villkor|condition)(?:\s*\d+)?\s*:\s*(.+)|"
                         r"(?:^|\n)[ \t]*villkor[ \t]+(.+)|(?:på|med följande) villkor(?: att)?\s*:?\s*(.+)|"
                         r"förenas med (?:följande )?villkor\s*:?\s*(.+)", re.I)


_NEW_ITEM = re.compile(r"^\s*(?:villkor|condition|\d+[.)]|[-•*])", re.I)


def _whole_sentence(first: str, rest: str) -> str:
    """A condition the PDF's text wraps over several lines: its first line and the lines after it, up to the end of
    the sentence, a blank line or the next item (at most four lines more)."""
    value = first.strip()
    for line in rest.lstrip("\r\n").splitlines()[:4]:
        if value.endswith((".", "!", "?")) or not line.strip() or _NEW_ITEM.match(line):
            break
        value += " " + line.strip()
    return value


def decision(text: str) -> tuple[str | None, list[str], str | None]:
    """(outcome, conditions, the phrase it rests on); outcome None when the text decides nothing (e.g. a request)."""
    text = text or ""
    if m := _ADVISORY.search(text):
        if _ADVISORY_CONTEXT.search(text):
            return "advisory_only", [], m.group(0)
    if m := _REJECTED.search(text):
        return "rejected", [], m.group(0)
    if m := _APPROVED.search(text):
        conditions = []
        for c in _CONDITIONS.finditer(text):
            value = _whole_sentence(next(g for g in c.groups() if g), text[c.end():])
            value = " ".join(value.split())[:300]
            if value and not re.match(r"^(saknas|inga|-)$", value, re.I):
                conditions.append(value)
        return ("approved_with_conditions" if conditions else "approved"), conditions, m.group(0)
    if m := _SUPPLEMENT.search(text):
        return None, [], m.group(0)
    return None, [], None


# Signature evidence on the application form (DOMAIN.md 9: application_form.signed).
_SIGNED_DIGITAL = _phrases(r"signerad (digitalt |elektroniskt )?med bankid|elektroniskt signerad|digitalt signerad|"
                             r"e-?signerad|digitally signed|electronically signed|signed with bankid|"
                             r"verifieringsbilaga|verification (page|certificate)|signerat av|signed by", re.I)
_SIG_LABEL = re.compile(r"(underskrift|namnteckning|signatur|signature)[^\n]{0,40}", re.I)
_NAME_CLARIFICATION = re.compile(r"namnförtydligande|printed name|name in block letters", re.I)
_SIGNED_LINE = re.compile(r"[A-ZÅÄÖ][a-zåäöé]+ [A-ZÅÄÖ][a-zåäöé]+|\d{4}-\d{2}-\d{2}|/s/")


def signature(read: ReadResult) -> tuple[bool | None, list[str]]:
    """(signed?, evidence): True with evidence, False when the signature line is visibly empty, None when unsure."""
    evidence = list(read.signatures)
    for name, value in read.form_fields.items():
        if re.search(r"underskrift|signatur|signature|sign", name, re.I) and value.strip():
            evidence.append(f"signature form field “{name}” is filled")
    text = read.text or ""
    if m := _SIGNED_DIGITAL.search(text):
        evidence.append(f"phrase “{' '.join(m.group(0).split())}”")
    if evidence:
        return True, evidence
    # Forms put the label under the line ("Anna Lindqvist 2026-02-27" / "Underskrift Ort och datum") or after
    # it ("Underskrift: ..."): look at the label's own line, the line above and the line below. A line below
    # that is followed by a name-clarification label is the printed name, which says nothing about signing.
    lines = [x.strip() for x in text.splitlines()]
    verdicts = []
    for i, line in enumerate(lines):
        if not _SIG_LABEL.search(line) or _NAME_CLARIFICATION.search(line) or len(line) > 60:
            continue
        rest = _SIG_LABEL.sub("", line).strip(" :\t")
        above = lines[i - 1] if i > 0 else ""
        below = lines[i + 1] if i + 1 < len(lines) else ""
        after_below = lines[i + 2] if i + 2 < len(lines) else ""
        candidates = [rest if not re.fullmatch(r"(ort och datum|datum|date|place and date)", rest, re.I) else ""]
        if above and not above.endswith((".", ":")) and not _SIG_LABEL.search(above):
            candidates.append(above)
        if below and not _NAME_CLARIFICATION.search(after_below):
            candidates.append(below)
        filled = next((c for c in candidates if c and _SIGNED_LINE.search(c)), None)
        if filled is not None:
            verdicts.append((True, f"signature line “{line[:40]}” with “{filled[:40]}”"))
        else:
            verdicts.append((False, f"signature line “{line[:40]}” appears empty"))
    if any(v for v, _ in verdicts):
        return True, [e for v, e in verdicts if v][:2]
    if verdicts:
        return False, [e for _, e in verdicts][:2]
    return (None, ["no signature line or digital signature found"]) if not read.ocr else (None, ["scanned form"])


# Consent (DOMAIN.md section 4).
_WAIVER = _phrases(r"samtycke (kommer (att )?inte (att )?)?inhämtas inte|samtycke inhämtas inte|"
                     r"samtycke kommer inte att inhämtas|utan (forskningspersonernas |deltagarnas )?samtycke|"
                     r"undantag från kravet på samtycke|opt-?out|möjlighet att avböja|"
                     r"without (the participants'? )?consent|consent will not be (obtained|collected)|"
                     r"waiver of (informed )?consent", re.I)
_COLLECTED = _phrases(r"samtycke (kommer att )?inhämtas(?! inte)|skriftligt samtycke|informerat samtycke|"
                        r"consent will be (obtained|collected)|written (informed )?consent", re.I)


_NARROWED: dict[re.Pattern, Narrowed] = {}


def _narrowed(rx: re.Pattern, low: str | None) -> re.Pattern | None:
    """`rx` with only the alternatives that can match a text whose lowered form is `low` (None: unknown, so all
    can); None when none can. For group(0) only."""
    narrowed = _NARROWED.get(rx)
    if narrowed is None:
        narrowed = _NARROWED[rx] = Narrowed(rx)
    return narrowed.regex_for(low)


def consent(text: str, low: str | None = None) -> tuple[list[str], bool]:
    """(waiver phrases found, whether collecting consent is mentioned). `low`: `text` lowered, see `_narrowed`."""
    text = text or ""
    waiver, collecting = _narrowed(_WAIVER, low), _narrowed(_COLLECTED, low)
    waivers = [" ".join(m.group(0).split()) for m in waiver.finditer(text)] if waiver else []
    collected = collecting is not None and bool(collecting.search(text))
    return list(dict.fromkeys(waivers))[:5], collected


# Scope of the extraction (DOMAIN.md sections 5 and 6).
# Abbreviations are matched in capitals only ("VAL", "RIS"), names in any case.
KNOWN_SOURCES = {
    "TakeCare": r"(?i:takecare)", "Cosmic": r"(?i:\bcosmic\b)", "Melior": r"(?i:\bmelior\b)", "VAL": r"\bVAL\b",
    "Labbsystem": r"(?i:labbsystem|laboratoriesystem|lab(oratory)? system)|\bLIS\b",
    "Röntgensystem": r"(?i:röntgensystem|radiology system)|\bRIS\b|\bPACS\b",
    "Patientadministrativt system": r"(?i:patientadministrativ|kassaregister)",
    "Kvalitetsregister": r"(?i:kvalitetsregister|quality register)",
}
_LINKAGE = _phrases(r"samkörning|samköras|samkörs|länkas (med|till)|linked (with|to) |record linkage|"
                      r"patientregistret|dödsorsaksregistret|läkemedelsregistret|\bLISA\b|försäkringskassan", re.I)
_PROCESSOR = _phrases(r"personuppgiftsbiträde|extern(a|t)? (analys)?leverantör|molntjänst|cloud (service|provider)|"
                        r"data processor|external (analysis )?(supplier|vendor|provider)", re.I)
_TRANSFER = _phrases(r"överför(s|ing) (av data )?till|utanför EU/?EES|tredje land|internationellt samarbete|"
                       r"international collaboration|outside the EU|transfer(red)? (of data )?to|third country", re.I)
_SECTION_HEADING = re.compile(r"^\s*\d+(\.\d+)*\.?\s+\S{0,40}$")
_NEGATED = re.compile(r"^\W*(nej|no|inte aktuellt|ej aktuellt|not applicable|n/a)\b", re.I)
_POPULATION = re.compile(r"(?:cirka|ca\.?|omkring|ungefär|approximately|about|around|N\s*=|totalt)\s*"
                         r"(\d{1,3}(?:[ \u00a0.,]\d{3})+|\d+)\s*(?:patienter|personer|individer|deltagare|"
                         r"forskningspersoner|patients|persons|individuals|participants|people)?", re.I)
_PERIOD = re.compile(r"((?:19|20)\d{2})(?:-\d{2}-\d{2})?\s*(?:–|—|-|till|to|until)\s*((?:19|20)\d{2})(?:-\d{2}-\d{2})?")


_BOX = re.compile(r"[☐☒☑✓✗■□]|\[[ xX]\]")
_TICKED = re.compile(r"[☒☑✓✗■]|\[[xX]\]")
_ANSWER = re.compile(r"\b(ja|nej|yes|no)\b", re.I)
_NEGATION_BEFORE = re.compile(r"\b(inga|ingen|inget|ej|inte|no|not|without|utan|never|aldrig)\b[^.\n]{0,25}$", re.I)
_NEGATION_AFTER = re.compile(r"^[^.\n]{0,30}\b(inte|ej|not)\b", re.I)


def _ticked_answer(line: str) -> str | None:
    """The ticked answer of a form's yes/no boxes, "☐ Ja ☒ Nej" and "☐ ☒ Yes No" alike: boxes and answers pair
    up in order."""
    boxes = [bool(_TICKED.fullmatch(b.group(0))) for b in _BOX.finditer(line)]
    answers = [a.group(1).lower() for a in _ANSWER.finditer(line)]
    if len(boxes) < 2 or len(boxes) != len(answers) or boxes.count(True) != 1:
        return None
    return answers[boxes.index(True)]


def _mentions(rx: re.Pattern, text: str, low: str | None = None) -> list[str]:
    """Phrases matched, leaving out those negated: "Nej"/"No" answered on the same or next line, a ticked
    "Nej" box, or a negation in the same clause ("Inga personuppgiftsbiträden anlitas")."""
    out = []
    rx = _narrowed(rx, low)
    if rx is None:
        return out
    for m in rx.finditer(text):
        line_end = text.find("\n", m.end())
        rest = text[m.end(): line_end if line_end != -1 else None]
        after = text[line_end + 1: line_end + 40] if line_end != -1 else ""
        line_start = text.rfind("\n", 0, m.start()) + 1
        if _SECTION_HEADING.match(text[line_start:m.start()]):
            continue  # "5. Samkörning, biträden och överföring" names a section, it does not say yes
        ticked = _ticked_answer(text[line_start:line_end if line_end != -1 else None])
        if ticked in ("nej", "no"):
            continue
        if ticked is None and (_NEGATION_BEFORE.search(text[max(line_start, m.start() - 40):m.start()])
                               or _NEGATION_AFTER.match(rest)):
            continue
        label_only = len(rest) < 60 and not rest.rstrip().endswith(".")  # a form's question, answered below
        if _NEGATED.match(rest.split(":")[-1]) or (label_only and _NEGATED.match(after)):
            continue
        out.append(" ".join(m.group(0).split()))
    return list(dict.fromkeys(out))[:5]


def population(text: str) -> int | None:
    best = None
    for m in _POPULATION.finditer(text or ""):
        digits = re.sub(r"\D", "", m.group(1))
        if digits and (best is None or int(digits) > best) and int(digits) < 50_000_000:
            best = int(digits)
    return best


def period_years(text: str) -> tuple[int, int] | None:
    spans = [(int(a), int(b)) for a, b in _PERIOD.findall(text or "") if int(a) <= int(b) <= int(a) + 80]
    if not spans:
        return None
    return min(a for a, _ in spans), max(b for _, b in spans)


_SOURCES = {name: re.compile(p) for name, p in KNOWN_SOURCES.items()}


def sources(text: str, low: str | None = None) -> list[str]:
    return [name for name, source in _SOURCES.items() if (rx := _narrowed(source, low)) and rx.search(text or "")]


@dataclass
class Facts:
    """Facts of one document, stored with it (JSON) and read by the rules."""

    ethics_refs: list[str] = field(default_factory=list)
    decision: str | None = None
    decision_phrase: str | None = None
    supplement_request: bool = False  # EPM asks for more: looks like a decision, decides nothing
    conditions: list[str] = field(default_factory=list)
    signed: bool | None = None
    signature_evidence: list[str] = field(default_factory=list)
    consent_waiver: list[str] = field(default_factory=list)
    consent_collected: bool = False
    sources: list[str] = field(default_factory=list)
    period: list[int] | None = None
    population: int | None = None
    linkage: list[str] = field(default_factory=list)
    processors: list[str] = field(default_factory=list)
    transfers: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


DECIDING_KINDS = {"ethics_decision", "ethics_amendment_decision", "linkage_decision"}


def extract(read: ReadResult, kind: str) -> Facts:
    text = read.text or ""
    sheet_text = "\n".join(" | ".join(row) for rows in read.sheets.values() for row in rows)
    everything = text if not sheet_text or sheet_text in text else f"{text}\n{sheet_text}"
    low = lowered(everything)  # text's own words are in it too: a regex that cannot match is not run
    facts = Facts(ethics_refs=ethics_refs(everything))
    if kind in DECIDING_KINDS:
        facts.decision, facts.conditions, facts.decision_phrase = decision(text)
    facts.supplement_request = bool(_SUPPLEMENT.search(text[:3000])) and decision(text)[0] is None
    if kind == "application_form":
        facts.signed, facts.signature_evidence = signature(read)
    facts.consent_waiver, facts.consent_collected = consent(text, low)
    facts.sources = sources(everything, low)
    years = period_years(everything)
    facts.period = list(years) if years else None
    facts.population = population(text)
    facts.linkage = _mentions(_LINKAGE, text, low)
    facts.processors = _mentions(_PROCESSOR, text, low)
    facts.transfers = _mentions(_TRANSFER, text, low)
    return facts
