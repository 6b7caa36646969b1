"""iCalendar export of pending deadlines, so clerks can subscribe their calendars to them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime

from icalendar import Calendar, Event, Timezone

from beslut.clock import STOCKHOLM
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
_TZID = "Europe/Stockholm"


def calendar_bytes(rows: Sequence[DeadlineRow], cases: Mapping[str, Case], made_at: datetime) -> bytes:
    """An RFC 5545 calendar with one event per timer (stable UIDs, so re-exports update, not duplicate).

    Every event's start names ``TZID=Europe/Stockholm``, so the calendar carries that VTIMEZONE
    (RFC 5545 3.2.19 requires one per TZID), covering the years from *made_at* to the last event. The
    VTIMEZONE is written even when there is no event: a VCALENDAR needs at least one component, and a
    clerk subscribed to an empty calendar must still get a valid file. ``DTSTAMP`` is *made_at*, the
    instant the file was made, in UTC (RFC 5545 3.8.7.2), not the event's instant.
    """
    calendar = Calendar()
    calendar.add("prodid", "-//beslut//deadlines//SV")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", "beslut: deadlines")
    years = [made_at.astimezone(STOCKHOLM).year] + [row.due_at.astimezone(STOCKHOLM).year for row in rows]
    calendar.add_component(
        Timezone.from_tzid(_TZID, first_date=date(min(years), 1, 1), last_date=date(max(years) + 1, 1, 1))
    )
    for row in rows:
        case = cases.get(row.recommendation)
        party_name = row.party or ""
        if case is not None and row.party is not None:
            spec_party = case.spec.party(row.party)
            party_name = spec_party.name if spec_party else row.party
        event = Event()
        event.add("uid", f"{row.recommendation}/{row.kind}/{row.party or '-'}/{row.due_at.isoformat()}@beslut")
        event.add("dtstamp", made_at.astimezone(UTC))
        event.add("dtstart", row.due_at.astimezone(STOCKHOLM))
        event.add("summary", f"{_SUMMARY.get(row.kind, row.kind)}: {party_name} - {row.recommendation}".strip())
        if case is not None:
            event.add("description", case.spec.title)
        calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data
