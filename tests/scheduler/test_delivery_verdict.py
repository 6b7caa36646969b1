"""The rule a message is checked against when it is delivered (delivery_verdict), without a database.

A message waits in the outbox between the tick that queued it and the delivery pass that sends it; the
case may move on meanwhile. These tests pin the rule down case state by case state; the real processes
on both databases are in tests/scheduler/test_delivery_recheck.py.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from beslut.clock import STOCKHOLM
from beslut.states import case as domain
from beslut.states.calendar import BusinessCalendar
from beslut.states.case import Case, Event
from beslut.states.records import OutboxEntry
from beslut.states.reminders import NO_CONTACT, SEND, Verdict, delivery_verdict
from beslut.states.spec import parse_spec_text

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "mini-maria-2022.toml").read_text(encoding="utf-8")
KEY = "svom-2022-mini-maria"
TODAY = date(2023, 3, 1)
CAL = BusinessCalendar()
PARTY = "2380"
OTHERS = ["2309", "2321", "2313", "2361", "2326", "2305", "2303", "region-jh"]
CHASING = ["before", "overdue", "escalation"]


def _run(case: Case | None, events: list[Event] | Event) -> Case:
    for event in events if isinstance(events, list) else [events]:
        case = domain.apply(case, event, CAL)
    assert case is not None
    return case


def recommended() -> Case:
    """The 2022 case, recommended on 2022-06-03; nobody has decided."""
    case = _run(None, domain.propose(parse_spec_text(EXAMPLE), on=date(2022, 6, 3), today=TODAY))
    return _run(case, domain.recommend(case, on=date(2022, 6, 3), today=TODAY))


def decided(case: Case, party: str = PARTY, on: date = date(2022, 9, 20)) -> Case:
    """*party* approves on *on*."""
    return _run(case, domain.decide_party(case, party, outcome="approved", paragraph="§ 1", on=on, today=TODAY))


def consolidated_with_parties_undecided() -> Case:
    """Counted on 2022-10-05 with nobody having answered: consolidated (not adopted), every party still pending."""
    case = recommended()
    return _run(case, domain.consolidate(case, on=date(2022, 10, 5), today=TODAY))


def in_force() -> Case:
    """Every party approved, counted on 2023-01-02: adopted and in force (from 2023-01-01)."""
    case = recommended()
    for party in [PARTY, *OTHERS]:
        case = decided(case, party)
    return _run(case, domain.consolidate(case, on=date(2023, 1, 2), today=TODAY))


def message(kind: str, *, party: str = PARTY, contact: str = "c-1", **details: object) -> OutboxEntry:
    """An outbox message of *kind* about *party* of the 2022 case."""
    return OutboxEntry(
        recommendation=KEY if kind != "digest" else "",
        party=party,
        kind=kind,
        due_at=datetime(2022, 9, 16, tzinfo=STOCKHOLM),
        contact_id=contact,
        details={"reply_by": "2022-09-30", **details},
    )


def skipped(reason: str) -> Verdict:
    return Verdict(action="skipped", reason=reason)


class TestStillDue:
    @pytest.mark.parametrize("kind", CHASING)
    def test_sent_while_the_party_is_expected_to_decide(self, kind: str) -> None:
        """Recommended and the party pending, preparing or with a committee's proposal: the message goes."""
        case = recommended()
        assert SEND == delivery_verdict(message(kind), case)
        case = _run(case, domain.prepare_party(case, PARTY, case_number="KS 1", on=date(2022, 8, 1), today=TODAY))
        assert SEND == delivery_verdict(message(kind), case)
        case = _run(
            case, domain.propose_party(case, PARTY, body="KSAU", paragraph="§ 5", on=date(2022, 8, 15), today=TODAY)
        )
        assert "proposed" == case.party(PARTY).state
        assert SEND == delivery_verdict(message(kind), case)

    def test_another_partys_decision_changes_nothing(self) -> None:
        assert SEND == delivery_verdict(message("before"), decided(recommended(), "2309"))


class TestNoLongerDue:
    @pytest.mark.parametrize("kind", CHASING)
    def test_skipped_once_the_party_has_decided(self, kind: str) -> None:
        """The issue's case: a reminder queued before the decision is not sent after it."""
        verdict = delivery_verdict(message(kind), decided(recommended()))
        assert skipped("no longer due: the party has decided (decided)") == verdict

    def test_skipped_after_the_decision_is_announced(self) -> None:
        case = decided(recommended())
        case = _run(case, domain.announce_party(case, PARTY, on=date(2022, 9, 22), today=TODAY, calendar=CAL))
        assert skipped("no longer due: the party has decided (announced)") == delivery_verdict(message("overdue"), case)

    @pytest.mark.parametrize("kind", CHASING)
    def test_skipped_once_the_recommendation_is_consolidated_even_with_the_party_undecided(self, kind: str) -> None:
        case = consolidated_with_parties_undecided()
        assert "pending" == case.party(PARTY).state
        assert skipped("no longer due: the recommendation is consolidated") == delivery_verdict(message(kind), case)

    @pytest.mark.parametrize("kind", CHASING)
    def test_skipped_once_the_agreement_is_in_force(self, kind: str) -> None:
        case = in_force()
        assert "in_force" == case.state
        assert skipped("no longer due: the recommendation is in_force") == delivery_verdict(message(kind), case)

    @pytest.mark.parametrize("kind", CHASING)
    def test_skipped_once_withdrawn_or_superseded(self, kind: str) -> None:
        case = recommended()
        withdrawn = _run(case, domain.withdraw(case, on=date(2022, 7, 1), today=TODAY, reason="ny utredning"))
        assert skipped("no longer due: the recommendation is withdrawn") == delivery_verdict(message(kind), withdrawn)
        superseded = _run(in_force(), domain.supersede(in_force(), by="svom-2025", on=date(2025, 3, 7)))
        assert skipped("no longer due: the recommendation is superseded") == delivery_verdict(message(kind), superseded)

    def test_skipped_when_the_recommendation_or_the_party_is_unknown(self) -> None:
        assert skipped(f"no longer due: no recommendation {KEY!r}") == delivery_verdict(message("before"), None)
        assert skipped("no longer due: the recommendation has no party '9999'") == delivery_verdict(
            message("overdue", party="9999"), recommended()
        )


def annulled_in_force() -> Case:
    """:func:`in_force`, then the court annuls 2380's decision on 2023-02-01: recounted, not adopted, contested."""
    case = in_force()
    case = _run(case, domain.announce_party(case, PARTY, on=date(2023, 1, 3), today=TODAY, calendar=CAL))
    case = _run(case, domain.appeal_party(case, PARTY, on=date(2023, 1, 10), today=TODAY))
    case = _run(case, domain.settle_party(case, PARTY, result="annulled", on=date(2023, 2, 1), today=TODAY))
    assert ("in_force", "not_adopted", (PARTY,)) == (case.state, case.outcome, case.contested)
    return case


class TestRecountEscalation:
    """An escalation queued because a court annulled a counted decision: due while the agreement is not adopted."""

    def test_a_recount_escalation_is_sent_while_the_agreement_is_not_adopted(self) -> None:
        assert SEND == delivery_verdict(message("escalation", reason="recount"), annulled_in_force())
        consolidated = consolidated_with_parties_undecided()  # counted, not adopted
        assert SEND == delivery_verdict(message("escalation", reason="recount"), consolidated)

    def test_moot_once_a_later_recount_adopted_it_again(self) -> None:
        case = annulled_in_force()
        case = _run(
            case,
            domain.decide_party(case, PARTY, outcome="approved", paragraph="§ 9", on=date(2023, 2, 20), today=TODAY),
        )
        assert skipped("no longer due: a later recount adopted the agreement again (adopted)") == delivery_verdict(
            message("escalation", reason="recount"), case
        )

    def test_moot_once_superseded_or_unknown(self) -> None:
        case = annulled_in_force()
        case = _run(case, domain.supersede(case, by="svom-2025", on=date(2023, 2, 20)))
        assert skipped("no longer due: the recommendation is superseded") == delivery_verdict(
            message("escalation", reason="recount"), case
        )
        assert skipped(f"no longer due: no recommendation {KEY!r}") == delivery_verdict(
            message("escalation", reason="recount"), None
        )

    def test_only_the_recount_reason_and_only_on_an_escalation(self) -> None:
        """Another reason, or a reminder that happens to carry reason=recount, is judged by the reminder rule."""
        case = in_force()
        stale = skipped("no longer due: the recommendation is in_force")
        assert stale == delivery_verdict(message("escalation", reason="late"), case)
        assert stale == delivery_verdict(message("overdue", reason="recount"), case)

    def test_a_recount_escalation_to_no_contact_fails(self) -> None:
        verdict = delivery_verdict(message("escalation", contact="", reason="recount"), annulled_in_force())
        assert Verdict(action="failed", reason=NO_CONTACT) == verdict


class TestNoContact:
    @pytest.mark.parametrize("kind", [*CHASING, "digest"])
    def test_a_due_message_to_no_contact_fails_and_is_never_sent(self, kind: str) -> None:
        assert Verdict(action="failed", reason="no contact") == delivery_verdict(
            message(kind, contact=""), recommended()
        )

    def test_a_message_no_longer_due_is_skipped_rather_than_failed(self) -> None:
        """Nobody needs to act on a reminder to no contact that is not due anyway."""
        verdict = delivery_verdict(message("before", contact=""), decided(recommended()))
        assert "skipped" == verdict.action


class TestDigest:
    def test_a_digest_goes_as_it_is(self) -> None:
        """A digest is the coordinator's snapshot of its morning; it names no single case to check."""
        assert SEND == delivery_verdict(message("digest", party="region-jh"), None)
