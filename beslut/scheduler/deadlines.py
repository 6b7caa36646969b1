"""Which deadlines a case has right now, computed on the Swedish business calendar.

Deadline rows are a projection of the case: after every command the store is
told the full set a case should have (:func:`deadlines_for`) and makes its rows
match, so a decision cancels the reply-by row and an announcement adds the
appeal-period row without any command having to remember to. `tick` (and the
daemon of a later issue) fires the rows that fall due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from beslut.states.calendar import end_of_day, start_of_day
from beslut.states.case import ADOPTED_OUTCOMES, UNDECIDED, Case

DeadlineKind = Literal["reply_by", "appeal_ends", "in_force"]
KINDS: Final = ("reply_by", "appeal_ends", "in_force")


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


@dataclass(frozen=True, kw_only=True)
class DeadlineRow(Deadline):
    """A stored deadline with its row id and status (pending, done or cancelled)."""

    id: int
    status: str
    closed_at: datetime | None = None


def deadlines_for(case: Case) -> list[Deadline]:
    """The deadlines the case has now.

    - ``reply_by``: a party that has not decided is overdue from the end of its
      (rolled) reply date, 00:00 the next day, Europe/Stockholm.
    - ``appeal_ends``: an announced decision becomes final (laga kraft) at the end
      of the last day of its appeal period.
    - ``in_force``: an adopted agreement comes into force at 00:00 on its in-force date.
    """
    found: list[Deadline] = []
    for party in case.parties:
        if case.state == "recommended" and party.state in UNDECIDED and not party.overdue:
            found.append(
                Deadline(recommendation=case.key, kind="reply_by", party=party.key, due_at=end_of_day(party.deadline))
            )
        if party.state == "announced" and party.appeal_last_day is not None:
            found.append(
                Deadline(
                    recommendation=case.key,
                    kind="appeal_ends",
                    party=party.key,
                    due_at=end_of_day(party.appeal_last_day),
                )
            )
    in_force_on = case.spec.in_force_on
    if case.state == "consolidated" and case.outcome in ADOPTED_OUTCOMES and in_force_on is not None:
        found.append(Deadline(recommendation=case.key, kind="in_force", due_at=start_of_day(in_force_on)))
    return found
