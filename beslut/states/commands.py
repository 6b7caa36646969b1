"""Every command on a recommendation, declared once: its input, its decider, its events, its help.

A :class:`Command` is the one description of a command. Everything else is derived from it:

- :meth:`beslut.workflow.Engine.run` runs any command in one transaction; the engine's named methods
  (``engine.decide(...)``) are one-line wrappers, and a test proves there is one per command, with the
  input's fields as its keywords;
- a batch (``party import``) turns each step into the input of its party command;
- the auditor's re-run (:mod:`beslut.states.replay`) finds the command by the event kind it records and
  runs it again from the event's payload;
- the command line (:mod:`beslut.cli.steps`) and the HTTP routes with their request models
  (:mod:`beslut.api.commands`) are generated from the table.

Adding a party step, or a field to one, therefore touches the domain function in
:mod:`beslut.states.case` and its entry here. The help texts live here as well: they describe the act
for its user, whichever face it is reached by. ``propose`` (a new recommendation from a spec file) is
not in the table: it creates a case rather than changing one, and each face reads the spec its own way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any, Final, Generic, Literal, TypeVar

from beslut.states import case as domain
from beslut.states.calendar import BusinessCalendar
from beslut.states.case import OUTCOMES, Case, Event

Role = Literal["coordinator", "clerk"]
SETTLE_RESULTS: Final = ("dismissed", "annulled")


# ---------------------------------------------------------------- the inputs


def _about(help_text: str, *, option: str | None = None, choices: tuple[str, ...] = ()) -> dict[str, Any]:
    """A field's description for the faces: its help, its command-line option if not ``--name``, its values."""
    return {"help": help_text, "option": option, "choices": choices}


@dataclass(frozen=True, kw_only=True)
class Act:
    """What every command carries: the legal date of the act (never picked for the caller)."""

    on: date


@dataclass(frozen=True, kw_only=True)
class PartyAct(Act):
    """A step of one party towards (or after) its decision."""

    party: str


@dataclass(frozen=True, kw_only=True)
class Withdraw(Act):
    """Withdraw a proposed or recommended recommendation."""

    reason: str = field(metadata=_about("Why it is withdrawn."))


@dataclass(frozen=True, kw_only=True)
class Prepare(PartyAct):
    """The party opened its case."""

    case_number: str = field(
        metadata=_about('The case number (diarienummer), e.g. "KS 2025/216".', option="--case")
    )


@dataclass(frozen=True, kw_only=True)
class ProposeParty(PartyAct):
    """A committee of the party proposed a decision."""

    body: str = field(metadata=_about("The proposing committee, e.g. SAU."))
    paragraph: str = field(metadata=_about('Its minute paragraph, e.g. "§ 52".'))


@dataclass(frozen=True, kw_only=True)
class Decide(PartyAct):
    """The party's deciding body decided."""

    outcome: str = field(metadata=_about(" | ".join(OUTCOMES), choices=OUTCOMES))
    paragraph: str = field(metadata=_about('The minute paragraph, e.g. "§ 88".'))
    conditions: str | None = field(default=None, metadata=_about("The conditions (with approved_with_conditions)."))
    body: str | None = field(
        default=None, metadata=_about("The deciding body (default: the party's, from the spec).")
    )


@dataclass(frozen=True, kw_only=True)
class Settle(PartyAct):
    """The court ruled on an appeal."""

    result: str = field(
        metadata=_about("dismissed (the decision stands) | annulled (decide again)", choices=SETTLE_RESULTS)
    )


@dataclass(frozen=True)
class Param:
    """One field of a command's input as the faces show it (``on`` and ``party`` are the same everywhere)."""

    name: str  # the engine's keyword, the JSON key of the API and the batch, the event payload's key
    help: str
    required: bool
    choices: tuple[str, ...]
    option: str  # on the command line

    @classmethod
    def of(cls, spec: dataclasses.Field[Any]) -> Param:
        """The param of one dataclass field of an input (its metadata made by :func:`_about`)."""
        about = spec.metadata
        return cls(
            name=spec.name,
            help=about["help"],
            required=spec.default is dataclasses.MISSING,
            choices=about["choices"],
            option=about["option"] or "--" + spec.name.replace("_", "-"),
        )


# ---------------------------------------------------------------- the table

In = TypeVar("In", bound=Act)
Decider = Callable[[Case, In, date, BusinessCalendar], list[Event]]  # (case, input, today, calendar) -> events


@dataclass(frozen=True, kw_only=True, eq=False)  # one object per command: compared and hashed by identity
class Command(Generic[In]):
    """One command: what it takes, what it decides, what it records, and how its user is told about it.

    ``events`` maps each event kind the command records first to the input values that kind implies
    beyond its payload (``settle`` records ``party.appeal_dismissed`` or ``party.decision_annulled``:
    the kind says the result). ``said`` is the one line the command line prints after it.
    """

    name: str  # the engine's method, the HTTP route's name, the metrics' command kind
    input: type[In]
    decide: Decider[In]
    events: Mapping[str, Mapping[str, str]]
    summary: str
    help: str
    said: Callable[[In, Case], str]
    roles: tuple[Role, ...]  # besides admin; "clerk" means the clerk of the party in question
    step: str | None = None  # the party step's name: `party <step>`, a batch line's "action", the route's tail

    @property
    def for_party(self) -> bool:
        """Whether the command is a step of one party (its input names the party)."""
        return issubclass(self.input, PartyAct)

    @property
    def params(self) -> tuple[Param, ...]:
        """The fields the command takes besides the legal date and the party, in the order they are shown."""
        return tuple(Param.of(f) for f in dataclasses.fields(self.input) if f.name not in ("on", "party"))

    @property
    def cli(self) -> tuple[str, ...]:
        """The command's words on the command line: ``("party", "decide")`` or ``("consolidate",)``."""
        return ("party", self.step) if self.step is not None else (self.name,)

    @property
    def route(self) -> str:
        """Its HTTP path (POST)."""
        if self.step is not None:
            return f"/recommendations/{{key}}/parties/{{party}}/{self.step}"
        return f"/recommendations/{{key}}/{self.name}"

    def args(self, values: Mapping[str, Any]) -> In:
        """The command's input from *values* (``on``, ``party`` and the params; absent optional ones default)."""
        return self.input(**values)

    def from_event(self, kind: str, payload: Mapping[str, Any], on: date) -> In:
        """The input that recorded an event of *kind* with *payload* on *on* (the auditor's re-run).

        Raises:
            KeyError: the payload lacks a field the command needs.
        """
        values: dict[str, Any] = {"on": on, **self.events[kind]}
        if self.for_party:
            values["party"] = payload["party"]
        for param in self.params:
            if param.name in values:
                continue
            values[param.name] = payload[param.name] if param.required else payload.get(param.name)
        return self.input(**values)

    def run(self, case: Case, args: In, today: date, calendar: BusinessCalendar) -> list[Event]:
        """The events the domain decides for *args* on *case* (refusing as the command does)."""
        return self.decide(case, args, today, calendar)


def _party_said(text: str) -> Callable[[PartyAct, Case], str]:
    return lambda args, _case: f"{args.party} {text}"


def _in_force(case: Case) -> str:
    return f", in force since {case.in_force_since}" if case.in_force_since else ""


RECOMMEND: Final = Command[Act](
    name="recommend",
    input=Act,
    decide=lambda case, a, today, _cal: domain.recommend(case, on=a.on, today=today),
    events={"recommendation.recommended": {}},
    summary="Recommend to the parties",
    help="Send the recommendation to the parties: their decisions open.",
    said=lambda _a, _case: "recommended",
    roles=("coordinator",),
)
WITHDRAW: Final = Command[Withdraw](
    name="withdraw",
    input=Withdraw,
    decide=lambda case, a, today, _cal: domain.withdraw(case, on=a.on, today=today, reason=a.reason),
    events={"recommendation.withdrawn": {}},
    summary="Withdraw",
    help="Withdraw a proposed or recommended recommendation.",
    said=lambda _a, _case: "withdrawn",
    roles=("coordinator",),
)
CONSOLIDATE: Final = Command[Act](
    name="consolidate",
    input=Act,
    decide=lambda case, a, today, _cal: domain.consolidate(case, on=a.on, today=today),
    events={"recommendation.consolidated": {}},
    summary="Consolidate",
    help="Count the parties' decisions under the recommendation's policy.",
    said=lambda _a, case: f"consolidated: {case.outcome}{_in_force(case)}",
    roles=("coordinator",),
)
PREPARE: Final = Command[Prepare](
    name="prepare",
    step="prepare",
    input=Prepare,
    decide=lambda case, a, today, _cal: domain.prepare_party(
        case, a.party, case_number=a.case_number, on=a.on, today=today
    ),
    events={"party.prepared": {}},
    summary="A party opened its case",
    help="The party opened its case (diarienummer; the date of the officer's report).",
    said=lambda a, _case: f"{a.party} preparing ({a.case_number})",
    roles=("clerk",),
)
PROPOSE_PARTY: Final = Command[ProposeParty](
    name="propose_party",
    step="propose",
    input=ProposeParty,
    decide=lambda case, a, today, _cal: domain.propose_party(
        case, a.party, body=a.body, paragraph=a.paragraph, on=a.on, today=today
    ),
    events={"party.proposed": {}},
    summary="A committee proposed a decision",
    help="A committee of the party proposed a decision (a proposal, not a decision).",
    said=lambda a, _case: f"{a.party} proposed by {a.body} {a.paragraph}",
    roles=("clerk",),
)
DECIDE: Final = Command[Decide](
    name="decide",
    step="decide",
    input=Decide,
    decide=lambda case, a, today, _cal: domain.decide_party(
        case,
        a.party,
        outcome=a.outcome,
        paragraph=a.paragraph,
        on=a.on,
        today=today,
        body=a.body,
        conditions=a.conditions,
    ),
    events={"party.decided": {}},
    summary="The party decided",
    help="The party's deciding body decided: approved, rejected or approved_with_conditions.",
    said=lambda a, _case: f"{a.party} decided: {a.outcome}",
    roles=("clerk",),
)
ANNOUNCE: Final = Command[PartyAct](
    name="announce",
    step="announce",
    input=PartyAct,
    decide=lambda case, a, today, cal: domain.announce_party(case, a.party, on=a.on, today=today, calendar=cal),
    events={"party.announced": {}},
    summary="The decision was announced",
    help="The signed minutes were announced on the party's notice board: the three-week appeal period starts.",
    said=lambda a, case: f"{a.party} announced; appeal period ends {case.party(a.party).appeal_last_day}",
    roles=("clerk",),
)
APPEAL: Final = Command[PartyAct](
    name="appeal",
    step="appeal",
    input=PartyAct,
    decide=lambda case, a, today, _cal: domain.appeal_party(case, a.party, on=a.on, today=today),
    events={"party.appealed": {}},
    summary="An appeal was lodged",
    help="An appeal (laglighetsprövning) against the party's decision was lodged.",
    said=_party_said("appealed"),
    roles=("clerk",),
)
SETTLE: Final = Command[Settle](
    name="settle",
    step="settle",
    input=Settle,
    decide=lambda case, a, today, _cal: domain.settle_party(case, a.party, result=a.result, on=a.on, today=today),
    events={"party.appeal_dismissed": {"result": "dismissed"}, "party.decision_annulled": {"result": "annulled"}},
    summary="The court ruled on the appeal",
    help="The court ruled on the appeal: dismissed, the decision stands (final); annulled, the party decides again.",
    said=lambda a, _case: f"{a.party} appeal {a.result}",
    roles=("clerk",),
)
REPORT: Final = Command[PartyAct](
    name="report",
    step="report",
    input=PartyAct,
    decide=lambda case, a, today, _cal: domain.report_party(case, a.party, on=a.on, today=today),
    events={"party.minute_extract_received": {}},
    summary="The minute extract was received",
    help="The coordinator received the party's minute extract (protokollsutdrag).",
    said=_party_said("minute extract received"),
    roles=("clerk", "coordinator"),
)

COMMANDS: Final[tuple[Command[Any], ...]] = (
    RECOMMEND,
    WITHDRAW,
    CONSOLIDATE,
    PREPARE,
    PROPOSE_PARTY,
    DECIDE,
    ANNOUNCE,
    APPEAL,
    SETTLE,
    REPORT,
)
#: The party steps by their step name (a batch line's "action", ``party <step>``).
STEPS: Final[Mapping[str, Command[Any]]] = MappingProxyType({c.step: c for c in COMMANDS if c.step is not None})
#: The command that records each event kind first (what the auditor re-runs).
BY_EVENT: Final[Mapping[str, Command[Any]]] = MappingProxyType({kind: c for c in COMMANDS for kind in c.events})
#: Each input field's command-line option (``case_number`` -> ``--case``), for naming a refused field.
OPTIONS: Final[Mapping[str, str]] = MappingProxyType({p.name: p.option for c in COMMANDS for p in c.params})


__all__ = [
    "BY_EVENT",
    "COMMANDS",
    "OPTIONS",
    "STEPS",
    "Act",
    "Command",
    "Decide",
    "Param",
    "PartyAct",
    "Prepare",
    "ProposeParty",
    "Settle",
    "Withdraw",
]
