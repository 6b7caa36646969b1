"""Escalations a recount calls for: the coordinator must know when an agreement is no longer adopted.

Pure: given the case before and after a command, the instant it was recorded and the
coordinator's contacts, it returns the outbox entries to queue. The rule itself, "a recount
took the adoption away" (:func:`beslut.states.case.adoption_lost`), is the domain's; this
module only says whom it goes to and with which details.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from beslut.states.case import Case, Event, adoption_lost
from beslut.states.records import Contact, OutboxEntry

RECOUNT_REASON: Final = "recount"
"""``details["reason"]`` of an escalation queued by a recount (a reminder ladder's escalation has none)."""


def recount_escalations(
    before: Case, after: Case, events: Sequence[Event], *, at: datetime, coordinator_contacts: Sequence[Contact]
) -> tuple[OutboxEntry, ...]:
    """One ``escalation`` per coordinator contact when *events* recounted *before* into an agreement not adopted.

    Due at *at* (the command's instant): the news is urgent. The party is the one whose changed
    decision called for the recount; the details say what the recount found.
    """
    if not adoption_lost(before, after):
        return ()
    recount = next(e for e in reversed(events) if e.kind == "recommendation.recounted")
    details = {
        "reason": RECOUNT_REASON,
        "valid_on": recount.valid_on.isoformat(),
        "outcome": recount.payload["outcome"],
        "contested": list(recount.payload["contested"]),
        "participants": list(recount.payload["participants"]),
    }
    ids = [c.id for c in coordinator_contacts] or [""]
    return tuple(
        OutboxEntry(
            recommendation=after.key,
            party=recount.payload["changed"],
            kind="escalation",
            due_at=at,
            contact_id=contact_id,
            details=details,
        )
        for contact_id in ids
    )
