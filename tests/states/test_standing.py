"""A decision counts only while it stands: recounts after consolidation, finality as a policy, late decisions.

Pure domain rules (no database): the CLI tests on both stores are tests/cli/test_standing.py.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from beslut.errors import RuleViolation, TransitionNotAllowed
from beslut.states import case as domain
from beslut.states.calendar import BusinessCalendar
from beslut.states.case import Case, Event
from beslut.states.spec import parse_spec_text, spec_to_data

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "mini-maria-2022.toml").read_text(encoding="utf-8")
TODAY = date(2026, 12, 1)
CAL = BusinessCalendar()
MUNICIPALITIES = ["2380", "2309", "2321", "2313", "2361", "2326", "2305", "2303"]
PARTIES = [*MUNICIPALITIES, "region-jh"]
TOTAL = Decimal(5_000_000)


def _spec_text(policy: str = "unanimous", *, reallocate: bool = False, requires: str | None = None) -> str:
    text = EXAMPLE.replace('consolidation = "unanimous"', f'consolidation = "{policy}"')
    text = re.sub(r"^reallocate_opt_in = false", f"reallocate_opt_in = {str(reallocate).lower()}", text, flags=re.M)
    if requires is not None:
        text = text.replace("in_force_on = 2023-01-01", f'in_force_on = 2023-01-01\nin_force_requires = "{requires}"')
    return text


def _run(case: Case | None, events: list[Event]) -> Case:
    for event in events:
        case = domain.apply(case, event, CAL)
    assert case is not None
    return case


def _recommended(policy: str = "unanimous", *, reallocate: bool = False, requires: str | None = None) -> Case:
    spec = parse_spec_text(_spec_text(policy, reallocate=reallocate, requires=requires))
    case = _run(None, [domain.propose(spec, on=date(2022, 6, 3), today=TODAY)])
    return _run(case, domain.recommend(case, on=date(2022, 6, 3), today=TODAY))


def _decide(case: Case, party: str, on: date, outcome: str = "approved") -> Case:
    return _run(case, domain.decide_party(case, party, outcome=outcome, paragraph="§ 1", on=on, today=TODAY))


def _announce(case: Case, party: str, on: date) -> Case:
    return _run(case, domain.announce_party(case, party, on=on, today=TODAY, calendar=CAL))


def _all_decided(case: Case, *, announce: bool = True, rejecting: tuple[str, ...] = ()) -> Case:
    for party in PARTIES:
        case = _decide(case, party, date(2022, 9, 1), "rejected" if party in rejecting else "approved")
        if announce:
            case = _announce(case, party, date(2022, 9, 5))
    return case


def _appealed(case: Case, party: str, on: date = date(2022, 9, 20)) -> Case:
    return _run(case, domain.appeal_party(case, party, on=on, today=TODAY))


def _annul(case: Case, party: str, on: date) -> tuple[Case, list[Event]]:
    events = domain.settle_party(case, party, result="annulled", on=on, today=TODAY)
    return _run(case, events), events


def _in_force_unanimous() -> Case:
    """All nine approve and announce; 2380 is appealed; consolidated 2022-10-17; in force 2023-01-01."""
    case = _appealed(_all_decided(_recommended()), "2380")
    case = _run(case, domain.consolidate(case, on=date(2022, 10, 17), today=TODAY))
    case = _run(case, domain.enter_into_force(case, on=date(2023, 1, 1)))
    assert ("in_force", "adopted") == (case.state, case.outcome)
    return case


class TestAnnulledAfterConsolidation:
    def test_an_annulment_in_force_is_recounted_and_the_party_may_decide_again(self) -> None:
        case, events = _annul(_in_force_unanimous(), "2380", date(2023, 3, 1))
        assert ["party.decision_annulled", "recommendation.recounted"] == [e.kind for e in events]
        recount = events[1]
        assert date(2023, 3, 1) == recount.valid_on
        assert "not_adopted" == recount.payload["outcome"]
        assert ["2380"] == recount.payload["not_answered"]
        assert [] == recount.payload["participants"]
        assert [p for p in PARTIES if p != "2380"] == recount.payload["approved"]
        # The state is kept (it is not silently undone); the outcome follows the recount; the party is contested.
        assert ("in_force", "not_adopted", ("2380",)) == (case.state, case.outcome, case.contested)
        assert "preparing" == case.party("2380").state
        amounts = case.amounts()
        assert amounts is not None
        assert {Decimal(0)} == set(amounts.values())  # not adopted: nobody is bound, nobody pays
        # The party takes its steps again; its new decision is recounted and it is no longer contested.
        with pytest.raises(TransitionNotAllowed):  # its case is open again (preparing) under its case number
            domain.prepare_party(case, "2380", case_number="KS 2023/9", on=date(2023, 3, 2), today=TODAY)
        case = _run(
            case, domain.propose_party(case, "2380", body="KSAU", paragraph="§ 12", on=date(2023, 3, 2), today=TODAY)
        )
        events = domain.decide_party(
            case, "2380", outcome="approved", paragraph="§ 40", on=date(2023, 4, 3), today=TODAY
        )
        assert ["party.decided", "recommendation.recounted"] == [e.kind for e in events]
        case = _run(case, events)
        assert ("in_force", "adopted", ()) == (case.state, case.outcome, case.contested)
        assert tuple(PARTIES) == case.participants
        amounts = case.amounts()
        assert amounts is not None
        assert TOTAL == sum(amounts.values())
        assert date(2023, 4, 3) == case.recounted_on

    def test_an_uncontested_party_may_not_decide_after_consolidation(self) -> None:
        case = _in_force_unanimous()
        with pytest.raises(RuleViolation, match="is 'in_force'"):
            domain.prepare_party(case, "2309", case_number="KS 1", on=date(2023, 3, 2), today=TODAY)

    def test_opt_in_with_reallocation_resplits_among_those_still_standing(self) -> None:
        case = _recommended("opt_in", reallocate=True)
        case = _appealed(_all_decided(case), "2380")
        case = _run(case, domain.consolidate(case, on=date(2022, 10, 17), today=TODAY))
        before = case.amounts()
        assert before is not None
        case, _ = _annul(case, "2380", date(2022, 11, 1))
        assert "partially_adopted" == case.outcome
        assert "2380" not in (case.participants or ())
        after = case.amounts()
        assert after is not None
        assert Decimal(0) == after["2380"]
        assert TOTAL == sum(after.values())  # the others carry the municipal pool between them
        assert after["2309"] > before["2309"]
        assert after["region-jh"] == before["region-jh"]
        assert not domain.adoption_lost(_recommended(), case)

    def test_opt_in_without_reallocation_charges_the_annulled_party_nothing(self) -> None:
        case = _appealed(_all_decided(_recommended("opt_in")), "2380")
        case = _run(case, domain.consolidate(case, on=date(2022, 10, 17), today=TODAY))
        before = case.amounts()
        assert before is not None
        case, _ = _annul(case, "2380", date(2022, 11, 1))
        after = case.amounts()
        assert after is not None
        assert Decimal(0) == after["2380"]
        assert before["2309"] == after["2309"]
        assert TOTAL - before["2380"] == sum(after.values())

    def test_adoption_lost_only_when_the_recount_no_longer_adopts(self) -> None:
        in_force = _in_force_unanimous()
        annulled, _ = _annul(in_force, "2380", date(2023, 3, 1))
        assert domain.adoption_lost(in_force, annulled)
        assert not domain.adoption_lost(annulled, annulled)  # still not adopted: nothing new to tell

    def test_a_recount_that_adopts_again_brings_the_agreement_into_force(self) -> None:
        """Not adopted at consolidation (2380 rejected); the rejection is annulled, 2380 approves: in force that day."""
        case = _appealed(_all_decided(_recommended(), rejecting=("2380",)), "2380")
        case = _run(case, domain.consolidate(case, on=date(2022, 10, 17), today=TODAY))
        assert ("consolidated", "not_adopted") == (case.state, case.outcome)
        case, _ = _annul(case, "2380", date(2023, 2, 1))
        assert ("consolidated", ("2380",)) == (case.state, case.contested)
        events = domain.decide_party(
            case, "2380", outcome="approved", paragraph="§ 9", on=date(2023, 2, 6), today=TODAY
        )
        assert ["party.decided", "recommendation.recounted", "recommendation.in_force"] == [e.kind for e in events]
        assert date(2023, 2, 6) == events[-1].valid_on  # not the spec's 2023-01-01: it was not adopted then
        case = _run(case, events)
        assert ("in_force", "adopted") == (case.state, case.outcome)

    def test_a_recount_that_keeps_the_adoption_leaves_the_in_force_day_to_its_timer(self) -> None:
        """Opt-in, adopted, its day (2023-01-01) passed before a tick: an annulment on 2023-02-01 keeps it adopted;
        it does not come into force with the annulment (nor on that day): the timer brings it in on 2023-01-01."""
        case = _appealed(_all_decided(_recommended("opt_in")), "2380")
        case = _run(case, domain.consolidate(case, on=date(2022, 10, 17), today=TODAY))
        case, events = _annul(case, "2380", date(2023, 2, 1))
        assert ["party.decision_annulled", "recommendation.recounted"] == [e.kind for e in events]
        assert ("consolidated", "partially_adopted", None) == (case.state, case.outcome, case.readopted_on)
        (entered,) = domain.enter_into_force(case, on=date(2023, 2, 2))
        assert date(2023, 1, 1) == entered.valid_on

    def test_readopted_on_marks_only_a_recount_that_adopts_again(self) -> None:
        case = _appealed(_all_decided(_recommended(), rejecting=("2380",)), "2380")
        case = _run(case, domain.consolidate(case, on=date(2022, 10, 17), today=TODAY))
        case, _ = _annul(case, "2380", date(2022, 11, 1))
        assert None is case.readopted_on  # still not adopted
        case = _decide(case, "2380", date(2022, 11, 7))
        assert ("consolidated", "adopted", date(2022, 11, 7)) == (case.state, case.outcome, case.readopted_on)
        assert date(2023, 1, 1) == domain.in_force_from(case)  # its day is still ahead: the timer brings it in
        case = _appealed(case, "2309", date(2022, 9, 20))  # announced on 2022-09-05 with the others
        case, _ = _annul(case, "2309", date(2022, 12, 1))
        assert ("not_adopted", None) == (case.outcome, case.readopted_on)

    def test_an_annulment_after_supersession_counts_nothing(self) -> None:
        case = _in_force_unanimous()
        case = _run(case, domain.supersede(case, by="svom-2025", on=date(2025, 6, 1)))
        case, events = _annul(case, "2380", date(2025, 7, 1))
        assert ["party.decision_annulled"] == [e.kind for e in events]
        assert () == case.contested

    def test_a_recount_outside_consolidation_is_refused_by_the_machine(self) -> None:
        case = _recommended()
        recount = Event(kind="recommendation.recounted", stream=case.key, valid_on=date(2022, 9, 1), payload={})
        with pytest.raises(TransitionNotAllowed):
            domain.apply(case, recount, CAL)


class TestFinality:
    def test_the_default_is_decided_and_is_not_written_into_the_spec(self) -> None:
        case = _recommended()
        assert "decided" == case.spec.in_force_requires
        assert "in_force_requires" not in spec_to_data(case.spec)
        final = _recommended(requires="final")
        assert "final" == spec_to_data(final.spec)["in_force_requires"]

    def test_an_unknown_requirement_is_refused(self) -> None:
        with pytest.raises(Exception, match="in_force_requires"):
            parse_spec_text(_spec_text(requires="signed"))

    def test_final_waits_for_every_counted_decision_then_the_last_timer_brings_it_into_force(self) -> None:
        case = _all_decided(_recommended(requires="final"))  # announced 2022-09-05: appeal period ends 2022-09-26
        case = _appealed(case, "2380")
        case = _run(case, domain.consolidate(case, on=date(2022, 10, 17), today=TODAY))
        # Every other party's decision gains laga kraft by its timer; 2380 is appealed: not yet.
        for party in PARTIES[1:]:
            case = _run(case, domain.make_final(case, party, on=date(2022, 9, 27)))
        assert ("consolidated", ("2380",)) == (case.state, case.waiting_for_final)
        assert [] == domain.enter_into_force(case, on=date(2023, 1, 1))  # the in-force date alone is not enough
        events = domain.settle_party(case, "2380", result="dismissed", on=date(2023, 2, 10), today=TODAY)
        assert ["party.appeal_dismissed", "recommendation.in_force"] == [e.kind for e in events]
        assert date(2023, 2, 10) == events[-1].valid_on
        case = _run(case, events)
        assert ("in_force", ()) == (case.state, case.waiting_for_final)

    def test_final_reached_before_the_in_force_date_waits_for_it(self) -> None:
        case = _all_decided(_recommended(requires="final"))
        case = _run(case, domain.consolidate(case, on=date(2022, 9, 20), today=TODAY))
        assert set(PARTIES) == set(case.waiting_for_final)
        for party in PARTIES[:-1]:
            case = _run(case, domain.make_final(case, party, on=date(2022, 9, 27)))
        events = domain.make_final(case, PARTIES[-1], on=date(2022, 9, 27))
        assert ["party.final"] == [e.kind for e in events]  # 2023-01-01 has not come
        case = _run(case, events)
        assert () == case.waiting_for_final
        assert date(2023, 1, 1) == domain.in_force_from(case)
        assert ["recommendation.in_force"] == [e.kind for e in domain.enter_into_force(case, on=date(2023, 1, 1))]

    def test_the_timer_that_makes_the_last_decision_final_brings_it_into_force(self) -> None:
        case = _all_decided(_recommended(requires="final"))
        case = _run(case, domain.consolidate(case, on=date(2022, 9, 20), today=TODAY))
        for party in PARTIES[:-1]:
            case = _run(case, domain.make_final(case, party, on=date(2022, 9, 27)))
        late = _announce(case, PARTIES[-1], date(2022, 9, 5)) if case.party(PARTIES[-1]).state == "decided" else case
        # Let the in-force day pass first: the decision becomes final after it.
        assert [] == domain.enter_into_force(late, on=date(2023, 1, 1))
        events = domain.make_final(late, PARTIES[-1], on=date(2023, 1, 10))
        assert ["party.final", "recommendation.in_force"] == [e.kind for e in events]
        assert date(2023, 1, 10) == events[-1].valid_on

    def test_under_the_decided_policy_a_dismissed_appeal_leaves_the_in_force_day_to_its_timer(self) -> None:
        case = _appealed(_all_decided(_recommended()), "2380")
        case = _run(case, domain.consolidate(case, on=date(2022, 10, 17), today=TODAY))
        events = domain.settle_party(case, "2380", result="dismissed", on=date(2023, 2, 1), today=TODAY)
        assert ["party.appeal_dismissed"] == [e.kind for e in events]

    def test_decided_policy_comes_into_force_with_decisions_open_to_appeal(self) -> None:
        case = _all_decided(_recommended())
        case = _run(case, domain.consolidate(case, on=date(2022, 9, 20), today=TODAY))
        assert () == case.waiting_for_final
        assert ["recommendation.in_force"] == [e.kind for e in domain.enter_into_force(case, on=date(2023, 1, 1))]


class TestLateDecisions:
    def test_a_decision_after_the_reply_date_is_late_and_says_so_in_its_payload(self) -> None:
        case = _recommended()
        (event,) = domain.decide_party(
            case, "2380", outcome="approved", paragraph="§ 1", on=date(2022, 10, 5), today=TODAY
        )
        assert 5 == event.payload["days_late"]  # reply by Friday 2022-09-30
        decision = _run(case, [event]).party("2380")
        assert (True, 5) == (decision.late, decision.days_late)

    def test_a_decision_on_the_reply_date_is_not_late(self) -> None:
        case = _recommended()
        (event,) = domain.decide_party(
            case, "2380", outcome="approved", paragraph="§ 1", on=date(2022, 9, 30), today=TODAY
        )
        assert "days_late" not in event.payload
        decision = _run(case, [event]).party("2380")
        assert (False, None) == (decision.late, decision.days_late)
