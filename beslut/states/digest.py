"""The coordinator's digest: one message a weekday morning listing every party still to answer.

Pure: from the cases and the instant, which digest entries to queue. The outbox's
uniqueness key (coordinator, ``digest``, the scheduled minute, contact) makes a digest
go out once however many daemons fire the cron job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from beslut.states.case import Case
from beslut.states.deadlines import is_open
from beslut.states.records import Contact, OutboxEntry


def digest_entries(
    cases: Iterable[Case], *, at: datetime, contacts_of: Callable[[str], Sequence[Contact]]
) -> list[OutboxEntry]:
    """One digest per coordinator with open parties, to each of its contacts, due at *at* (to the minute)."""
    at = at.replace(second=0, microsecond=0)
    items_by_coordinator: dict[str, list[dict[str, object]]] = {}
    for case in cases:
        for party in case.parties:
            if not is_open(case, party):
                continue
            spec_party = case.spec.party(party.key)
            items_by_coordinator.setdefault(case.spec.coordinator, []).append(
                {
                    "recommendation": case.key,
                    "recommendation_title": case.spec.title,
                    "party": party.key,
                    "party_name": spec_party.name if spec_party else party.key,
                    "reply_by": party.deadline.isoformat(),
                    "state": party.state,
                    "overdue": party.overdue,
                }
            )
    entries: list[OutboxEntry] = []
    for coordinator, items in sorted(items_by_coordinator.items()):
        for contact_id in [c.id for c in contacts_of(coordinator)] or [""]:
            entries.append(
                OutboxEntry(
                    recommendation="",
                    party=coordinator,
                    kind="digest",
                    due_at=at,
                    contact_id=contact_id,
                    details={"items": items},
                )
            )
    return entries
