"""Party rows are built without PartyDecision's __init__ (a speed-up); they must equal the real thing."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from beslut.persistence._sql import _PARTY_NAMES, _party_decision
from beslut.states.case import PartyDecision
from beslut.workflow import Engine
from tests.conftest import PARTIES, spec_2022


def test_party_decision_can_be_built_from_its_columns() -> None:
    """What the fast path relies on: no __post_init__, no slots, and every field is a stored column."""
    assert not hasattr(PartyDecision, "__post_init__")
    assert "__slots__" not in vars(PartyDecision)
    assert _PARTY_NAMES == tuple(f.name for f in dataclasses.fields(PartyDecision))


def test_a_built_party_equals_one_made_by_init() -> None:
    values: dict[str, Any] = {f.name: None for f in dataclasses.fields(PartyDecision)}
    values.update(key="2380", state="decided", deadline=date(2022, 9, 30), overdue=False, outcome="approved")
    row = tuple(values[name] for name in _PARTY_NAMES)
    built = _party_decision(row)
    made = PartyDecision(**values)
    assert built == made
    assert hash(dataclasses.astuple(built)) == hash(dataclasses.astuple(made))
    assert dataclasses.replace(built, state="final") == dataclasses.replace(made, state="final")


def test_loaded_parties_equal_the_saved_ones(engine: Engine) -> None:
    """Through the store on both stores: what a command saved is what loading gives back, field by field."""
    result = engine.propose(spec_2022(), on=date(2022, 6, 3))
    key = result.case.key
    engine.recommend(key, on=date(2022, 6, 3))
    party = PARTIES[0]
    engine.prepare(key, party, case_number="KS 2022/1", on=date(2022, 6, 10))
    engine.propose_party(key, party, body="KS", paragraph="§ 3", on=date(2022, 6, 13))
    saved = engine.decide(key, party, outcome="approved", paragraph="§ 7", on=date(2022, 6, 20)).case
    loaded = engine.case(key)
    assert loaded.parties == saved.parties
    assert [dataclasses.asdict(p) for p in loaded.parties] == [dataclasses.asdict(p) for p in saved.parties]
