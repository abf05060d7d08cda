"""dta.when_transfer: data going to another organisation or country needs a data transfer agreement."""

import re

from rules.base import CaseFile, Rule, RulesConfig, finding
from rules.mentions import mentions, weak

EXPLICIT = re.compile(r"utanför EU|tredje land|outside the EU|third country|överför|transfer", re.I)


def check(case: CaseFile, config: RulesConfig):
    found = mentions(case, "transfers")
    if not found:
        return finding(RULE.id, "not_applicable", "Ingen överföring av data till annan organisation eller land.",
                       "No transfer of data to another organisation or country.")
    doc = case.newest("data_transfer_agreement")
    if doc is not None:
        return finding(RULE.id, "ok", f"Avtal om överföring av data finns: {doc.filename}.",
                       f"The data transfer agreement is present: {doc.filename}.", doc.cite(), *found)
    if weak(found, EXPLICIT):
        return finding(RULE.id, "needs_review",
                       "Ansökan nämner internationellt samarbete; en handläggare behöver bedöma om data överförs.",
                       "The application mentions international collaboration; a case officer must judge whether "
                       "data are transferred.", *found)
    return finding(RULE.id, "missing",
                   "Data ska överföras till en annan organisation eller ett annat land: avtal om överföring av data "
                   "(DTA) saknas.",
                   "Data are to be transferred to another organisation or country: the data transfer agreement "
                   "(DTA) is missing.", *found)


RULE = Rule("dta.when_transfer", "Överföringsavtal vid överföring", "DTA when data are transferred", check)
