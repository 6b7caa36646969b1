"""The Python API and its batch on both stores: a recount is one transaction with its escalation and supersession.

A single command (``Engine.settle``/``Engine.decide``) and the same steps in ``Engine.batch`` must
record the same events, queue the coordinator's escalation when the recount no longer adopts the
agreement, and supersede the revised agreement when a recount brings a revision into force.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from beslut.clock import STOCKHOLM, FixedClock
from beslut.states.records import Contact
from beslut.workflow import Engine, PartyStep
from tests.conftest import KEY, PARTIES, spec_2022, spec_2025

REVISION = "svom-2025-mini-maria-revision"


def _in_force(engine: Engine, clock: FixedClock) -> None:
    """The 2022 agreement: all approve, 2380 announces and is appealed, consolidated and in force."""
    engine.propose(spec_2022(), on=date(2022, 6, 3))
    engine.add_contact(Contact(id="c-region", party="region-jh", email="registrator@example.org"))
    engine.recommend(KEY, on=date(2022, 6, 3))
    for party in PARTIES:
        engine.decide(KEY, party, outcome="approved", paragraph="§ 1", on=date(2022, 9, 5))
    engine.announce(KEY, "2380", on=date(2022, 9, 8))
    engine.appeal(KEY, "2380", on=date(2022, 9, 20))
    clock.set(datetime(2023, 1, 10, 12, tzinfo=STOCKHOLM))
    engine.consolidate(KEY, on=date(2023, 1, 10))
    assert "in_force" == engine.case(KEY).state


def _escalations(engine: Engine) -> list[tuple[str, str, str]]:
    return [(m.party, m.contact_id, m.details["reason"]) for m in engine.outbox() if m.kind == "escalation"]


def test_settle_records_the_recount_and_queues_the_escalation_in_one_command(engine: Engine, clock: FixedClock) -> None:
    _in_force(engine, clock)
    result = engine.settle(KEY, "2380", result="annulled", on=date(2023, 1, 10))
    assert ["party.decision_annulled", "recommendation.recounted"] == [r.kind for r in result.records]
    assert ("in_force", "not_adopted", ("2380",)) == (result.case.state, result.case.outcome, result.case.contested)
    assert [("2380", "c-region", "recount")] == _escalations(engine)
    again = engine.decide(KEY, "2380", outcome="approved", paragraph="§ 9", on=date(2023, 1, 10))
    assert ["party.decided", "recommendation.recounted"] == [r.kind for r in again.records]
    assert ("adopted", ()) == (again.case.outcome, again.case.contested)
    assert 1 == len(_escalations(engine))  # adopted again: nothing new to escalate
    assert engine.case(KEY) == engine.replay(KEY)


def test_the_batch_does_what_the_single_commands_do(engine: Engine, clock: FixedClock) -> None:
    _in_force(engine, clock)
    steps = [
        PartyStep(action="settle", key=KEY, party="2380", on=date(2023, 1, 10), result="annulled"),
        PartyStep(action="propose", key=KEY, party="2380", on=date(2023, 1, 10), body="KSAU", paragraph="§ 2"),
    ]
    result = engine.batch(steps)
    kinds = [r.kind for r in result.records]
    assert ["party.decision_annulled", "recommendation.recounted", "party.proposed"] == kinds
    assert [("2380", "c-region", "recount")] == _escalations(engine)
    assert ("not_adopted", ("2380",)) == (engine.case(KEY).outcome, engine.case(KEY).contested)
    assert engine.case(KEY) == engine.replay(KEY)


@pytest.mark.parametrize("through", ["command", "batch"])
def test_a_recount_that_brings_a_revision_into_force_supersedes_the_old_agreement(
    engine: Engine, clock: FixedClock, through: str
) -> None:
    """The 2025 revision, counted not adopted (2380 rejected); the rejection annulled, 2380 approves: in force."""
    _in_force(engine, clock)
    clock.set(datetime(2025, 10, 1, 12, tzinfo=STOCKHOLM))
    engine.propose(spec_2025(), on=date(2025, 3, 7))
    engine.recommend(REVISION, on=date(2025, 3, 7))
    for party in PARTIES:
        outcome = "rejected" if party == "2380" else "approved"
        engine.decide(REVISION, party, outcome=outcome, paragraph="§ 1", on=date(2025, 5, 5))
    engine.announce(REVISION, "2380", on=date(2025, 5, 7))
    engine.appeal(REVISION, "2380", on=date(2025, 5, 20))
    engine.consolidate(REVISION, on=date(2025, 6, 20))
    engine.settle(REVISION, "2380", result="annulled", on=date(2025, 9, 10))
    assert ("consolidated", "not_adopted", "in_force") == (
        engine.case(REVISION).state,
        engine.case(REVISION).outcome,
        engine.case(KEY).state,
    )
    decision = {"outcome": "approved", "paragraph": "§ 70", "on": date(2025, 9, 22)}
    if through == "command":
        records = engine.decide(REVISION, "2380", **decision).records  # type: ignore[arg-type]
    else:
        records = engine.batch([PartyStep(action="decide", key=REVISION, party="2380", **decision)]).records  # type: ignore[arg-type]
    assert [
        "party.decided",
        "recommendation.recounted",
        "recommendation.in_force",
        "recommendation.superseded",
    ] == [r.kind for r in records]
    assert ("in_force", date(2025, 9, 22)) == (engine.case(REVISION).state, engine.case(REVISION).in_force_since)
    assert ("superseded", REVISION) == (engine.case(KEY).state, engine.case(KEY).superseded_by)
    assert engine.verify_audit().ok
