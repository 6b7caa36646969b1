"""The Python API takes ids only as the actor: Engine(actor=...) refuses a name before anything is written.

On both stores. The HTTP API builds its engines the same way (actor ``token:<token id>``), and the
ids the engine records by itself (``scheduler`` for fired timers) pass the same rule.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest

from beslut.api.auth import Principal
from beslut.clock import STOCKHOLM, FixedClock
from beslut.errors import InvalidInput
from beslut.persistence import Store
from beslut.states.actors import is_actor_id
from beslut.workflow import Engine
from tests.conftest import KEY, PARTIES, spec_2022

BAD = ["Anna Andersson", "anna.andersson@example.se", "a" * 65, "", "åsa"]


@pytest.mark.parametrize("value", BAD)
def test_engine_refuses_an_actor_that_is_not_an_id(store: Store, value: str) -> None:
    before = store.dump()
    with pytest.raises(InvalidInput, match=r"^actor .*never a name or an e-mail address"):
        Engine(store, actor=value)
    assert before == store.dump()


def test_a_refused_engine_writes_nothing_even_when_the_caller_goes_on(store: Store, clock: FixedClock) -> None:
    """An engine that refused its actor does not exist, so nothing can be recorded under that actor."""
    Engine(store, clock=clock, actor="setup").propose(spec_2022(), on=date(2022, 6, 3))
    before = store.dump()
    engine: Engine | None = None
    with pytest.raises(InvalidInput):
        engine = Engine(store, clock=clock, actor="Anna Andersson")
    assert engine is None
    assert before == store.dump()


def test_engine_open_refuses_before_creating_the_file(tmp_path: Path) -> None:
    path = tmp_path / "never.db"
    with pytest.raises(InvalidInput):
        Engine.open(path, actor="anna@example.se")
    assert not path.exists()


def test_the_actor_reaches_every_event(store: Store, clock: FixedClock) -> None:
    engine = Engine(store, clock=clock, actor="service:registry-sync")
    engine.propose(spec_2022(), on=date(2022, 6, 3))
    engine.recommend(KEY, on=date(2022, 6, 3))
    assert {"service:registry-sync"} == {json.loads(r.payload)["actor"] for r in engine.audit_log(KEY)}


def test_the_ids_beslut_records_by_itself_pass_the_rule(store: Store) -> None:
    """The scheduler's fired timers are stamped ``scheduler``; every actor in the log passes the rule."""
    setup = Engine(store, clock=FixedClock(datetime(2022, 6, 3, 12, tzinfo=STOCKHOLM)), actor="setup")
    setup.propose(spec_2022(), on=date(2022, 6, 3))
    setup.recommend(KEY, on=date(2022, 6, 3))
    for party in PARTIES[1:]:
        setup.decide(KEY, party, outcome="approved", paragraph="§ 1", on=date(2022, 6, 3))
    later = datetime(2022, 10, 3, 12, tzinfo=STOCKHOLM)
    Engine(store, clock=FixedClock(later)).tick(later)  # 2380 did not answer by 2022-09-30: overdue
    actors = [json.loads(r.payload)["actor"] for r in setup.audit_log(KEY)]
    assert "scheduler" in actors
    assert all(is_actor_id(a) for a in actors), actors
    assert is_actor_id(Engine(store).actor)  # the default, "api"


def test_the_http_api_actor_is_an_id() -> None:
    """``token:<12 hex>`` is what the HTTP API's engine records (beslut.api.tokens issues the id)."""
    assert is_actor_id(Principal(token_id="0123456789ab", role="clerk", party="2380").id)
