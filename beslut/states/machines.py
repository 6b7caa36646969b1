"""The two state machines, written as data a person can read, run by `transitions`.

Why data: auditors and clerks read these tables; the diagram command (a later
issue) draws them; the audit verifier replays events through the very same
definitions. Why no machine object per case: a case is a row, not a live object.
We keep one `transitions.Machine` per *definition* and attach a throw-away model
for the duration of one trigger (`add_model` / `remove_model`), so memory stays
flat however many cases exist.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from transitions import Machine, MachineError

from beslut.errors import DefinitionError, RuleViolation, TransitionNotAllowed

MAX_MOVES = 1024
"""Allowed moves a machine remembers (:meth:`MachineDefinition.fire`); a definition has far fewer: a cap on memory."""

RECOMMENDATION: Final[Mapping[str, Any]] = {
    "name": "recommendation",
    "initial": "proposed",
    "states": ["proposed", "recommended", "consolidated", "in_force", "withdrawn", "superseded"],
    "transitions": [
        # Sent to the parties: their decisions open.
        {"trigger": "recommend", "source": "proposed", "dest": "recommended"},
        {"trigger": "withdraw", "source": ["proposed", "recommended"], "dest": "withdrawn"},
        # The parties' decisions are counted; the outcome is a fact of the consolidation.
        {"trigger": "consolidate", "source": "recommended", "dest": "consolidated"},
        # Only an adopted (or partially adopted) agreement can come into force.
        {"trigger": "enter_into_force", "source": "consolidated", "dest": "in_force", "conditions": "adopted"},
        # A revision that comes into force replaces this agreement.
        {"trigger": "supersede", "source": "in_force", "dest": "superseded"},
        # A counted decision changed after consolidation (annulled, or decided anew): counted again,
        # the state stays (an agreement the recount no longer adopts is contested, not silently undone).
        {"trigger": "recount", "source": "consolidated", "dest": "consolidated"},
        {"trigger": "recount", "source": "in_force", "dest": "in_force"},
    ],
}

PARTY: Final[Mapping[str, Any]] = {
    "name": "party decision",
    "initial": "pending",
    "states": ["pending", "preparing", "proposed", "decided", "announced", "appealed", "final"],
    "transitions": [
        # Case opened: diarienummer and tjänsteskrivelse.
        {"trigger": "prepare", "source": "pending", "dest": "preparing"},
        # A committee's proposal; a chain of proposals (utskott, then KS to KF) is normal.
        {"trigger": "propose", "source": ["pending", "preparing", "proposed"], "dest": "proposed"},
        {"trigger": "decide", "source": ["pending", "preparing", "proposed"], "dest": "decided"},
        # The signed minutes are announced on the notice board: the appeal period starts.
        {"trigger": "announce", "source": "decided", "dest": "announced"},
        # An appeal lodged in time may be registered after the decision was taken as final.
        {"trigger": "appeal", "source": ["announced", "final"], "dest": "appealed"},
        # Laga kraft: the appeal period ended with no appeal (fired by tick).
        {"trigger": "become_final", "source": "announced", "dest": "final"},
        {"trigger": "dismiss_appeal", "source": "appealed", "dest": "final"},
        # The court set the decision aside: the party must decide again.
        {"trigger": "annul", "source": "appealed", "dest": "preparing"},
    ],
}


class _Subject:
    """The throw-away model a trigger runs on: a state plus the facts its conditions read."""

    def __init__(self, facts: Mapping[str, bool]) -> None:
        for name, value in facts.items():
            setattr(self, name, value)


@dataclass(frozen=True)
class _Transition:
    trigger: str
    source: str
    dest: str
    conditions: tuple[str, ...]


class MachineDefinition:
    """One machine definition, validated on construction, shared by every case."""

    def __init__(self, definition: Mapping[str, Any]) -> None:
        self.name: str = definition["name"]
        self.initial: str = definition["initial"]
        self.states: tuple[str, ...] = tuple(definition["states"])
        self.transitions: tuple[_Transition, ...] = tuple(_flatten(definition["transitions"]))
        self._machine = Machine(
            model=None,
            states=list(self.states),
            transitions=[dict(t) for t in definition["transitions"]],
            initial=self.initial,
            auto_transitions=False,
            ignore_invalid_triggers=False,
        )
        self._lock = threading.Lock()
        # The machine has no callbacks, so a trigger's result depends only on (state, trigger, facts):
        # remember each allowed move the machine made, and ask it again only for new ones. At most
        # MAX_MOVES are kept (a definition's states x triggers x facts are far fewer), so memory stays flat.
        self._moves: dict[tuple[str, str, tuple[tuple[str, bool], ...]], str] = {}
        self._validate()

    @property
    def triggers(self) -> tuple[str, ...]:
        """Every trigger of the machine, in definition order, without repeats."""
        return tuple(dict.fromkeys(t.trigger for t in self.transitions))

    def allowed_triggers(self, state: str) -> list[str]:
        """Return the triggers that leave *state*, in definition order."""
        return [t for t in self.triggers if any(x.trigger == t and x.source == state for x in self.transitions)]

    def known_move(self, state: str, trigger: str) -> str | None:
        """Where *trigger* (without facts) leads from *state* if it has been fired from there before, else None.

        For the hot path of a replay, which would otherwise build the subject of an error it never raises
        for every party event; :meth:`fire` is called when this says None.
        """
        return self._moves.get((state, trigger, ()))

    def fire(self, state: str, trigger: str, *, subject: str, facts: Mapping[str, bool] | None = None) -> str:
        """Run *trigger* from *state* and return the new state.

        Raises:
            TransitionNotAllowed: the trigger does not leave *state*.
            RuleViolation: the trigger leaves *state* but a condition is false.
        """
        memo_key = (state, trigger, tuple(sorted(facts.items())) if facts else ())
        known = self._moves.get(memo_key)
        if known is not None:
            return known
        if state not in self.states:
            raise DefinitionError(f"{self.name} has no state {state!r}")
        model = _Subject(facts or {})
        with self._lock:
            self._machine.add_model(model, initial=state)
            try:
                moved = getattr(model, trigger)()
            except (MachineError, AttributeError) as error:
                raise TransitionNotAllowed(
                    machine=self.name,
                    subject=subject,
                    trigger=trigger,
                    state=state,
                    allowed=self.allowed_triggers(state),
                ) from error
            finally:
                self._machine.remove_model(model)
        if not moved:
            failed = [c for t in self.transitions if t.trigger == trigger and t.source == state for c in t.conditions]
            raise RuleViolation(f"{self.name} {subject}: {trigger!r} needs {' and '.join(failed)}")
        new_state: str = model.state  # type: ignore[attr-defined]
        if len(self._moves) < MAX_MOVES:
            self._moves[memo_key] = new_state
        return new_state

    def _validate(self) -> None:
        """Refuse definitions with unknown states, unreachable states or an unknown initial state."""
        known = set(self.states)
        if self.initial not in known:
            raise DefinitionError(f"{self.name}: initial state {self.initial!r} is not a state")
        for t in self.transitions:
            if t.source not in known or t.dest not in known:
                raise DefinitionError(f"{self.name}: {t.trigger} uses an unknown state")
        reachable = {self.initial}
        frontier = [self.initial]
        while frontier:
            here = frontier.pop()
            for t in self.transitions:
                if t.source == here and t.dest not in reachable:
                    reachable.add(t.dest)
                    frontier.append(t.dest)
        if reachable != known:
            raise DefinitionError(f"{self.name}: unreachable states {sorted(known - reachable)}")


def _flatten(transitions: list[Mapping[str, Any]]) -> list[_Transition]:
    """Expand multi-source transitions into one row per source."""
    rows: list[_Transition] = []
    for t in transitions:
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        conditions = t.get("conditions", ())
        conditions = (conditions,) if isinstance(conditions, str) else tuple(conditions)
        rows.extend(_Transition(t["trigger"], s, t["dest"], conditions) for s in sources)
    return rows


RECOMMENDATION_MACHINE: Final = MachineDefinition(RECOMMENDATION)
PARTY_MACHINE: Final = MachineDefinition(PARTY)
