"""A tiny reference model of the domain, written from docs/domain.md and the README, not from the engine.

It knows two recommendations, ``r1`` and its revision ``r2`` (which supersedes ``r1``), each with
the parties ``a``, ``b`` and ``c`` (``c`` coordinates and has its own, later reply date). It
predicts, for every command, whether the engine must accept it and what every state is after it.
It shares no code with :mod:`beslut.states`: its calendar is a hand-written table of the Swedish
non-working days of 2022-06 to 2025-12 (Lag 1989:253 plus the three eves; clock moves reach well
into 2023, and a date past the table would silently count as a working day), its machines are the
tables of the README, and its rules are the ones the README and docs/spec.md state.

A prediction is ``"ok"``, ``"refused"`` (exit 2: bad input, unknown key or party, wrong state,
duplicate, a rule) or ``"conflict"`` (exit 3: a stale expected version).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")
PARTY_KEYS = ("a", "b", "c")
KEYS = ("r1", "r2")
APPROVING = ("approved", "approved_with_conditions")
OUTCOMES = ("approved", "rejected", "approved_with_conditions")
UNDECIDED = ("pending", "preparing", "proposed")
DECIDED = ("decided", "announced", "appealed", "final")
# Where a party may record a step after the recommendation went out (decisions and their follow-up).
FOLLOW_UP = ("recommended", "consolidated", "in_force", "superseded")
# After consolidation, while the agreement counts: a changed counted decision is recounted (docs/spec.md).
COUNTED = ("consolidated", "in_force")

# The non-working days (other than Saturdays and Sundays) of the window the model draws dates from.
HOLIDAYS = frozenset(
    {
        date(2022, 6, 6),  # Sveriges nationaldag
        date(2022, 6, 24),  # midsommarafton
        date(2022, 6, 25),  # midsommardagen
        date(2022, 11, 5),  # alla helgons dag
        date(2022, 12, 24),  # julafton
        date(2022, 12, 25),  # juldagen
        date(2022, 12, 26),  # annandag jul
        date(2022, 12, 31),  # nyårsafton
        date(2023, 1, 1),  # nyårsdagen
        date(2023, 1, 6),  # trettondedag jul
        date(2023, 4, 7),  # långfredagen
        date(2023, 4, 10),  # annandag påsk
        date(2023, 5, 1),  # första maj
        date(2023, 5, 18),  # Kristi himmelsfärdsdag
        date(2023, 6, 6),  # Sveriges nationaldag
        date(2023, 6, 23),  # midsommarafton
        date(2023, 6, 24),  # midsommardagen
        date(2023, 11, 4),  # alla helgons dag
        date(2023, 12, 24),  # julafton
        date(2023, 12, 25),  # juldagen
        date(2023, 12, 26),  # annandag jul
        date(2023, 12, 31),  # nyårsafton
        date(2024, 1, 1),  # nyårsdagen
        date(2024, 1, 6),  # trettondedag jul
        date(2024, 3, 29),  # långfredagen
        date(2024, 4, 1),  # annandag påsk
        date(2024, 5, 1),  # första maj
        date(2024, 5, 9),  # Kristi himmelsfärdsdag
        date(2024, 6, 6),  # Sveriges nationaldag
        date(2024, 6, 21),  # midsommarafton
        date(2024, 6, 22),  # midsommardagen
        date(2024, 11, 2),  # alla helgons dag
        date(2024, 12, 24),  # julafton
        date(2024, 12, 25),  # juldagen
        date(2024, 12, 26),  # annandag jul
        date(2024, 12, 31),  # nyårsafton
        date(2025, 1, 1),  # nyårsdagen
        date(2025, 1, 6),  # trettondedag jul
        date(2025, 4, 18),  # långfredagen
        date(2025, 4, 21),  # annandag påsk
        date(2025, 5, 1),  # första maj
        date(2025, 5, 29),  # Kristi himmelsfärdsdag
        date(2025, 6, 6),  # Sveriges nationaldag
        date(2025, 6, 20),  # midsommarafton
        date(2025, 6, 21),  # midsommardagen
        date(2025, 11, 1),  # alla helgons dag
        date(2025, 12, 24),  # julafton
        date(2025, 12, 25),  # juldagen
        date(2025, 12, 26),  # annandag jul
        date(2025, 12, 31),  # nyårsafton
    }
)

# The two specs' reply dates: r1 on a Friday (no roll), c's own window ends on a Saturday
# (rolls to Monday 2022-10-17); r2's on julafton (rolls over jul and annandag jul to 2022-12-27).
REPLY_BY = {"r1": date(2022, 9, 30), "r2": date(2022, 12, 24)}
PARTY_REPLY_BY = {"r1": {"c": date(2022, 10, 15)}, "r2": {}}
IN_FORCE_CHOICES = {"r1": date(2022, 11, 1), "r2": date(2023, 1, 2)}


HOLIDAYS_UNTIL = date(2025, 12, 31)


def roll(day: date) -> date:
    """The next working day on or after *day* (Lag 1930:173)."""
    while day.weekday() >= 5 or day in HOLIDAYS:
        day += timedelta(days=1)
    assert day <= HOLIDAYS_UNTIL, f"the reference model's holiday table ends {HOLIDAYS_UNTIL}; extend it for {day}"
    return day


def end_of(day: date) -> datetime:
    """A date deadline ends at 00:00 the next day, Europe/Stockholm."""
    nxt = day + timedelta(days=1)
    return datetime(nxt.year, nxt.month, nxt.day, tzinfo=STOCKHOLM)


def start_of(day: date) -> datetime:
    """00:00 on *day*, Europe/Stockholm."""
    return datetime(day.year, day.month, day.day, tzinfo=STOCKHOLM)


def spec_toml(key: str, policy: str, in_force: bool) -> str:
    """The TOML spec of *key* with the consolidation *policy*, with or without an in-force date."""
    lines = [
        f'key = "{key}"',
        f'title = "Model {key}"',
        'issuer = "SVOM"',
        'coordinator = "c"',
        f"reply_by = {REPLY_BY[key].isoformat()}",
        f'consolidation = "{policy}"',
    ]
    if in_force:
        lines.append(f"in_force_on = {IN_FORCE_CHOICES[key].isoformat()}")
    if key == "r2":
        lines.append('supersedes = "r1"')
    lines += ["", "[reminders]", 'before = ["P7D"]', 'overdue_every = "P2W"', 'escalate_after = "P1W"']
    for party in PARTY_KEYS:
        lines += ["", "[[party]]", f'key = "{party}"', f'name = "Part {party}"', 'deciding_body = "KS"']
        own = PARTY_REPLY_BY[key].get(party)
        if own is not None:
            lines.append(f"reply_by = {own.isoformat()}")
    return "\n".join(lines) + "\n"


@dataclass
class Party:
    """One party's standing, as the README describes it."""

    deadline: date
    state: str = "pending"
    overdue: bool = False
    last_step_on: date | None = None
    outcome: str | None = None
    decided_on: date | None = None
    announced_on: date | None = None
    appeal_last_day: date | None = None
    reported: bool = False


@dataclass
class Rec:
    """One recommendation."""

    key: str
    policy: str
    in_force_on: date | None
    proposed_on: date
    state: str = "proposed"
    version: int = 1
    outcome: str | None = None
    recommended_on: date | None = None
    consolidated_on: date | None = None
    recounted_on: date | None = None
    contested: list[str] = field(default_factory=list)
    parties: dict[str, Party] = field(default_factory=dict)

    def approvals(self) -> int:
        return sum(1 for p in self.parties.values() if p.state in DECIDED and p.outcome in APPROVING)


class Refused(Exception):
    """The model refuses the command."""


class Conflict(Exception):
    """The model expects a stale-version conflict."""


class Model:
    """The reference model: recommendations by key, and the rules."""

    def __init__(self) -> None:
        self.recs: dict[str, Rec] = {}

    # -- helpers

    def _rec(self, key: str, expected_version: int | None) -> Rec:
        rec = self.recs.get(key)
        if rec is None:
            raise Refused(f"no recommendation {key}")
        if expected_version is not None and expected_version != rec.version:
            raise Conflict(key)
        return rec

    @staticmethod
    def _party(rec: Rec, party: str) -> Party:
        if party not in rec.parties:
            raise Refused(f"no party {party}")
        return rec.parties[party]

    @staticmethod
    def _dates(on: date, today: date, *not_before: date | None) -> None:
        if on > today:
            raise Refused("legal date in the future")
        for earlier in not_before:
            if earlier is not None and on < earlier:
                raise Refused("legal date before an earlier step")

    @staticmethod
    def _text(value: str) -> None:
        if not value.strip():
            raise Refused("empty text")

    # -- commands (each either raises, or changes the model and returns nothing)

    def propose(self, key: str, policy: str, in_force: bool, on: date, today: date) -> None:
        self._dates(on, today)
        if key in self.recs:
            raise Refused("duplicate")
        if key == "r2" and "r1" not in self.recs:
            raise Refused("supersedes an unknown recommendation")
        rec = Rec(key=key, policy=policy, in_force_on=IN_FORCE_CHOICES[key] if in_force else None, proposed_on=on)
        for party in PARTY_KEYS:
            rec.parties[party] = Party(deadline=roll(PARTY_REPLY_BY[key].get(party, REPLY_BY[key])))
        self.recs[key] = rec

    def recommend(self, key: str, on: date, today: date, expected: int | None) -> None:
        rec = self._rec(key, expected)
        if rec.state != "proposed":
            raise Refused("not proposed")
        self._dates(on, today, rec.proposed_on)
        rec.state, rec.recommended_on = "recommended", on
        rec.version += 1

    def withdraw(self, key: str, on: date, today: date, reason: str, expected: int | None) -> None:
        rec = self._rec(key, expected)
        if rec.state not in ("proposed", "recommended"):
            raise Refused("cannot withdraw now")
        self._dates(on, today, rec.recommended_on or rec.proposed_on)
        self._text(reason)
        rec.state = "withdrawn"
        rec.version += 1

    def _step(
        self, rec: Rec, party: str, sources: tuple[str, ...], on: date, today: date, *, open_in: tuple[str, ...]
    ) -> Party:
        p = self._party(rec, party)
        if open_in == ("recommended",) and rec.state in COUNTED and party in rec.contested:
            open_in = COUNTED  # its counted decision was annulled: it may take its steps again
        if rec.state not in open_in:
            raise Refused("recommendation not open for this step")
        if p.state not in sources:
            raise Refused(f"party is {p.state}")
        self._dates(on, today, rec.recommended_on, p.last_step_on)
        return p

    def prepare(self, key: str, party: str, case_number: str, on: date, today: date, expected: int | None) -> None:
        rec = self._rec(key, expected)
        p = self._step(rec, party, ("pending",), on, today, open_in=("recommended",))
        self._text(case_number)
        p.state, p.last_step_on = "preparing", on
        rec.version += 1

    def propose_party(self, key: str, party: str, paragraph: str, on: date, today: date, expected: int | None) -> None:
        rec = self._rec(key, expected)
        p = self._step(rec, party, UNDECIDED, on, today, open_in=("recommended",))
        self._text(paragraph)
        p.state, p.last_step_on = "proposed", on
        rec.version += 1

    def decide(
        self, key: str, party: str, outcome: str, conditions: str | None, on: date, today: date, expected: int | None
    ) -> None:
        rec = self._rec(key, expected)
        if self._party(rec, party).state in DECIDED:
            raise Refused("already decided")
        p = self._step(rec, party, UNDECIDED, on, today, open_in=("recommended",))
        if outcome not in OUTCOMES:
            raise Refused("bad outcome")
        if (outcome == "approved_with_conditions") != bool(conditions and conditions.strip()):
            raise Refused("conditions go with approved_with_conditions, and only with it")
        p.state, p.last_step_on, p.outcome, p.decided_on, p.overdue = "decided", on, outcome, on, False
        rec.version += 1
        if rec.state in COUNTED:
            self._recount(rec, party, on, contested=False)

    def announce(self, key: str, party: str, on: date, today: date, expected: int | None) -> None:
        rec = self._rec(key, expected)
        p = self._step(rec, party, ("decided",), on, today, open_in=FOLLOW_UP)
        p.state, p.last_step_on, p.announced_on = "announced", on, on
        p.appeal_last_day = roll(on + timedelta(weeks=3))  # KL 13:5: three weeks from the announcement
        rec.version += 1

    def appeal(self, key: str, party: str, on: date, today: date, expected: int | None) -> None:
        rec = self._rec(key, expected)
        p = self._party(rec, party)
        if rec.state not in FOLLOW_UP or p.state not in ("announced", "final"):
            raise Refused("nothing to appeal")
        # An appeal lodged in time may be registered after the decision became final: no last-step check.
        self._dates(on, today, p.announced_on)
        assert p.appeal_last_day is not None
        if on > p.appeal_last_day:
            raise Refused("appeal too late")
        p.state, p.last_step_on = "appealed", on
        rec.version += 1

    def settle(self, key: str, party: str, result: str, on: date, today: date, expected: int | None) -> None:
        rec = self._rec(key, expected)
        if result not in ("dismissed", "annulled"):
            raise Refused("bad result")
        p = self._step(rec, party, ("appealed",), on, today, open_in=FOLLOW_UP)
        p.last_step_on = on
        if result == "dismissed":
            p.state = "final"
        else:  # the decision is set aside: the party decides again
            p.state, p.outcome, p.decided_on, p.announced_on, p.appeal_last_day = "preparing", None, None, None, None
            p.reported = False
        rec.version += 1
        if result == "annulled" and rec.state in COUNTED:
            self._recount(rec, party, on, contested=True)

    def report(self, key: str, party: str, on: date, today: date, expected: int | None) -> None:
        rec = self._rec(key, expected)
        p = self._party(rec, party)
        if p.reported:
            raise Refused("already reported")
        if p.state not in DECIDED:
            raise Refused("no decision to report")
        self._dates(on, today, p.decided_on)
        if rec.state not in FOLLOW_UP:
            raise Refused("recommendation closed")
        p.reported = True
        rec.version += 1

    def consolidate(self, key: str, on: date, today: date, expected: int | None) -> None:
        rec = self._rec(key, expected)
        if rec.state != "recommended":
            raise Refused("not recommended")
        self._dates(on, today, rec.recommended_on)
        if any(p.state in UNDECIDED and on <= p.deadline for p in rec.parties.values()):
            raise Refused("a party may still answer")
        if any(p.decided_on is not None and p.decided_on > on for p in rec.parties.values()):
            raise Refused("a party decided after the consolidation date")
        rec.state, rec.outcome, rec.consolidated_on = "consolidated", self._count(rec), on
        rec.version += 1
        if rec.outcome != "not_adopted" and (rec.in_force_on is None or rec.in_force_on <= on):
            self._enter_into_force(rec)

    @staticmethod
    def _count(rec: Rec) -> str:
        approvals, total = rec.approvals(), len(rec.parties)
        if rec.policy == "unanimous":
            return "adopted" if approvals == total else "not_adopted"
        if rec.policy == "opt_in":
            return "not_adopted" if approvals == 0 else "adopted" if approvals == total else "partially_adopted"
        return "adopted" if approvals >= int(rec.policy.split(":")[1]) else "not_adopted"

    def _recount(self, rec: Rec, party: str, on: date, *, contested: bool) -> None:
        """docs/spec.md: a changed counted decision is followed by a recount; an agreement that the recount
        adopts again while it is still consolidated comes into force on its day, never before the recount
        (one that stayed adopted waits for its in-force timer)."""
        was_adopted = rec.outcome != "not_adopted"
        rec.contested = [k for k in rec.contested if k != party] + ([party] if contested else [])
        rec.outcome, rec.recounted_on = self._count(rec), on
        rec.version += 1
        if rec.state == "consolidated" and not was_adopted and rec.outcome != "not_adopted":
            assert rec.consolidated_on is not None
            day = max(rec.in_force_on or rec.consolidated_on, on)
            if day <= on:
                self._enter_into_force(rec)

    def _enter_into_force(self, rec: Rec) -> None:
        rec.state = "in_force"
        rec.version += 1
        if rec.key == "r2" and self.recs["r1"].state == "in_force":
            self.recs["r1"].state = "superseded"
            self.recs["r1"].version += 1

    # -- time

    def due(self, now: datetime) -> list[tuple[datetime, str, str | None]]:
        """The transition timers due by *now*: (due instant, recommendation, party or None)."""
        found: list[tuple[datetime, str, str | None]] = []
        for rec in self.recs.values():
            for key, p in rec.parties.items():
                if rec.state == "recommended" and p.state in UNDECIDED and not p.overdue and end_of(p.deadline) <= now:
                    found.append((end_of(p.deadline), rec.key, key))
                if p.state == "announced" and p.appeal_last_day is not None and end_of(p.appeal_last_day) <= now:
                    found.append((end_of(p.appeal_last_day), rec.key, key))
            if (
                rec.state == "consolidated"
                and rec.outcome != "not_adopted"
                and rec.in_force_on is not None
                and start_of(rec.in_force_on) <= now
            ):
                found.append((start_of(rec.in_force_on), rec.key, None))
        return sorted(found, key=lambda item: (item[0], item[1], item[2] or ""))

    def tick(self, now: datetime, clock_now: datetime) -> None:
        """Fire every transition due by *now*; an instant more than five minutes ahead of the clock is refused."""
        if now > clock_now + timedelta(minutes=5):
            raise Refused("tick in the future")
        while due := self.due(now):
            _, key, party = due[0]
            rec = self.recs[key]
            if party is None:
                self._enter_into_force(rec)
                continue
            p = rec.parties[party]
            if p.state == "announced":  # laga kraft: the appeal period ended with no appeal
                assert p.appeal_last_day is not None
                p.state, p.last_step_on = "final", p.appeal_last_day + timedelta(days=1)
            else:
                p.overdue = True
            rec.version += 1
