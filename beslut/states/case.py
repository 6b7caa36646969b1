"""A recommendation case, the events that change it, and the rules that decide them.

Event-sourced at heart: every command checks its rules and returns *events*;
:func:`apply` is the only function that turns an event into a new :class:`Case`,
firing the machine definitions of :mod:`beslut.states.machines`. The store keeps
the resulting rows as a fast projection, and the auditor's replay (a later issue)
folds the very same :func:`apply` over the log, so "live state equals replayed
state" holds by construction rather than by hope.

No I/O here: dates come in as arguments, and "today" is given by the caller.
"""

from __future__ import annotations

import functools
import itertools
import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final, Literal, TypeVar

from beslut.errors import Duplicate, FieldError, InvalidInput, NotFound, RuleViolation
from beslut.states.allocation import CostSpec, allocate
from beslut.states.calendar import BusinessCalendar
from beslut.states.machines import PARTY_MACHINE, RECOMMENDATION_MACHINE
from beslut.states.spec import PartySpec, RecommendationSpec, check_proposable, populations_of, spec_to_data
from beslut.states.spec_cache import parse_spec_data

Outcome = Literal["approved", "rejected", "approved_with_conditions"]
OUTCOMES: Final = ("approved", "rejected", "approved_with_conditions")
APPROVING: Final = frozenset({"approved", "approved_with_conditions"})
UNDECIDED: Final = frozenset({"pending", "preparing", "proposed"})
DECIDED: Final = frozenset({"decided", "announced", "appealed", "final"})
PARTY_STEPS_OPEN: Final = frozenset({"recommended"})
RECOUNT_STATES: Final = frozenset({"consolidated", "in_force"})
"""After consolidation, while the agreement counts: a change of a counted decision is followed by a recount."""
_MAY_COME_INTO_FORCE: Final = frozenset({"recommended", "consolidated"})
FOLLOW_UP_OPEN: Final = frozenset({"recommended", "consolidated", "in_force", "superseded"})
MAX_FIELD = 200
MAX_LONG_TEXT = 4000
ADOPTED_OUTCOMES: Final = frozenset({"adopted", "partially_adopted"})
_Frozen = TypeVar("_Frozen", "Case", "PartyDecision")


@dataclass(frozen=True, kw_only=True)
class Event:
    """One fact about one recommendation: what happened (`kind`), on which legal date, with which data.

    `payload` is JSON-ready (strings, ints, bools, lists, dicts; no floats) and holds
    ids, never names of people or e-mail addresses.
    """

    kind: str
    stream: str
    valid_on: date
    payload: Mapping[str, Any]


_new_object = object.__new__
_set_attribute = object.__setattr__  # a frozen dataclass's own __setattr__ refuses


def known_event(kind: str, stream: str, valid_on: date, payload: Mapping[str, Any]) -> Event:
    """``Event(kind=…, stream=…, valid_on=…, payload=…)`` without the frozen dataclass's ``__init__``.

    Why: that ``__init__`` sets each field through ``object.__setattr__``, dearer than filling
    ``__dict__``, and an auditor's replay makes an event of every row of the log. The fields are the
    same; an event made either way is equal to the other.
    """
    event: Event = _new_object(Event)
    event.__dict__.update(kind=kind, stream=stream, valid_on=valid_on, payload=payload)
    return event


@dataclass(frozen=True, kw_only=True)
class PartyDecision:
    """Where one party stands on one recommendation.

    The decision is recorded for the recommendation as a whole; a later issue adds
    per-clause decisions beside `outcome` (one row per clause) without changing this shape.
    """

    key: str
    state: str = "pending"
    deadline: date
    overdue: bool = False
    case_number: str | None = None
    prepared_on: date | None = None
    proposal_body: str | None = None
    proposal_paragraph: str | None = None
    proposed_on: date | None = None
    outcome: str | None = None
    conditions: str | None = None
    deciding_body: str | None = None
    paragraph: str | None = None
    decided_on: date | None = None
    announced_on: date | None = None
    appeal_last_day: date | None = None
    appealed_on: date | None = None
    settled_on: date | None = None
    settlement: str | None = None
    final_on: date | None = None
    reported_on: date | None = None
    last_step_on: date | None = None

    @property
    def approved(self) -> bool:
        """True when the party's standing decision counts as approval."""
        return self.state in DECIDED and self.outcome in APPROVING

    @property
    def days_late(self) -> int | None:
        """How many days after its (rolled) reply date the party decided; None when it decided in time or not yet."""
        if self.decided_on is None or self.decided_on <= self.deadline:
            return None
        return (self.decided_on - self.deadline).days

    @property
    def late(self) -> bool:
        """True when the party's standing decision was taken after its reply date."""
        return self.days_late is not None


@dataclass(frozen=True, kw_only=True)
class Case:
    """A recommendation and all its parties' decisions, at one version."""

    spec: RecommendationSpec
    state: str
    version: int
    reply_deadline: date
    proposed_on: date
    parties: tuple[PartyDecision, ...]
    outcome: str | None = None
    participants: tuple[str, ...] | None = None
    recommended_on: date | None = None
    consolidated_on: date | None = None
    in_force_since: date | None = None
    withdrawn_on: date | None = None
    withdraw_reason: str | None = None
    superseded_on: date | None = None
    superseded_by: str | None = None
    contested: tuple[str, ...] = ()
    """Parties whose counted decision was annulled after consolidation and that have not decided again."""
    recounted_on: date | None = None
    readopted_on: date | None = None
    """The day a recount adopted the agreement again after one had left it not adopted; None while it has
    been adopted since its consolidation (or is not adopted)."""
    _index: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {p.key: i for i, p in enumerate(self.parties)})

    @property
    def key(self) -> str:
        """The recommendation's unique key."""
        return self.spec.key

    def party(self, key: str) -> PartyDecision:
        """Return the decision of party *key*.

        Raises:
            NotFound: the recommendation has no such party.
        """
        index = self._index.get(key)
        if index is None:
            known = ", ".join(p.key for p in self.parties)
            raise NotFound(f"recommendation {self.key!r} has no party {key!r} (parties: {known})")
        return self.parties[index]

    def with_party(self, decision: PartyDecision) -> Case:
        """Return a copy with one party's decision replaced."""
        return _evolve(self, _with_party(self, decision))

    def amounts(self) -> dict[str, Decimal] | None:
        """Each party's share of the cost now: planned before consolidation, actual after it.

        No party is bound without its own approving decision, so after consolidation
        only the participants pay (re-split among them when the spec says so); a
        withdrawn or not adopted recommendation costs nobody anything.
        """
        cost = self.spec.cost
        if cost is None:
            return None
        nobody = self.state == "withdrawn" or self.outcome == "not_adopted"
        return dict(_allocation(cost, str(cost.unit), self.spec.parties, () if nobody else self.participants))

    @property
    def waiting_for_final(self) -> tuple[str, ...]:
        """The parties whose counted decision is still open to appeal, holding up the agreement.

        Only while an adopted agreement that requires finality (``in_force_requires = "final"``)
        waits to come into force; empty otherwise.
        """
        if not self._waits_for_finality():
            return ()
        return tuple(p.key for p in self.parties if p.state in DECIDED and p.state != "final")

    def _waits_for_finality(self) -> bool:
        return (
            self.spec.in_force_requires == "final" and self.state == "consolidated" and self.outcome in ADOPTED_OUTCOMES
        )


@functools.lru_cache(maxsize=256)  # bounded: memory stays flat
def _allocation(
    cost: CostSpec, unit_as_written: str, parties: tuple[PartySpec, ...], participants: tuple[str, ...] | None
) -> Mapping[str, Decimal]:
    """:func:`allocate` for :meth:`Case.amounts`, cached: cases of one template pay the same shares.

    A status document per recommendation allocates its cost again, and a replay writes one per
    recommendation. Keyed by value; *unit_as_written* because equal Decimals may differ in exponent ("0.01" and
    "0.010" are equal keys) and the amounts are quantized to the unit as written. Read-only: callers
    get a copy.
    """
    return MappingProxyType(allocate(cost, populations_of(parties), participants=participants))


# ---------------------------------------------------------------- reply dates


def _deadline(own_reply_by: date | None, reply_by: date, rolls: bool, calendar: BusinessCalendar) -> date:
    """A party's last day to answer: its own reply date or the recommendation's, rolled if the spec says so."""
    day = own_reply_by if own_reply_by is not None else reply_by
    return calendar.roll_forward(day) if rolls else day


# ---------------------------------------------------------------- commands


def propose(spec: RecommendationSpec, *, on: date, today: date) -> Event:
    """A new recommendation is proposed."""
    _not_in_future(on, today)
    check_proposable(spec)
    return Event(kind="recommendation.proposed", stream=spec.key, valid_on=on, payload={"spec": spec_to_data(spec)})


def recommend(case: Case, *, on: date, today: date) -> list[Event]:
    """The recommendation is sent to the parties; their decisions open."""
    _recommendation("recommend", case)
    _not_in_future(on, today)
    _not_before(on, case.proposed_on, "the recommendation was proposed")
    return [Event(kind="recommendation.recommended", stream=case.key, valid_on=on, payload={})]


def withdraw(case: Case, *, on: date, today: date, reason: str) -> list[Event]:
    """The issuer withdraws the recommendation."""
    _recommendation("withdraw", case)
    _not_in_future(on, today)
    _not_before(on, case.recommended_on or case.proposed_on, "the recommendation's previous step")
    reason = _text("reason", reason, MAX_LONG_TEXT, multiline=True)
    return [Event(kind="recommendation.withdrawn", stream=case.key, valid_on=on, payload={"reason": reason})]


def prepare_party(case: Case, party_key: str, *, case_number: str, on: date, today: date) -> list[Event]:
    """A party opens its case (diarienummer) with an officer's report."""
    decision = _party_step(case, party_key, on, today, open_states=PARTY_STEPS_OPEN, trigger="prepare")
    payload = {"party": decision.key, "case_number": _text("case_number", case_number, MAX_FIELD)}
    return [Event(kind="party.prepared", stream=case.key, valid_on=on, payload=payload)]


def propose_party(case: Case, party_key: str, *, body: str, paragraph: str, on: date, today: date) -> list[Event]:
    """A committee of the party proposes a decision (a proposal, not a decision)."""
    decision = _party_step(case, party_key, on, today, open_states=PARTY_STEPS_OPEN, trigger="propose")
    payload = {
        "party": decision.key,
        "body": _text("body", body, MAX_FIELD),
        "paragraph": _text("paragraph", paragraph, MAX_FIELD),
    }
    return [Event(kind="party.proposed", stream=case.key, valid_on=on, payload=payload)]


def decide_party(
    case: Case,
    party_key: str,
    *,
    outcome: str,
    paragraph: str,
    on: date,
    today: date,
    body: str | None = None,
    conditions: str | None = None,
) -> list[Event]:
    """The party's deciding body decides."""
    decision = case.party(party_key)
    if decision.state in DECIDED:
        raise Duplicate(
            f"party {party_key!r} has already decided on {case.key!r} "
            f"({decision.outcome}, {decision.decided_on}); a new decision needs the old one annulled"
        )
    decision = _party_step(case, party_key, on, today, open_states=PARTY_STEPS_OPEN, trigger="decide")
    if outcome not in OUTCOMES:
        raise InvalidInput(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    if outcome == "approved_with_conditions":
        if not conditions or not conditions.strip():
            raise FieldError("conditions", "outcome approved_with_conditions needs {field}")
        conditions = _text("conditions", conditions, MAX_LONG_TEXT, multiline=True)
    elif conditions:
        raise FieldError("conditions", f"{{field}} only goes with approved_with_conditions, not {outcome}")
    spec_party = case.spec.party(party_key)
    assert spec_party is not None
    payload: dict[str, Any] = {
        "party": party_key,
        "outcome": outcome,
        "body": _text("body", body or spec_party.deciding_body, MAX_FIELD),
        "paragraph": _text("paragraph", paragraph, MAX_FIELD),
    }
    if conditions:
        payload["conditions"] = conditions
    if on > decision.deadline:  # the fact goes in the log: replay and auditors see it without a tick in between
        payload["days_late"] = (on - decision.deadline).days
    decided = Event(kind="party.decided", stream=case.key, valid_on=on, payload=payload)
    return _recount(case, [decided], party_key)


def announce_party(case: Case, party_key: str, *, on: date, today: date, calendar: BusinessCalendar) -> list[Event]:
    """The signed minutes are announced on the notice board; the three-week appeal period starts."""
    decision = _party_step(case, party_key, on, today, open_states=FOLLOW_UP_OPEN, trigger="announce")
    last_day = calendar.appeal_period_last_day(on)
    payload = {"party": decision.key, "appeal_last_day": last_day.isoformat()}
    return [Event(kind="party.announced", stream=case.key, valid_on=on, payload=payload)]


def appeal_party(case: Case, party_key: str, *, on: date, today: date) -> list[Event]:
    """An appeal (laglighetsprövning) against the party's decision has been lodged."""
    decision = _party_open(case, party_key, FOLLOW_UP_OPEN)
    PARTY_MACHINE.fire(decision.state, "appeal", subject=f"{party_key} of {case.key}")
    _not_in_future(on, today)
    if decision.announced_on is not None:
        _not_before(on, decision.announced_on, f"party {party_key!r} announced its decision")
    if decision.appeal_last_day is not None and on > decision.appeal_last_day:
        raise RuleViolation(
            f"an appeal lodged on {on} is too late: the appeal period of party {party_key!r} "
            f"ended on {decision.appeal_last_day}"
        )
    return [Event(kind="party.appealed", stream=case.key, valid_on=on, payload={"party": party_key})]


def settle_party(case: Case, party_key: str, *, result: str, on: date, today: date) -> list[Event]:
    """The court has ruled: `dismissed` (the decision stands, final) or `annulled` (decide again)."""
    if result not in ("dismissed", "annulled"):
        raise InvalidInput(f"result must be dismissed or annulled, got {result!r}")
    trigger = "dismiss_appeal" if result == "dismissed" else "annul"
    decision = _party_step(case, party_key, on, today, open_states=FOLLOW_UP_OPEN, trigger=trigger)
    if result == "dismissed":
        dismissed = Event(kind="party.appeal_dismissed", stream=case.key, valid_on=on, payload={"party": decision.key})
        return _then_in_force(case, [dismissed], on)
    annulled = Event(kind="party.decision_annulled", stream=case.key, valid_on=on, payload={"party": decision.key})
    return _recount(case, [annulled], decision.key)


def report_party(case: Case, party_key: str, *, on: date, today: date) -> list[Event]:
    """The coordinator has received the party's minute extract (protokollsutdrag)."""
    decision = case.party(party_key)
    if decision.reported_on is not None:
        raise Duplicate(f"the minute extract of party {party_key!r} was already received on {decision.reported_on}")
    if decision.state not in DECIDED:
        raise RuleViolation(f"party {party_key!r} is {decision.state!r}: there is no decision to report yet")
    _not_in_future(on, today)
    if decision.decided_on is not None:
        _not_before(on, decision.decided_on, f"party {party_key!r} decided")
    _party_open(case, party_key, FOLLOW_UP_OPEN)
    return [Event(kind="party.minute_extract_received", stream=case.key, valid_on=on, payload={"party": party_key})]


def consolidate(case: Case, *, on: date, today: date) -> list[Event]:
    """Count the decisions under the spec's policy; an adopted agreement may come into force at once."""
    _recommendation("consolidate", case)
    _not_in_future(on, today)
    assert case.recommended_on is not None
    _not_before(on, case.recommended_on, "the recommendation was sent to the parties")
    still_open = [p for p in case.parties if p.state in UNDECIDED and on <= p.deadline]
    if still_open:
        names = ", ".join(f"{p.key} (reply by {p.deadline})" for p in still_open)
        raise RuleViolation(
            f"cannot consolidate {case.key!r} on {on}: parties still undecided before their reply date: {names}"
        )
    later = [p for p in case.parties if p.decided_on is not None and p.decided_on > on]
    if later:
        raise RuleViolation(
            f"cannot consolidate on {on}: party {later[0].key!r} decided later, on {later[0].decided_on}"
        )
    consolidated = Event(kind="recommendation.consolidated", stream=case.key, valid_on=on, payload=tally(case))
    return _then_in_force(case, [consolidated], on)


def tally(case: Case) -> dict[str, Any]:
    """Count the parties' standing decisions under the spec's policy: what a consolidation (and a recount) records.

    Only a standing decision counts: an annulled one is gone (the party is back to preparing and
    counts as not answered until it decides anew), so nobody is bound without its own decision.
    """
    approved = [p.key for p in case.parties if p.approved]
    rejected = [p.key for p in case.parties if p.state in DECIDED and not p.approved]
    not_answered = [p.key for p in case.parties if p.state in UNDECIDED]
    outcome = count_outcome(case.spec, len(approved))
    return {
        "outcome": outcome,
        "policy": str(case.spec.consolidation),
        "approved": approved,
        "rejected": rejected,
        "not_answered": not_answered,
        "participants": approved if outcome in ADOPTED_OUTCOMES else [],
    }


def _recount(case: Case, events: list[Event], party_key: str) -> list[Event]:
    """*events* (a change of *party_key*'s counted decision after consolidation), then the recount they call for.

    The recount is counted on the case as it stands after *events*, dated with their legal date, and
    names the parties still contested (:func:`recount_event`). An agreement that the recount adopts (again)
    comes into force by :func:`in_force_from`'s rule in the same command. Outside
    :data:`RECOUNT_STATES` nothing is counted, so *events* are returned as they are.
    """
    if case.state not in RECOUNT_STATES:
        return events
    on = events[-1].valid_on
    recounted = recount_event(_fold(case, events), party_key, on=on)
    return _then_in_force(case, [*events, recounted], on)


def recount_event(changed: Case, party_key: str, *, on: date) -> Event:
    """The recount of *changed*, a consolidated case whose party *party_key* has just changed its counted decision.

    A party back to an undecided state had its decision annulled: it joins the contested parties;
    a party that decided leaves them. The auditor's replay checks a logged recount against this.
    """
    still = {key for key in changed.contested if key != party_key}
    if changed.party(party_key).state in UNDECIDED:
        still.add(party_key)
    payload = {**tally(changed), "contested": [p.key for p in changed.parties if p.key in still], "changed": party_key}
    return Event(kind="recommendation.recounted", stream=changed.key, valid_on=on, payload=payload)


def adoption_lost(before: Case, after: Case) -> bool:
    """True when a recount turned an adopted agreement into one that is not: never left silent.

    The agreement keeps its state (it may be in force), lists the contested parties, and the
    coordinator must be told (an escalation is queued with the change).
    """
    return (
        before.state in RECOUNT_STATES and before.outcome in ADOPTED_OUTCOMES and after.outcome not in ADOPTED_OUTCOMES
    )


def _fold(case: Case, events: Iterable[Event]) -> Case:
    """The case after *events* that a command is about to record (no proposal among them: no calendar needed)."""
    for event in events:
        changes = _HANDLERS[event.kind](case, event)
        changes["version"] = case.version + 1
        case = _evolve(case, changes)
    return case


def _then_in_force(case: Case, events: list[Event], on: date) -> list[Event]:
    """*events*, followed by the agreement's coming into force when they unblocked it and its day has come by *on*.

    Only a change that let the agreement come into force (a consolidation or a recount that adopts it,
    the last counted decision gaining laga kraft) brings it in with the command; an agreement whose day
    was already known before the change waits for its in-force timer, as it did before the change.
    """
    if case.state not in _MAY_COME_INTO_FORCE or in_force_from(case) is not None:
        return events
    day = in_force_from(_fold(case, events))
    if day is not None and day <= on:
        events.append(enter_into_force_event(case.key, day))
    return events


def in_force_from(case: Case) -> date | None:
    """The day a consolidated, adopted agreement comes into force; None while it cannot (yet).

    The day is the spec's ``in_force_on`` (without one, the consolidation day), but never before a
    recount that adopted it again (:attr:`Case.readopted_on`), and under ``in_force_requires = "final"``
    never before the last counted decision gained laga kraft; while one of them is still open to appeal
    there is no day.
    The in-force timer, consolidation, a recount and a decision becoming final all ask this one rule.
    """
    if case.state != "consolidated" or case.outcome not in ADOPTED_OUTCOMES:
        return None
    assert case.consolidated_on is not None
    days = [case.spec.in_force_on or case.consolidated_on]
    if case.readopted_on is not None:
        days.append(case.readopted_on)
    if case.spec.in_force_requires == "final":
        counted = [p for p in case.parties if p.state in DECIDED]
        if any(p.state != "final" for p in counted):
            return None
        days.extend(p.final_on for p in counted if p.final_on is not None)
    return max(days)


def count_outcome(spec: RecommendationSpec, approvals: int) -> str:
    """The outcome under the spec's policy given how many parties approved."""
    total = len(spec.parties)
    policy = spec.consolidation
    if policy.kind == "unanimous":
        return "adopted" if approvals == total else "not_adopted"
    if policy.kind == "opt_in":
        if approvals == 0:
            return "not_adopted"
        return "adopted" if approvals == total else "partially_adopted"
    assert policy.quorum is not None
    return "adopted" if approvals >= policy.quorum else "not_adopted"


def enter_into_force_event(key: str, on: date) -> Event:
    """The adopted agreement comes into force on *on*."""
    return Event(kind="recommendation.in_force", stream=key, valid_on=on, payload={})


def supersede(case: Case, *, by: str, on: date) -> list[Event]:
    """The in-force agreement is replaced by the revision *by*; nothing happens if it is not in force."""
    if case.state != "in_force":
        return []
    return [Event(kind="recommendation.superseded", stream=case.key, valid_on=on, payload={"by": by})]


def mark_overdue(case: Case, party_key: str, *, on: date) -> list[Event]:
    """The party's reply date has passed without a decision (fired by tick)."""
    decision = case.party(party_key)
    if case.state != "recommended" or decision.state not in UNDECIDED or decision.overdue:
        return []
    return [Event(kind="party.overdue", stream=case.key, valid_on=on, payload={"party": party_key})]


def make_final(case: Case, party_key: str, *, on: date) -> list[Event]:
    """The appeal period ended with no appeal: the decision has laga kraft (fired by tick)."""
    if case.party(party_key).state != "announced":
        return []
    final = Event(kind="party.final", stream=case.key, valid_on=on, payload={"party": party_key})
    return _then_in_force(case, [final], on)


def enter_into_force(case: Case, *, on: date) -> list[Event]:
    """The in-force date has come for a consolidated, adopted agreement (fired by tick)."""
    day = in_force_from(case)
    if day is None or day > on:
        return []
    return [enter_into_force_event(case.key, day)]


# ---------------------------------------------------------------- apply


def apply(case: Case | None, event: Event, calendar: BusinessCalendar) -> Case:
    """Return the case after *event*: the one place where state changes.

    Raises the machine's refusal when the event is not a legal transition from the
    case's state, which makes a forged or reordered log fail on replay.

    Each handler says only which fields change; the new case is made with one
    :func:`_evolve` (a ``__dict__`` copy) instead of chained :func:`dataclasses.replace`
    calls, which re-ran ``__init__`` and rebuilt the party index per event and were most
    of the auditor's replay time (docs/performance.md).
    """
    if event.kind == "recommendation.proposed":
        if case is not None:
            raise Duplicate(f"recommendation {event.stream!r} already exists")
        return _new_case(event, calendar)
    if case is None:
        raise NotFound(f"no recommendation {event.stream!r}")
    handler = _HANDLERS.get(event.kind)
    if handler is None:
        raise InvalidInput(f"unknown event kind {event.kind!r}")
    changes = handler(case, event)
    changes["version"] = case.version + 1
    return _evolve(case, changes)


def changed_party_indexes(before: Case, after: Case) -> list[int]:
    """The positions of the parties of *after* that are not the very objects of *before* (same parties).

    Why by identity, in C (``map`` of ``operator.is_not``): a command or a fired timer changes one
    party of thousands, every unchanged decision is carried over as the same object, and a Python
    loop comparing them cost more than the rest of firing one timer at 10,000 parties.
    """
    return list(itertools.compress(itertools.count(), map(operator.is_not, before.parties, after.parties)))


def _evolve(obj: _Frozen, changes: Mapping[str, Any]) -> _Frozen:
    """A copy of the frozen dataclass *obj* with *changes*: :func:`dataclasses.replace` for the hot path.

    Why not ``replace``: it re-runs ``__init__`` (one ``object.__setattr__`` per field and, for a
    :class:`Case`, a rebuilt party index), which is most of the cost of :func:`apply`. Copying
    ``__dict__`` is equivalent here because no field is validated or derived in ``__init__`` except
    the party index, and that index is reused only when the party keys stay as they are (a party's
    decision is replaced in place, never added, removed or moved).

    The copied ``__dict__`` is given to the new object whole (``dict.copy`` is the fastest copy there
    is). That every handler names only fields is a test (tests/states/test_evolve.py), not a check
    here: it was a visible share of this function's cost, paid twice per event of a replay.
    """
    state = obj.__dict__.copy()
    state.update(changes)
    new = _new_object(type(obj))
    _set_attribute(new, "__dict__", state)
    return new


def _new_case(event: Event, calendar: BusinessCalendar) -> Case:
    spec = parse_spec_data(event.payload["spec"])  # shared with same-text proposals under another key
    parties = _opening_decisions(spec.parties, spec.reply_by, spec.reply_by_rolls, calendar)
    return Case(
        spec=spec,
        state=RECOMMENDATION_MACHINE.initial,
        version=1,
        reply_deadline=calendar.roll_forward(spec.reply_by) if spec.reply_by_rolls else spec.reply_by,
        proposed_on=event.valid_on,
        parties=parties,
    )


@functools.lru_cache(maxsize=256)  # bounded: memory stays flat; keyed by value, so only equal specs share
def _opening_decisions(
    parties: tuple[PartySpec, ...], reply_by: date, rolls: bool, calendar: BusinessCalendar
) -> tuple[PartyDecision, ...]:
    """Every party's decision as a new case opens it: undecided, with its deadline (:func:`_deadline`).

    Cached because recommendations proposed from one template share their parties and reply date, and
    making the decisions (a deadline rolled past holidays per party) was a visible share of replaying
    the audit log. The decisions are frozen, so sharing them between cases is safe; the calendar is part
    of the key (by identity: a calendar's answers never change).
    """
    return tuple(PartyDecision(key=p.key, deadline=_deadline(p.reply_by, reply_by, rolls, calendar)) for p in parties)


def _recommendation(trigger: str, case: Case, facts: Mapping[str, bool] | None = None) -> str:
    return RECOMMENDATION_MACHINE.fire(case.state, trigger, subject=case.key, facts=facts)


Changes = dict[str, Any]


def _with_party(case: Case, decision: PartyDecision) -> Changes:
    """The change that puts *decision* in its party's place."""
    parties = list(case.parties)
    parties[case._index[decision.key]] = decision
    return {"parties": tuple(parties)}


def _party_transition(case: Case, event: Event, trigger: str, **changes: Any) -> Changes:
    decision = case.party(event.payload["party"])
    state = PARTY_MACHINE.known_move(decision.state, trigger) or PARTY_MACHINE.fire(
        decision.state, trigger, subject=f"{decision.key} of {case.key}"
    )
    changes["state"] = state
    changes["last_step_on"] = event.valid_on
    return _with_party(case, _evolve(decision, changes))


def _on_recommended(case: Case, event: Event) -> Changes:
    return {"state": _recommendation("recommend", case), "recommended_on": event.valid_on}


def _on_withdrawn(case: Case, event: Event) -> Changes:
    state = _recommendation("withdraw", case)
    return {"state": state, "withdrawn_on": event.valid_on, "withdraw_reason": event.payload["reason"]}


def _on_consolidated(case: Case, event: Event) -> Changes:
    return {
        "state": _recommendation("consolidate", case),
        "consolidated_on": event.valid_on,
        "outcome": event.payload["outcome"],
        "participants": tuple(event.payload["participants"]),
    }


def _on_recounted(case: Case, event: Event) -> Changes:
    state = _recommendation("recount", case)  # first: a recount outside consolidation is refused as such
    p = event.payload
    adopted, was_adopted = p["outcome"] in ADOPTED_OUTCOMES, case.outcome in ADOPTED_OUTCOMES
    return {
        "state": state,
        "outcome": p["outcome"],
        "participants": tuple(p["participants"]),
        "contested": tuple(p["contested"]),
        "recounted_on": event.valid_on,
        "readopted_on": (event.valid_on if not was_adopted else case.readopted_on) if adopted else None,
    }


def _on_in_force(case: Case, event: Event) -> Changes:
    state = _recommendation("enter_into_force", case, {"adopted": case.outcome in ADOPTED_OUTCOMES})
    return {"state": state, "in_force_since": event.valid_on}


def _on_superseded(case: Case, event: Event) -> Changes:
    state = _recommendation("supersede", case)
    return {"state": state, "superseded_on": event.valid_on, "superseded_by": event.payload["by"]}


def _on_prepared(case: Case, event: Event) -> Changes:
    return _party_transition(
        case, event, "prepare", case_number=event.payload["case_number"], prepared_on=event.valid_on
    )


def _on_proposed(case: Case, event: Event) -> Changes:
    return _party_transition(
        case,
        event,
        "propose",
        proposal_body=event.payload["body"],
        proposal_paragraph=event.payload["paragraph"],
        proposed_on=event.valid_on,
    )


def _on_decided(case: Case, event: Event) -> Changes:
    p = event.payload
    return _party_transition(
        case,
        event,
        "decide",
        outcome=p["outcome"],
        conditions=p.get("conditions"),
        deciding_body=p["body"],
        paragraph=p["paragraph"],
        decided_on=event.valid_on,
        overdue=False,
    )


def _on_announced(case: Case, event: Event) -> Changes:
    last_day = date.fromisoformat(event.payload["appeal_last_day"])
    return _party_transition(case, event, "announce", announced_on=event.valid_on, appeal_last_day=last_day)


def _on_appealed(case: Case, event: Event) -> Changes:
    return _party_transition(case, event, "appeal", appealed_on=event.valid_on, final_on=None)


def _on_appeal_dismissed(case: Case, event: Event) -> Changes:
    return _party_transition(
        case, event, "dismiss_appeal", settled_on=event.valid_on, settlement="dismissed", final_on=event.valid_on
    )


def _on_annulled(case: Case, event: Event) -> Changes:
    return _party_transition(
        case,
        event,
        "annul",
        settled_on=event.valid_on,
        settlement="annulled",
        outcome=None,
        conditions=None,
        decided_on=None,
        deciding_body=None,
        paragraph=None,
        announced_on=None,
        appeal_last_day=None,
        reported_on=None,
    )


def _on_final(case: Case, event: Event) -> Changes:
    return _party_transition(case, event, "become_final", final_on=event.valid_on)


def _on_overdue(case: Case, event: Event) -> Changes:
    decision = case.party(event.payload["party"])
    return _with_party(case, _evolve(decision, {"overdue": True}))


def _on_minute_extract(case: Case, event: Event) -> Changes:
    decision = case.party(event.payload["party"])
    return _with_party(case, _evolve(decision, {"reported_on": event.valid_on}))


_HANDLERS: Final = {
    "recommendation.recommended": _on_recommended,
    "recommendation.withdrawn": _on_withdrawn,
    "recommendation.consolidated": _on_consolidated,
    "recommendation.in_force": _on_in_force,
    "recommendation.recounted": _on_recounted,
    "recommendation.superseded": _on_superseded,
    "party.prepared": _on_prepared,
    "party.proposed": _on_proposed,
    "party.decided": _on_decided,
    "party.announced": _on_announced,
    "party.appealed": _on_appealed,
    "party.appeal_dismissed": _on_appeal_dismissed,
    "party.decision_annulled": _on_annulled,
    "party.final": _on_final,
    "party.overdue": _on_overdue,
    "party.minute_extract_received": _on_minute_extract,
}

EVENT_KINDS: Final = ("recommendation.proposed", *_HANDLERS)


# ---------------------------------------------------------------- rule helpers


def _not_in_future(on: date, today: date) -> None:
    if on > today:
        raise InvalidInput(f"the legal date {on} is after today ({today})")


def _not_before(on: date, earlier: date, what: str) -> None:
    if on < earlier:
        raise RuleViolation(f"the legal date {on} is before {what} on {earlier}")


def _party_open(case: Case, party_key: str, open_states: frozenset[str]) -> PartyDecision:
    decision = case.party(party_key)
    if case.state not in open_states and not _decides_anew(case, party_key, open_states):
        raise RuleViolation(
            f"recommendation {case.key!r} is {case.state!r}: party {party_key!r} cannot record this step now"
        )
    return decision


def _decides_anew(case: Case, party_key: str, open_states: frozenset[str]) -> bool:
    """True for a step towards a new decision by a party whose counted decision was annulled after consolidation.

    The party is no longer bound by it and may take its steps (prepare, propose, decide) again.
    """
    return open_states is PARTY_STEPS_OPEN and case.state in RECOUNT_STATES and party_key in case.contested


def _party_step(
    case: Case, party_key: str, on: date, today: date, *, open_states: frozenset[str], trigger: str
) -> PartyDecision:
    decision = _party_open(case, party_key, open_states)
    PARTY_MACHINE.fire(decision.state, trigger, subject=f"{party_key} of {case.key}")
    _not_in_future(on, today)
    if case.recommended_on is not None:
        _not_before(on, case.recommended_on, "the recommendation was sent to the parties")
    if decision.last_step_on is not None:
        _not_before(on, decision.last_step_on, f"the previous step of party {party_key!r}")
    return decision


def _text(name: str, value: str, limit: int, *, multiline: bool = False) -> str:
    value = value.strip()
    if not value:
        raise FieldError(name, "{field} must not be empty")
    if len(value) > limit:
        raise FieldError(name, f"{{field}} is longer than {limit} characters")
    if (_CONTROL_MULTILINE if multiline else _CONTROL).search(value):
        raise FieldError(name, "{field} contains control characters")
    return value


# C0 control characters and DEL (a multi-line text may hold tab and newline): one regex search in C instead
# of a Python test per character (every party step checks two or three texts, and audit verify re-runs them).
_CONTROL: Final = re.compile("[\x00-\x1f\x7f]")
_CONTROL_MULTILINE: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
