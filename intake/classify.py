"""Decides what a document is (DOMAIN.md section 2) from its content first and its file name second."""

from __future__ import annotations

import re
from dataclasses import dataclass

from intake.documents import Classification, ReadResult
from intake.prefilter import Narrowed, lowered

HEAD_CHARS = 700  # the title zone: letterhead, document title, reference number


@dataclass(frozen=True)
class Cue:
    """A phrase that points to a kind; `title` cues count three times as much in the document's head."""

    pattern: str
    weight: float = 1.0
    title: bool = False

    def regex(self) -> re.Pattern:
        return re.compile(self.pattern, re.I | re.M)


def _c(pattern: str, weight: float = 1.0, title: bool = False) -> Cue:
    return Cue(pattern, weight, title)


_NOT_NEEDED = (r"(konsekvensbedömning|DPIA|impact assessment)\s+(\w+\s+){0,2}?(inte|ej|not)\s+(behövs|krävs|nödvändig|"
               r"required|needed|necessary)|(behövs|krävs)\s+(inte|ej)\s+(någon|en)\s+(konsekvensbedömning|DPIA)|"
               r"no (DPIA|impact assessment) is (needed|required)")

# Cues per kind. Weights are tuned on tests/samples and the wrapped corpus; negative weights veto traps.
CUES: dict[str, list[Cue]] = {
    "application_form": [
        _c(r"ansökningsblankett", 3, True), _c(r"ansökan om (tillgång till|utlämnande av) (hälso)?data", 4, True),
        _c(r"application for (access to|disclosure of) (health )?data", 4, True),
        _c(r"\bapplication form\b", 3, True), _c(r"centrum för hälsodata|centre for health data", 1),
        _c(r"grundavgift|base fee", 1), _c(r"underskrift|signature of", 0.5),
        _c(r"begäran om komplettering", -6, True), _c(r"\bbeslut\b", -2, True),
    ],
    "ethics_application": [
        _c(r"ansökan om etikprövning(?! av ändring)", 4, True), _c(r"\bgrundansökan\b", 3, True),
        _c(r"application for ethical (review|approval)", 4, True),
        _c(r"lagen \(2003:460\)", 1), _c(r"forskningshuvudman|research principal", 0.5),
        _c(r"ändringsansökan|etikprövning av ändring|application for (an )?amendment", -4, True),
        _c(r"(?-i:\bBESLUT\b)|^\s*beslut\s*$|^\s*decision\s*$", -3, True), _c(r"begäran om komplettering", -6, True),
    ],
    "ethics_decision": [
        _c(r"(?-i:\bBESLUT\b)|^\s*beslut\s*$", 3, True), _c(r"etikprövningsmyndigheten", 1, True),
        _c(r"(?:regionala )?etikprövningsnämnden", 1, True),
        _c(r"godkänner forskningen|forskningen godkänns|ansökan bifalls|avslår ansökan|ansökan avslås|"
           r"avvisar ansökan", 4),
        _c(r"\bdecision\b", 1, True),
        _c(r"ändring|amendment", -3, True), _c(r"godkänner ändringen", -5),
        _c(r"begäran om komplettering|request for (supplement|additional information)", -12),
    ],
    "ethics_amendment": [
        _c(r"ändringsansökan|ansökan om etikprövning av ändring|application for (an )?amendment", 5, True),
        _c(r"tidigare godkänd ansökan|previously approved", 1),
        _c(r"(?-i:\bBESLUT\b)|godkänner ändringen|beslut om ändring", -6, True),
    ],
    "ethics_amendment_decision": [
        _c(r"beslut om ändring|decision on (an )?amendment", 5, True), _c(r"godkänner ändringen|ändringen godkänns", 4),
        _c(r"(?-i:\bBESLUT\b)", 1, True), _c(r"avslår ändringen|ändringen avslås", 4),
    ],
    "research_plan": [
        _c(r"\bforskningsplan\b|\bprojektplan\b|\bstudieprotokoll\b", 4, True),
        _c(r"\bresearch plan\b|\bstudy protocol\b|\bproject plan\b|\bresearch protocol\b", 4, True),
        _c(r"frågeställning|research questions?\b", 2), _c(r"\bmetod\b|\bmethods?\b", 0.5),
        _c(r"\bbakgrund\b|\bbackground\b", 0.5), _c(r"\bsyfte\b|\baims?\b", 0.5),
    ],
    "variable_list": [
        _c(r"variabellista|variabelförteckning|variable list|list of variables", 4, True),
        # a form's row "Variabellista bifogas: Ja" mentions the list; it is not the list
        _c(r"(variabellista|variable list)\s*(bifogas|attached)\s*:?\s*(ja|nej|yes|no)\b", -9),
    ],
    "participant_information": [
        _c(r"forskningspersonsinformation|information till forskningspersoner|patientinformation|"
           r"information om (studien|forskningsprojektet)|deltagarinformation", 4, True),
        _c(r"participant information|information (to|for) (research )?participants|patient information", 4, True),
        _c(r"\bFPI\b", 2, True), _c(r"frivilligt|voluntary", 1), _c(r"vi vill fråga dig|we would like to ask you", 1),
    ],
    "consent_form": [
        _c(r"samtyckesblankett|samtycke till (att )?delta|skriftligt samtycke|informerat samtycke", 4, True),
        _c(r"consent form|informed consent", 4, True),
        _c(r"jag samtycker|jag har (fått|tagit del av) (muntlig och skriftlig )?information|i consent to|"
           r"i agree to (take part|participate)|jag vill (vara med|delta)|i (want|agree) to take part", 3),
    ],
    "data_processing_agreement": [
        _c(r"personuppgiftsbiträdesavtal|\bPUB-avtal|\bPuBA\b|biträdesavtal", 5, True),
        _c(r"data processing agreement|\bDPA\b", 5, True), _c(r"personuppgiftsbiträde|processor", 1),
    ],
    "data_transfer_agreement": [
        _c(r"avtal om överföring av (person)?(uppgifter|data)|dataöverföringsavtal", 5, True),
        _c(r"data transfer agreement|\bDTA\b", 5, True),
    ],
    "linkage_decision": [
        _c(r"beslut om (samkörning|utlämnande)|samkörning", 3, True),
        _c(r"socialstyrelsen|statistiska centralbyrån|\bSCB\b|försäkringskassan", 2, True),
        _c(r"\bbeslut\b|decision", 1, True), _c(r"etikprövningsmyndigheten", -3, True),
    ],
    "dpia": [
        _c(r"konsekvensbedömning avseende dataskydd|\bDPIA\b|data protection impact assessment|"
           r"risk- och konsekvensanalys", 5, True),
        _c(_NOT_NEEDED, -12),  # "a DPIA is therefore not required" is what a DPO statement says
    ],
    "dpo_statement": [
        _c(r"dataskyddsombud(et)?s? (yttrande|utlåtande)|(yttrande|utlåtande) från dataskyddsombud", 5, True),
        _c(r"statement (by|from) the data protection officer|data protection officer'?s? statement|\bDPO\b", 4, True),
        _c(r"dataskyddsombud|data protection officer", 2), _c(_NOT_NEEDED, 6),
    ],
    "cover_letter": [
        _c(r"\bföljebrev\b|\bmissiv\b|cover letter", 5, True),
    ],
    "other": [
        _c(r"curriculum vitae|\bCV\b|meritförteckning", 5, True), _c(r"\bfaktura\b|\binvoice\b", 4, True),
        _c(r"begäran om komplettering|request for supplement", 6, True),
    ],
}

# File-name hints: weaker than content, since names are often wrong ("beslut.pdf" that is a request).
NAME_HINTS: dict[str, str] = {
    "application_form": r"ansökningsblankett|ansökan(?!.*etik)|application.?form|blankett",
    "ethics_application": r"etikansökan|etikprövning|grundansökan|ethics.?application",
    "ethics_decision": r"beslut|decision",
    "ethics_amendment": r"ändringsansökan|amendment",
    "ethics_amendment_decision": r"beslut.?ändring|amendment.?decision",
    "research_plan": r"forskningsplan|projektplan|protokoll|research.?plan|protocol",
    "variable_list": r"variab",
    "participant_information": r"\bfpi\b|forskningspersonsinfo|participant.?info|patientinfo",
    "consent_form": r"samtycke|consent",
    "data_processing_agreement": r"pub|biträdesavtal|\bdpa\b",
    "data_transfer_agreement": r"\bdta\b|transfer",
    "linkage_decision": r"samkörning|socialstyrelsen|\bscb\b",
    "dpia": r"dpia|konsekvensbedömning",
    "dpo_statement": r"\bdso\b|\bdpo\b|dataskyddsombud",
    "cover_letter": r"följebrev|missiv|cover",
    "other": r"\bcv\b|faktura|invoice",
}

_COMPILED = {kind: [(cue, Narrowed(cue.regex())) for cue in cues] for kind, cues in CUES.items()}


_NAMES = {kind: re.compile(p, re.I) for kind, p in NAME_HINTS.items()}
_VARIABLE_HEADER = re.compile(r"^\s*(variabel(namn)?|variable( name)?)\s*$", re.I)


def _head(text: str) -> str:
    return text[:HEAD_CHARS]


def _starts_short_line(m: re.Match, text: str) -> bool:
    start = text.rfind("\n", 0, m.start()) + 1
    end = text.find("\n", m.end())
    line = text[start:end if end != -1 else None]
    return not text[start:m.start()].strip() and len(line.strip()) <= 80


def _on_heading_line(m: re.Match, text: str) -> bool:
    """The match stands in a short line that is not a sentence: "Forskningspersonsinformation och samtyckesblankett"."""
    start = text.rfind("\n", 0, m.start()) + 1
    end = text.find("\n", m.end())
    line = text[start:end if end != -1 else None].strip()
    return len(line) <= 80 and not line.endswith((".", ",", ";")) and not line.startswith(("[", "☐", "☒", "-"))


def _heading(rx: re.Pattern, text: str) -> tuple[re.Match | None, re.Match | None]:
    """(a match that starts a short line, the first match): a section title, such as a consent form on a document's
    last page, and what rx.search(text) would find, from one pass over the text."""
    first = None
    for m in rx.finditer(text):
        if _starts_short_line(m, text):
            return m, first or m
        first = first or m
    return None, first


def _has_variable_table(read: ReadResult) -> str | None:
    for sheet, rows in read.sheets.items():
        for row in rows[:30]:
            if any(_VARIABLE_HEADER.match(cell or "") for cell in row):
                return sheet
    return None


def score(read: ReadResult, filename: str) -> tuple[dict[str, float], dict[str, list[str]], dict[str, bool]]:
    """Each kind's score, the evidence behind it, and whether the kind's own title or heading was found."""
    text = read.text or ""
    head, body = _head(text), text[:60_000]
    scores: dict[str, float] = {}
    evidence: dict[str, list[str]] = {}
    titled: dict[str, bool] = {}
    low = lowered(body)
    for kind, cues in _COMPILED.items():
        total, found, own_title = 0.0, [], False
        for cue, narrowed in cues:
            rx = narrowed.regex_for(low)  # only the alternatives whose words are in the document
            if rx is None:
                continue  # the regex cannot match: none of the text it needs is in the document
            m_head = rx.search(head) if cue.title else None
            if m_head:
                m, m_heading = m_head, None
            elif cue.title:
                m_heading, first = _heading(rx, body)
                m = m_heading or first
            else:
                m_heading, m = None, rx.search(body)
            if not m:
                continue
            gain = cue.weight * (3 if m_head else 2 if m_heading else 1)
            total += gain
            if gain > 0:
                where = " in the title" if m_head else " in a heading" if m_heading else ""
                found.append(f"phrase “{' '.join(m.group(0).split())}”{where}")
                # the kind's own title: on a heading line, not a mention in a sentence of the opening text
                own_title = own_title or bool(m_heading) or bool(m_head and _on_heading_line(m_head, head))
        if _NAMES[kind].search(filename):
            total += 1.5
            found.append(f"file name “{filename}”")
        scores[kind], evidence[kind], titled[kind] = total, found, own_title
    sheet = _has_variable_table(read)
    if sheet is not None:
        scores["variable_list"] += 12
        evidence["variable_list"].insert(0, f"variable column header in sheet “{sheet}”")
    for field_name in read.form_fields:
        if re.search(r"dnr|diarienummer|projekttitel|project.?title", field_name, re.I):
            scores["application_form"] += 2
            evidence["application_form"].append(f"form field “{field_name}”")
            break
    return scores, evidence, titled


def classify(read: ReadResult, filename: str) -> Classification:
    """The most likely kind, further kinds the same document also serves, a confidence 0..1 and the evidence."""
    if not read.readable and not read.text:
        hinted = [k for k, rx in _NAMES.items() if rx.search(filename)]
        kind = hinted[0] if hinted else "other"
        return Classification(kind=kind, confidence=0.2 if hinted else 0.0,
                              evidence=[f"file name “{filename}” only: the file could not be read"])
    scores, evidence, titled = score(read, filename)
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    best, top = ranked[0]
    if top < 3:
        return Classification(kind="other", confidence=0.3, evidence=evidence.get(best, [])[:3] or
                              ["no phrase of any application document found"])
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    # A second kind only when the document has that kind's own title or section heading (a consent form that
    # mentions "the participant information" is not also the information).
    also = [k for k, s in ranked[1:] if s >= max(6.0, 0.5 * top) and k in _COMPANIONS.get(best, ()) and titled[k]]
    margin = (top - max(runner_up, 0)) / top
    confidence = round(min(0.99, 0.5 + 0.5 * margin) if top >= 6 else 0.45 + 0.1 * margin, 2)
    return Classification(kind=best, also=also, confidence=confidence, evidence=evidence[best][:4])


# Which kinds one document may serve together (DOMAIN.md: typically information + consent).
_COMPANIONS = {
    "participant_information": ("consent_form",),
    "consent_form": ("participant_information",),
    "ethics_application": ("research_plan",),
}
