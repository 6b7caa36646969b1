"""What each dashboard page shows, computed from domain objects: no HTML, no database, no clock.

The router reads the cases, audit records and deadline rows through the Engine and
hands them here with *today* (from the request's clock); the templates only lay
out what these functions return. Keeping the arithmetic (overdue, shares, sums)
here makes it testable without a browser and keeps the templates dumb.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from beslut.clock import STOCKHOLM
from beslut.states.audit_chain import AuditRecord
from beslut.states.case import UNDECIDED, Case, PartyDecision
from beslut.states.deadlines import DeadlineRow
from beslut.states.views import case_status
from beslut.web import labels

OPEN_STATES: Final = frozenset({"proposed", "recommended"})
NEXT_DEADLINES: Final = 20
#: Recommendations (columns) per page of the matrix: wide enough to compare a round, bounded for thousands.
MATRIX_PAGE_SIZE: Final = 50


def is_overdue(case: Case, decision: PartyDecision, today: date) -> bool:
    """True when the party is past its reply date and has not decided, while the recommendation is out.

    Computed from *today* rather than read from the stored flag that `tick` sets, so the
    page is right even when no scheduler has run, and a test can move the clock.
    """
    return case.state == "recommended" and decision.state in UNDECIDED and today > decision.deadline


@dataclass(frozen=True, kw_only=True)
class Column:
    """One recommendation in the matrix."""

    key: str
    title: str
    state: str
    state_label: str
    reply_by: date


@dataclass(frozen=True, kw_only=True)
class Cell:
    """One party's standing on one recommendation."""

    recommendation: str
    state: str
    label: str
    overdue: bool
    deadline: date
    outcome: str | None = None
    """The standing decision (approved, rejected, approved_with_conditions), None before one is taken."""
    outcome_label: str = ""
    days_late: int | None = None
    """How many days after its reply date the party decided; None when in time or undecided."""


@dataclass(frozen=True, kw_only=True)
class Row:
    """One party across the recommendations; a cell is None where the party is not asked."""

    key: str
    name: str
    cells: tuple[Cell | None, ...]

    @property
    def overdue(self) -> bool:
        """True if the party is overdue on any recommendation."""
        return any(c is not None and c.overdue for c in self.cells)


@dataclass(frozen=True, kw_only=True)
class Matrix:
    """Parties (rows) by recommendations (columns), as of *today*."""

    today: date
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    include_closed: bool

    @property
    def overdue_count(self) -> int:
        """How many (party, recommendation) pairs are overdue."""
        return sum(1 for r in self.rows for c in r.cells if c is not None and c.overdue)


@dataclass(frozen=True, kw_only=True)
class Paging:
    """Which page of the matrix is shown: page *number* (from 1) of *pages*, *size* recommendations a page."""

    number: int
    pages: int
    size: int
    total: int

    @property
    def offset(self) -> int:
        """How many recommendations come before this page."""
        return (self.number - 1) * self.size

    @property
    def first(self) -> int:
        """The position (from 1) of the page's first recommendation; 0 when there are none."""
        return self.offset + 1 if self.total else 0

    @property
    def last(self) -> int:
        """The position of the page's last recommendation."""
        return min(self.offset + self.size, self.total)

    @property
    def has_previous(self) -> bool:
        """True unless this is the first page."""
        return self.number > 1

    @property
    def has_next(self) -> bool:
        """True unless this is the last page."""
        return self.number < self.pages


def paging(total: int, requested: str | None, *, size: int = MATRIX_PAGE_SIZE) -> Paging:
    """The page to show of *total* recommendations, for the ``sida`` query value *requested*.

    Forgiving, as a page for people should be: a missing or unreadable number is page 1 and
    a number past the end is the last page (a bookmark of page 9 still works after cases close).
    """
    pages = max(1, -(-total // size))
    number = int(requested) if requested is not None and requested.isdecimal() else 1
    return Paging(number=min(max(number, 1), pages), pages=pages, size=size, total=total)


def matrix(cases: Iterable[Case], *, today: date, include_closed: bool = False) -> Matrix:
    """The matrix of the open recommendations (or all of them), parties in the specs' order."""
    shown = [c for c in cases if include_closed or c.state in OPEN_STATES]
    columns = tuple(
        Column(
            key=c.key,
            title=c.spec.title,
            state=c.state,
            state_label=labels.label(labels.RECOMMENDATION_STATES, c.state),
            reply_by=c.reply_deadline,
        )
        for c in shown
    )
    names: dict[str, str] = {}
    for c in shown:
        for p in c.spec.parties:
            names.setdefault(p.key, p.name)
    rows = []
    for party_key, name in names.items():
        cells: list[Cell | None] = []
        for c in shown:
            decision = next((d for d in c.parties if d.key == party_key), None)
            cells.append(
                None
                if decision is None
                else Cell(
                    recommendation=c.key,
                    state=decision.state,
                    label=labels.label(labels.PARTY_STATES, decision.state),
                    overdue=is_overdue(c, decision, today),
                    deadline=decision.deadline,
                    outcome=decision.outcome,
                    outcome_label=labels.label(labels.OUTCOMES, decision.outcome),
                    days_late=decision.days_late,
                )
            )
        rows.append(Row(key=party_key, name=name, cells=tuple(cells)))
    return Matrix(today=today, columns=columns, rows=tuple(rows), include_closed=include_closed)


@dataclass(frozen=True, kw_only=True)
class TimelineEntry:
    """One audit event as a line of the timeline."""

    seq: int
    valid_on: str
    recorded_at: str
    kind: str
    kind_label: str
    party: str | None
    party_name: str
    actor: str
    details: str


@dataclass(frozen=True, kw_only=True)
class Share:
    """One party's line of the allocation table."""

    party: str
    name: str
    population: int | None
    percent: str
    amount: Decimal


@dataclass(frozen=True, kw_only=True)
class Allocation:
    """Who pays what: planned shares before consolidation, actual ones after."""

    budget: Decimal
    total: Decimal
    shares: tuple[Share, ...]


@dataclass(frozen=True, kw_only=True)
class PartyLine:
    """One party's status on the recommendation page."""

    key: str
    name: str
    state: str
    label: str
    overdue: bool
    deadline: date
    outcome: str
    decided_on: str
    case_number: str
    days_late: int | None = None  # decided this many days after its reply date


@dataclass(frozen=True, kw_only=True)
class DeadlineLine:
    """One pending timer."""

    due_at: str
    kind: str
    label: str
    party_name: str


@dataclass(frozen=True, kw_only=True)
class RecommendationPage:
    """Everything the per-recommendation page shows."""

    key: str
    title: str
    issuer: str
    state: str
    state_label: str
    outcome_label: str
    reply_by: date
    version: int
    today: date
    parties: tuple[PartyLine, ...]
    timeline: tuple[TimelineEntry, ...]
    allocation: Allocation | None
    deadlines: tuple[DeadlineLine, ...]
    unfired: int
    contested: tuple[str, ...] = ()  # names of the parties whose counted decision was annulled
    waiting_for_final: tuple[str, ...] = ()  # names of the parties whose decision is still open to appeal


def recommendation_page(
    case: Case, records: Sequence[AuditRecord], deadlines: Sequence[DeadlineRow], *, now: datetime
) -> RecommendationPage:
    """The per-recommendation page: parties, timeline (legal date, then seq), allocation, next deadlines.

    *deadlines* are the pending timers; those already due at *now* are only counted
    (the scheduler has not fired them yet), the next ones are listed soonest first.
    """
    today = now.astimezone(STOCKHOLM).date()
    status = case_status(case)
    names = {p.key: p.name for p in case.spec.parties}
    parties = tuple(
        PartyLine(
            key=d.key,
            name=names.get(d.key, d.key),
            state=d.state,
            label=labels.label(labels.PARTY_STATES, d.state),
            overdue=is_overdue(case, d, today),
            deadline=d.deadline,
            outcome=labels.label(labels.OUTCOMES, d.outcome),
            decided_on=d.decided_on.isoformat() if d.decided_on else "",
            case_number=d.case_number or "",
            days_late=d.days_late,
        )
        for d in case.parties
    )
    timeline = tuple(_timeline_entry(r, names) for r in sorted(records, key=lambda r: (r.valid_on, r.seq)))
    ahead = sorted((d for d in deadlines if d.due_at > now), key=lambda d: (d.due_at, d.kind, d.party or ""))
    upcoming = tuple(
        DeadlineLine(
            due_at=_local(d.due_at),
            kind=d.kind,
            label=labels.label(labels.DEADLINES, d.kind),
            party_name=names.get(d.party, d.party) if d.party else "",
        )
        for d in ahead[:NEXT_DEADLINES]
    )
    return RecommendationPage(
        key=case.key,
        title=case.spec.title,
        issuer=case.spec.issuer,
        state=case.state,
        state_label=labels.label(labels.RECOMMENDATION_STATES, case.state),
        outcome_label=labels.label(labels.OUTCOMES, case.outcome),
        reply_by=case.reply_deadline,
        version=case.version,
        today=today,
        parties=parties,
        timeline=timeline,
        allocation=_allocation(case, status),
        deadlines=upcoming,
        unfired=sum(1 for d in deadlines if d.due_at <= now),
        contested=tuple(names.get(k, k) for k in case.contested),
        waiting_for_final=tuple(names.get(k, k) for k in case.waiting_for_final),
    )


_DETAIL_KEYS: Final = ("outcome", "body", "paragraph", "case_number", "result", "reason", "by")


def _timeline_entry(record: AuditRecord, names: dict[str, str]) -> TimelineEntry:
    payload: dict[str, Any] = json.loads(record.payload)
    party = payload.get("party")
    details = [
        labels.label(labels.OUTCOMES, str(payload[k])) if k == "outcome" else str(payload[k])
        for k in _DETAIL_KEYS
        if payload.get(k) not in (None, "")
    ]
    return TimelineEntry(
        seq=record.seq,
        valid_on=record.valid_on,
        recorded_at=_local(datetime.fromisoformat(record.recorded_at)),
        kind=record.kind,
        kind_label=labels.label(labels.EVENTS, record.kind),
        party=party,
        party_name=names.get(party, party) if party else "",
        actor=str(payload.get("actor", "")),
        details=" · ".join(details),
    )


def _allocation(case: Case, status: dict[str, Any]) -> Allocation | None:
    cost = case.spec.cost
    if cost is None or status["total"] is None:
        return None
    total = Decimal(status["total"])
    populations = case.spec.populations
    shares = tuple(
        Share(
            party=p["key"],
            name=p["name"],
            population=populations.get(p["key"]),
            percent=_percent(Decimal(p["amount"]), total),
            amount=Decimal(p["amount"]),
        )
        for p in status["parties"]
    )
    return Allocation(budget=cost.total, total=total, shares=shares)


def _percent(part: Decimal, whole: Decimal) -> str:
    if whole == 0:
        return "0,00"
    return f"{(part * 100 / whole):.2f}".replace(".", ",")


def _local(instant: datetime) -> str:
    return instant.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M:%S")


def kronor(amount: Decimal) -> str:
    """An amount the Swedish way: spaces between thousands, a decimal comma (only when there are öre)."""
    return f"{amount:,}".replace(",", "\N{NO-BREAK SPACE}").replace(".", ",")
