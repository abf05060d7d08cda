"""The web view's words in Swedish and English: labels for states, kinds and statuses, and the interface's text."""

from __future__ import annotations

LANGUAGES = ("sv", "en")

STATES = {
    "received": ("Mottaget", "Received"),
    "incomplete": ("Ofullständigt", "Incomplete"),
    "complete": ("Komplett", "Complete"),
    "clarification": ("Förtydligande", "Clarification"),
    "confidentiality_review": ("Sekretessprövning", "Confidentiality review"),
    "decided": ("Beslutat", "Decided"),
    "extraction": ("Uttag", "Extraction"),
    "closed": ("Avslutat", "Closed"),
    "automatic": ("Tillbaka till automatisk bedömning", "Back to automatic assessment"),
}

TRACKS = {
    "personal_data": ("Personuppgifter", "Personal data"),
    "aggregated": ("Aggregerad statistik", "Aggregated statistics"),
}

KINDS = {
    "application_form": ("Ansökningsblankett", "Application form"),
    "ethics_application": ("Etikansökan", "Ethics application"),
    "ethics_decision": ("Etikbeslut", "Ethics decision"),
    "ethics_amendment": ("Ändringsansökan", "Ethics amendment"),
    "ethics_amendment_decision": ("Beslut om ändring", "Amendment decision"),
    "research_plan": ("Forskningsplan", "Research plan"),
    "variable_list": ("Variabellista", "Variable list"),
    "participant_information": ("Forskningspersonsinformation", "Participant information"),
    "consent_form": ("Samtyckesblankett", "Consent form"),
    "data_processing_agreement": ("Personuppgiftsbiträdesavtal", "Data processing agreement"),
    "data_transfer_agreement": ("Avtal om överföring av data", "Data transfer agreement"),
    "linkage_decision": ("Beslut om samkörning", "Linkage decision"),
    "dpia": ("Konsekvensbedömning (DPIA)", "Impact assessment (DPIA)"),
    "dpo_statement": ("Dataskyddsombudets yttrande", "DPO statement"),
    "cover_letter": ("Följebrev", "Cover letter"),
    "other": ("Övrigt", "Other"),
}

FINDING_STATUSES = {
    "ok": ("OK", "OK"),
    "missing": ("Saknas", "Missing"),
    "pending": ("Kommer senare", "Pending"),
    "needs_review": ("Granska", "Review"),
    "failed": ("Fel", "Failed"),
    "not_applicable": ("Gäller inte", "Not applicable"),
}

REPLY_TYPES = {
    "acknowledgment": ("Mottagningsbekräftelse", "Acknowledgment"),
    "supplement_request": ("Begäran om komplettering", "Request for supplement"),
    "complete_notice": ("Besked: komplett", "Complete notice"),
    "reminder": ("Påminnelse", "Reminder"),
    "escalation": ("Eskalering", "Escalation"),
    "aggregated_answer": ("Svar om aggregerad statistik", "Aggregated statistics answer"),
    "triage_summary": ("Sammanfattning", "Triage summary"),
    "digest": ("Daglig översikt", "Daily digest"),
    "manual": ("Handläggarens mejl", "Coordinator's mail"),
}

REPLY_STATUSES = {
    "pending_approval": ("Väntar på godkännande", "Waiting for approval"),
    "queued": ("I kö", "Queued"),
    "sending": ("Skickas", "Sending"),
    "sent": ("Skickat", "Sent"),
    "failed": ("Misslyckades", "Failed"),
    "bounced": ("Studsade", "Bounced"),
    "rejected": ("Stoppat", "Rejected"),
}

DECISIONS = {
    "approved": ("Godkänd", "Approved"),
    "approved_with_conditions": ("Godkänd med villkor", "Approved with conditions"),
    "rejected": ("Avslag", "Rejected"),
    "advisory_only": ("Endast rådgivande yttrande", "Advisory opinion only"),
}

MAIL_STATUSES = {
    "fetched": ("Mottaget, ej behandlat", "Taken in, not processed"),
    "processed": ("Behandlat", "Processed"),
    "duplicate": ("Dubblett", "Duplicate"),
    "ignored": ("Automatiskt mejl", "Automatic mail"),
    "failed": ("Kunde inte läsas", "Could not be read"),
}

ACTIONS = {
    "signin": ("Loggade in", "Signed in"),
    "signin.failed": ("Misslyckad inloggning", "Failed sign-in"),
    "signout": ("Loggade ut", "Signed out"),
    "outbox.approve": ("Godkände svar", "Approved a reply"),
    "outbox.reject": ("Stoppade svar", "Rejected a reply"),
    "outbox.edit": ("Ändrade svar", "Edited a reply"),
    "attachment.kind": ("Ändrade dokumenttyp", "Changed a document's kind"),
    "attachment.download": ("Laddade ner dokument", "Downloaded a document"),
    "case.state": ("Flyttade ärendet", "Moved the case"),
    "user.add": ("Lade till konto", "Added an account"),
    "user.disable": ("Stängde av konto", "Disabled an account"),
    "user.enable": ("Aktiverade konto", "Enabled an account"),
    "user.password": ("Bytte lösenord", "Changed a password"),
}

TEXT = {
    "app": ("Centrum för hälsodata", "Centre for Health Data"),
    "app_sub": ("Ansökningar om hälsodata", "Applications for health data"),
    "cases": ("Ärenden", "Cases"),
    "audit": ("Händelselogg", "Audit log"),
    "signin": ("Logga in", "Sign in"),
    "signout": ("Logga ut", "Sign out"),
    "username": ("Användarnamn", "User name"),
    "password": ("Lösenord", "Password"),
    "signin_failed": ("Fel användarnamn eller lösenord. Försök igen, eller be en administratör kontrollera kontot.",
                      "Wrong user name or password. Try again, or ask an administrator to check the account."),
    "signin_throttled": ("För många misslyckade försök. Vänta tio minuter och försök igen.",
                         "Too many failed attempts. Wait ten minutes and try again."),
    "signin_intro": ("Logga in med ditt handläggarkonto.", "Sign in with your coordinator account."),
    "language_switch": ("In English", "På svenska"),
    "search": ("Sök", "Search"),
    "search_hint": ("Ärendenummer, forskare eller titel", "Case number, researcher or title"),
    "state": ("Status", "State"),
    "track": ("Spår", "Track"),
    "all": ("Alla", "All"),
    "needs_review": ("Behöver granskas", "Needs review"),
    "overdue": ("Försenade", "Overdue"),
    "overdue_one": ("Försenad", "Overdue"),
    "filter": ("Filtrera", "Filter"),
    "clear": ("Rensa", "Clear"),
    "case": ("Ärende", "Case"),
    "title": ("Titel", "Title"),
    "researcher": ("Forskare", "Researcher"),
    "opened": ("Inkom", "Opened"),
    "updated": ("Ändrat", "Updated"),
    "attention": ("Att göra", "To do"),
    "no_cases": ("Inga ärenden matchar.", "No cases match."),
    "n_cases": ("{n} ärenden", "{n} cases"),
    "one_case": ("1 ärende", "1 case"),
    "prev": ("Föregående", "Previous"),
    "next": ("Nästa", "Next"),
    "page": ("Sida {page} av {pages}", "Page {page} of {pages}"),
    "to_review": ("{n} att granska", "{n} to review"),
    "to_approve": ("{n} svar väntar", "{n} replies waiting"),
    "days_waiting": ("{n} dagar utan svar", "{n} days without an answer"),
    "summary": ("Sammanfattning", "Summary"),
    "warnings": ("Varningar", "Warnings"),
    "next_step": ("Nästa steg", "Next step"),
    "ethics": ("Etikprövning", "Ethical review"),
    "no_reference": ("inget diarienummer hittat", "no reference number found"),
    "no_summary": ("Sammanfattningen är inte tillgänglig.", "The summary is not available."),
    "findings": ("Kontroller", "Findings"),
    "evidence": ("Underlag", "Evidence"),
    "all_fine": ("Inget saknas, inget är fel och inget behöver granskas.",
                 "Nothing is missing, nothing is wrong and nothing needs review."),
    "show_fine": ("{n} kontroller är OK eller gäller inte", "{n} checks are OK or do not apply"),
    "rule": ("Kontroll", "Check"),
    "documents": ("Dokument", "Documents"),
    "document": ("Dokument", "Document"),
    "kind": ("Typ", "Kind"),
    "confidence": ("Säkerhet", "Confidence"),
    "download": ("Ladda ner", "Download"),
    "change_kind": ("Ändra typ", "Change kind"),
    "by_coordinator": ("satt av handläggare", "set by a coordinator"),
    "unreadable": ("Kunde inte läsas", "Could not be read"),
    "in_container": ("i {c}", "in {c}"),
    "no_documents": ("Inga dokument.", "No documents."),
    "timeline": ("Händelser", "Timeline"),
    "inbound": ("Mejl från", "Mail from"),
    "outbound": ("Svar till", "Reply to"),
    "show_text": ("Visa texten", "Show the text"),
    "text_note": ("Texten visas som ren text; personnummer är maskerade.",
                  "Shown as plain text; identity numbers are masked."),
    "attachments": ("Bilagor", "Attachments"),
    "outbox": ("Utkorg", "Outbox"),
    "no_replies": ("Inga svar.", "No replies."),
    "internal_mail": ("{n} sammanfattningar till handläggarna", "{n} summaries to the coordinators"),
    "approve": ("Godkänn och skicka", "Approve and send"),
    "edit": ("Redigera", "Edit"),
    "reject": ("Stoppa", "Reject"),
    "reject_reason": ("Anledning (valfritt)", "Reason (optional)"),
    "to": ("Till", "To"),
    "subject": ("Ämne", "Subject"),
    "text": ("Text", "Text"),
    "save": ("Spara", "Save"),
    "cancel": ("Avbryt", "Cancel"),
    "edit_reply": ("Redigera svar", "Edit reply"),
    "edit_note": ("Efter ändringen väntar svaret på godkännande och skickas som ett mejl från en handläggare.",
                  "After the change the reply waits for approval and goes out as a coordinator's mail."),
    "queued_at": ("Köat", "Queued"),
    "sent_at": ("Skickat", "Sent"),
    "move_case": ("Flytta ärendet", "Move the case"),
    "move": ("Flytta", "Move"),
    "choose_state": ("Välj steg …", "Choose a step …"),
    "note": ("Anteckning", "Note"),
    "note_hint": ("Varför, för loggen", "Why, for the record"),
    "closed_at": ("Avslutat", "Closed"),
    "history": ("Historik", "History"),
    "no_history": ("Inga åtgärder ännu.", "No actions yet."),
    "when": ("När", "When"),
    "who": ("Vem", "Who"),
    "what": ("Vad", "What"),
    "details": ("Detaljer", "Details"),
    "back": ("Till ärendelistan", "Back to the cases"),
    "times_note": ("Tider i svensk tid.", "Times in Swedish time."),
    "approved": ("Svaret är godkänt och skickas vid nästa utskick.", "The reply is approved and goes out with the "
                 "next send."),
    "rejected": ("Svaret är stoppat och skickas aldrig.", "The reply is rejected and will never be sent."),
    "edited": ("Svaret är ändrat och väntar på godkännande.", "The reply is changed and waits for approval."),
    "kind_changed": ("Dokumenttypen är ändrad och kontrollerna har körts om. Status: {state}.",
                     "The kind is changed and the checks have run again. State: {state}."),
    "kind_replies": ("{n} nytt svar väntar på godkännande i utkorgen.",
                     "{n} new reply waits for approval in the outbox."),
    "state_changed": ("Ärendet är flyttat till {state}.", "The case is moved to {state}."),
    "error": ("Något gick fel", "Something went wrong"),
    "not_found": ("Hittades inte", "Not found"),
    "not_found_text": ("Det du letar efter finns inte. Gå tillbaka till ärendelistan.",
                       "What you are looking for does not exist. Go back to the cases."),
    "csrf_failed": ("Formuläret kunde inte kontrolleras (det kan ha gått ut). Ladda om sidan och försök igen. "
                    "Om det händer igen: om vyn nås via http i stället för https, behöver [web] secure_cookies "
                    "vara false.",
                    "The form could not be verified (it may have expired). Reload the page and try again. If it "
                    "happens again and the view is reached over http rather than https, [web] secure_cookies "
                    "must be false."),
    "proxy_only": ("Den här vyn nås bara via inloggningen (omvänd proxy). Gå in via den vanliga adressen, eller "
                   "kontakta en administratör.",
                   "This view is reached only through the sign-in (reverse proxy). Use the usual address, or contact "
                   "an administrator."),
    "account_disabled": ("Ditt konto är avstängt. Kontakta en administratör.",
                         "Your account is disabled. Contact an administrator."),
    "forbidden": ("Åtkomst nekad", "Access denied"),
    "bad_request": ("Adressen eller formuläret innehöll något som inte går att använda. Gå tillbaka och försök "
                    "igen.", "The address or the form held something that cannot be used. Go back and try again."),
    "internal": ("Ett oväntat fel inträffade. Försök igen; om det kvarstår, kontakta en administratör "
                 "(felet finns i loggen).",
                 "An unexpected error occurred. Try again; if it persists, contact an administrator (the error is "
                 "in the log)."),
    "download_failed": ("Filen kunde inte läsas från lagringen ({reason}). Be driften köra halsodata doctor; "
                        "orsaken står i loggen.",
                        "The file could not be read from the store ({reason}). Ask the operators to run halsodata "
                        "doctor; the cause is in the log."),
    "store_missing": ("filen saknas", "the file is missing"),
    "store_wrong_key": ("fel nyckel", "wrong key"),
    "store_damaged": ("filen är skadad", "the file is damaged"),
    "skip": ("Till innehållet", "Skip to content"),
    "signed_in_as": ("Inloggad som", "Signed in as"),
    "mail_count": ("{n} mejl", "{n} mails"),
    "reply_count": ("{n} svar", "{n} replies"),
    "purged": ("Ärendets mejl och bilagor är raderade efter lagringstiden.",
               "The case's mails and attachments have been deleted after the retention period."),
}


def pick(table: dict, key: str | None, language: str) -> str:
    """The label for an identifier in the language; the identifier itself when there is none."""
    if key is None:
        return ""
    pair = table.get(key)
    if pair is None:
        return key
    return pair[0] if language == "sv" else pair[1]
