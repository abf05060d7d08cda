"""Invented researchers and research projects that the sample documents and mails are built from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

# Sources seen in the region's variable lists (DOMAIN.md 5).
TAKECARE = "TakeCare"
VAL = "VAL"
LAB = "Labbsystem"
RADIOLOGY = "Röntgensystem"


@dataclass(frozen=True)
class Researcher:
    """An invented researcher; phone numbers are from the range PTS reserves for fiction."""

    name: str
    email: str
    title_sv: str
    title_en: str
    department: str
    org: str
    phone: str

    @property
    def domain(self) -> str:
        return self.email.rsplit("@", 1)[1]

    def title(self, lang: str) -> str:
        return self.title_en if lang == "en" else self.title_sv


@dataclass(frozen=True)
class Variable:
    """One row of a variable list."""

    name: str
    source: str
    description: str
    name_en: str = ""
    description_en: str = ""


@dataclass(frozen=True)
class Amendment:
    """An amendment (ändringsansökan) with its own EPM number, citing the base number."""

    dnr: str
    submitted: date
    decided: date | None
    change_sv: str
    change_en: str


@dataclass(frozen=True)
class Project:
    """Everything the documents of one application must agree on."""

    key: str
    lang: str
    applicant: Researcher
    principal: str
    title: str
    dnr: str
    submitted: date
    decided: date
    question: str
    background: str
    method: str
    population: int
    population_text: str
    period: tuple[date, date]
    variables: tuple[Variable, ...]
    consent: str  # "collected" | "waiver" | "opt_out"
    board: str = "epm"  # "epm" | "regional" (pre-2019 boards)
    amendments: tuple[Amendment, ...] = ()
    linkage: str = ""  # e.g. "Socialstyrelsens dödsorsaksregister"
    processor: str = ""  # named personuppgiftsbiträde
    transfer: str = ""  # receiving organisation and country
    fpi_versions: tuple[tuple[str, date], ...] = ()
    conditions: tuple[str, ...] = ()
    rejection_reason: str = ""
    co_investigators: tuple[str, ...] = field(default=())
    summary_sv: str = ""  # Swedish lay summary when the project's own language is English

    def summary(self, lang: str) -> str:
        return self.summary_sv if lang == "sv" and self.summary_sv else self.background

    @property
    def sources(self) -> list[str]:
        return sorted({v.source for v in self.variables})

    @property
    def years(self) -> int:
        return self.period[1].year - self.period[0].year + 1

    @property
    def extensive(self) -> bool:
        """DOMAIN.md 5 with the default thresholds."""
        return len(self.sources) > 1 or self.population >= 10000 or self.years >= 5

    def period_text(self, dash: str = "–") -> str:
        return f"{self.period[0].isoformat()}{dash}{self.period[1].isoformat()}"


def _v(name: str, source: str, desc: str, name_en: str = "", desc_en: str = "") -> Variable:
    return Variable(name, source, desc, name_en, desc_en)


LINDQVIST = Researcher(
    "Anna Lindqvist", "anna.lindqvist@ki.example", "Docent, överläkare", "Associate Professor, MD",
    "Institutionen för medicin, Solna", "Karolinska Institutet", "070-174 06 12")
EKSTROM = Researcher(
    "Johan Ekström", "johan.ekstrom@su.example", "Docent", "Associate Professor",
    "Aging Research Center, Department of Public Health Sciences", "Stockholm University",
    "070-174 06 23")
NILSSON = Researcher(
    "Karin Nilsson", "karin.nilsson@sodersjukhuset.example", "Med. dr, överläkare",
    "MD, PhD, Senior Consultant", "Institutionen för klinisk forskning och utbildning, Södersjukhuset",
    "Karolinska Institutet", "070-174 06 34")
PERSSON = Researcher(
    "Lars Persson", "lars.persson@su.example", "Utredare", "Analyst",
    "Institutionen för folkhälsovetenskap", "Stockholms universitet", "070-174 06 45")
HOLM = Researcher(
    "Sara Holm", "sara.holm@kth.example", "Doktorand", "PhD student",
    "Avdelningen för hälsoinformatik och logistik", "Kungliga Tekniska högskolan", "070-174 06 56")
BERGGREN = Researcher(
    "Per Berggren", "per.berggren@ki.example", "Professor", "Professor",
    "Institutionen för global folkhälsa", "Karolinska Institutet", "070-174 06 67")
SJOBERG = Researcher(
    "Elin Sjöberg", "elin.sjoberg@ki.example", "Leg. sjuksköterska, doktorand", "RN, PhD student",
    "Institutionen för neurobiologi, vårdvetenskap och samhälle", "Karolinska Institutet",
    "070-174 06 78")

_LOPNR = _v("Löpnummer", VAL, "Pseudonymiserat löpnummer; kodnyckeln förvaras hos Centrum för hälsodata",
            "Serial number", "Pseudonymised serial number; the key is kept by the Centre for Health Data")

HEART_FAILURE = Project(
    key="hjartsvikt", lang="sv", applicant=LINDQVIST, principal="Karolinska Institutet",
    title="Återinläggning efter sjukhusvård för hjärtsvikt i Region Stockholm 2015–2024: "
          "en registerbaserad kohortstudie",
    dnr="2024-01234-01", submitted=date(2024, 2, 26), decided=date(2024, 4, 18),
    question="Vilka kliniska och vårdrelaterade faktorer är förknippade med återinläggning inom 30 dagar "
             "efter utskrivning från sjukhusvård för hjärtsvikt?",
    background="Hjärtsvikt är en av de vanligaste orsakerna till sjukhusvård hos personer över 65 år, och "
               "var fjärde patient återinläggs inom en månad. Kunskapen om vilka faktorer i vårdkedjan "
               "som påverkar risken är begränsad.",
    method="Retrospektiv kohortstudie av samtliga vuxna som vårdats i slutenvård med huvuddiagnos "
           "hjärtsvikt (ICD-10 I50) i Region Stockholm. Data hämtas ur VAL, TakeCare och "
           "laboratoriesystemet och analyseras med Cox-regression.",
    population=48000, population_text="cirka 48 000 patienter",
    period=(date(2015, 1, 1), date(2024, 12, 31)),
    variables=(
        _LOPNR,
        _v("Kön", VAL, "Kön enligt folkbokföring", "Sex", "Sex as registered"),
        _v("Ålder vid indexvårdtillfället", VAL, "Ålder i hela år", "Age at index admission", "Age in years"),
        _v("In- och utskrivningsdatum", VAL, "Datum för in- och utskrivning, slutenvård",
           "Admission and discharge dates", "Inpatient admission and discharge dates"),
        _v("Huvuddiagnos och bidiagnoser", VAL, "ICD-10-SE-koder", "Main and secondary diagnoses",
           "ICD-10-SE codes"),
        _v("Vårdenhet", VAL, "Utskrivande enhet (kod)", "Care unit", "Discharging unit (code)"),
        _v("NT-proBNP", LAB, "Samtliga analyssvar under perioden, ng/L", "NT-proBNP", "All results, ng/L"),
        _v("Kreatinin och eGFR", LAB, "Analyssvar närmast utskrivning", "Creatinine and eGFR",
           "Result closest to discharge"),
        _v("Ejektionsfraktion", TAKECARE, "EF enligt ekokardiografi, sökord Ekokardiografi",
           "Ejection fraction", "EF from echocardiography"),
        _v("Läkemedel vid utskrivning", TAKECARE, "ATC-kod, styrka och dosering enligt läkemedelslistan",
           "Drugs at discharge", "ATC code, strength and dosage"),
    ),
    consent="waiver",
)

STATIN = Project(
    key="statin", lang="en", applicant=EKSTROM, principal="Stockholm University",
    title="Statin treatment and cognitive decline in older adults: a prospective cohort study with linked "
          "health records",
    dnr="2023-05678-01", submitted=date(2023, 9, 14), decided=date(2023, 11, 9),
    question="Is long-term statin treatment associated with a slower rate of cognitive decline in adults "
             "aged 70 years or older?",
    background="Observational studies of statins and dementia disagree, partly because of short follow-up "
               "and confounding by indication. Our cohort combines repeated cognitive testing with "
               "health-record data on treatment and laboratory values.",
    method="Prospective cohort of 3,200 participants recruited 2018-2019 with written consent. Health "
           "records, prescriptions and laboratory results are linked by the Centre for Health Data and "
           "analysed with mixed-effects models together with our partners in Oslo.",
    population=3200, population_text="approximately 3,200 cohort participants",
    period=(date(2018, 1, 1), date(2024, 12, 31)),
    variables=(
        _v("Löpnummer", TAKECARE, "Kohortens studie-ID, kopplas av Centrum för hälsodata",
           "Study ID", "Cohort study ID, linked by the Centre for Health Data"),
        _v("Ordinerade läkemedel", TAKECARE, "ATC-kod C10 (lipidsänkande), start- och slutdatum",
           "Prescribed drugs", "ATC C10 (lipid-lowering), start and end dates"),
        _v("Diagnoser", TAKECARE, "ICD-10-SE-koder i öppen och sluten vård", "Diagnoses",
           "ICD-10-SE codes, outpatient and inpatient"),
        _v("LDL-kolesterol", LAB, "Samtliga analyssvar, mmol/L", "LDL cholesterol", "All results, mmol/L"),
        _v("HbA1c", LAB, "Samtliga analyssvar, mmol/mol", "HbA1c", "All results, mmol/mol"),
    ),
    consent="collected",
    amendments=(Amendment("2024-02345-02", date(2024, 5, 6), date(2024, 6, 3),
                          "Förlängd uppföljning till 2024-12-31, tillägg av HbA1c och reviderad "
                          "forskningspersonsinformation (version 2.0) om överföring till Norge.",
                          "Follow-up extended to 2024-12-31, HbA1c added, revised participant "
                          "information (version 2.0) on the transfer to Norway."),),
    transfer="Nordic Institute for Ageing Research (NIAR), Oslo, Norway",
    fpi_versions=(("1.0", date(2018, 2, 1)), ("2.0", date(2024, 5, 2))),
    conditions=("Forskningspersonsinformationen ska kompletteras med uppgift om att kodade data "
                "överförs till samarbetspartnern i Norge.",),
    co_investigators=("Ingrid Halvorsen (NIAR, Oslo)",),
    summary_sv="Studien undersöker om långvarig behandling med statiner är förknippad med en långsammare "
               "försämring av minne och kognitiv förmåga hos personer som är 70 år eller äldre. Deltagarna har "
               "sedan 2018 genomgått upprepade kognitiva tester, och uppgifter om läkemedel och labbvärden "
               "hämtas ur journalen.",
)

LUNG_NODULES = Project(
    key="lungnoduler", lang="sv", applicant=NILSSON, principal="Karolinska Institutet",
    title="Uppföljning av oklara lungnoduler vid datortomografi – följsamhet till riktlinjer och "
          "diagnostisk fördröjning",
    dnr="2025-01876-01", submitted=date(2025, 11, 28), decided=date(2026, 3, 5),
    question="Hur stor andel av patienterna med en oklar lungnodul vid datortomografi följs upp enligt "
             "Fleischner-riktlinjerna, och är bristande uppföljning förknippad med senare diagnos av "
             "lungcancer?",
    background="Oklara lungnoduler upptäcks allt oftare som bifynd vid datortomografi. Uppföljningen ska "
               "följa internationella riktlinjer men följsamheten i Sverige är inte känd.",
    method="Retrospektiv journalgranskning av samtliga röntgensvar med lungnodul 2020–2023, kopplade till "
           "uppföljande undersökningar och diagnoser i TakeCare.",
    population=6500, population_text="cirka 6 500 patienter",
    period=(date(2020, 1, 1), date(2023, 12, 31)),
    variables=(
        _v("Löpnummer", RADIOLOGY, "Pseudonymiserat löpnummer"),
        _v("Undersökningsdatum", RADIOLOGY, "Datum för datortomografi av thorax"),
        _v("Röntgensvar (fritext)", RADIOLOGY, "Utlåtande med nodulstorlek, avidentifierat"),
        _v("Uppföljande undersökningar", RADIOLOGY, "Datum och typ av undersökning"),
        _v("Diagnoser", TAKECARE, "ICD-10-SE C34 och D38.1 med datum"),
        _v("Remisser", TAKECARE, "Remisser till lungmottagning, datum"),
    ),
    consent="opt_out",
)

DIABETES_STATS = Project(
    key="diabetesstatistik", lang="sv", applicant=PERSSON, principal="Stockholms universitet",
    title="Förekomst av typ 2-diabetes i primärvården 2019–2025",
    dnr="", submitted=date(2026, 3, 1), decided=date(2026, 3, 1),
    question="", background="", method="", population=0, population_text="",
    period=(date(2019, 1, 1), date(2025, 12, 31)), variables=(), consent="",
)

SEPSIS = Project(
    key="sepsis", lang="sv", applicant=HOLM, principal="Kungliga Tekniska högskolan",
    title="Maskininlärning för tidig identifiering av sepsis på akutmottagningen",
    dnr="2025-03321-01", submitted=date(2025, 8, 15), decided=date(2025, 10, 2),
    question="Kan en maskininlärningsmodell baserad på vitalparametrar och labbsvar identifiera sepsis "
             "tidigare än nuvarande triagering?",
    background="Sepsis är ett tidskritiskt tillstånd. Triageringsverktyg missar en del patienter i tidigt "
               "skede.",
    method="Modellutveckling på journaldata från akutmottagningar, med prospektiv validering på patienter "
           "som samtycker.",
    population=4000, population_text="cirka 4 000 besök",
    period=(date(2022, 1, 1), date(2023, 12, 31)),
    variables=(
        _v("Löpnummer", TAKECARE, "Pseudonymiserat löpnummer"),
        _v("Vitalparametrar", TAKECARE, "Puls, blodtryck, andningsfrekvens, saturation, temperatur"),
        _v("Triagenivå", TAKECARE, "RETTS-nivå vid ankomst"),
        _v("Diagnoser", TAKECARE, "ICD-10-SE A40-A41, R65"),
    ),
    consent="collected",
    fpi_versions=(("1.0", date(2025, 8, 1)),),
    rejection_reason="Ansökan saknar en tydlig beskrivning av varför personuppgifter på individnivå behövs "
                     "för modellutvecklingen, och forskningspersonsinformationen beskriver inte att "
                     "journaluppgifter för de som inte samtycker ska användas. Nyttan med forskningen "
                     "bedöms därför inte uppväga riskerna för forskningspersonernas integritet.",
)

STROKE = Project(
    key="stroke", lang="sv", applicant=BERGGREN, principal="Karolinska Institutet", board="regional",
    title="Socioekonomiska skillnader i överlevnad och återinsjuknande efter stroke",
    dnr="2015/1234-31/2", submitted=date(2015, 5, 4), decided=date(2015, 6, 17),
    question="Skiljer sig överlevnad och risk för nytt insjuknande efter stroke mellan socioekonomiska grupper, "
             "och i vilken mån förklaras skillnaderna av vården under det första året?",
    background="Tidigare studier visar att personer med kort utbildning har högre dödlighet efter stroke, men "
               "betydelsen av vårdens insatser är oklar.",
    method="Registerstudie av samtliga patienter med stroke (ICD-10 I61–I64) i regionen 2010–2020. Regionens "
           "vårddata samkörs med Socialstyrelsens dödsorsaksregister och SCB:s LISA.",
    population=31000, population_text="cirka 31 000 patienter",
    period=(date(2010, 1, 1), date(2020, 12, 31)),
    variables=(
        _v("Löpnummer", VAL, "Pseudonymiserat löpnummer"),
        _v("Diagnoser", VAL, "ICD-10-SE I61–I64 med datum"),
        _v("Vårdkontakter", VAL, "Datum, vårdform och enhet"),
        _v("Läkemedel", TAKECARE, "Sekundärprevention, ATC-kod och datum"),
    ),
    consent="waiver",
    amendments=(Amendment("2021-01987", date(2021, 3, 1), date(2021, 4, 9),
                          "Förlängning av studieperioden till 2020-12-31 och samkörning med SCB:s LISA.",
                          "Study period extended to 2020-12-31 and linkage with Statistics Sweden's LISA."),),
    linkage="Socialstyrelsens dödsorsaksregister och SCB:s LISA",
)

FALLS = Project(
    key="fallprevention", lang="sv", applicant=SJOBERG, principal="Karolinska Institutet",
    title="Uppföljning av fallprevention på geriatriska vårdavdelningar",
    dnr="2025-05512-01", submitted=date(2025, 9, 1), decided=date(2025, 10, 30),
    question="Har införandet av en strukturerad fallriskbedömning minskat antalet fall på geriatriska "
             "vårdavdelningar?",
    background="En strukturerad fallriskbedömning infördes på regionens geriatriska avdelningar 2023.",
    method="Jämförelse av registrerade fall före och efter införandet, baserat på journaldata.",
    population=900, population_text="cirka 900 vårdtillfällen",
    period=(date(2023, 1, 1), date(2024, 12, 31)),
    variables=(
        _v("Löpnummer", TAKECARE, "Pseudonymiserat löpnummer"),
        _v("Fallhändelser", TAKECARE, "Dokumenterade fall med datum"),
        _v("Fallriskbedömning", TAKECARE, "Genomförd bedömning, datum och poäng"),
    ),
    consent="waiver",
)
