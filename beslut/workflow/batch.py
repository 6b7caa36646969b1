"""Many party steps in one transaction: the input type, its checks and how a step becomes events.

:meth:`beslut.workflow.engine.Engine.batch` runs a list of :class:`PartyStep` all or
nothing. This module holds what does not touch the database: which steps exist, the
fields each one needs, refusing the same step twice in one batch, and prefixing a
refusal with the item that caused it, so a 10,000-line import names the line to fix.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Final

from beslut.errors import BeslutError, Duplicate, FieldError, InvalidInput
from beslut.states.audit_chain import AuditRecord
from beslut.states.calendar import BusinessCalendar
from beslut.states.case import Case, Event
from beslut.states.commands import STEPS, Act, Command

ACTIONS: Final = tuple(STEPS)

# The fields each action needs besides key, party and on (the CLI's required options).
REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    name: tuple(param.name for param in command.params if param.required) for name, command in STEPS.items()
}


@dataclass(frozen=True, kw_only=True)
class PartyStep:
    """One party command of a batch: the same arguments as the engine's single command.

    ``expected_version`` is the recommendation's version just before this step (as if
    the batch's earlier steps had been run one by one); None skips the check.
    """

    action: str
    key: str
    party: str
    on: date
    outcome: str | None = None
    paragraph: str | None = None
    body: str | None = None
    conditions: str | None = None
    case_number: str | None = None
    result: str | None = None
    expected_version: int | None = None
    source: str | None = field(default=None, compare=False)  # where the step came from, e.g. "line 7"


@dataclass(frozen=True, kw_only=True)
class BatchResult:
    """What a batch did: every recommendation it changed (as saved) and the audit records, in step order."""

    cases: tuple[Case, ...]
    records: tuple[AuditRecord, ...]


def describe(index: int, step: PartyStep) -> str:
    """How a refusal names the item: its index (from 0), action, recommendation and party."""
    where = step.source or f"batch item {index}"
    return f"{where} ({step.action} {step.key!r} party {step.party!r})"


def name_item(error: BeslutError, index: int, step: PartyStep) -> None:
    """Put the item in front of a refusal's or conflict's message; its class (so its exit code) is kept."""
    if isinstance(error, FieldError):
        error.put_first(f"{describe(index, step)}: ")
    else:
        error.args = (f"{describe(index, step)}: {error}",)


@contextmanager
def naming_item(index: int, step: PartyStep) -> Iterator[None]:
    """Re-raise a refusal or conflict with the item in front of its message, keeping its class (exit code)."""
    try:
        yield
    except BeslutError as error:
        name_item(error, index, step)
        raise


def check_steps(steps: Sequence[PartyStep]) -> None:
    """Refuse unknown actions, missing fields and the same step twice (a double-counted import line)."""
    first: dict[tuple[str, str, str], int] = {}
    for index, step in enumerate(steps):
        if step.action not in ACTIONS:
            raise InvalidInput(f"{describe(index, step)}: unknown action; use one of {', '.join(ACTIONS)}")
        for name in REQUIRED[step.action]:
            if getattr(step, name) is None:
                raise InvalidInput(f"{describe(index, step)}: needs {name}")
        identity = (step.action, step.key, step.party)
        if identity in first:
            earlier = steps[first[identity]].source or f"batch item {first[identity]}"
            raise Duplicate(f"{describe(index, step)}: repeats {earlier}")
        first[identity] = index


def step_args(step: PartyStep) -> Act:
    """The input of *step*'s party command (:mod:`beslut.states.commands`), from the step's fields."""
    command: Command[Act] = STEPS[step.action]
    values = {param.name: getattr(step, param.name) for param in command.params}
    return command.args({"party": step.party, "on": step.on, **values})


def step_events(step: PartyStep, case: Case, today: date, calendar: BusinessCalendar) -> list[Event]:
    """The events the domain returns for *step* on *case* (refusing as the single command would)."""
    return STEPS[step.action].run(case, step_args(step), today, calendar)


__all__ = [
    "ACTIONS",
    "BatchResult",
    "PartyStep",
    "check_steps",
    "describe",
    "name_item",
    "naming_item",
    "step_args",
    "step_events",
]
