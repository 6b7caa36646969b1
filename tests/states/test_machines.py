"""The two machine definitions: every allowed transition goes where the table says, every other is refused."""

from __future__ import annotations

import itertools

import pytest

from beslut.errors import DefinitionError, RuleViolation, TransitionNotAllowed
from beslut.states.machines import PARTY, PARTY_MACHINE, RECOMMENDATION, RECOMMENDATION_MACHINE, MachineDefinition

EXPECTED_RECOMMENDATION = {
    ("proposed", "recommend"): "recommended",
    ("proposed", "withdraw"): "withdrawn",
    ("recommended", "withdraw"): "withdrawn",
    ("recommended", "consolidate"): "consolidated",
    ("consolidated", "enter_into_force"): "in_force",
    ("in_force", "supersede"): "superseded",
    ("consolidated", "recount"): "consolidated",
    ("in_force", "recount"): "in_force",
}

EXPECTED_PARTY = {
    ("pending", "prepare"): "preparing",
    ("pending", "propose"): "proposed",
    ("preparing", "propose"): "proposed",
    ("proposed", "propose"): "proposed",
    ("pending", "decide"): "decided",
    ("preparing", "decide"): "decided",
    ("proposed", "decide"): "decided",
    ("decided", "announce"): "announced",
    ("announced", "appeal"): "appealed",
    ("final", "appeal"): "appealed",
    ("announced", "become_final"): "final",
    ("appealed", "dismiss_appeal"): "final",
    ("appealed", "annul"): "preparing",
}

CASES = [
    (RECOMMENDATION_MACHINE, EXPECTED_RECOMMENDATION, {"adopted": True}),
    (PARTY_MACHINE, EXPECTED_PARTY, {}),
]


def _all_pairs() -> list[tuple[MachineDefinition, dict[tuple[str, str], str], dict[str, bool], str, str]]:
    return [
        (machine, expected, facts, state, trigger)
        for machine, expected, facts in CASES
        for state, trigger in itertools.product(machine.states, machine.triggers)
    ]


class TestTransitions:
    @pytest.mark.parametrize(
        ("machine", "expected", "facts", "state", "trigger"),
        _all_pairs(),
        ids=lambda v: v if isinstance(v, str) else "",
    )
    def test_every_state_trigger_pair(
        self,
        machine: MachineDefinition,
        expected: dict[tuple[str, str], str],
        facts: dict[str, bool],
        state: str,
        trigger: str,
    ) -> None:
        """An allowed pair lands in the expected state; any other pair is refused naming the state and the allowed triggers."""
        if (state, trigger) in expected:
            assert expected[(state, trigger)] == machine.fire(state, trigger, subject="x", facts=facts)
            return
        with pytest.raises(TransitionNotAllowed) as refused:
            machine.fire(state, trigger, subject="x", facts=facts)
        assert state == refused.value.state
        assert machine.allowed_triggers(state) == refused.value.allowed
        assert repr(state) in str(refused.value)

    def test_expected_tables_cover_the_definitions(self) -> None:
        """The test tables list exactly the transitions the definitions have (nothing else is reachable)."""
        for machine, expected, _ in CASES:
            defined = {(t.source, t.trigger): t.dest for t in machine.transitions}
            assert expected == defined

    def test_enter_into_force_needs_adoption(self) -> None:
        """A not adopted consolidation cannot come into force: the condition refuses it."""
        with pytest.raises(RuleViolation, match="adopted"):
            RECOMMENDATION_MACHINE.fire("consolidated", "enter_into_force", subject="k", facts={"adopted": False})

    def test_refusal_message_names_state_and_allowed(self) -> None:
        """The refusal says which state the machine was in and which triggers are allowed."""
        with pytest.raises(TransitionNotAllowed) as refused:
            PARTY_MACHINE.fire("decided", "decide", subject="2380 of k")
        assert "party decision 2380 of k is 'decided': 'decide' is not allowed; allowed: announce" == str(refused.value)

    def test_final_states_say_none_allowed(self) -> None:
        """A terminal state's refusal says that nothing is allowed."""
        with pytest.raises(TransitionNotAllowed, match=r"none \(final state\)"):
            RECOMMENDATION_MACHINE.fire("withdrawn", "recommend", subject="k")


class TestKnownMove:
    """The replay's shortcut says only what fire said before, and never a move fire refuses."""

    def test_known_only_after_a_fire_and_equal_to_it(self) -> None:
        machine = MachineDefinition(PARTY)
        assert machine.known_move("pending", "prepare") is None
        moved = machine.fire("pending", "prepare", subject="2380 of k")
        assert moved == machine.known_move("pending", "prepare")

    def test_a_refused_move_is_never_known(self) -> None:
        machine = MachineDefinition(PARTY)
        with pytest.raises(TransitionNotAllowed):
            machine.fire("pending", "to_final", subject="x")
        assert machine.known_move("pending", "to_final") is None

    def test_a_move_with_facts_is_not_known_without_them(self) -> None:
        machine = MachineDefinition(RECOMMENDATION)
        for state, trigger, facts in _moves_with_facts(machine):
            machine.fire(state, trigger, subject="k", facts=facts)
            assert machine.known_move(state, trigger) is None


def _moves_with_facts(machine: MachineDefinition) -> list[tuple[str, str, dict[str, bool]]]:
    """Every (state, trigger) of *machine* that has conditions, with all its facts true."""
    found = []
    for t in machine.transitions:
        if t.conditions:
            found.append((t.source, t.trigger, dict.fromkeys(t.conditions, True)))
    assert found, "the recommendation machine has conditional moves (consolidate)"
    return found


class TestDefinitions:
    @pytest.mark.parametrize("definition", [RECOMMENDATION, PARTY], ids=["recommendation", "party"])
    def test_every_state_is_reachable_from_the_initial_state(self, definition: dict[str, object]) -> None:
        """Building the definition succeeds: every state can be reached."""
        machine = MachineDefinition(definition)
        assert machine.initial == definition["initial"]

    def test_terminal_states(self) -> None:
        """Withdrawn and superseded end a recommendation; final ends a party's decision except for a late appeal."""
        assert [] == RECOMMENDATION_MACHINE.allowed_triggers("withdrawn")
        assert [] == RECOMMENDATION_MACHINE.allowed_triggers("superseded")
        assert ["appeal"] == PARTY_MACHINE.allowed_triggers("final")

    def test_unreachable_state_is_a_definition_error(self) -> None:
        """A definition with an unreachable state is refused when it is built."""
        broken = {
            "name": "broken",
            "initial": "a",
            "states": ["a", "b", "island"],
            "transitions": [{"trigger": "go", "source": "a", "dest": "b"}],
        }
        with pytest.raises(DefinitionError, match="island"):
            MachineDefinition(broken)

    def test_no_auto_transitions(self) -> None:
        """transitions' to_<state> shortcuts, which skip every rule, do not exist."""
        with pytest.raises(TransitionNotAllowed):
            PARTY_MACHINE.fire("pending", "to_final", subject="x")
