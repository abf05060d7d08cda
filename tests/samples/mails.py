"""RFC 5322 application mails and researcher follow-ups, built with the stdlib email package."""

from __future__ import annotations

import email
import hashlib
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, default
from email.utils import format_datetime

from .projects import Project, Researcher

INTAKE = "intake@halsodata.test"
STOCKHOLM_WINTER = timezone(timedelta(hours=1))
MIME = {
    "pdf": ("application", "pdf"),
    "docx": ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}
KIND_TEXT = {
    "application_form": ("signerad ansökningsblankett", "the signed application form"),
    "ethics_application": ("ansökan om etikprövning med bilagor", "the application for ethical review with appendices"),
    "ethics_decision": ("beslut från Etikprövningsmyndigheten",
                        "the decision from the Swedish Ethical Review Authority"),
    "ethics_amendment": ("ändringsansökan", "the amendment application"),
    "ethics_amendment_decision": ("beslut om ändring", "the decision on the amendment"),
    "research_plan": ("forskningsplan", "the research plan"),
    "variable_list": ("variabellista", "the variable list"),
    "participant_information": ("forskningspersonsinformation och samtyckesblankett",
                                "participant information and consent form"),
    "consent_form": ("samtyckesblankett", "the consent form"),
    "data_processing_agreement": ("personuppgiftsbiträdesavtal", "the data processing agreement"),
    "data_transfer_agreement": ("Data Transfer Agreement", "the Data Transfer Agreement"),
    "dpia": ("konsekvensbedömning (DPIA)", "the DPIA"),
    "dpo_statement": ("yttrande från vårt dataskyddsombud", "a statement from our Data Protection Officer"),
    "linkage_decision": ("beslut från Socialstyrelsen om utlämnande för samkörning",
                         "the decision from the National Board of Health and Welfare on linkage"),
    "cover_letter": ("följebrev", "a cover letter"),
    "other": ("övrig bilaga", "another document"),
}


@dataclass(frozen=True)
class Attachment:
    """A file to attach, with its expected kinds (DOMAIN.md 2 ids, primary first)."""

    filename: str
    data: bytes
    kinds: tuple[str, ...]
    said: str = ""  # how the researcher calls it in the mail body, if not the default for its kind


def att(filename: str, data: bytes, *kinds: str, said: str = "") -> Attachment:
    return Attachment(filename, data, tuple(kinds) or ("other",), said)


@dataclass
class SampleMail:
    """A built mail, its language, attachment labels (filename -> kinds) and the expected outcome."""

    name: str
    raw: bytes
    lang: str
    labels: dict[str, list[str]]
    expected: dict = field(default_factory=dict)

    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.raw, policy=default)  # type: ignore[return-value]

    @property
    def message_id(self) -> str:
        return str(self.message()["Message-ID"])

    @property
    def subject(self) -> str:
        return str(self.message()["Subject"])

    @property
    def sender(self) -> str:
        return self.message()["From"].addresses[0].addr_spec


def _msgid(name: str, sent: datetime, domain: str) -> str:
    digest = hashlib.sha1(name.encode()).hexdigest()[:16].upper()
    return f"<{sent.strftime('%Y%m%d%H%M%S')}.{digest}@{domain}>"


def build_mail(*, name: str, sender: Researcher, subject: str, body: str, attachments: list[Attachment],
               lang: str, sent: datetime, to_addr: str = INTAKE, in_reply_to: str | None = None,
               references: str | None = None, expected: dict | None = None) -> SampleMail:
    """One mail with a plain-text body and attachments; Message-ID and MIME boundaries are derived from name."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = Address(sender.name, addr_spec=sender.email)
    msg["To"] = to_addr
    msg["Subject"] = subject
    msg["Date"] = format_datetime(sent)
    msg["Message-ID"] = _msgid(name, sent, sender.domain)
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = references or in_reply_to
    msg["Content-Language"] = "sv-SE" if lang == "sv" else "en-GB"
    msg.set_content(body)
    for a in attachments:
        maintype, subtype = MIME[a.filename.rsplit(".", 1)[-1].lower()]
        msg.add_attachment(a.data, maintype=maintype, subtype=subtype, filename=a.filename)
    digest = hashlib.sha1(name.encode()).hexdigest()[:12]
    for i, part in enumerate(msg.walk()):
        if part is not msg:
            del part["MIME-Version"]  # the stdlib adds it to every attachment part; mail clients do not
        if part.is_multipart():
            part.set_boundary(f"----=_Part_{i}_{digest}")
    labels = {a.filename: list(a.kinds) for a in attachments}
    if len(labels) != len(attachments):
        raise ValueError(f"{name}: duplicate attachment file names")
    return SampleMail(name, msg.as_bytes(policy=SMTP), lang, labels, dict(expected or {}))


def describe(attachments: list[Attachment], lang: str) -> list[str]:
    """The researcher's own words for what is attached, primary kind per file."""
    return [a.said or KIND_TEXT[a.kinds[0]][1 if lang == "en" else 0] for a in attachments]


def signature_block(r: Researcher, lang: str, closing: str) -> str:
    phone = "Tel." if lang == "sv" else "Phone"
    return f"{closing}\n{r.name}\n{r.title(lang)}\n{r.department}\n{r.org}\n{phone} {r.phone}"


def application_body(project: Project, attachments: list[Attachment], *, lang: str | None = None,
                     note: str = "") -> str:
    """A first mail as a researcher writes it: greeting, project, Dnr, attachment list, note, signature."""
    lang = lang or project.lang
    rng = random.Random(f"{project.key}/body")
    items = "\n".join(f"- {line}" for line in describe(attachments, lang))
    if lang == "en":
        greeting = rng.choice(["Dear colleagues,", "Hello,", "Dear Centre for Health Data,"])
        text = (f"{greeting}\n\nPlease find attached our application for access to health data for the project "
                f"\"{project.title}\" (EPM Dnr {project.dnr}).\n\nAttached:\n{items}\n")
        if note:
            text += f"\n{note}\n"
        text += "\nPlease let me know if anything is missing or unclear.\n\n"
        return text + signature_block(project.applicant, lang, rng.choice(["Kind regards,", "Best regards,"]))
    greeting = rng.choice(["Hej!", "Hej,", "Till Centrum för hälsodata"])
    text = (f"{greeting}\n\nJag skickar härmed vår ansökan om att få ta del av hälsodata för forskningsprojektet "
            f"”{project.title}” (Dnr hos Etikprövningsmyndigheten: {project.dnr}).\n\nBifogat finns:\n{items}\n")
    if note:
        text += f"\n{note}\n"
    text += "\nHör gärna av er om något saknas eller är oklart.\n\n"
    return text + signature_block(project.applicant, lang,
                                  rng.choice(["Med vänliga hälsningar", "Vänliga hälsningar", "Bästa hälsningar"]))


_REPLY_PREFIX = re.compile(r"^\s*((re|sv|aw|vs|fw|fwd)\s*:\s*)+", re.I)


def reply_subject(original_subject: str, case_tag: str | None, prefix: str = "Re:") -> str:
    """'Re: [HD-2026-0001] original', without doubling prefixes or an already present tag."""
    base = _REPLY_PREFIX.sub("", original_subject).strip()
    if case_tag and f"[{case_tag}]" not in base:
        base = f"[{case_tag}] {base}"
    return f"{prefix} {base}"


def follow_up(original_subject: str, case_tag: str | None, in_reply_to: str | None,
              attachments: list[Attachment], lang: str, *, sender: Researcher, name: str = "follow-up",
              sent: datetime = datetime(2026, 3, 9, 10, 5, tzinfo=STOCKHOLM_WINTER), to_addr: str = INTAKE,
              body: str | None = None, references: str | None = None, expected: dict | None = None,
              quoted_from: str = "Centrum för hälsodata") -> SampleMail:
    """A researcher's reply that carries missing documents ('Re: [HD-2026-0001] ...')."""
    subject = reply_subject(original_subject, case_tag)
    if body is None:
        items = "\n".join(f"- {line}" for line in describe(attachments, lang))
        if lang == "en":
            body = (f"Hello,\n\nThank you for your message. Please find attached the missing documents:\n{items}\n\n"
                    + signature_block(sender, lang, "Kind regards,"))
            quote = "From: {q} <{to}>\nSent: {d}\nTo: {me}\nSubject: {s}"
        else:
            body = (f"Hej,\n\nTack för ert besked. Här kommer kompletteringen:\n{items}\n\n"
                    + signature_block(sender, lang, "Med vänliga hälsningar"))
            quote = "Från: {q} <{to}>\nSkickat: {d}\nTill: {me}\nÄmne: {s}"
        header = quote.format(q=quoted_from, to=to_addr, d=(sent - timedelta(days=6)).strftime("%Y-%m-%d %H:%M"),
                              me=sender.email, s=subject.split(" ", 1)[1])
        body += "\n\n" + ("-----Original Message-----" if lang == "en" else "-----Ursprungligt meddelande-----")
        body += "\n" + header + "\n"
    return build_mail(name=name, sender=sender, subject=subject, body=body, attachments=attachments, lang=lang,
                      sent=sent, to_addr=to_addr, in_reply_to=in_reply_to, references=references,
                      expected=expected)
