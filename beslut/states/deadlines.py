"""Which timers a case has right now, computed on the Swedish business calendar.

Timer rows (the `deadline` table) are a projection of the case: after every command
the store is told the set a case should have (:func:`deadlines_for`) and makes its
pending rows match, so a decision cancels the party's reply-by timer and reminders,
and an announcement adds the appeal-period timer, without any command having to
remember to. `tick` and the scheduler daemon fire the rows that fall due.

Two families:

- **transitions** (``reply_by``, ``appeal_ends``, ``in_force``) change the case and
  write audit events;
- **reminders** (``remind_before``, ``remind_overdue``, ``escalate``) only queue
  messages in the outbox. ``remind_overdue`` is a series: the projection names its
  first occurrence, and firing one occurrence inserts the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Final, Literal

from beslut.states.calendar import end_of_day, local_date, start_of_day
from beslut.states.case import ADOPTED_OUTCOMES, UNDECIDED, Case, PartyDecision, changed_party_indexes
from beslut.states.spec import duration_days

DeadlineKind = Literal["reply_by", "appeal_ends", "in_force", "remind_before", "remind_overdue", "escalate"]
TRANSITION_KINDS: Final = frozenset({"reply_by", "appeal_ends", "in_force"})
REMINDER_KINDS: Final = frozenset({"remind_before", "remind_overdue", "escalate"})
LADDER_KINDS: Final = frozenset({"remind_before", "remind_overdue"})  # one party's ladder, coalesced together
SERIES_KINDS: Final = frozenset({"remind_overdue"})
KINDS: Final = (*sorted(TRANSITION_KINDS), *sorted(REMINDER_KINDS))


@dataclass(frozen=True, kw_only=True, order=True)
class Deadline:
    """A moment at which something happens by itself unless a party acts first."""

    due_at: datetime
    recommendation: str
    kind: str
    party: str | None = None

    @property
    def identity(self) -> tuple[str, str, str | None, datetime]:
        """What makes two deadline rows the same deadline."""
        return (self.recommendation, self.kind, self.party, self.due_at)

    @property
    def series(self) -> tuple[str, str, str | None] | None:
        """For a recurring timer, the series it belongs to; None for a one-off."""
        return (self.recommendation, self.kind, self.party) if self.kind in SERIES_KINDS else None


@dataclass(frozen=True, kw_only=True)
class DeadlineRow(Deadline):
    """A stored deadline with its row id, status (pending, done or cancelled) and claim."""

    id: int
    status: str
    closed_at: datetime | None = None
    claimed_by: str | None = field(default=None, compare=False)
    claimed_until: datetime | None = field(default=None, compare=False)


def is_open(case: Case, party: PartyDecision) -> bool:
    """True while the party is still expected to decide: the recommendation is out and it has not."""
    return case.state == "recommended" and party.state in UNDECIDED


def deadlines_for(case: Case) -> list[Deadline]:
    """The timers the case has now.

    - ``reply_by``: a party that has not decided is overdue from the end of its
      (rolled) reply date, 00:00 the next day, Europe/Stockholm.
    - ``appeal_ends``: an announced decision becomes final (laga kraft) at the end
      of the last day of its appeal period.
    - ``in_force``: an adopted agreement comes into force at 00:00 on its in-force date.
    - ``remind_before``: 00:00 on the day each ``[reminders].before`` duration ahead
      of the party's (rolled) reply date.
    - ``remind_overdue``: from the end of the reply date, then every ``overdue_every``.
    - ``escalate``: ``escalate_after`` after the end of the reply date, to the coordinator.
    """
    found: list[Deadline] = []
    for party in case.parties:
        found.extend(party_deadlines(case, party))
    found.extend(case_deadlines(case))
    return found


def party_deadlines(case: Case, party: PartyDecision) -> list[Deadline]:
    """The timers of one party of *case* (its part of :func:`deadlines_for`, in the same order)."""
    found: list[Deadline] = []
    reminders = case.spec.reminders
    if is_open(case, party):
        if not party.overdue:
            found.append(_timer(case, "reply_by", party.key, end_of_day(party.deadline)))
        for step in reminders.before:
            day = party.deadline - timedelta(days=duration_days(step))
            found.append(_timer(case, "remind_before", party.key, start_of_day(day)))
        if reminders.overdue_every:
            found.append(_timer(case, "remind_overdue", party.key, end_of_day(party.deadline)))
        if reminders.escalate_after:
            day = party.deadline + timedelta(days=1 + duration_days(reminders.escalate_after))
            found.append(_timer(case, "escalate", party.key, start_of_day(day)))
    if party.state == "announced" and party.appeal_last_day is not None:
        found.append(_timer(case, "appeal_ends", party.key, end_of_day(party.appeal_last_day)))
    return found


def fires_on(deadline: Deadline) -> date:
    """The legal date of the event a transition timer records: the day its due instant falls on (Stockholm).

    So a party is overdue the day after its reply date and a decision final the day after its appeal
    period ends (both timers fall due at the end of that day). `tick` dates what it fires so, and the
    auditor's replay requires an automatic event to carry the date its timer gives.
    """
    return local_date(deadline.due_at)


def party_timer_day(case: Case, party: PartyDecision, kind: str) -> date | None:
    """The legal date the party's timer of *kind* (``reply_by``, ``appeal_ends``) gives its event; None without one."""
    for deadline in party_deadlines(case, party):
        if deadline.kind == kind:
            return fires_on(deadline)
    return None


def has_timers(case: Case, party: PartyDecision) -> bool:
    """``bool(party_deadlines(case, party))`` without making them (a decided party's before-state has many)."""
    if is_open(case, party):
        reminders = case.spec.reminders
        if not party.overdue or reminders.before or reminders.overdue_every or reminders.escalate_after:
            return True
    return party.state == "announced" and party.appeal_last_day is not None


def case_deadlines(case: Case) -> list[Deadline]:
    """The timers of the recommendation itself, no party's (the in-force timer of an adopted agreement)."""
    in_force_on = case.spec.in_force_on
    if case.state == "consolidated" and case.outcome in ADOPTED_OUTCOMES and in_force_on is not None:
        return [_timer(case, "in_force", None, start_of_day(in_force_on))]
    return []


def deadline_changes(before: Case, after: Case) -> dict[str | None, list[Deadline]]:
    """The parties of *after* whose timers differ from *before*'s, each with the timers it should have now.

    Key None stands for the recommendation's own timers (:func:`case_deadlines`). Only the
    parties whose row changed are computed while the case-wide fields a party's timers
    read (state, spec) stay the same, so a batch of 10,000 decisions computes each
    party's timers twice instead of every party's once per case twice; the store then
    syncs only those parties' rows (:meth:`~beslut.workflow.ports.UnitOfWork.sync_party_deadlines`),
    which is exactly what syncing the whole case does when the other parties' rows
    already match (they do: every command syncs after it changes a case).
    """
    changes: dict[str | None, list[Deadline]] = {}
    same_case = before.state == after.state and before.spec is after.spec
    indexes = changed_party_indexes(before, after) if same_case else range(len(after.parties))
    for index in indexes:  # a case's parties are fixed at its proposal
        old, new = before.parties[index], after.parties[index]
        wanted = party_deadlines(after, new)
        if wanted:
            if wanted != party_deadlines(before, old):
                changes[new.key] = wanted
        elif has_timers(before, old):  # a decision: no timers left, and there were some (no need to list them)
            changes[new.key] = wanted
    wanted_case = case_deadlines(after)
    if wanted_case != case_deadlines(before):
        changes[None] = wanted_case
    return changes


def series_after(due_at: datetime, every: str, *, until: datetime) -> list[datetime]:
    """Occurrences of a series starting at *due_at*, every *every*, up to and including *until*.

    Steps are calendar days at local midnight, so a series keeps to 00:00
    Europe/Stockholm across the summer-time changes.
    """
    step = duration_days(every)
    first = local_date(due_at)
    occurrences: list[datetime] = []
    day: date = first
    while (instant := start_of_day(day)) <= until:
        occurrences.append(instant)
        day = day + timedelta(days=step)
    return occurrences


def next_in_series(due_at: datetime, every: str) -> datetime:
    """The occurrence after *due_at* in a series every *every*."""
    return start_of_day(local_date(due_at) + timedelta(days=duration_days(every)))


def _timer(case: Case, kind: str, party: str | None, due_at: datetime) -> Deadline:
    return Deadline(recommendation=case.key, kind=kind, party=party, due_at=due_at)
