"""iCalendar export of pending deadlines, so clerks can subscribe their calendars to them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from icalendar import Calendar, Event

from beslut.states.case import Case
from beslut.states.deadlines import DeadlineRow

_SUMMARY = {
    "reply_by": "Svarsdatum passerar",
    "appeal_ends": "Överklagandetiden löper ut (laga kraft)",
    "in_force": "Träder i kraft",
    "remind_before": "Påminnelse före svarsdatum",
    "remind_overdue": "Påminnelse: svar saknas",
    "escalate": "Eskalering till samordnande part",
}


def calendar_bytes(rows: Sequence[DeadlineRow], cases: Mapping[str, Case]) -> bytes:
    """An RFC 5545 calendar with one event per timer (stable UIDs, so re-exports update, not duplicate)."""
    calendar = Calendar()
    calendar.add("prodid", "-//beslut//deadlines//SV")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", "beslut: deadlines")
    for row in rows:
        case = cases.get(row.recommendation)
        party_name = row.party or ""
        if case is not None and row.party is not None:
            spec_party = case.spec.party(row.party)
            party_name = spec_party.name if spec_party else row.party
        event = Event()
        event.add("uid", f"{row.recommendation}/{row.kind}/{row.party or '-'}/{row.due_at.isoformat()}@beslut")
        event.add("dtstamp", row.due_at)
        event.add("dtstart", row.due_at)
        event.add("summary", f"{_SUMMARY.get(row.kind, row.kind)}: {party_name} - {row.recommendation}".strip())
        if case is not None:
            event.add("description", case.spec.title)
        calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data
