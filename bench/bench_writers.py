"""Durable commands per second with 1, 2, 4 and 8 concurrent writer processes, against raw drivers in the same run.

Run::

    .venv/bin/python -m bench.bench_writers [--writers 1,2,4,8] [--commands C] [--rounds R]
        [--stores sqlite,postgres] [--postgres URL | --throwaway-postgres] [--profile DIR]

Each run puts C party commands (prepare -> propose -> decide -> announce per (recommendation,
party) pair) on ONE fresh database and splits them between N writer PROCESSES (spawned once and
reused; each opens its own ``Engine``, or its own raw connection, per run). The writers start
together (each connects and reads once, reports ready, and waits for "go") and the run's wall time
is from the first writer's start to the last writer's end (``time.monotonic_ns``, one clock for
the whole machine). Two modes:

``own``      every writer works on its own recommendations: no two writers touch one row, so
             all they share is the database's write lock (SQLite) or the audit-append lock
             (PostgreSQL). Plain commands, no expected version.
``shared``   the (recommendation, party) pairs are dealt round-robin, so the writers work on
             the same recommendations at the same time, each on different parties. Every
             command reads the case's version first and passes it as the expected version (what
             ``--expect-version`` does); a stale version is counted and the command retried
             after reading again.

Raw baseline: the same N processes doing the same writes with the plain driver, the least a
durable, hash-chained command with these guarantees can do. SQLite (``sqlite3``, WAL,
``synchronous=FULL``, the same busy timeout): ``BEGIN IMMEDIATE``; ``UPDATE recommendation SET
version = version + 1 … RETURNING version`` (``AND version = ?`` in the shared mode, after reading
it, a miss rolled back, counted and retried); ``UPDATE party_state``; ``SELECT`` the audit head;
``INSERT`` the chained audit row (sha256 over a JSON of it and the previous hash); ``COMMIT``.
PostgreSQL (``psycopg``): the same, with ``BEGIN`` and the same advisory lock the store takes
before reading the audit head, so ``seq`` is gap-free and in commit order there too.

Engine and raw runs are interleaved (ABBA over the rounds) so a busy neighbour slows both alike;
the summary gives commands/s per N, engine/raw, and the scaling N/1 of each side. After every run
the audit log is checked: the engine's chain verifies and holds exactly the commands run, the raw
log has ``seq`` 1..C with no gap.

``--phases`` times, in every engine writer, how long each command waits for the write lock and how
long it holds it (SQLite: ``BEGIN IMMEDIATE`` to the connection's return after ``COMMIT``;
PostgreSQL: the audit-append advisory lock to the same point): one writer at a time holds it, so
1000 / hold (ms) bounds the commands per second whatever N is. ``--profile DIR`` runs cProfile in
every engine writer and prints where their time went (wall time, so lock waits show up in
``BEGIN``/``pg_advisory_xact_lock``/``commit``).

Each writer first runs ``--warmup`` untimed commands of its own: the first writes of a process
import and cache a great deal, and untimed they would slow whichever run a process does first.

No timing is asserted anywhere; docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import math
import multiprocessing
import os
import pstats
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.bench_commands import (
    CLOCK_AT,
    GENESIS_HASH,
    KIND_OF,
    PROPOSED_ON,
    STATE_AFTER,
    STEP_DATES,
    STEPS,
    _json,
    fresh_postgres_database,
    libpq_url,
    spec_template,
    spec_with_key,
)

DEFAULT_WRITERS = (1, 2, 4, 8)
DEFAULT_COMMANDS = 960
DEFAULT_ROUNDS = 2
DEFAULT_WARMUP = 8
MODES = ("own", "shared")
KEY_PREFIX = "w"
AUDIT_APPEND_LOCK = 0x6265736C7574  # the key beslut.persistence.postgres takes; the raw baseline takes it too
RECORDED_AT = CLOCK_AT.isoformat(timespec="microseconds")


# ---------------------------------------------------------------- the workload


@dataclass(frozen=True)
class Step:
    """One party command."""

    name: str
    key: str
    party: str


@dataclass(frozen=True)
class Plan:
    """The recommendations a run needs and each writer's steps, in order."""

    keys: list[str]
    parties: list[str]
    per_writer: list[list[Step]]  # each writer's warm-up steps, then its timed ones
    warmup: int

    @property
    def commands(self) -> int:
        """Every command run, warm-up included (what the audit log must hold after the set-up's events)."""
        return sum(len(steps) for steps in self.per_writer)

    @property
    def timed(self) -> int:
        return self.commands - self.warmup * len(self.per_writer)


def plan(mode: str, writers: int, commands: int, warmup: int) -> Plan:
    """Split *commands* party steps between *writers*: own recommendations each, or dealt round-robin.

    Each (recommendation, party) pair goes through its four steps in order, by one writer. Each
    writer first runs *warmup* untimed steps of its own (the first write of a process imports and
    caches a lot: untimed, it would slow whichever run a process does first).
    """
    from beslut import parse_spec_text  # noqa: PLC0415 - the parent only

    parties = [p.key for p in parse_spec_text(spec_template()).parties]
    each = commands // writers + warmup
    pairs_each = math.ceil(each / len(STEPS))
    if mode == "own":
        keys_each = math.ceil(pairs_each / len(parties))
        keys = [f"{KEY_PREFIX}-{i:05d}" for i in range(keys_each * writers)]
        mine = [[(k, p) for k in keys[w::writers] for p in parties][:pairs_each] for w in range(writers)]
    else:
        keys = [f"{KEY_PREFIX}-{i:05d}" for i in range(math.ceil(pairs_each * writers / len(parties)))]
        pairs = [(k, p) for k in keys for p in parties]
        mine = [pairs[w::writers][:pairs_each] for w in range(writers)]
    per_writer = [[Step(name, k, p) for k, p in pairs for name in STEPS][:each] for pairs in mine]
    return Plan(keys, parties, per_writer, warmup)


# ---------------------------------------------------------------- what a writer process runs


@dataclass(frozen=True)
class Job:
    """One writer's part of one run."""

    side: str  # "engine" or "raw"
    store: str  # "sqlite" or "postgres"
    target: str  # a file path or a PostgreSQL URL
    mode: str
    steps: list[Step]
    warmup: int
    profile: str | None = None  # write a cProfile of the timed part here
    phases: bool = False  # time the lock wait and the lock hold of every command


@dataclass
class Outcome:
    """What one writer did: when it started and ended, and how many stale versions it retried."""

    started_ns: int
    ended_ns: int
    commands: int
    stale: int
    busy: int
    error: str | None = None
    lock_wait_ns: int = 0  # in BEGIN IMMEDIATE (SQLite) or pg_advisory_xact_lock (PostgreSQL)
    lock_hold_ns: int = 0  # from holding that lock to the connection's return to the pool (after COMMIT)


class EngineWriter:
    """Party commands through an ``Engine`` of its own."""

    def __init__(self, job: Job) -> None:
        from beslut import Engine, FixedClock, open_store  # noqa: PLC0415

        self.job = job
        self.engine = Engine(open_store(job.target), clock=FixedClock(CLOCK_AT), actor="bench")
        self.stale = self.busy = 0
        self.lock_wait_ns = self.lock_hold_ns = 0
        if job.phases:
            self._listen()

    def _listen(self) -> None:
        """Time the write lock: how long each command waits for it and holds it (SQLAlchemy events)."""
        from sqlalchemy import event  # noqa: PLC0415

        sql_engine = getattr(self.engine.store, "engine")  # noqa: B009 - SqlStore's SQLAlchemy engine
        clock = time.monotonic_ns
        state: dict[str, int] = {}

        def is_lock(statement: str) -> bool:
            return statement.startswith("BEGIN IMMEDIATE") or "pg_advisory_xact_lock" in statement

        @event.listens_for(sql_engine, "before_cursor_execute")
        def before(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
            if is_lock(statement):
                state["asked"] = clock()

        @event.listens_for(sql_engine, "after_cursor_execute")
        def after(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
            if is_lock(statement):
                state["held"] = clock()
                self.lock_wait_ns += state["held"] - state.pop("asked")

        @event.listens_for(sql_engine, "checkin")
        def checkin(*_: Any) -> None:
            if "held" in state:
                self.lock_hold_ns += clock() - state.pop("held")

        store = self.engine.store
        taker = getattr(store, "lock_audit_head", None)
        if self.job.store == "postgres" and taker is not None:
            # The lock and the head go in one pipelined round trip, past SQLAlchemy's cursor events:
            # time the call (its wait includes the head query's share of the round trip).
            def timed_taker(connection: Any) -> Any:
                state["asked"] = clock()
                try:
                    return taker(connection)
                finally:
                    state["held"] = clock()
                    self.lock_wait_ns += state["held"] - state.pop("asked")

            setattr(store, "lock_audit_head", timed_taker)  # noqa: B010 - this instance only

    def reset_phases(self) -> None:
        self.lock_wait_ns = self.lock_hold_ns = 0

    def warm(self) -> None:
        """Connect and read once, so the timed part starts with a pooled connection."""
        self.engine.case(self.job.steps[0].key)

    def run(self, step: Step) -> None:
        """One command; in the shared mode, read the version first and retry on a stale one."""
        from beslut.errors import ConcurrencyConflict  # noqa: PLC0415

        while True:
            version = self.engine.case(step.key).version if self.job.mode == "shared" else None
            try:
                self._command(step, version)
            except ConcurrencyConflict as conflict:
                if "busy" in str(conflict):
                    self.busy += 1
                else:
                    self.stale += 1
            else:
                return

    def _command(self, step: Step, version: int | None) -> None:
        on = STEP_DATES[step.name]
        e = self.engine
        if step.name == "prepare":
            e.prepare(step.key, step.party, case_number=f"KS {step.party}", on=on, expected_version=version)
        elif step.name == "propose":
            e.propose_party(step.key, step.party, body="KSAU", paragraph="§ 101", on=on, expected_version=version)
        elif step.name == "decide":
            e.decide(step.key, step.party, outcome="approved", paragraph="§ 202", on=on, expected_version=version)
        else:
            e.announce(step.key, step.party, on=on, expected_version=version)

    def close(self) -> None:
        self.engine.close()


class RawWriter:
    """The same writes with the plain driver: version bump, party row, chained audit row, one transaction each."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.stale = self.busy = 0
        self.lock_wait_ns = self.lock_hold_ns = 0
        self.postgres = job.store == "postgres"
        if self.postgres:
            import psycopg  # noqa: PLC0415

            self.db: Any = psycopg.connect(libpq_url(job.target), autocommit=True)
            self.mark = "%s"
        else:
            from beslut.persistence.sqlite import busy_timeout_ms  # noqa: PLC0415 - the store's own timeout

            self.db = sqlite3.connect(job.target, isolation_level=None, timeout=busy_timeout_ms() / 1000)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.mark = "?"

    def _sql(self, statement: str) -> str:
        return statement.replace("?", self.mark)

    def warm(self) -> None:
        self.db.execute(self._sql("SELECT version FROM recommendation WHERE key = ?"), (self.job.steps[0].key,))

    def run(self, step: Step) -> None:
        """One durable command; in the shared mode a stale version is rolled back and retried."""
        while True:
            expected = None
            if self.job.mode == "shared":
                row = self.db.execute(self._sql("SELECT version FROM recommendation WHERE key = ?"), (step.key,))
                expected = row.fetchone()[0]
            if self._write(step, expected):
                return
            self.stale += 1

    def _write(self, step: Step, expected: int | None) -> bool:
        db = self.db
        db.execute("BEGIN" if self.postgres else "BEGIN IMMEDIATE")
        try:
            bump = "UPDATE recommendation SET version = version + 1 WHERE key = ?"
            if expected is not None:
                bump += f" AND version = {int(expected)}"
            row = db.execute(self._sql(bump + " RETURNING version"), (step.key,)).fetchone()
            if row is None:
                db.execute("ROLLBACK")
                return False
            stream_seq = row[0]  # the raw version counts the stream's events: the new one's stream_seq
            db.execute(
                self._sql(
                    "UPDATE party_state SET state = ?, updated_at = ? WHERE recommendation_key = ? AND party_key = ?"
                ),
                (STATE_AFTER[step.name], RECORDED_AT, step.key, step.party),
            )
            if self.postgres:
                db.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_APPEND_LOCK,))
            head = db.execute("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev_hash = (head[0] + 1, head[1]) if head is not None else (1, GENESIS_HASH)
            payload = _json({"actor": "bench", "party": step.party, "step": step.name, "paragraph": "§ 202"})
            valid_on = STEP_DATES[step.name].isoformat()
            content = {
                "seq": seq,
                "stream": step.key,
                "stream_seq": stream_seq,
                "recorded_at": RECORDED_AT,
                "valid_on": valid_on,
                "kind": KIND_OF[step.name],
                "payload": payload,
                "prev_hash": prev_hash,
            }
            digest = hashlib.sha256(_json(content).encode("utf-8")).hexdigest()
            db.execute(
                self._sql("INSERT INTO audit_event VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                (seq, step.key, stream_seq, RECORDED_AT, valid_on, KIND_OF[step.name], payload, prev_hash, digest),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return True

    def reset_phases(self) -> None:
        """The raw writers are not timed per phase."""

    def close(self) -> None:
        self.db.close()


def writer_process(pipe: Connection) -> None:
    """A writer: for each job, set up, say ready, wait for go, run the steps, report; until told to stop."""
    while True:
        job: Job | None = pipe.recv()
        if job is None:
            return
        writer: EngineWriter | RawWriter | None = None
        try:
            writer = EngineWriter(job) if job.side == "engine" else RawWriter(job)
            writer.warm()
            for step in job.steps[: job.warmup]:
                writer.run(step)
            writer.stale = writer.busy = 0
            writer.reset_phases()
            pipe.send("ready")
            pipe.recv()  # go
            profiler = cProfile.Profile() if job.profile else None
            if profiler is not None:
                profiler.enable()
            started = time.monotonic_ns()
            for step in job.steps[job.warmup :]:
                writer.run(step)
            ended = time.monotonic_ns()
            if profiler is not None and job.profile:
                profiler.disable()
                profiler.dump_stats(job.profile)
            timed = len(job.steps) - job.warmup
            pipe.send(
                Outcome(
                    started, ended, timed, writer.stale, writer.busy, None, writer.lock_wait_ns, writer.lock_hold_ns
                )
            )
        except BaseException as error:  # report it to the parent instead of hanging it
            pipe.send(Outcome(0, 0, 0, 0, 0, error=f"{type(error).__name__}: {error}"))
        finally:
            if writer is not None:
                writer.close()


class Pool:
    """Writer processes spawned once (importing beslut costs a second each) and reused run after run."""

    def __init__(self, size: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes = []
        for _ in range(size):
            parent, child = context.Pipe()
            process = context.Process(target=writer_process, args=(child,), daemon=True)
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)

    def run(self, jobs: Sequence[Job]) -> list[Outcome]:
        """Give job i to writer i, start them together once all are ready, and collect what they did."""
        pipes = self.pipes[: len(jobs)]
        for pipe, job in zip(pipes, jobs, strict=True):
            pipe.send(job)
        answers = [pipe.recv() for pipe in pipes]
        for pipe, answer in zip(pipes, answers, strict=True):
            if not isinstance(answer, Outcome):
                pipe.send("go")
        failed = [a.error for a in answers if isinstance(a, Outcome)]
        if failed:
            for pipe, answer in zip(pipes, answers, strict=True):
                if not isinstance(answer, Outcome):
                    pipe.recv()  # let the ones that were ready finish, so the pool stays usable
            raise RuntimeError(f"a writer failed while setting up: {failed[0]}")
        outcomes: list[Outcome] = [pipe.recv() for pipe in pipes]
        for outcome in outcomes:
            if outcome.error is not None:
                raise RuntimeError(f"a writer failed: {outcome.error}")
        return outcomes

    def close(self) -> None:
        for pipe in self.pipes:
            pipe.send(None)
        for process in self.processes:
            process.join(timeout=30)


# ---------------------------------------------------------------- databases


_RAW_SCHEMA = (
    "CREATE TABLE recommendation (key VARCHAR(100) PRIMARY KEY, version INTEGER NOT NULL)",
    """CREATE TABLE party_state (
        recommendation_key VARCHAR(100) NOT NULL REFERENCES recommendation (key),
        party_key VARCHAR(64) NOT NULL,
        state VARCHAR(20) NOT NULL,
        updated_at VARCHAR(40) NOT NULL,
        PRIMARY KEY (recommendation_key, party_key))""",
    """CREATE TABLE audit_event (
        seq BIGINT PRIMARY KEY,
        stream VARCHAR(100) NOT NULL,
        stream_seq INTEGER NOT NULL,
        recorded_at VARCHAR(40) NOT NULL,
        valid_on VARCHAR(10) NOT NULL,
        kind VARCHAR(60) NOT NULL,
        payload TEXT NOT NULL,
        prev_hash VARCHAR(64) NOT NULL,
        hash VARCHAR(64) NOT NULL UNIQUE,
        UNIQUE (stream, stream_seq))""",
)


def set_up_engine(target: str, the_plan: Plan) -> None:
    """A fresh store with the plan's recommendations proposed and recommended (version 2 each)."""
    from beslut import Engine, FixedClock, open_store  # noqa: PLC0415

    template = spec_template()
    with Engine(open_store(target), clock=FixedClock(CLOCK_AT), actor="bench") as engine:
        engine.init()
        for key in the_plan.keys:
            engine.propose(spec_with_key(template, key), on=PROPOSED_ON)
            engine.recommend(key, on=PROPOSED_ON)


def check_engine(target: str, the_plan: Plan) -> None:
    """The chain verifies and holds the set-up events and exactly one event per command."""
    from beslut import Engine, open_store  # noqa: PLC0415

    with Engine(open_store(target)) as engine:
        report = engine.verify_audit()
    expected = 2 * len(the_plan.keys) + the_plan.commands
    if not report.ok or report.events != expected:
        raise RuntimeError(f"engine audit log after the run: {report.as_dict()}, expected {expected} events")


def raw_rows(the_plan: Plan) -> tuple[list[tuple[str, int]], list[tuple[str, str, str, str]]]:
    """Rows of the raw tables at the start: each recommendation at version 0 (no event yet), each party pending."""
    return (
        [(k, 0) for k in the_plan.keys],
        [(k, p, "pending", RECORDED_AT) for k in the_plan.keys for p in the_plan.parties],
    )


def set_up_raw(store: str, target: str, the_plan: Plan) -> None:
    """The raw tables, filled."""
    recommendations, parties = raw_rows(the_plan)
    if store == "postgres":
        import psycopg  # noqa: PLC0415

        with psycopg.connect(libpq_url(target), autocommit=True) as db, db.cursor() as cursor:
            for statement in _RAW_SCHEMA:
                cursor.execute(statement)
            cursor.executemany("INSERT INTO recommendation VALUES (%s, %s)", recommendations)
            cursor.executemany("INSERT INTO party_state VALUES (%s, %s, %s, %s)", parties)
        return
    lite = sqlite3.connect(target, isolation_level=None)
    try:
        lite.execute("PRAGMA journal_mode=WAL")
        for statement in _RAW_SCHEMA:
            lite.execute(statement)
        lite.execute("BEGIN")
        lite.executemany("INSERT INTO recommendation VALUES (?, ?)", recommendations)
        lite.executemany("INSERT INTO party_state VALUES (?, ?, ?, ?)", parties)
        lite.execute("COMMIT")
    finally:
        lite.close()


def check_raw(store: str, target: str, the_plan: Plan) -> None:
    """seq runs 1..C with no gap."""
    query = "SELECT count(*), min(seq), max(seq) FROM audit_event"
    if store == "postgres":
        import psycopg  # noqa: PLC0415

        with psycopg.connect(libpq_url(target)) as db:
            row = db.execute(query).fetchone()
    else:
        lite = sqlite3.connect(target)
        try:
            row = lite.execute(query).fetchone()
        finally:
            lite.close()
    if row != (the_plan.commands, 1, the_plan.commands):
        raise RuntimeError(f"raw audit log after the run: count, min, max = {row}, expected {the_plan.commands}")


# ---------------------------------------------------------------- runs


@dataclass
class Cell:
    """All rounds of one (store, mode, N, side): commands, summed wall time, stale retries."""

    commands: int = 0
    seconds: float = 0.0
    stale: int = 0
    busy: int = 0
    lock_wait_ns: int = 0
    lock_hold_ns: int = 0

    @property
    def per_second(self) -> float:
        return self.commands / self.seconds if self.seconds > 0 else math.nan

    def per_command_ms(self, total_ns: int) -> float:
        return total_ns / self.commands / 1e6 if self.commands else math.nan


@dataclass
class Settings:
    """What to run."""

    writers: tuple[int, ...]
    commands: int
    rounds: int
    modes: tuple[str, ...]
    stores: dict[str, str]  # store -> a directory (sqlite) or server URL (postgres)
    profile: Path | None
    warmup: int
    phases: bool
    cells: dict[tuple[str, str, int, str], Cell] = field(default_factory=dict)
    loads: list[tuple[float, float, float]] = field(default_factory=list)


@contextmanager
def fresh_target(store: str, where: str, label: str) -> Iterator[str]:
    """An empty database for one run: a new file, or a new database on the server."""
    if store == "postgres":
        with fresh_postgres_database(where, label) as url:
            yield url
        return
    directory = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=where))
    try:
        yield str(directory / "bench.db")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def one_run(pool: Pool, settings: Settings, store: str, mode: str, writers: int, side: str, round_: int) -> None:
    """Set up a fresh database, run the writers on it, check the log, and add the figures to its cell."""
    the_plan = plan(mode, writers, settings.commands, settings.warmup)
    with fresh_target(store, settings.stores[store], side) as target:
        if side == "engine":
            set_up_engine(target, the_plan)
        else:
            set_up_raw(store, target, the_plan)
        profile = settings.profile
        jobs = [
            Job(
                side,
                store,
                target,
                mode,
                steps,
                settings.warmup,
                str(profile / f"{store}-{mode}-n{writers}-r{round_}-w{w}.prof")
                if profile is not None and side == "engine"
                else None,
                settings.phases and side == "engine",
            )
            for w, steps in enumerate(the_plan.per_writer)
        ]
        outcomes = pool.run(jobs)
        if side == "engine":
            check_engine(target, the_plan)
        else:
            check_raw(store, target, the_plan)
    cell = settings.cells.setdefault((store, mode, writers, side), Cell())
    cell.commands += sum(o.commands for o in outcomes)
    cell.seconds += (max(o.ended_ns for o in outcomes) - min(o.started_ns for o in outcomes)) / 1e9
    cell.stale += sum(o.stale for o in outcomes)
    cell.busy += sum(o.busy for o in outcomes)
    cell.lock_wait_ns += sum(o.lock_wait_ns for o in outcomes)
    cell.lock_hold_ns += sum(o.lock_hold_ns for o in outcomes)
    seconds = (max(o.ended_ns for o in outcomes) - min(o.started_ns for o in outcomes)) / 1e9
    _say(
        f"{store} {mode:<6} N={writers} {side:<6} round {round_ + 1}: "
        f"{sum(o.commands for o in outcomes) / seconds:8.1f} cmds/s, "
        f"stale {sum(o.stale for o in outcomes)}, busy {sum(o.busy for o in outcomes)}"
    )


def run_all(settings: Settings) -> None:
    """Every (store, mode, N) with engine and raw interleaved ABBA over the rounds."""
    settings.loads.append(os.getloadavg())
    pool = Pool(max(settings.writers))
    try:
        for store in settings.stores:
            for mode in settings.modes:
                for writers in settings.writers:
                    for round_ in range(settings.rounds):
                        order = ("raw", "engine") if round_ % 2 == 0 else ("engine", "raw")
                        for side in order:
                            one_run(pool, settings, store, mode, writers, side, round_)
    finally:
        pool.close()
    settings.loads.append(os.getloadavg())


# ---------------------------------------------------------------- report


def render(settings: Settings) -> str:
    """The summary: per store and mode, one line per N."""
    lines = [
        f"\n== beslut concurrent writers: {settings.commands} commands per run, {settings.rounds} round(s), "
        f"engine and raw interleaved ==",
        "load average (1, 5, 15 min) at start: {:.2f} {:.2f} {:.2f}; at end: {:.2f} {:.2f} {:.2f}".format(
            *settings.loads[0], *settings.loads[-1]
        ),
    ]
    header = (
        f"{'store':<9} {'mode':<7} {'N':>2} {'raw cmds/s':>11} {'engine cmds/s':>14} {'engine/raw':>11} "
        f"{'raw N/1':>8} {'engine N/1':>11} {'raw stale':>10} {'engine stale':>13} {'busy':>5}"
    )
    for store in settings.stores:
        for mode in settings.modes:
            lines += ["", header, "-" * len(header)]
            for writers in settings.writers:
                raw = settings.cells[(store, mode, writers, "raw")]
                engine = settings.cells[(store, mode, writers, "engine")]
                raw1 = settings.cells.get((store, mode, settings.writers[0], "raw"), raw)
                engine1 = settings.cells.get((store, mode, settings.writers[0], "engine"), engine)
                lines.append(
                    f"{store:<9} {mode:<7} {writers:>2} {raw.per_second:>11.1f} {engine.per_second:>14.1f} "
                    f"{engine.per_second / raw.per_second:>10.3f}x {raw.per_second / raw1.per_second:>7.2f}x "
                    f"{engine.per_second / engine1.per_second:>10.2f}x {raw.stale:>10} {engine.stale:>13} "
                    f"{raw.busy + engine.busy:>5}"
                )
    if settings.phases:
        lines += [
            "",
            "engine write lock per command (SQLite: BEGIN IMMEDIATE .. COMMIT; PostgreSQL: the audit-append",
            "advisory lock .. COMMIT), mean ms: waiting for it / holding it; 1000 / hold = the most cmds/s",
        ]
        for (store, mode, writers, side), cell in settings.cells.items():
            if side == "engine":
                hold = cell.per_command_ms(cell.lock_hold_ns)
                bound = f"{1000 / hold:7.1f}" if hold > 0 else "    n/a"
                lines.append(
                    f"{store:<9} {mode:<7} N={writers}: wait {cell.per_command_ms(cell.lock_wait_ns):7.3f}  "
                    f"hold {hold:7.3f}  (at most {bound} cmds/s)"
                )
    return "\n".join(lines)


def profile_summary(directory: Path, limit: int = 25) -> str:
    """The engine writers' profiles merged, by time spent inside each function (wall time)."""
    files = sorted(str(p) for p in directory.glob("*.prof"))
    if not files:
        return ""
    out = io.StringIO()
    stats = pstats.Stats(files[0], stream=out)
    for name in files[1:]:
        stats.add(name)
    stats.sort_stats("tottime").print_stats(limit)
    return f"\n-- cProfile of {len(files)} engine writers, merged (saved in {directory}) --\n{out.getvalue()}"


# ---------------------------------------------------------------- main


def _list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_writers", description=__doc__.split("\n")[0])
    parser.add_argument("--writers", type=lambda s: tuple(int(x) for x in _list(s)), default=DEFAULT_WRITERS)
    parser.add_argument("--commands", type=int, default=DEFAULT_COMMANDS, help="commands per run, split between N")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="runs per (store, mode, N, side)")
    parser.add_argument("--modes", type=_list, default=MODES, help="own,shared")
    parser.add_argument("--stores", type=_list, default=("sqlite", "postgres"), help="sqlite,postgres")
    parser.add_argument("--db-dir", type=Path, default=None, help="make the SQLite files under DIR")
    parser.add_argument("--postgres", metavar="URL", default=None, help="a server whose user may create databases")
    parser.add_argument(
        "--throwaway-postgres", action="store_true", help="start a throwaway server as the test suite does"
    )
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the engine writers into DIR")
    parser.add_argument("--phases", action="store_true", help="time the engine's write-lock wait and hold")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="untimed commands per writer first")
    args = parser.parse_args(argv)
    if any(n < 1 for n in args.writers) or args.commands < max(args.writers) or args.rounds < 1:
        parser.error("--writers must be >= 1, --commands >= the largest N, --rounds >= 1")
    if set(args.modes) - set(MODES) or set(args.stores) - {"sqlite", "postgres"}:
        parser.error("--modes takes own,shared and --stores sqlite,postgres")
    if "postgres" in args.stores and not (args.postgres or args.throwaway_postgres):
        args.stores = tuple(s for s in args.stores if s != "postgres")
        _say("no --postgres URL or --throwaway-postgres: SQLite only")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the summary; the exit status is 0 whatever the figures."""
    args = parse_args(argv)
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="beslut-writers-", dir=args.db_dir))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        stores: dict[str, str] = {}
        for store in args.stores:
            if store == "sqlite":
                stores[store] = str(workdir)
            elif args.postgres:
                stores[store] = args.postgres
            else:
                from tests.pg_server import ThrowawayPostgres  # noqa: PLC0415 - the test suite's server

                server = stack.enter_context(ThrowawayPostgres())
                stores[store] = str(server.url)
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
        settings = Settings(
            args.writers, args.commands, args.rounds, args.modes, stores, args.profile, args.warmup, args.phases
        )
        run_all(settings)
        print(render(settings))
        if args.profile is not None:
            print(profile_summary(args.profile))
    return 0


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
