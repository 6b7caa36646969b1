"""Every event handler changes only fields that exist (``_evolve`` copies ``__dict__`` and trusts them).

A handler that named a field wrongly would give a case an attribute that no field, comparison or
status document knows of, and leave the real field as it was. The handlers are run here on every kind
of event (the benchmark's recommendations, made by the domain's own commands, and a supersession).
"""

from __future__ import annotations

from dataclasses import fields
from datetime import date

from bench.bench_audit import recommendation_events
from beslut.states import case as domain
from beslut.states.calendar import BusinessCalendar
from beslut.states.case import Case, PartyDecision

CALENDAR = BusinessCalendar()
CASE_FIELDS = {f.name for f in fields(Case)}
PARTY_FIELDS = {f.name for f in fields(PartyDecision)}


def _check(case: Case) -> None:
    assert CASE_FIELDS == set(vars(case)), set(vars(case)) ^ CASE_FIELDS
    for party in case.parties:
        assert PARTY_FIELDS == set(vars(party)), set(vars(party)) ^ PARTY_FIELDS


def test_every_handler_changes_only_fields_that_exist() -> None:
    kinds: set[str] = set()
    in_force: list[Case] = []
    for index in range(120):
        case: Case | None = None
        for event in recommendation_events(index, CALENDAR):
            case = domain.apply(case, event, CALENDAR)
            kinds.add(event.kind)
            _check(case)
        assert case is not None
        if case.state == "in_force":
            in_force.append(case)
    assert in_force, "no recommendation came into force: add more"
    (supersession,) = domain.supersede(in_force[0], by="svom-2026-next", on=date(2026, 1, 2))
    superseded = domain.apply(in_force[0], supersession, CALENDAR)
    kinds.add("recommendation.superseded")
    _check(superseded)
    assert ("superseded", "svom-2026-next") == (superseded.state, superseded.superseded_by)
    recounted = _annul_one(in_force[0])
    kinds.update({"party.appealed", "party.decision_annulled", "recommendation.recounted"})
    _check(recounted)
    assert recounted.contested
    assert recounted.recounted_on is not None
    assert {"recommendation.proposed", *domain._HANDLERS} == kinds  # every handler was run


def _annul_one(case: Case) -> Case:
    """An appeal against one of *case*'s decisions, annulled by the court: a recount."""
    party = next(p for p in case.parties if p.state in ("announced", "final"))
    today = date(2026, 6, 1)
    assert party.appeal_last_day is not None
    for event in domain.appeal_party(case, party.key, on=party.appeal_last_day, today=today):
        case = domain.apply(case, event, CALENDAR)
    for event in domain.settle_party(case, party.key, result="annulled", on=today, today=today):
        case = domain.apply(case, event, CALENDAR)
    return case


def test_an_evolved_copy_is_equal_to_one_made_by_its_constructor() -> None:
    decision = PartyDecision(key="2380", deadline=date(2022, 9, 30))
    changed = domain._evolve(decision, {"state": "decided", "outcome": "approved"})
    assert PartyDecision(key="2380", deadline=date(2022, 9, 30), state="decided", outcome="approved") == changed
    assert ("pending", None) == (decision.state, decision.outcome)  # the original is untouched
    assert vars(changed) is not vars(decision)
