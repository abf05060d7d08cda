"""Which replies a researcher's mail leads to (DOMAIN.md section 10), as a pure function of the case's change."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Change:
    first_mail: bool  # the mail opened the case
    automatic: bool  # auto-reply, bounce, list mail: never answered
    track: str
    state_before: str | None  # None for a new case
    state_after: str
    blocking: frozenset[str]  # rule ids missing or failed now
    last_requested: frozenset[str] | None  # rule ids the last supplement request asked for, None if never asked


def plan(change: Change) -> list[str]:
    """Reply types to queue, in order."""
    if change.automatic:
        return []
    replies = []
    if change.first_mail:
        replies.append("aggregated_answer" if change.track == "aggregated" else "acknowledgment")
    if change.track == "aggregated":
        return replies
    if change.blocking and change.blocking != change.last_requested:
        replies.append("supplement_request")
    if (not change.first_mail and change.state_before == "incomplete" and change.state_after == "complete"):
        replies.append("complete_notice")
    return replies
