"""sender.authenticated: the region's own receiving servers say DMARC (or aligned DKIM) passed (RFC 8601)."""

from __future__ import annotations

import re

from rules.base import CaseFile, Rule, RulesConfig, finding, mail_cite

_METHOD = re.compile(r"\b(dkim|dmarc|spf)\s*=\s*(\w+)([^;]*)", re.I)


def _verdict(header: str, sender_domain: str) -> tuple[str, str]:
    results = [(m.group(1).lower(), m.group(2).lower(), m.group(3)) for m in _METHOD.finditer(header)]
    if any(method == "dmarc" and result == "pass" for method, result, _ in results):
        return "ok", "dmarc=pass"
    for method, result, props in results:
        d = re.search(r"header\.d\s*=\s*([\w.-]+)", props)
        if method == "dkim" and result == "pass" and d and (sender_domain == d.group(1).lower()
                                                             or sender_domain.endswith("." + d.group(1).lower())):
            return "ok", f"dkim=pass aligned with {d.group(1)}"
    failed = [f"{m}={r}" for m, r, _ in results if r in ("fail", "permerror", "temperror", "softfail", "none")]
    return "needs_review", ", ".join(failed) or "no dmarc or dkim pass"


def check(case: CaseFile, config: RulesConfig):
    trusted = {a.lower() for a in config.authserv_ids}
    for mail in reversed(case.mails):
        for header in mail.authentication_results:
            authserv = header.split(";", 1)[0].strip().split()[0].lower() if header.strip() else ""
            if authserv not in trusted:
                continue  # anyone can write this header; only our own servers count
            status, why = _verdict(header, mail.from_address.rsplit("@", 1)[-1].lower())
            evidence = mail_cite(mail, f"Authentication-Results from {authserv}: {why}")
            if status == "ok":
                return finding(RULE.id, "ok", "Avsändaren är autentiserad.", "The sender is authenticated.", evidence)
            return finding(RULE.id, "needs_review",
                           "Avsändaren kunde inte autentiseras (DMARC/DKIM); kontrollera att mejlet är äkta.",
                           "The sender could not be authenticated (DMARC/DKIM); check that the mail is genuine.",
                           evidence)
    return finding(RULE.id, "not_applicable", "Inga betrodda autentiseringsresultat.",
                   "No trusted authentication results.")


RULE = Rule("sender.authenticated", "Avsändaren är autentiserad", "The sender is authenticated", check,
            personal_data_only=False)
