"""dpa.when_processor: someone processing the data on the controller's behalf needs a data processing agreement."""

from rules.base import CaseFile, Rule, RulesConfig, finding
from rules.mentions import mentions


def check(case: CaseFile, config: RulesConfig):
    found = mentions(case, "processors")
    if not found:
        return finding(RULE.id, "not_applicable", "Inget personuppgiftsbiträde nämns.", "No processor is mentioned.")
    doc = case.newest("data_processing_agreement")
    if doc is not None:
        return finding(RULE.id, "ok", f"Personuppgiftsbiträdesavtal finns: {doc.filename}.",
                       f"The data processing agreement is present: {doc.filename}.", doc.cite(), *found)
    return finding(RULE.id, "missing",
                   "Ansökan nämner ett personuppgiftsbiträde (t.ex. en extern analysleverantör eller molntjänst): "
                   "personuppgiftsbiträdesavtal saknas.",
                   "The application names a processor (e.g. an external analysis supplier or cloud service): the "
                   "data processing agreement is missing.", *found)


RULE = Rule("dpa.when_processor", "Biträdesavtal vid personuppgiftsbiträde", "DPA when there is a processor", check)
