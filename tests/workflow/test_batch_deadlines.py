"""The batch's deadline sync: only the parties whose timers changed, and the same rows as one by one.

``Engine.batch`` does not read a case's timers back and diff them whole: it asks
``deadline_changes`` which parties' timers differ and has the store sync only those
(``sync_party_deadlines``), cancelling a party left with none without a read. These
tests pin both halves: the pure function against the whole-case ``deadlines_for``, and
the rows on both stores against the single commands after a tick has fired reminders
and overdue transitions (done rows, a reminder series), which the batch must leave as
they are.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from beslut.clock import STOCKHOLM
from beslut.states.case import Case
from beslut.states.deadlines import Deadline, deadline_changes, deadlines_for, has_timers, party_deadlines
from beslut.workflow import Engine, PartyStep
from tests.conftest import PARTIES, spec_2022
from tests.workflow.test_batch import _one_by_one, _open, _steps


def _by_party(deadlines: list[Deadline]) -> dict[str | None, list[Deadline]]:
    grouped: dict[str | None, list[Deadline]] = {}
    for deadline in deadlines:
        grouped.setdefault(deadline.party, []).append(deadline)
    return grouped


def _whole_case_changes(before: Case, after: Case) -> dict[str | None, list[Deadline]]:
    """What diffing deadlines_for of the whole case says changed, per party."""
    old, new = _by_party(deadlines_for(before)), _by_party(deadlines_for(after))
    parties: list[str | None] = [*(p.key for p in after.parties), None]
    return {p: new.get(p, []) for p in parties if new.get(p, []) != old.get(p, [])}


def _all_rows(engine: Engine, key: str) -> list[tuple[Any, ...]]:
    """Every timer row of the case, whatever its status, with when it was closed."""
    rows = engine.deadlines(status=None, key=key)
    return sorted((d.party or "", d.kind, d.due_at, d.status, d.closed_at) for d in rows)


class TestDeadlineChanges:
    def test_equals_diffing_the_whole_case_after_every_step(self, engine: Engine) -> None:
        """Step by step through every kind of party step: the changed parties and their timers agree."""
        _open(engine, "a", "b")
        seen: list[dict[str | None, list[Deadline]]] = []
        for step in _steps("a", "b"):
            before = engine.case(step.key)
            _one_by_one(engine, [step])
            after = engine.case(step.key)
            expected = _whole_case_changes(before, after)
            assert deadline_changes(before, after) == expected
            assert deadline_changes(after, after) == {}
            for party in (*before.parties, *after.parties):
                case = before if party in before.parties else after
                assert has_timers(case, party) == bool(party_deadlines(case, party)), party
            seen.append(expected)
        # The steps did change timers: decisions left parties with none, the announcement added an appeal period.
        assert any(timers == [] for changes in seen for timers in changes.values())
        assert any(d.kind == "appeal_ends" for changes in seen for timers in changes.values() for d in timers)


class TestRowsAfterATick:
    def test_done_and_series_rows_are_kept_and_the_rest_match_one_by_one(self, engine: Engine) -> None:
        """After reminders and overdue transitions fired, deciding every party leaves the same rows both ways."""
        _open(engine, "solo", "batch")
        fired = engine.tick(datetime(2022, 10, 20, 12, 0, tzinfo=STOCKHOLM))
        assert {f.deadline.kind for f in fired} >= {"remind_before", "reply_by", "remind_overdue"}, fired
        done_before = [r for r in _all_rows(engine, "batch") if r[3] == "done"]
        assert done_before  # the tick left done rows for the batch to keep

        steps = [
            PartyStep(action="decide", key="{}", party=p, on=date(2022, 10, 24), outcome="approved", paragraph="§ 9")
            for p in PARTIES[:5]
        ]
        _one_by_one(engine, [PartyStep(**{**vars(s), "key": "solo"}) for s in steps])
        engine.batch([PartyStep(**{**vars(s), "key": "batch"}) for s in steps])

        solo, batched = _all_rows(engine, "solo"), _all_rows(engine, "batch")
        assert solo == batched
        assert [r for r in batched if r[3] == "done"] == done_before  # done rows untouched, closed_at too
        decided = {r[0] for r in batched if r[3] == "pending"}
        assert decided.isdisjoint(PARTIES[:5])  # a decided party has no pending timer left
        assert decided >= set(PARTIES[5:])  # the undecided ones keep theirs
        assert engine.replay("batch") == engine.case("batch")


def test_the_example_spec_has_reminders() -> None:
    """The rows test above needs reminders to fire: the shipped spec has them."""
    assert "[reminders]" in spec_2022()
