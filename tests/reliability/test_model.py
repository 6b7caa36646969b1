"""A hypothesis state machine drives the engine and the reference model side by side, on both stores.

Random valid and invalid commands (every Engine command, unknown keys and parties, wrong states,
stale and fresh ``expected_version``, legal dates before, on and after the deadlines and the
clock, empty texts, bad outcomes) and clock moves forwards and backwards with ticks in between.
After every step:

- the engine refused exactly when the model refused (and a stale version gave a conflict, exit 3);
- a refusal left the database dump unchanged;
- every recommendation's state, version, outcome, and each party's state, reply date, appeal
  period, overdue flag and outcome equal the model's (the model has its own calendar);
- the audit chain verifies, and replaying each recommendation's events equals the live case.

CI runs 7,000 steps on SQLite and 3,000 on PostgreSQL; ``BESLUT_MODEL_STEPS=N`` runs N on each.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from beslut.clock import STOCKHOLM, FixedClock
from beslut.errors import ConcurrencyConflict, Refusal
from beslut.persistence import open_store
from beslut.workflow import Engine
from tests.conftest import KEY, spec_2022
from tests.pg_server import ThrowawayPostgres
from tests.reliability.reference import KEYS, PARTY_KEYS, Conflict, Model, Refused, spec_toml

STEPS_PER_EXAMPLE = 100
CI_STEPS = {"sqlite": 7_000, "postgres": 3_000}  # 10,000 in all, within about three minutes of CI
FIRST_DAY = date(2022, 6, 1)
LAST_DAY = date(2023, 2, 15)

keys = st.sampled_from(["r1", "r1", "r1", "r1", "r2", "r2", "nope"])
parties = st.sampled_from([*PARTY_KEYS, *PARTY_KEYS, *PARTY_KEYS, "zz"])
# A legal date: mostly a few days or weeks before today (sometimes after it), now and then any day at all.
days = st.tuples(
    st.integers(min_value=0, max_value=9),
    st.integers(min_value=-2, max_value=45),
    st.dates(min_value=FIRST_DAY, max_value=LAST_DAY),
)
texts = st.sampled_from(["KS 2022/1", "§ 12", "KS 2022/1", "§ 12", "", "   "])
# None (no check), the current version (fresh), or a stale one.
versions = st.sampled_from([None, None, "fresh", "fresh", -1, +1])
# A clock move in minutes: mostly forwards by up to six weeks, sometimes back by up to three days.
clock_moves = st.integers(min_value=-3 * 24 * 60, max_value=42 * 24 * 60)
instants = st.datetimes(min_value=datetime(2022, 6, 1), max_value=datetime(2023, 2, 20), timezones=st.just(STOCKHOLM))
starts = st.dates(min_value=FIRST_DAY, max_value=date(2022, 9, 15))

_OPS: dict[str, dict[str, st.SearchStrategy[Any]]] = {}
# How often each operation is drawn (1 when not named): guided steps about half the time, so runs
# get deep into the life cycle; random commands, clock moves and ticks the other half.
_WEIGHTS = {"next_case_step": 6, "next_party_step": 14, "move_clock": 3, "jump_clock": 1, "tick": 3, "tick_now": 3}


def op(**strategies: st.SearchStrategy[Any]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register a method as an operation the single ``step`` rule draws, with its arguments' strategies.

    One rule instead of many: hypothesis's swarm testing switches rules off for a whole run,
    which would leave most runs without the guided steps.
    """

    def register(method: Callable[..., None]) -> Callable[..., None]:
        _OPS[method.__name__] = strategies
        return method

    return register


_steps: dict[str, int] = {}
_outcomes: Counter[str] = Counter()  # "command result" -> how often, printed with -s


def _steps_per_store(store_name: str) -> int:
    return int(os.environ.get("BESLUT_MODEL_STEPS", CI_STEPS[store_name]))


class EngineVersusModel(RuleBasedStateMachine):
    """The machine; :func:`_machine_for` gives it a way to make a fresh database per example."""

    make_database: Callable[[], Any]
    store_name: str

    def __init__(self) -> None:
        super().__init__()
        self._database = self.make_database()
        url = self._database.__enter__()
        self.store = open_store(url)
        self.store.create_schema()
        self.clock = FixedClock(datetime(2022, 6, 1, 12, tzinfo=STOCKHOLM))
        self.engine = Engine(self.store, clock=self.clock, actor="model")
        self.model = Model()
        self._changed = False  # whether a command was accepted since the invariants last ran

    def teardown(self) -> None:
        self.engine.close()
        self._database.__exit__(None, None, None)

    # -- running one command against both

    def _today(self) -> date:
        return self.clock.now().astimezone(STOCKHOLM).date()

    def _day(self, drawn: tuple[int, int, date]) -> date:
        """A drawn legal date: one time in ten any day of the season, else some days before (or after) today."""
        one_in_ten, back, anyday = drawn
        return anyday if one_in_ten == 0 else self._today() - timedelta(days=back)

    def _version(self, key: str, choice: object) -> int | None:
        if choice is None:
            return None
        rec = self.model.recs.get(key)
        current = rec.version if rec is not None else 1
        return current if choice == "fresh" else current + int(choice)  # type: ignore[call-overload]

    def _both(self, engine_call: Callable[[], object], model_call: Callable[[], None]) -> None:
        try:
            model_call()
            expected = "ok"
        except Refused:
            expected = "refused"
        except Conflict:
            expected = "conflict"
        before = self.store.dump() if expected != "ok" else None
        try:
            engine_call()
            got = "ok"
        except ConcurrencyConflict:
            got = "conflict"
        except Refusal as error:
            got = f"refused ({type(error).__name__}: {error})"
        _outcomes[f"{engine_call.__qualname__.split('.')[1]} {expected}"] += 1
        assert expected == got.split(" ")[0], f"model says {expected}, engine: {got}"
        self._changed = self._changed or got == "ok"
        if before is not None:
            assert before == self.store.dump(), "a refused command changed the database"

    # -- rules

    @op(key=keys, policy=st.sampled_from(["unanimous", "opt_in", "quorum:2"]), in_force=st.booleans(), on=days)
    def propose(self, key: str, policy: str, in_force: bool, on: tuple[int, int, date]) -> None:
        day = self._day(on)
        text = spec_toml(key if key != "nope" else "r1", policy, in_force)
        if key == "nope":  # a spec the parser must refuse: an unknown key
            text = "colour = 'red'\n" + text
        self._both(
            lambda: self.engine.propose(text, on=day),
            (lambda: self.model.propose(key, policy, in_force, day, self._today())) if key != "nope" else _refuse,
        )

    @op(key=keys, on=days, version=versions)
    def recommend(self, key: str, on: tuple[int, int, date], version: object) -> None:
        day = self._day(on)
        expected = self._version(key, version)
        self._both(
            lambda: self.engine.recommend(key, on=day, expected_version=expected),
            lambda: self.model.recommend(key, day, self._today(), expected),
        )

    @op(key=keys, on=days, reason=st.sampled_from(["budget", ""]), version=versions)
    def withdraw(self, key: str, on: tuple[int, int, date], reason: str, version: object) -> None:
        day = self._day(on)
        expected = self._version(key, version)
        self._both(
            lambda: self.engine.withdraw(key, on=day, reason=reason, expected_version=expected),
            lambda: self.model.withdraw(key, day, self._today(), reason, expected),
        )

    @op(key=keys, party=parties, text=texts, on=days, version=versions)
    def prepare(self, key: str, party: str, text: str, on: tuple[int, int, date], version: object) -> None:
        day = self._day(on)
        expected = self._version(key, version)
        self._both(
            lambda: self.engine.prepare(key, party, case_number=text, on=day, expected_version=expected),
            lambda: self.model.prepare(key, party, text, day, self._today(), expected),
        )

    @op(key=keys, party=parties, text=texts, on=days, version=versions)
    def propose_party(self, key: str, party: str, text: str, on: tuple[int, int, date], version: object) -> None:
        day = self._day(on)
        expected = self._version(key, version)
        self._both(
            lambda: self.engine.propose_party(key, party, body="SAU", paragraph=text, on=day, expected_version=expected),
            lambda: self.model.propose_party(key, party, text, day, self._today(), expected),
        )

    @op(
        key=keys,
        party=parties,
        outcome=st.sampled_from(["approved", "approved", "rejected", "approved_with_conditions", "maybe"]),
        conditions=st.sampled_from([None, None, "villkor"]),
        on=days,
        version=versions,
    )
    def decide(
        self, key: str, party: str, outcome: str, conditions: str | None, on: tuple[int, int, date], version: object
    ) -> None:
        day = self._day(on)
        expected = self._version(key, version)
        self._both(
            lambda: self.engine.decide(
                key, party, outcome=outcome, paragraph="§ 1", conditions=conditions, on=day, expected_version=expected
            ),
            lambda: self.model.decide(key, party, outcome, conditions, day, self._today(), expected),
        )

    @op(key=keys, party=parties, on=days, version=versions)
    def announce(self, key: str, party: str, on: tuple[int, int, date], version: object) -> None:
        day = self._day(on)
        expected = self._version(key, version)
        self._both(
            lambda: self.engine.announce(key, party, on=day, expected_version=expected),
            lambda: self.model.announce(key, party, day, self._today(), expected),
        )

    @op(key=keys, party=parties, on=days, version=versions)
    def appeal(self, key: str, party: str, on: tuple[int, int, date], version: object) -> None:
        day = self._day(on)
        expected = self._version(key, version)
        self._both(
            lambda: self.engine.appeal(key, party, on=day, expected_version=expected),
            lambda: self.model.appeal(key, party, day, self._today(), expected),
        )

    @op(key=keys, party=parties, result=st.sampled_from(["dismissed", "annulled", "annulled", "lost"]), on=days)
    def settle(self, key: str, party: str, result: str, on: tuple[int, int, date]) -> None:
        day = self._day(on)
        self._both(
            lambda: self.engine.settle(key, party, result=result, on=day),
            lambda: self.model.settle(key, party, result, day, self._today(), None),
        )

    @op(key=keys, party=parties, on=days, version=versions)
    def report(self, key: str, party: str, on: tuple[int, int, date], version: object) -> None:
        day = self._day(on)
        expected = self._version(key, version)
        self._both(
            lambda: self.engine.report(key, party, on=day, expected_version=expected),
            lambda: self.model.report(key, party, day, self._today(), expected),
        )

    @op(key=keys, on=days, version=versions)
    def consolidate(self, key: str, on: tuple[int, int, date], version: object) -> None:
        day = self._day(on)
        expected = self._version(key, version)
        self._both(
            lambda: self.engine.consolidate(key, on=day, expected_version=expected),
            lambda: self.model.consolidate(key, day, self._today(), expected),
        )

    # -- guided steps: a plausible next step from the model's states, so runs get deep into the life cycle

    @op(pick=st.integers(min_value=0, max_value=999), back=st.integers(min_value=0, max_value=4),
          hours=st.integers(min_value=0, max_value=24 * 6))  # fmt: skip
    def next_case_step(self, pick: int, back: int, hours: int) -> None:
        """Move the clock on a little, then propose, recommend, consolidate (or now and then withdraw)."""
        self.clock.set(self.clock.now() + timedelta(hours=hours))
        on = self._today() - timedelta(days=back)
        steps: list[Callable[[], None]] = []
        for key in KEYS:
            rec = self.model.recs.get(key)
            if rec is None and (key == "r1" or "r1" in self.model.recs):
                policy = ["unanimous", "opt_in", "quorum:2"][pick % 3]
                steps.append(partial(self.propose, key, policy, pick % 2 == 0, (1, back, on)))
            elif rec is not None and rec.state == "proposed":
                steps.append(partial(self.recommend, key, (1, back, on), None))
            elif rec is not None and rec.state == "recommended":
                steps.append(partial(self.consolidate, key, (1, back, on), "fresh"))
                if pick % 20 == 0:
                    steps.append(partial(self.withdraw, key, (1, back, on), "budget", None))
        if steps:
            steps[pick % len(steps)]()

    @op(pick=st.integers(min_value=0, max_value=999), back=st.integers(min_value=0, max_value=4),
          hours=st.integers(min_value=0, max_value=24 * 3))  # fmt: skip
    def next_party_step(self, pick: int, back: int, hours: int) -> None:
        """Move the clock on a little, then take a party's next plausible step."""
        self.clock.set(self.clock.now() + timedelta(hours=hours))
        when = (1, back, self._today())
        outcome = ["approved", "approved", "approved", "rejected", "approved_with_conditions"][pick % 5]
        conditions = "villkor" if outcome == "approved_with_conditions" else None
        steps: list[Callable[[], None]] = []
        for key, rec in self.model.recs.items():
            for party, p in rec.parties.items():
                if p.state in ("pending", "preparing", "proposed") and rec.state == "recommended":
                    steps += [
                        partial(self.prepare, key, party, "KS 2022/1", when, None),
                        partial(self.propose_party, key, party, "§ 1", when, None),
                        partial(self.decide, key, party, outcome, conditions, when, None),
                    ]
                elif p.state == "decided":
                    steps.append(partial(self.announce, key, party, when, None))
                elif p.state in ("announced", "final") and pick % 2 == 0:
                    steps.append(partial(self.appeal, key, party, when, None))
                elif p.state == "appealed":
                    result = "annulled" if pick % 3 == 0 else "dismissed"
                    steps.append(partial(self.settle, key, party, result, when))
                if p.state in ("decided", "announced", "appealed", "final") and not p.reported and pick % 3 == 0:
                    steps.append(partial(self.report, key, party, when, None))
        if steps:
            steps[pick % len(steps)]()

    @initialize(start=starts)
    def start_clock(self, start: date) -> None:
        """Each run starts on a different day of the 2022 season."""
        self.clock.set(datetime(start.year, start.month, start.day, 12, tzinfo=STOCKHOLM))

    @op(minutes=clock_moves)
    def move_clock(self, minutes: int) -> None:
        """The wall clock moves: mostly forwards, sometimes back (an NTP step, a restored VM)."""
        self.clock.set(self.clock.now() + timedelta(minutes=minutes))

    @op(to=instants)
    def jump_clock(self, to: datetime) -> None:
        """The wall clock jumps anywhere in the season."""
        self.clock.set(to)

    @op(back=st.integers(min_value=-10, max_value=60 * 24 * 40))
    def tick(self, back: int) -> None:
        """Tick at an instant up to 40 days behind the clock, or a few minutes ahead of it."""
        now = self.clock.now() - timedelta(minutes=back)
        self._both(lambda: self.engine.tick(now), lambda: self.model.tick(now, self.clock.now()))

    @op()
    def tick_now(self) -> None:
        """Tick at the clock's own instant, as the daemon does."""
        now = self.clock.now()
        self._both(lambda: self.engine.tick(now), lambda: self.model.tick(now, now))

    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        """Draw one operation (weighted) and its arguments, and run it."""
        names = [name for name in _OPS for _ in range(_WEIGHTS.get(name, 1))]
        name = data.draw(st.sampled_from(names), label="operation")
        arguments = {arg: data.draw(strategy, label=arg) for arg, strategy in _OPS[name].items()}
        _steps[self.store_name] = _steps.get(self.store_name, 0) + 1
        getattr(self, name)(**arguments)

    # -- invariants

    @invariant()
    def agrees_with_model(self) -> None:
        """States equal the model's, the audit chain verifies, replay equals live (after an accepted command)."""
        if not self._changed:  # after a refusal the dump comparison already proved nothing changed
            return
        self._changed = False
        cases = {c.key: c for c in self.engine.cases()}
        assert set(self.model.recs) == set(cases)
        for key, rec in self.model.recs.items():
            case = cases[key]
            assert (rec.state, rec.version, rec.outcome) == (case.state, case.version, case.outcome), key
            assert sorted(rec.contested) == sorted(case.contested), key
            for party_key, p in rec.parties.items():
                live = case.party(party_key)
                want = (p.state, p.overdue, p.deadline, p.appeal_last_day, p.outcome, p.reported)
                got = (live.state, live.overdue, live.deadline, live.appeal_last_day, live.outcome,
                       live.reported_on is not None)  # fmt: skip
                assert want == got, f"{key} {party_key}"
            assert case == self.engine.replay(key), f"replaying {key} does not give the live case"
        report = self.engine.verify_audit()
        assert report.ok, report


def _refuse() -> None:
    raise Refused("the model refuses every malformed spec")


@contextmanager
def _sqlite_file() -> Iterator[str]:
    # In memory-backed /dev/shm where there is one: this test is about logic, and fsync on a shared
    # disk would make its time depend on the neighbours (the crash tests are about durability).
    shm = Path("/dev/shm")
    parent = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="beslut-model-", dir=parent) as directory:
        yield str(Path(directory) / "model.db")


def _postgres_database(server: ThrowawayPostgres) -> Callable[[], Any]:
    @contextmanager
    def database() -> Iterator[str]:
        name = f"model_{uuid.uuid4().hex[:16]}"
        url = server.create_database(name)
        try:
            yield url
        finally:
            server.drop_database(name)

    return database


@pytest.mark.parametrize("store_name", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_engine_follows_the_model(store_name: str, request: pytest.FixtureRequest) -> None:
    """Thousands of random steps: the engine agrees with the reference model after each one."""
    if store_name == "sqlite":
        make: Callable[[], Any] = _sqlite_file
    else:
        make = _postgres_database(request.getfixturevalue("postgres_server"))
    machine = type(
        f"EngineVersusModel_{store_name}",
        (EngineVersusModel,),
        {"make_database": staticmethod(make), "store_name": store_name},
    )
    wanted = _steps_per_store(store_name)
    _steps[store_name] = 0
    _outcomes.clear()
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=max(1, wanted // STEPS_PER_EXAMPLE),
            stateful_step_count=STEPS_PER_EXAMPLE,
            deadline=None,
            database=None,
            # CI replays the same examples every run (a red CI must mean a change broke something);
            # BESLUT_MODEL_RANDOM=1 explores new ones, as the heavy runs do.
            derandomize=os.environ.get("BESLUT_MODEL_RANDOM") != "1",
            suppress_health_check=list(HealthCheck),
        ),
    )
    # Hypothesis may end an example early; most run their full length.
    assert _steps[store_name] >= wanted * 0.8, f"only {_steps[store_name]} steps ran of {wanted}"
    print(", ".join(f"{name}: {count}" for name, count in sorted(_outcomes.items())))
    print(f"\n{store_name}: {_steps[store_name]} model steps")


class TestFoundByTheModel:
    """Regressions the reference model pointed at: a timer that already fired blocked the same timer later."""

    def test_an_annulled_party_past_its_reply_date_is_overdue_again(self, engine: Engine, clock: FixedClock) -> None:
        """Overdue, decided, annulled: undecided past the reply date again, so overdue again, as a party that
        decided in time and was annulled later (the done reply_by row used to block the new one)."""
        engine.propose(spec_2022(), on=date(2022, 6, 3))
        engine.recommend(KEY, on=date(2022, 6, 3))
        engine.decide(KEY, "2309", outcome="approved", paragraph="§ 1", on=date(2022, 9, 1))
        clock.set(datetime(2022, 10, 5, 12, tzinfo=STOCKHOLM))
        engine.tick(datetime(2022, 10, 2, tzinfo=STOCKHOLM))
        engine.decide(KEY, "2380", outcome="approved", paragraph="§ 1", on=date(2022, 10, 3))
        for party in ("2380", "2309"):
            engine.announce(KEY, party, on=date(2022, 10, 3))
            engine.appeal(KEY, party, on=date(2022, 10, 4))
            engine.settle(KEY, party, result="annulled", on=date(2022, 10, 5))
        engine.tick(datetime(2022, 10, 5, 11, tzinfo=STOCKHOLM))
        case = engine.case(KEY)
        assert [("preparing", True), ("preparing", True)] == [
            (case.party(p).state, case.party(p).overdue) for p in ("2380", "2309")
        ]
        assert case == engine.replay(KEY)

    def test_a_decision_announced_again_on_the_same_day_becomes_final_again(
        self, engine: Engine, clock: FixedClock
    ) -> None:
        """Final, appealed, annulled, decided and announced again the same day: the same appeal period's end
        must fire again (the done appeal_ends row with that instant used to block it)."""
        engine.propose(spec_2022(), on=date(2022, 6, 3))
        engine.recommend(KEY, on=date(2022, 6, 3))
        on = date(2022, 9, 5)
        engine.decide(KEY, "2380", outcome="approved", paragraph="§ 1", on=on)
        engine.announce(KEY, "2380", on=on)
        clock.set(datetime(2022, 10, 1, 12, tzinfo=STOCKHOLM))
        engine.tick(datetime(2022, 10, 1, tzinfo=STOCKHOLM))
        assert "final" == engine.case(KEY).party("2380").state
        engine.appeal(KEY, "2380", on=on)
        engine.settle(KEY, "2380", result="annulled", on=on)
        engine.decide(KEY, "2380", outcome="rejected", paragraph="§ 2", on=on)
        engine.announce(KEY, "2380", on=on)
        engine.tick(datetime(2022, 10, 1, 1, tzinfo=STOCKHOLM))
        party = engine.case(KEY).party("2380")
        assert ("final", "rejected") == (party.state, party.outcome)
        assert engine.case(KEY) == engine.replay(KEY)
