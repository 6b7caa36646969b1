"""A tick reuses the recommendation it last committed only while the stored version is the same, on both stores.

The tick keeps each recommendation as it committed it, so firing a party's timer does not reread every
party. A write by someone else between two timers of the same tick moves the version: the next timer
must see that write (here a decision), not overwrite it with the tick's older copy. Checked by the
outcome, by ``audit replay --check`` (the tables equal the log) and by ``audit verify``.
"""

from __future__ import annotations

from datetime import date, datetime

from beslut.audit import service
from beslut.clock import STOCKHOLM, FixedClock
from beslut.persistence import Store
from beslut.workflow import Engine
from tests.conftest import KEY, spec_2022

TICK_AT = datetime(2022, 10, 1, 12, 0, tzinfo=STOCKHOLM)  # every party's reply date has passed


def test_a_decision_between_two_timers_of_one_tick_is_kept(store: Store) -> None:
    clock = FixedClock(TICK_AT)
    ticking = Engine(store, clock=clock, actor="ticker")
    ticking.propose(spec_2022(), on=date(2022, 6, 3))
    ticking.recommend(KEY, on=date(2022, 6, 3))
    other = Engine(store, clock=clock, actor="clerk-2303")
    calls = 0

    def between_timers() -> bool:
        nonlocal calls
        calls += 1
        if calls == 3:  # two timers fired (the case is cached), then Ragunda decides through another engine
            other.decide(KEY, "2303", outcome="rejected", paragraph="§ 3", on=date(2022, 9, 29))
        return False

    fired = ticking.tick(TICK_AT, should_stop=between_timers)
    assert len(fired) > 3
    ragunda = ticking.case(KEY).party("2303")
    assert ("rejected", date(2022, 9, 29)) == (ragunda.outcome, ragunda.decided_on)
    assert not ragunda.overdue
    assert service.verify_store(store, parallel=False).ok
    assert [] == service.replay_store(store, check=True, parallel=False).differences  # checked, and none
