"""``Reader.overdue_parties``: the dashboard's "who is overdue today", answered from an index on both stores.

At national scale (bench/bench_scale.py: 10,000 recommendations x 300 parties) the party
table has 3 million rows and the answer a few thousand; migration 0004 added
``ix_party_decision_state_deadline`` so the read takes the overdue rows from the index
instead of reading the table. The plan test fails if the index is missing or unused.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import event

from beslut.persistence import Store
from beslut.persistence.abc import OverdueParty
from beslut.states.case import UNDECIDED
from beslut.workflow import Engine
from tests.conftest import KEY

INDEX = "ix_party_decision_state_deadline"
AFTER_REPLY_DATE = date(2022, 10, 1)  # the 2022 example replies by Friday 2022-09-30


def _decide(engine: Engine, party: str) -> None:
    engine.prepare(KEY, party, case_number="KS 2022/1", on=date(2022, 6, 20))
    engine.propose_party(KEY, party, body="KS", paragraph="§ 1", on=date(2022, 8, 15))
    engine.decide(KEY, party, outcome="approved", paragraph="§ 2", on=date(2022, 8, 22))


def test_lists_undecided_parties_past_their_date(recommended: Engine) -> None:
    """Undecided (pending, preparing, proposed) parties past the reply date, by deadline, key, party."""
    _decide(recommended, "2380")
    recommended.prepare(KEY, "2309", case_number="KS 2022/2", on=date(2022, 6, 20))
    case = recommended.case(KEY)
    expected = sorted(
        (
            OverdueParty(recommendation=KEY, party=p.key, deadline=p.deadline)
            for p in case.parties
            if p.state in UNDECIDED
        ),
        key=lambda o: (o.deadline, o.recommendation, o.party),
    )
    with recommended.store.reader() as reader:
        overdue = reader.overdue_parties(AFTER_REPLY_DATE)
        on_the_day = reader.overdue_parties(date(2022, 9, 30))
        first_two = reader.overdue_parties(AFTER_REPLY_DATE, limit=2)
    assert overdue == expected
    assert "2380" not in {o.party for o in overdue}
    assert "2309" in {o.party for o in overdue}  # preparing is still undecided
    assert len(overdue) == len(case.parties) - 1
    assert on_the_day == []  # the reply date itself is not overdue yet
    assert first_two == expected[:2]


def test_a_withdrawn_recommendation_has_no_overdue_parties(recommended: Engine) -> None:
    """Only recommendations still out for decisions count, as on the dashboard."""
    recommended.withdraw(KEY, on=date(2022, 9, 1), reason="replaced")
    with recommended.store.reader() as reader:
        assert reader.overdue_parties(AFTER_REPLY_DATE) == []


def _plan(store: Store) -> str:
    """The database's plan for the exact SQL overdue_parties runs (captured from the driver)."""
    engine = store.engine  # type: ignore[attr-defined]
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "party_decision" in statement and "deadline <" in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with store.reader() as reader:
            reader.overdue_parties(AFTER_REPLY_DATE)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert len(captured) == 1
    statement, parameters = captured[0]
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            return "\n".join(str(row[-1]) for row in rows)
        # A table of nine rows would be read whole, or reached through its one recommendation; at scale the
        # planner takes the index by itself (bench/bench_scale.py prints that plan). Make the tiny case look big.
        connection.exec_driver_sql("SET enable_seqscan = off")
        connection.exec_driver_sql("SET enable_nestloop = off")
        rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        return "\n".join(str(row[0]) for row in rows)


@pytest.mark.usefixtures("recommended")
def test_the_read_uses_the_state_deadline_index(store: Store) -> None:
    """Both databases answer from ix_party_decision_state_deadline, not by reading every party row."""
    plan = _plan(store)
    assert INDEX in plan, plan
