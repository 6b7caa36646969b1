"""The one replay: audit records folded into cases, through the same machines as the live system.

:class:`Replayer` folds events into cases with :func:`beslut.states.case.apply` (via
:func:`beslut.states.audit_chain.event_from_record`), the one function the live system
uses to change state, so an event that is not a legal transition from the state its
stream was in is refused exactly as the live system would have refused it. Every replay
is this fold: ``Engine.replay`` (:func:`replay_stream`), the verification
(:mod:`beslut.states.verification`), the auditor's one-pass replay and its spilling variant, the
as-of replays below, the rebuild, the export and the two-process parts. It is the domain's (pure, no
I/O): the rows come from the caller, and a case dropped to keep memory flat is folded again from
the rows a *loader* gives.

With ``check_rules=True`` (what ``audit verify`` runs) each event must also be what the
command that records it would have recorded from that state: the command functions of
:mod:`beslut.states.case` are run again with the event's legal date and the day it was
recorded, and must return the same event. That catches, for instance, a forged
consolidation that counts a rejection as an approval, an appeal period that does not
follow from the announcement date, a decision dated before the party's previous step,
or a legal date after the day the event was recorded (all legal for the machines alone).

Two notions of "as of" (see docs/auditor.md):

- **recorded** (:class:`AsOfRecorded`): what the system showed at an instant. Per stream,
  the longest prefix of events recorded at or before it (a stream is never replayed
  with a hole in it).
- **valid** (:class:`AsOfValid`): what had been decided by a date. Per stream, the events
  whose legal date is on or before it, in recorded order; an event that is not a legal
  transition without a later-dated event before it (an agreement in force retroactively,
  whose consolidation came later) is held back, and so is any later event of the stream
  that then no longer applies; the held-back events are listed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from typing import Any

import orjson

from beslut.clock import CLOCK_TOLERANCE, STOCKHOLM, legal_date_of
from beslut.errors import InvalidInput
from beslut.states import case as domain
from beslut.states.audit_chain import AuditRecord, canonical_json, event_from_record
from beslut.states.calendar import BusinessCalendar
from beslut.states.case import Case, Event, PartyDecision, known_event
from beslut.states.commands import BY_EVENT
from beslut.states.deadlines import party_timer_day
from beslut.states.spec import spec_to_data
from beslut.states.spec_cache import parse_spec_data

Loader = Callable[[str, int], Iterable[AuditRecord]]  # (stream, before seq) -> its records below that seq, in order
_UNPARSED: Any = object()
_day = functools.lru_cache(maxsize=4096)(date.fromisoformat)  # legal dates repeat; bounded, so memory stays flat


def recorded_instant(record: AuditRecord) -> datetime:
    """When *record* was recorded, as an aware datetime.

    Raises:
        ValueError: ``recorded_at`` is not an ISO 8601 instant with an offset.
    """
    instant = datetime.fromisoformat(record.recorded_at)
    if instant.tzinfo is None:
        raise ValueError(f"recorded_at {record.recorded_at!r} has no offset")
    return instant


@functools.lru_cache(maxsize=1024)  # one command's events share an instant; bounded, so memory stays flat
def _recorded_day(recorded_at: str) -> date:
    """The local day an event was recorded, as the commands compare legal dates with it (tick's clock tolerance).

    Raises:
        ValueError: not an ISO 8601 instant with an offset.
    """
    instant = datetime.fromisoformat(recorded_at)
    if instant.tzinfo is None:
        raise ValueError(f"recorded_at {recorded_at!r} has no offset")
    return (instant + CLOCK_TOLERANCE).astimezone(STOCKHOLM).date()


class Replayer:
    """Fold records into cases, one at a time, in seq order.

    Args:
        calendar: the business calendar (the live system's default unless told otherwise).
        check_rules: also require each event to be what its command would have recorded.
        whole_log: every event of each stream is fed (so a stream's version must equal each event's
            stream_seq); False for the as-of replays, which feed a part.
    """

    def __init__(
        self,
        calendar: BusinessCalendar | None = None,
        *,
        check_rules: bool = False,
        whole_log: bool = True,
        loader: Loader | None = None,
        keep: int = 512,
    ) -> None:
        self.calendar = calendar or BusinessCalendar()
        self.check_rules = check_rules
        self.whole_log = whole_log
        self.cases: dict[str, Case] = {}
        self.events = 0
        # With a loader, at most *keep* cases stay in memory (the least recently changed are dropped, keeping
        # only their version) and a dropped one is folded again from its stream's earlier rows when its stream
        # goes on: memory stays flat in the number of recommendations (docs/performance.md).
        self.loader = loader
        self.keep = keep
        self._bounded = loader is not None  # drop cases past *keep* (a subclass that keeps them sets it too)
        self._dropped: dict[str, int] = {}
        self._seq = 0

    @property
    def streams(self) -> int:
        """How many streams have been replayed (in memory or dropped)."""
        return len(self.cases) + len(self._dropped)

    def known(self, key: str) -> bool:
        """True when stream *key* has been replayed."""
        return key in self.cases or key in self._dropped

    def case(self, key: str, *, before_seq: int) -> Case | None:
        """The case of stream *key* after its events before *before_seq*, folded again if it was dropped.

        Raises:
            ValueError: the stream's rows read again do not give the version it had (the snapshot changed).
        """
        case = self.cases.get(key)
        if case is not None or key not in self._dropped:
            return case
        case = self._restore(key, before_seq)
        self.cases[key] = case
        return case

    def _restore(self, key: str, before_seq: int) -> Case:
        """The dropped case of stream *key*, folded again from its earlier rows (a subclass may keep it instead).

        Raises:
            ValueError: the stream's rows read again do not give the version it had (the snapshot changed).
        """
        assert self.loader is not None  # only dropped with a loader
        case = replay_stream(self.loader(key, before_seq), self.calendar)
        version = self._dropped.pop(key)
        if case is None or case.version != version:
            raise ValueError(f"stream {key!r} read again is not at version {version}")
        return case

    def _drop(self, key: str, case: Case) -> None:
        """Let the least recently changed case go, keeping only its version (a subclass may keep more)."""
        self._dropped[key] = case.version

    def feed(self, record: AuditRecord, payload: Any = _UNPARSED) -> str | None:
        """Apply *record*; return what is wrong with it (None when it is a legal next event of its stream).

        *payload*: the record's payload already parsed (the chain check parses it), so it is not parsed twice.
        """
        try:
            event = (
                event_from_record(record)
                if payload is _UNPARSED
                else known_event(record.kind, record.stream, _day(record.valid_on), payload)
            )
        except (TypeError, ValueError) as error:
            return f"{record.kind} cannot be read as an event: {error}"
        stream = event.stream
        try:
            before = self.cases.get(stream)  # self.case(), its usual answer without the call
            if before is None and stream in self._dropped:
                before = self.case(stream, before_seq=record.seq)
            after = domain.apply(before, event, self.calendar)
        except Exception as error:  # whatever apply refuses with, the event is not legal
            return f"{record.kind} is not a legal transition: {_reason(error)}"
        if self.whole_log and after.version != record.stream_seq:
            return f"{record.kind} takes {stream!r} to version {after.version}, not to its stream_seq"
        if self.check_rules:
            self._seq = record.seq
            problem = self._rules(before, event, record)
            if problem is not None:
                return f"{record.kind} is not what the command would have recorded: {problem}"
        cases = self.cases
        cases.pop(stream, None)  # re-inserted last: the dict's order is the order of use
        cases[stream] = after
        if self._bounded and len(cases) > self.keep:
            oldest = next(iter(cases))
            self._drop(oldest, cases.pop(oldest))
        self.events += 1
        return None

    # ------------------------------------------------------------ the command rules

    def _rules(self, before: Case | None, event: Event, record: AuditRecord) -> str | None:
        try:
            today = _recorded_day(record.recorded_at)
        except ValueError as error:
            return str(error)
        if event.valid_on > today:
            return f"its legal date {event.valid_on} is after the day it was recorded ({today})"
        actor = event.payload.get("actor")
        if not isinstance(actor, str) or not actor:
            return "it names no actor"
        payload = {k: v for k, v in event.payload.items() if k != "actor"}
        try:
            expected = self._expected(before, event, payload, today)
        except Exception as error:  # the command refuses: it could not have been recorded
            return _reason(error)
        if isinstance(expected, str):
            return expected
        if expected is None:
            return "the command would have recorded nothing"
        if event.kind == "party.decided" and "days_late" not in payload and "days_late" in expected.payload:
            # Decisions recorded before the late marker existed carry none; one that is there must be right.
            expected = replace(expected, payload={k: v for k, v in expected.payload.items() if k != "days_late"})
        if expected.kind != event.kind or expected.valid_on != event.valid_on or dict(expected.payload) != payload:
            return f"it would have been {_show(expected)}"
        return None

    def _expected(self, case: Case | None, event: Event, p: Mapping[str, Any], today: date) -> Event | str | None:
        on, kind = event.valid_on, event.kind
        if kind == "recommendation.proposed":
            spec = parse_spec_data(p["spec"])  # apply parses it again: a cache hit
            if spec.key != event.stream:
                return f"the spec's key is {spec.key!r}, not the stream {event.stream!r}"
            if spec.supersedes is not None and not self.known(spec.supersedes):
                return f"it supersedes {spec.supersedes!r}, which the log does not have before it"
            if not _same_json(spec_to_data(spec), p["spec"]):
                return "its spec is not in the form the system records"
            return domain.propose(spec, on=on, today=today)
        assert case is not None  # apply refused a stream that does not start with its proposal
        single = self._single(case, kind, p, on, today)
        if single is not None:
            return _first(single())
        return self._automatic(case, kind, p, on)

    def _single(
        self, case: Case, kind: str, p: Mapping[str, Any], on: date, today: date
    ) -> Callable[[], list[Event]] | None:
        """The command that records *kind*, run again from the event (None: not a command's event)."""
        command = BY_EVENT.get(kind)
        if command is None:
            return None
        calendar = self.calendar
        return lambda: command.run(case, command.from_event(kind, p, on), today, calendar)

    def _automatic(self, case: Case, kind: str, p: Mapping[str, Any], on: date) -> Event | str | None:
        """Events the scheduler (tick) or another recommendation's command records.

        The day each must carry is the domain's timer rule, asked here rather than restated: the legal date
        the party's timer gives (:func:`~beslut.states.deadlines.party_timer_day`, as `tick` dates it) and the
        in-force day (:func:`~beslut.states.case.in_force_from`).
        """
        if kind == "party.overdue":
            decision = case.party(p["party"])
            due = party_timer_day(case, decision, "reply_by")
            if due is not None and on != due:
                return f"a party is overdue the day after its reply date ({due}), not on {on}"
            return _first(domain.mark_overdue(case, decision.key, on=on))
        if kind == "party.final":
            decision = case.party(p["party"])
            due = party_timer_day(case, decision, "appeal_ends")
            if due is None or on != due:
                last = decision.appeal_last_day
                return f"a decision is final the day after its appeal period ends ({last}), not on {on}"
            return _first(domain.make_final(case, decision.key, on=on))
        if kind == "recommendation.in_force":
            due = domain.in_force_from(case)
            if on != due:
                return f"the agreement comes into force on {due}, not on {on}"
            return _first(domain.enter_into_force(case, on=on))
        if kind == "recommendation.recounted":
            return self._recount(case, p, on)
        if kind == "recommendation.superseded":
            revision = self.case(p["by"], before_seq=self._seq)
            if revision is None or revision.spec.supersedes != case.key:
                return f"{p['by']!r} is not a revision of {case.key!r} in the log"
            if revision.state != "in_force" or revision.in_force_since != on:
                return f"the revision {p['by']!r} did not come into force on {on}"
            return _first(domain.supersede(case, by=p["by"], on=on))
        return f"unknown event kind {kind!r}"

    def _recount(self, case: Case, p: Mapping[str, Any], on: date) -> Event | str | None:
        """A recount follows the change of a counted decision after consolidation, on the change's legal date."""
        changed = p.get("changed")
        if not isinstance(changed, str):
            return "a recount names the party whose decision changed"
        decision = case.party(changed)
        if decision.last_step_on != on:
            return f"a recount is dated with the change of {changed!r} ({decision.last_step_on}), not {on}"
        return domain.recount_event(case, changed, on=on)


def replay_stream(records: Iterable[AuditRecord], calendar: BusinessCalendar | None = None) -> Case | None:
    """One stream's records, oldest first, folded into its case (None when there are none).

    Raises:
        ValueError: a record is not the legal next event of its stream (the message names its seq).
    """
    replayer = Replayer(calendar)
    key: str | None = None
    for record in records:
        problem = replayer.feed(record)
        if problem is not None:
            raise ValueError(f"seq {record.seq}: {problem}")
        key = record.stream
    return replayer.cases.get(key) if key is not None else None


def _same_json(a: Any, b: Any) -> bool:
    """True when two JSON values are equal as JSON (key order aside).

    orjson writes both (a proposal's spec, twice per proposal in `verify`), several times faster than
    :mod:`json`; what orjson refuses (keys that are not text, integers beyond 64 bits) is compared by json.
    """
    try:
        return orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(b, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(a, sort_keys=True, ensure_ascii=False) == json.dumps(b, sort_keys=True, ensure_ascii=False)


def _first(events: list[Event]) -> Event | None:
    return events[0] if events else None


def _show(event: Event) -> str:
    payload = {k: v for k, v in event.payload.items() if k != "actor"}
    return f"{event.kind} on {event.valid_on} with {canonical_json(payload)}"


def _reason(error: BaseException) -> str:
    if isinstance(error, KeyError):
        return f"its payload has no {error}"
    text = " ".join(str(error).split())
    return text or type(error).__name__


# ---------------------------------------------------------------- as of a time


@dataclass
class HeldBack:
    """An event with a legal date within an as-of-valid replay that could not be applied without a later one."""

    seq: int
    stream: str
    kind: str
    valid_on: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "seq": self.seq,
            "stream": self.stream,
            "kind": self.kind,
            "valid_on": self.valid_on,
            "reason": self.reason,
        }


@dataclass
class AsOfRecorded:
    """What the system showed at *instant*: per stream, the events recorded by then, up to the first later one."""

    instant: datetime
    replayer: Replayer = field(default_factory=lambda: Replayer(whole_log=False))
    _closed: set[str] = field(default_factory=set)

    def feed(self, record: AuditRecord, payload: Any = _UNPARSED) -> None:
        """Take *record* if its stream has not yet passed the instant (the record is known legal)."""
        if record.stream in self._closed:
            return
        if recorded_instant(record) > self.instant:
            self._closed.add(record.stream)
            return
        problem = self.replayer.feed(record, payload)
        if problem is not None:  # cannot happen for a record the full replay accepted; keep the stream whole
            self._closed.add(record.stream)


@dataclass
class AsOfValid:
    """What had been decided by *day*: the events with a legal date on or before it, legal transitions only."""

    day: date
    replayer: Replayer = field(default_factory=lambda: Replayer(whole_log=False))
    held_back: list[HeldBack] = field(default_factory=list)

    def feed(self, record: AuditRecord, payload: Any = _UNPARSED) -> None:
        """Take *record* if its legal date is on or before the day and it applies; otherwise hold it back."""
        if _day(record.valid_on) > self.day:
            return
        problem = self.replayer.feed(record, payload)
        if problem is not None:
            self.held_back.append(HeldBack(record.seq, record.stream, record.kind, record.valid_on, problem))


def parse_as_of(recorded: str | None, valid: str | None) -> tuple[datetime | None, date | None]:
    """The two as-of options, parsed; at most one may be given.

    Raises:
        InvalidInput: both given, or a value that is not a date-time / date.
    """
    if recorded is not None and valid is not None:
        raise InvalidInput("give --as-of-recorded (or --as-of) or --as-of-valid, not both")
    instant: datetime | None = None
    day: date | None = None
    if recorded is not None:
        try:
            instant = datetime.fromisoformat(recorded)
        except ValueError:
            raise InvalidInput(
                f"--as-of-recorded: {recorded!r} is not a date-time (YYYY-MM-DD[THH:MM[:SS]][+HH:MM])"
            ) from None
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=STOCKHOLM)
    if valid is not None:
        day = legal_date_of(valid, "--as-of-valid")  # a date, or an instant's date in Stockholm
    return instant, day


# ---------------------------------------------------------------- live tables against the replay


@dataclass(frozen=True)
class Difference:
    """One field where the live tables and the replayed log disagree."""

    key: str
    party: str | None
    field: str
    live: Any
    replayed: Any

    def as_dict(self) -> dict[str, Any]:
        """JSON form (dates as ISO strings)."""
        return {
            "key": self.key,
            "party": self.party,
            "field": self.field,
            "live": _json_value(self.live),
            "replayed": _json_value(self.replayed),
        }

    def __str__(self) -> str:
        where = f"{self.key}" + (f" party {self.party}" if self.party is not None else "")
        return f"{where}: {self.field}: live {_json_value(self.live)!r}, replayed {_json_value(self.replayed)!r}"


_CASE_FIELDS = [f.name for f in fields(Case) if f.name not in ("parties", "_index", "spec")]
_PARTY_FIELDS = [f.name for f in fields(PartyDecision) if f.name != "key"]


def diff_cases(live: Iterable[Case], replayed: Mapping[str, Case]) -> list[Difference]:
    """Every field of every recommendation and party where *live* and *replayed* differ, by key."""
    live_by_key = {c.key: c for c in live}
    out: list[Difference] = []
    for key in sorted(set(live_by_key) | set(replayed)):
        a, b = live_by_key.get(key), replayed.get(key)
        if a is None or b is None:
            out.append(Difference(key, None, "exists", a is not None, b is not None))
            continue
        if not _same_json(spec_to_data(a.spec), spec_to_data(b.spec)):
            out.append(Difference(key, None, "spec", "(the stored spec)", "(the proposed spec)"))
        out.extend(Difference(key, None, n, getattr(a, n), getattr(b, n)) for n in _CASE_FIELDS if _ne(a, b, n))
        parties_a = {p.key: p for p in a.parties}
        parties_b = {p.key: p for p in b.parties}
        for party in sorted(set(parties_a) | set(parties_b)):
            pa, pb = parties_a.get(party), parties_b.get(party)
            if pa is None or pb is None:
                out.append(Difference(key, party, "exists", pa is not None, pb is not None))
                continue
            out.extend(
                Difference(key, party, n, getattr(pa, n), getattr(pb, n)) for n in _PARTY_FIELDS if _ne(pa, pb, n)
            )
    return out


def _ne(a: object, b: object, name: str) -> bool:
    return bool(getattr(a, name) != getattr(b, name))


def _json_value(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    return value
