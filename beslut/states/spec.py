"""The recommendation spec: the TOML file a clerk writes, parsed into frozen values.

The spec is the user-facing contract (see docs/spec.md and examples/). Parsing is
strict on purpose: an unknown key, a float where money is meant, shares that do
not sum to exactly 1 or a pool naming an unknown party are refused with a
:class:`~beslut.errors.SpecError` that names the field, before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from beslut.errors import SpecError
from beslut.states.allocation import CostSpec, PoolSpec

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
PARTY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DURATION_PATTERN = re.compile(r"^P(\d{1,3})([DW])$")
# C0 and C1 controls, tab and line feed included (the C1 CSI \x9b starts a terminal escape like ESC [),
# and the Unicode line and paragraph separators: every field of a spec is one line (a title, a party's
# name), and each of these can garble a terminal, a table or a log line. Free text elsewhere (a clause's
# text, a decision's conditions) keeps tab and line feed: see beslut/states/case.py.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
FIRST_DATE = date(1953, 1, 1)
"""The first date a spec may name: the Swedish business calendar (Lag 1989:253 data) starts in 1953."""
LAST_DATE = date(2099, 12, 31)
"""The last date a spec may name: the calendar ends with 2100, and a reply date may roll a few days on."""
MAX_TEXT = 500

PolicyKind = Literal["unanimous", "opt_in", "quorum"]
InForceRequires = Literal["decided", "final"]
IN_FORCE_REQUIRES: tuple[InForceRequires, ...] = ("decided", "final")


@dataclass(frozen=True, kw_only=True)
class ConsolidationPolicy:
    """How the parties' decisions are counted: all must approve, each opts in, or K must approve."""

    kind: PolicyKind
    quorum: int | None = None

    @classmethod
    def parse(cls, text: str) -> ConsolidationPolicy:
        """Parse ``unanimous``, ``opt_in`` or ``quorum:K``."""
        if text in ("unanimous", "opt_in"):
            return cls(kind=text)  # type: ignore[arg-type]
        match = re.fullmatch(r"quorum:(\d{1,6})", text)
        if match and int(match.group(1)) >= 1:
            return cls(kind="quorum", quorum=int(match.group(1)))
        raise SpecError("consolidation", f'expected "unanimous", "opt_in" or "quorum:K" (K >= 1), got {text!r}')

    def __str__(self) -> str:
        return f"quorum:{self.quorum}" if self.kind == "quorum" else self.kind


@dataclass(frozen=True, kw_only=True)
class PartySpec:
    """One deciding party: its key (a municipality code or a slug), name, deciding body and population."""

    key: str
    name: str
    deciding_body: str
    population: int | None = None
    population_date: date | None = None
    reply_by: date | None = None  # a party-specific reply date (a late joiner's window)


@dataclass(frozen=True, kw_only=True)
class ReminderSpec:
    """The reminder ladder read by the scheduler: ISO 8601 durations in days or weeks."""

    before: tuple[str, ...] = ("P14D", "P7D")
    overdue_every: str | None = "P7D"
    escalate_after: str | None = "P14D"


@dataclass(frozen=True, kw_only=True)
class RecommendationSpec:
    """A recommendation as proposed: who decides, by when, how it is counted and what it costs."""

    key: str
    title: str
    issuer: str
    coordinator: str
    reply_by: date
    reply_by_rolls: bool
    consolidation: ConsolidationPolicy
    parties: tuple[PartySpec, ...]
    in_force_on: date | None = None
    supersedes: str | None = None
    cost: CostSpec | None = None
    reminders: ReminderSpec = ReminderSpec()
    in_force_requires: InForceRequires = "decided"
    """``decided``: an adopted agreement comes into force on its date; ``final``: only once every
    counted decision has laga kraft as well (a förbundsordning "antagen i samtliga fullmäktige")."""

    def party(self, key: str) -> PartySpec | None:
        """Return the party with *key*, or None."""
        return next((p for p in self.parties if p.key == key), None)

    @property
    def populations(self) -> dict[str, int]:
        """Populations by party key, for the parties that have one."""
        return populations_of(self.parties)


def populations_of(parties: Iterable[PartySpec]) -> dict[str, int]:
    """Populations by party key, for the parties that have one."""
    return {p.key: p.population for p in parties if p.population is not None}


_TOP_KEYS = {
    "key",
    "title",
    "issuer",
    "coordinator",
    "reply_by",
    "reply_by_rolls",
    "consolidation",
    "in_force_on",
    "supersedes",
    "cost",
    "party",
    "reminders",
    "in_force_requires",
}
_PARTY_KEYS = {"key", "name", "deciding_body", "population", "population_date", "reply_by"}
_COST_KEYS = {"total", "unit", "reallocate_opt_in", "pool"}
_POOL_KEYS = {"share", "split", "parties"}
_REMINDER_KEYS = {"before", "overdue_every", "escalate_after"}


def parse_spec_text(text: str) -> RecommendationSpec:
    """Parse TOML *text* into a validated spec.

    Raises:
        SpecError: the TOML is malformed or a field is invalid; the message names the field.
    """
    import tomllib  # noqa: PLC0415 - a spec file is read by `propose`; stored specs are JSON

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError("(file)", f"not valid TOML: {error}") from error
    except RecursionError as error:  # tomllib recurses per nesting level: "a = [[[[...]]]]" exhausts the stack
        raise SpecError("(file)", "not valid TOML: arrays or tables nested too deeply") from error
    return parse_spec(data)


def parse_spec(data: Mapping[str, Any]) -> RecommendationSpec:
    """Validate a spec given as a mapping (parsed TOML, or :func:`spec_to_data` output)."""
    _no_unknown(data, _TOP_KEYS, "")
    key = _text(data, "key", pattern=KEY_PATTERN, hint="lower-case letters, digits, '.', '_' or '-'")
    parties = _parties(data.get("party"))
    party_keys = {p.key for p in parties}
    coordinator = _text(data, "coordinator")
    if coordinator not in party_keys:
        raise SpecError("coordinator", f"{coordinator!r} is not one of the parties")
    consolidation_text = _text(data, "consolidation") if "consolidation" in data else "unanimous"
    policy = ConsolidationPolicy.parse(consolidation_text)
    if policy.quorum is not None and policy.quorum > len(parties):
        raise SpecError("consolidation", f"quorum {policy.quorum} is more than the {len(parties)} parties")
    supersedes = _text(data, "supersedes", pattern=KEY_PATTERN) if "supersedes" in data else None
    in_force_requires = _text(data, "in_force_requires") if "in_force_requires" in data else "decided"
    if in_force_requires not in IN_FORCE_REQUIRES:
        raise SpecError("in_force_requires", f'expected "decided" or "final", got {in_force_requires!r}')
    if supersedes == key:
        raise SpecError("supersedes", "a recommendation cannot supersede itself")
    spec = RecommendationSpec(
        key=key,
        title=_text(data, "title"),
        issuer=_text(data, "issuer"),
        coordinator=coordinator,
        reply_by=_date(data, "reply_by"),
        reply_by_rolls=_bool(data, "reply_by_rolls", default=True),
        consolidation=policy,
        parties=parties,
        in_force_on=_date(data, "in_force_on") if "in_force_on" in data else None,
        supersedes=supersedes,
        cost=_cost(data["cost"], parties) if "cost" in data else None,
        reminders=_reminders(data.get("reminders", {})),
        in_force_requires="final" if in_force_requires == "final" else "decided",
    )
    if spec.in_force_on is not None and spec.in_force_on < spec.reply_by:
        raise SpecError("in_force_on", f"{spec.in_force_on} is before reply_by {spec.reply_by}")
    return spec


def spec_to_data(spec: RecommendationSpec) -> dict[str, Any]:
    """Return the spec as JSON-ready data (dates and amounts as strings) that :func:`parse_spec` reads back.

    This is what the audit log stores for a proposal: canonical, float-free, and
    enough to rebuild the recommendation from the log alone.
    """
    data: dict[str, Any] = {
        "key": spec.key,
        "title": spec.title,
        "issuer": spec.issuer,
        "coordinator": spec.coordinator,
        "reply_by": spec.reply_by.isoformat(),
        "reply_by_rolls": spec.reply_by_rolls,
        "consolidation": str(spec.consolidation),
        "party": [_party_data(p) for p in spec.parties],
        "reminders": {
            "before": list(spec.reminders.before),
            **({"overdue_every": spec.reminders.overdue_every} if spec.reminders.overdue_every else {}),
            **({"escalate_after": spec.reminders.escalate_after} if spec.reminders.escalate_after else {}),
        },
    }
    if spec.in_force_on is not None:
        data["in_force_on"] = spec.in_force_on.isoformat()
    if spec.supersedes is not None:
        data["supersedes"] = spec.supersedes
    if spec.in_force_requires != "decided":  # absent at the default: proposals recorded before it stay as they were
        data["in_force_requires"] = spec.in_force_requires
    if spec.cost is not None:
        data["cost"] = {
            "total": str(spec.cost.total),
            "unit": str(spec.cost.unit),
            "reallocate_opt_in": spec.cost.reallocate_opt_in,
            "pool": [{"share": str(p.share), "split": p.split, "parties": list(p.parties)} for p in spec.cost.pools],
        }
    return data


def _party_data(party: PartySpec) -> dict[str, Any]:
    data: dict[str, Any] = {"key": party.key, "name": party.name, "deciding_body": party.deciding_body}
    if party.population is not None:
        data["population"] = party.population
    if party.population_date is not None:
        data["population_date"] = party.population_date.isoformat()
    if party.reply_by is not None:
        data["reply_by"] = party.reply_by.isoformat()
    return data


def _parties(raw: Any) -> tuple[PartySpec, ...]:
    if not isinstance(raw, list) or not raw:
        raise SpecError("party", "at least one [[party]] table is required")
    parties: list[PartySpec] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        where = f"party[{index}]"
        if not isinstance(item, Mapping):
            raise SpecError(where, "must be a table")
        _no_unknown(item, _PARTY_KEYS, where + ".")
        key = _text(item, "key", where=where, pattern=PARTY_KEY_PATTERN, hint="letters, digits, '.', '_' or '-'")
        if key in seen:
            raise SpecError(f"{where}.key", f"duplicate party key {key!r}")
        seen.add(key)
        population = None
        if "population" in item:
            population = item["population"]
            if isinstance(population, bool) or not isinstance(population, int) or population <= 0:
                raise SpecError(f"{where}.population", "must be a positive integer")
        parties.append(
            PartySpec(
                key=key,
                name=_text(item, "name", where=where),
                deciding_body=_text(item, "deciding_body", where=where),
                population=population,
                population_date=_date(item, "population_date", where=where) if "population_date" in item else None,
                reply_by=_date(item, "reply_by", where=where) if "reply_by" in item else None,
            )
        )
    return tuple(parties)


def _cost(raw: Any, parties: tuple[PartySpec, ...]) -> CostSpec:
    if not isinstance(raw, Mapping):
        raise SpecError("cost", "must be a table")
    _no_unknown(raw, _COST_KEYS, "cost.")
    total = _decimal(raw, "total", where="cost")
    if total < 0:
        raise SpecError("cost.total", "must not be negative")
    unit = _decimal(raw, "unit", where="cost") if "unit" in raw else Decimal("1")
    if unit not in (Decimal("1"), Decimal("0.01")):
        raise SpecError("cost.unit", f'must be "1" or "0.01", got {raw["unit"]!r}')
    if total % unit != 0:
        raise SpecError("cost.total", f"{total} is not a whole number of the unit {unit}")
    by_key = {p.key: p for p in parties}
    raw_pools = raw.get("pool")
    if not isinstance(raw_pools, list) or not raw_pools:
        raise SpecError("cost.pool", "at least one [[cost.pool]] table is required")
    pools = [_pool(item, f"cost.pool[{index}]", by_key) for index, item in enumerate(raw_pools)]
    shares = sum((p.share for p in pools), Decimal(0))
    if shares != 1:
        raise SpecError("cost.pool", f"shares sum to {shares}, not exactly 1")
    return CostSpec(
        total=total,
        unit=unit,
        reallocate_opt_in=_bool(raw, "reallocate_opt_in", default=False, where="cost"),
        pools=tuple(pools),
    )


def _pool(item: Any, where: str, by_key: Mapping[str, PartySpec]) -> PoolSpec:
    if not isinstance(item, Mapping):
        raise SpecError(where, "must be a table")
    _no_unknown(item, _POOL_KEYS, where + ".")
    share = _decimal(item, "share", where=where)
    if not Decimal(0) < share <= Decimal(1):
        raise SpecError(f"{where}.share", "must be greater than 0 and at most 1")
    members = item.get("parties")
    if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
        raise SpecError(f"{where}.parties", "must be a non-empty list of party keys")
    for member in members:
        if member not in by_key:
            raise SpecError(f"{where}.parties", f"unknown party {member!r}")
    if len(set(members)) != len(members):
        raise SpecError(f"{where}.parties", "names a party twice")
    split = item.get("split", "population" if len(members) > 1 else "equal")
    if split not in ("population", "equal"):
        raise SpecError(f"{where}.split", f'must be "population" or "equal", got {split!r}')
    if split == "population" and len(members) > 1:
        for member in members:
            if by_key[member].population is None:
                raise SpecError(f"{where}.parties", f"party {member!r} has no population for a population split")
    return PoolSpec(share=share, split=split, parties=tuple(members))


def _reminders(raw: Any) -> ReminderSpec:
    if not isinstance(raw, Mapping):
        raise SpecError("reminders", "must be a table")
    _no_unknown(raw, _REMINDER_KEYS, "reminders.")
    defaults = ReminderSpec()
    before = raw.get("before", list(defaults.before))
    if not isinstance(before, list) or not all(isinstance(b, str) for b in before):
        raise SpecError("reminders.before", 'must be a list of durations like "P14D"')
    for item in before:
        _duration(item, "reminders.before")
    overdue = raw.get("overdue_every", defaults.overdue_every)
    escalate = raw.get("escalate_after", defaults.escalate_after)
    for name, value in (("overdue_every", overdue), ("escalate_after", escalate)):
        if not isinstance(value, str):
            raise SpecError(f"reminders.{name}", 'must be a duration like "P7D"')
        _duration(value, f"reminders.{name}")
    return ReminderSpec(before=tuple(before), overdue_every=overdue, escalate_after=escalate)


def duration_days(text: str) -> int:
    """Return the number of days in an ISO 8601 duration of days or weeks ("P14D", "P2W")."""
    match = DURATION_PATTERN.fullmatch(text)
    if match is None:
        raise ValueError(f"not a duration in days or weeks: {text!r}")
    return int(match.group(1)) * (7 if match.group(2) == "W" else 1)


def _duration(text: str, field: str) -> None:
    try:
        days = duration_days(text)
    except ValueError as error:
        raise SpecError(field, f'{text!r} is not a duration like "P14D" or "P2W"') from error
    if days == 0:
        raise SpecError(field, "must be at least one day")


def _no_unknown(data: Mapping[str, Any], allowed: set[str], prefix: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise SpecError(prefix + unknown[0], f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _text(
    data: Mapping[str, Any],
    name: str,
    *,
    where: str = "",
    pattern: re.Pattern[str] | None = None,
    hint: str = "",
) -> str:
    field = f"{where}.{name}" if where else name
    if name not in data:
        raise SpecError(field, "is required")
    value = data[name]
    if not isinstance(value, str) or not value.strip():
        raise SpecError(field, "must be a non-empty string")
    if len(value) > MAX_TEXT:
        raise SpecError(field, f"is longer than {MAX_TEXT} characters")
    if _CONTROL.search(value):
        raise SpecError(field, "contains control characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise SpecError(field, f"{value!r} is not a valid key ({hint or pattern.pattern})")
    return value


def _date(data: Mapping[str, Any], name: str, *, where: str = "") -> date:
    field = f"{where}.{name}" if where else name
    if name not in data:
        raise SpecError(field, "is required")
    value = data[name]
    if isinstance(value, date) and not hasattr(value, "hour"):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = date.fromisoformat(value)
        except ValueError as error:
            raise SpecError(field, f"{value!r} is not a date (YYYY-MM-DD)") from error
    else:
        raise SpecError(field, f"must be a date (YYYY-MM-DD), got {type(value).__name__}")
    if not FIRST_DATE <= parsed <= LAST_DATE:
        # Outside the business calendar's years the engine could not roll a date or count an appeal period.
        raise SpecError(field, f"{parsed} is outside {FIRST_DATE.year}-{LAST_DATE.year}")
    return parsed


DECIMAL_RULE = 'a decimal string of at most 15 digits and at most 6 decimals, no sign, like "5000000" or "0.5075"'


def check_proposable(spec: RecommendationSpec) -> None:
    """Refuse what a stored spec may hold but a new proposal may not: a cost of 0, a party in no cost pool.

    Why at proposal only: specs already proposed are read back with :func:`parse_spec` and must
    keep loading (and replaying) as they were; these rules are about what a new recommendation
    means. A ``[cost]`` of 0 allocates nothing (leave ``[cost]`` out instead), and a party in no
    pool would silently pay nothing while every other party's share is computed as if it did not
    exist.
    """
    if spec.cost is None:
        return
    if spec.cost.total <= 0:
        raise SpecError("cost.total", "must be greater than 0 (leave out [cost] for a recommendation without a cost)")
    pooled = {party for pool in spec.cost.pools for party in pool.parties}
    unpooled = [party.key for party in spec.parties if party.key not in pooled]
    if unpooled:
        shown = ", ".join(repr(key) for key in unpooled[:5]) + (
            f" and {len(unpooled) - 5} more" if len(unpooled) > 5 else ""
        )
        raise SpecError("cost.pool", f"parties in no cost pool: {shown}; every party must be in one [[cost.pool]]")


def _decimal(data: Mapping[str, Any], name: str, *, where: str) -> Decimal:
    field = f"{where}.{name}"
    if name not in data:
        raise SpecError(field, "is required")
    value = data[name]
    if isinstance(value, bool | float):
        raise SpecError(field, 'must be a decimal string like "5000000" (floats lose öre)')
    if isinstance(value, int):
        return Decimal(value)
    if (isinstance(value, int) and value < 0) or (isinstance(value, str) and value.strip().startswith("-")):
        raise SpecError(field, f"must be positive ({DECIMAL_RULE}), got {value!r}")
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,15}(\.\d{1,6})?", value):
        raise SpecError(field, f"must be {DECIMAL_RULE}, got {value!r}")
    try:
        return Decimal(value)
    except InvalidOperation as error:  # pragma: no cover - the pattern already guards this
        raise SpecError(field, f"{value!r} is not a decimal") from error


def _bool(data: Mapping[str, Any], name: str, *, default: bool, where: str = "") -> bool:
    field = f"{where}.{name}" if where else name
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise SpecError(field, "must be true or false")
    return value
