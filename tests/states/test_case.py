"""The case rules, without a database: legal dates, consolidation policies, cost after opt-in, replay."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from beslut.errors import Duplicate, InvalidInput, RuleViolation
from beslut.states import case as domain
from beslut.states.audit_chain import GENESIS_HASH, AuditRecord, seal
from beslut.states.calendar import BusinessCalendar
from beslut.states.case import Case, Event
from beslut.states.replay import replay_stream
from beslut.states.spec import parse_spec_text

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "mini-maria-2022.toml").read_text(encoding="utf-8")
TODAY = date(2022, 12, 1)
CAL = BusinessCalendar()
MUNICIPALITIES = ["2380", "2309", "2321", "2313", "2361", "2326", "2305", "2303"]


def _spec_text(policy: str = "unanimous", *, reallocate: bool = False) -> str:
    text = EXAMPLE.replace('consolidation = "unanimous"', f'consolidation = "{policy}"')
    return re.sub(r"^reallocate_opt_in = false", f"reallocate_opt_in = {str(reallocate).lower()}", text, flags=re.M)


def _run(case: Case | None, events: list[Event] | Event) -> Case:
    for event in events if isinstance(events, list) else [events]:
        case = domain.apply(case, event, CAL)
    assert case is not None
    return case


def _recommended(policy: str = "unanimous", *, reallocate: bool = False) -> Case:
    spec = parse_spec_text(_spec_text(policy, reallocate=reallocate))
    case = _run(None, domain.propose(spec, on=date(2022, 6, 3), today=TODAY))
    return _run(case, domain.recommend(case, on=date(2022, 6, 3), today=TODAY))


def _decide(case: Case, party: str, outcome: str, on: date = date(2022, 9, 1)) -> Case:
    conditions = "villkor" if outcome == "approved_with_conditions" else None
    return _run(
        case,
        domain.decide_party(case, party, outcome=outcome, paragraph="§ 1", on=on, today=TODAY, conditions=conditions),
    )


class TestLegalDates:
    def test_future_date_refused(self) -> None:
        """A legal date after today is refused."""
        case = _recommended()
        with pytest.raises(InvalidInput, match="after today"):
            domain.decide_party(case, "2380", outcome="approved", paragraph="§ 1", on=date(2022, 12, 2), today=TODAY)

    def test_before_previous_step_refused(self) -> None:
        """A step dated before the party's previous step is refused."""
        case = _run(
            _recommended(),
            domain.prepare_party(_recommended(), "2380", case_number="KS 1", on=date(2022, 8, 1), today=TODAY),
        )
        with pytest.raises(RuleViolation, match="previous step"):
            domain.decide_party(case, "2380", outcome="approved", paragraph="§ 1", on=date(2022, 7, 1), today=TODAY)

    def test_before_recommendation_refused(self) -> None:
        """A party step before the recommendation was sent is refused."""
        with pytest.raises(RuleViolation, match="sent to the parties"):
            domain.decide_party(
                _recommended(), "2380", outcome="approved", paragraph="§ 1", on=date(2022, 6, 1), today=TODAY
            )

    def test_parties_in_any_order(self) -> None:
        """Late registration: a party's older decision may be recorded after another party's newer one."""
        case = _decide(_recommended(), "2380", "approved", date(2022, 9, 20))
        case = _decide(case, "2309", "approved", date(2022, 8, 1))
        assert date(2022, 8, 1) == case.party("2309").decided_on

    def test_appeal_after_period_refused(self) -> None:
        """An appeal dated after the appeal period's last day is refused."""
        case = _decide(_recommended(), "2380", "approved")
        case = _run(case, domain.announce_party(case, "2380", on=date(2022, 9, 5), today=TODAY, calendar=CAL))
        assert date(2022, 9, 26) == case.party("2380").appeal_last_day
        with pytest.raises(RuleViolation, match="too late"):
            domain.appeal_party(case, "2380", on=date(2022, 9, 27), today=TODAY)

    def test_late_registered_appeal_reopens_a_final_decision(self) -> None:
        """An appeal lodged in time but registered after laga kraft moves the decision back to appealed."""
        case = _decide(_recommended(), "2380", "approved")
        case = _run(case, domain.announce_party(case, "2380", on=date(2022, 9, 5), today=TODAY, calendar=CAL))
        case = _run(case, domain.make_final(case, "2380", on=date(2022, 9, 27)))
        case = _run(case, domain.appeal_party(case, "2380", on=date(2022, 9, 26), today=TODAY))
        assert "appealed" == case.party("2380").state
        assert case.party("2380").final_on is None


class TestDecisions:
    def test_duplicate_decision_refused(self) -> None:
        """A second decision for a party is a duplicate."""
        case = _decide(_recommended(), "2380", "approved")
        with pytest.raises(Duplicate, match="already decided"):
            domain.decide_party(case, "2380", outcome="rejected", paragraph="§ 2", on=date(2022, 9, 2), today=TODAY)

    def test_body_defaults_to_the_spec(self) -> None:
        """The deciding body defaults to the party's body in the spec."""
        assert "KF" == _decide(_recommended(), "2309", "approved").party("2309").deciding_body

    def test_annulled_decision_must_be_taken_again(self) -> None:
        """An annulled decision sends the party back to preparing, with its outcome cleared."""
        case = _decide(_recommended(), "2380", "approved")
        case = _run(case, domain.announce_party(case, "2380", on=date(2022, 9, 5), today=TODAY, calendar=CAL))
        case = _run(case, domain.appeal_party(case, "2380", on=date(2022, 9, 10), today=TODAY))
        case = _run(case, domain.settle_party(case, "2380", result="annulled", on=date(2022, 11, 1), today=TODAY))
        assert ("preparing", None) == (case.party("2380").state, case.party("2380").outcome)

    def test_party_steps_closed_after_consolidation(self) -> None:
        """After consolidation no party can decide."""
        case = _recommended()
        case = _run(case, domain.consolidate(case, on=date(2022, 10, 3), today=TODAY))
        with pytest.raises(RuleViolation, match="'consolidated'"):
            domain.decide_party(case, "2380", outcome="approved", paragraph="§ 1", on=date(2022, 10, 4), today=TODAY)


class TestConsolidation:
    def test_refused_while_undecided_before_reply_date(self) -> None:
        """Consolidating on or before the reply date with undecided parties is refused, naming them."""
        case = _decide(_recommended(), "2380", "approved")
        with pytest.raises(RuleViolation, match="2309 \\(reply by 2022-09-30\\)"):
            domain.consolidate(case, on=date(2022, 9, 30), today=TODAY)

    def test_missing_count_as_not_answered_after_reply_date(self) -> None:
        """After the reply date the undecided parties count as not answered."""
        case = _decide(_recommended(), "2380", "approved")
        events = domain.consolidate(case, on=date(2022, 10, 3), today=TODAY)
        assert 8 == len(events[0].payload["not_answered"])
        assert "not_adopted" == events[0].payload["outcome"]

    @pytest.mark.parametrize(
        ("policy", "approvals", "expected"),
        [
            ("unanimous", 9, "adopted"),
            ("unanimous", 8, "not_adopted"),
            ("opt_in", 9, "adopted"),
            ("opt_in", 3, "partially_adopted"),
            ("opt_in", 0, "not_adopted"),
            ("quorum:5", 5, "adopted"),
            ("quorum:5", 4, "not_adopted"),
        ],
    )
    def test_policy_outcomes(self, policy: str, approvals: int, expected: str) -> None:
        """Each policy counts approvals (with conditions counting as approval) into its outcome."""
        case = _recommended(policy)
        for index, party in enumerate(p.key for p in case.parties):
            outcome = ("approved_with_conditions" if index % 2 else "approved") if index < approvals else "rejected"
            case = _decide(case, party, outcome)
        case = _run(case, domain.consolidate(case, on=date(2022, 10, 3), today=TODAY))
        assert expected == case.outcome

    def test_in_force_waits_for_its_date(self) -> None:
        """An adopted agreement with a future in-force date is consolidated but not yet in force."""
        case = _recommended()
        for party in case.parties:
            case = _decide(case, party.key, "approved")
        case = _run(case, domain.consolidate(case, on=date(2022, 10, 3), today=TODAY))
        assert ("consolidated", "adopted") == (case.state, case.outcome)
        case = _run(case, domain.enter_into_force(case, on=date(2023, 1, 1)))
        assert "in_force" == case.state


class TestCost:
    def test_planned_amounts_match_the_known_answer(self) -> None:
        """Before consolidation every party's planned share is shown; they sum to 5 000 000 exactly."""
        amounts = _recommended().amounts()
        assert amounts is not None
        assert Decimal("1236026") == amounts["2380"]
        assert Decimal("5000000") == sum(amounts.values())

    def test_opt_in_without_reallocation(self) -> None:
        """Under opt-in without reallocation, those who approved pay their planned share; others nothing."""
        case = _recommended("opt_in")
        for party in ["2380", "2309", "region-jh"]:
            case = _decide(case, party, "approved")
        case = _run(case, domain.consolidate(case, on=date(2022, 10, 3), today=TODAY))
        amounts = case.amounts()
        assert amounts is not None
        assert (Decimal("1236026"), Decimal("294998"), Decimal("0")) == (
            amounts["2380"],
            amounts["2309"],
            amounts["2321"],
        )

    def test_opt_in_with_reallocation(self) -> None:
        """With reallocate_opt_in the municipal pool is re-split among the municipalities that approved."""
        case = _recommended("opt_in", reallocate=True)
        for party in ["2380", "2309", "region-jh"]:
            case = _decide(case, party, "approved")
        case = _run(case, domain.consolidate(case, on=date(2022, 10, 3), today=TODAY))
        amounts = case.amounts()
        assert amounts is not None
        assert Decimal("2537500") == amounts["2380"] + amounts["2309"]
        assert Decimal("5000000") == sum(amounts.values())

    @pytest.mark.parametrize(
        ("approver", "reallocate", "expected"),
        [
            # Krokom alone, planned share: 2 537 500 x 15352 / 132054 by largest remainder = 294 998.
            ("2309", False, Decimal("294998")),
            # Krokom alone with reallocation: the whole municipal pool is re-split among one municipality.
            ("2309", True, Decimal("2537500")),
            # The Region alone: its own pool either way (no other party in it to re-split among).
            ("region-jh", False, Decimal("2462500")),
            ("region-jh", True, Decimal("2462500")),
        ],
    )
    def test_opt_in_with_exactly_one_approval(self, approver: str, reallocate: bool, expected: Decimal) -> None:
        """One approval under opt-in: partially adopted, that party the only participant and the only payer."""
        case = _recommended("opt_in", reallocate=reallocate)
        others = [p.key for p in case.parties if p.key != approver]
        case = _decide(case, approver, "approved")
        for party in others[:5]:
            case = _decide(case, party, "rejected")  # the rest do not answer by the reply date
        events = domain.consolidate(case, on=date(2022, 10, 3), today=TODAY)
        counted = events[0].payload
        assert ("partially_adopted", [approver], [approver]) == (
            counted["outcome"],
            counted["approved"],
            counted["participants"],
        )
        assert (others[:5], others[5:]) == (counted["rejected"], counted["not_answered"])
        case = _run(case, events)
        assert ("partially_adopted", (approver,)) == (case.outcome, case.participants)
        amounts = case.amounts()
        assert amounts is not None
        assert {approver: expected} == {party: amount for party, amount in amounts.items() if amount}
        assert set(amounts) == {p.key for p in case.parties}
        assert expected == sum(amounts.values())

    def test_not_adopted_costs_nothing(self) -> None:
        """A not adopted recommendation costs nobody anything."""
        case = _decide(_recommended(), "2380", "rejected")
        case = _run(case, domain.consolidate(case, on=date(2022, 10, 3), today=TODAY))
        amounts = case.amounts()
        assert amounts is not None
        assert Decimal(0) == sum(amounts.values())


class TestReplay:
    def test_replay_gives_the_same_case(self) -> None:
        """Folding the events again from nothing gives an equal case."""
        events: list[Event] = []
        spec = parse_spec_text(EXAMPLE)
        first = domain.propose(spec, on=date(2022, 6, 3), today=TODAY)
        events.append(first)
        case = _run(None, first)
        steps: tuple[Callable[[Case], list[Event]], ...] = (
            lambda c: domain.recommend(c, on=date(2022, 6, 3), today=TODAY),
            lambda c: domain.decide_party(
                c, "2380", outcome="approved", paragraph="§ 1", on=date(2022, 9, 1), today=TODAY
            ),
            lambda c: domain.announce_party(c, "2380", on=date(2022, 9, 5), today=TODAY, calendar=CAL),
            lambda c: domain.consolidate(c, on=date(2022, 10, 3), today=TODAY),
        )
        for step in steps:
            new = step(case)
            events.extend(new)
            case = _run(case, new)
        assert case == replay_stream(_sealed(events), CAL)

    def test_replay_refuses_an_illegal_order(self) -> None:
        """A log with a decision announced before it was taken does not replay."""
        spec = parse_spec_text(EXAMPLE)
        events = [
            domain.propose(spec, on=date(2022, 6, 3), today=TODAY),
            Event(kind="recommendation.recommended", stream=spec.key, valid_on=date(2022, 6, 3), payload={}),
            Event(
                kind="party.announced",
                stream=spec.key,
                valid_on=date(2022, 9, 5),
                payload={"party": "2380", "appeal_last_day": "2022-09-26"},
            ),
        ]
        with pytest.raises(ValueError, match=r"^seq 3: party\.announced is not a legal transition"):
            replay_stream(_sealed(events), CAL)


def _sealed(events: list[Event]) -> list[AuditRecord]:
    """*events* as one stream's audit records (what the one replay folds)."""
    records: list[AuditRecord] = []
    prev = GENESIS_HASH
    for seq, event in enumerate(events, start=1):
        record = seal(
            seq=seq,
            stream=event.stream,
            stream_seq=seq,
            recorded_at="2022-12-01T09:00:00.000000+01:00",
            valid_on=event.valid_on.isoformat(),
            kind=event.kind,
            payload=dict(event.payload),
            prev_hash=prev,
        )
        prev = record.hash
        records.append(record)
    return records


class TestSharedBetweenCases:
    """Opening decisions and allocations are cached by value: equal specs share them, different ones never."""

    @staticmethod
    def _opened(text: str, key: str) -> Case:
        spec = parse_spec_text(text.replace('key = "svom-2022-mini-maria"', f'key = "{key}"', 1))
        return _run(None, domain.propose(spec, on=date(2022, 6, 3), today=TODAY))

    def test_specs_equal_but_for_their_key_share_the_opening_decisions(self) -> None:
        first, second = self._opened(EXAMPLE, "round-1"), self._opened(EXAMPLE, "round-2")
        assert first.parties is second.parties
        assert date(2022, 9, 30) == first.party("2380").deadline

    def test_a_late_joiners_reply_date_is_its_own(self) -> None:
        late = EXAMPLE.replace('key = "2380"', 'key = "2380"\nreply_by = 2022-11-05', 1)  # a Saturday
        opened = self._opened(EXAMPLE, "round-1"), self._opened(late, "round-2")
        assert [date(2022, 9, 30), date(2022, 11, 7)] == [case.party("2380").deadline for case in opened]
        assert [date(2022, 9, 30)] * 2 == [case.party("2309").deadline for case in opened]

    def test_rolling_is_part_of_the_key(self) -> None:
        on_sunday = EXAMPLE.replace("reply_by = 2022-09-30", "reply_by = 2022-10-02", 1)
        fixed = on_sunday.replace("reply_by_rolls = true", "reply_by_rolls = false", 1)
        rolled, not_rolled = self._opened(on_sunday, "round-1"), self._opened(fixed, "round-2")
        assert (date(2022, 10, 3), date(2022, 10, 2)) == (rolled.party("2309").deadline, not_rolled.party("2309").deadline)

    def test_amounts_follow_the_unit_as_written_and_are_the_callers_own(self) -> None:
        in_kronor = self._opened(EXAMPLE, "round-1").amounts()
        as_written = self._opened(EXAMPLE.replace('unit = "1" ', 'unit = "1.00"', 1), "round-2").amounts()
        assert in_kronor is not None
        assert as_written is not None
        assert in_kronor == as_written  # equal amounts...
        assert str(in_kronor["2380"]) + ".00" == str(as_written["2380"])  # ...each written to its unit
        in_kronor["2380"] = Decimal(0)
        again = self._opened(EXAMPLE, "round-3").amounts()
        assert again is not None
        assert Decimal(0) != again["2380"]


@pytest.mark.parametrize("multiline", [False, True])
def test_text_refuses_exactly_the_control_characters(multiline: bool) -> None:
    """C0 controls and DEL are refused (tab and newline allowed in multi-line text); nothing else is."""
    from beslut.states.case import _text  # noqa: PLC0415 - the private check itself

    allowed_controls = {"\t", "\n"} if multiline else set()
    for code in [*range(0x300), 0x85, 0x9F, 0x2028, 0x2029, 0xFEFF, 0x1F600]:
        character = chr(code)
        refused = (code < 32 and character not in allowed_controls) or code == 127
        if refused:
            with pytest.raises(InvalidInput, match="control characters"):
                _text("body", f"a{character}b", 100, multiline=multiline)
        else:
            assert _text("body", f"a{character}b", 100, multiline=multiline) == f"a{character}b"
