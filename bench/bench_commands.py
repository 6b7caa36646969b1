"""Durable commands per second of the engine, against a raw driver baseline measured in the same run.

Run::

    .venv/bin/python -m bench.bench_commands [--commands N] [--db-dir DIR] [--postgres URL]

Engine: a fresh SQLite file, ``Engine(store, clock=FixedClock(2030-01-01))``, recommendations made from
``examples/mini-maria-2022.toml`` with unique keys, proposed and recommended, then N timed party
commands cycling prepare -> propose -> decide -> announce over every (party, recommendation) pair.
Each is one durable transaction: load the case, check, fire the machine, update the state rows,
append a hash-chained audit event and sync the deadline rows.

Raw baseline: plain :mod:`sqlite3` on a second file in the same directory (same filesystem), WAL and
``synchronous=FULL`` like the store, a state row per party with a version and an ``audit_event``
table shaped like ours; each of the same N commands is ``BEGIN IMMEDIATE``, one UPDATE, one INSERT
with a sha256 over a JSON payload, ``COMMIT``. The two runs are interleaved in blocks (ABBA order),
so a busy disk or a noisy neighbour slows both alike, and the ratio engine/raw is printed (the
target is >= 0.5x).

Memory: peak RSS (``getrusage``) and the count of live Python objects after loading (proposing and
recommending) 100, then 2,000 recommendations through one engine. Both must stay flat: a case is a
row, and the machines attach a throw-away model per trigger. This runs first, so the peak RSS is
not that of the timed runs.

``--postgres URL``: the same engine run and a raw psycopg baseline (BEGIN; UPDATE; INSERT; COMMIT),
each in a fresh database created on that server and dropped afterwards (the URL's user must be
allowed to create databases).

No timing is asserted anywhere; docs/performance.md has the figures and what they mean.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import io
import json
import math
import pstats
import re
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from beslut import Engine, FixedClock, open_store, parse_spec_text
from beslut.clock import STOCKHOLM
from beslut.states import machines

ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = ROOT / "examples" / "mini-maria-2022.toml"

DEFAULT_COMMANDS = 1000
DEFAULT_BLOCKS = 10
DEFAULT_MEMORY_CASES = (100, 2000)
TARGET_RATIO = 0.5
KEY_PREFIX = "bench"

# The clock stands after every legal date used, so none is refused as being in the future.
CLOCK_AT = datetime(2030, 1, 1, 12, 0, tzinfo=STOCKHOLM)
PROPOSED_ON = date(2022, 6, 3)
STEP_DATES = {
    "prepare": date(2022, 6, 10),
    "propose": date(2022, 6, 20),
    "decide": date(2022, 8, 22),
    "announce": date(2022, 8, 25),
}
STEPS = tuple(STEP_DATES)
STATE_AFTER = {"prepare": "preparing", "propose": "proposed", "decide": "decided", "announce": "announced"}
KIND_OF = {
    "prepare": "party.prepared",
    "propose": "party.proposed",
    "decide": "party.decided",
    "announce": "party.announced",
}
GENESIS_HASH = "0" * 64

_KEY_LINE = re.compile(r'^key = "[^"]*"', re.MULTILINE)


# ---------------------------------------------------------------- the workload


@dataclass(frozen=True)
class Step:
    """One party command of the workload."""

    name: str
    key: str
    party: str


def spec_template() -> str:
    """The 2022 example spec."""
    return SPEC_PATH.read_text(encoding="utf-8")


def spec_with_key(template: str, key: str) -> str:
    """The example spec with its recommendation key (the first ``key =`` line, before any party) replaced."""
    text, replaced = _KEY_LINE.subn(f'key = "{key}"', template, count=1)
    if replaced != 1:
        raise RuntimeError(f"no key line in {SPEC_PATH}")
    return text


def workload(commands: int, warmup: int) -> tuple[list[str], list[Step]]:
    """The recommendation keys needed, and the warm-up + timed steps in order.

    Every (party, recommendation) pair goes through prepare, propose, decide and announce, party by
    party, so the mix is a quarter of each and a case is loaded again every few commands.
    """
    parties = [p.key for p in parse_spec_text(spec_template()).parties]
    count = max(1, math.ceil((commands + warmup) / (len(STEPS) * len(parties))))
    keys = [f"{KEY_PREFIX}-{i:06d}" for i in range(count)]
    steps = [Step(name, key, party) for party in parties for key in keys for name in STEPS]
    return keys, steps[: warmup + commands]


# ---------------------------------------------------------------- timing


@dataclass
class Timing:
    """What one timed run did: how many commands, how long in all, and each command's latency."""

    label: str
    database: str
    note: str = ""
    seconds: float = 0.0
    latencies_ns: list[int] = field(default_factory=list, repr=False)

    @property
    def commands(self) -> int:
        return len(self.latencies_ns)

    def add(self, elapsed_ns: int) -> None:
        """Count one command run on its own (set-up), so its time is its latency."""
        self.latencies_ns.append(elapsed_ns)
        self.seconds += elapsed_ns / 1e9

    @property
    def per_second(self) -> float:
        return self.commands / self.seconds if self.seconds > 0 else math.inf

    @property
    def mean_ms(self) -> float:
        return sum(self.latencies_ns) / len(self.latencies_ns) / 1e6 if self.latencies_ns else math.nan

    def percentile_ms(self, q: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        if not self.latencies_ns:
            return math.nan
        ordered = sorted(self.latencies_ns)
        return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1] / 1e6


class Workload(Protocol):
    """Something that runs command *i* of the timed steps durably."""

    timing: Timing

    def command(self, i: int) -> None:
        """Run timed command *i* (0-based), committed when it returns."""
        ...


def time_block(work: Workload, start: int, stop: int, profiler: cProfile.Profile | None = None) -> None:
    """Run commands start..stop-1 of *work*, adding their latencies and the block's time to its timing."""
    clock = time.perf_counter_ns
    latencies = work.timing.latencies_ns
    if profiler is not None:
        profiler.enable()
    began = clock()
    for i in range(start, stop):
        t0 = clock()
        work.command(i)
        latencies.append(clock() - t0)
    work.timing.seconds += (clock() - began) / 1e9
    if profiler is not None:
        profiler.disable()


def interleave(engine: Workload, raw: Workload, commands: int, blocks: int, profiler: cProfile.Profile | None) -> None:
    """Time both workloads over the same commands in *blocks* blocks, in ABBA order."""
    blocks = max(1, min(blocks, commands))
    bounds = [commands * b // blocks for b in range(blocks + 1)]
    for b in range(blocks):
        start, stop = bounds[b], bounds[b + 1]
        if b % 2 == 0:
            time_block(raw, start, stop)
            time_block(engine, start, stop, profiler)
        else:
            time_block(engine, start, stop, profiler)
            time_block(raw, start, stop)


# ---------------------------------------------------------------- the engine


def run_step(engine: Engine, step: Step) -> None:
    """Run one party command through the engine's public API."""
    on = STEP_DATES[step.name]
    if step.name == "prepare":
        engine.prepare(step.key, step.party, case_number=f"KS {step.key}/{step.party}", on=on)
    elif step.name == "propose":
        engine.propose_party(step.key, step.party, body="KSAU", paragraph="§ 101", on=on)
    elif step.name == "decide":
        engine.decide(step.key, step.party, outcome="approved", paragraph="§ 202", on=on)
    elif step.name == "announce":
        engine.announce(step.key, step.party, on=on)
    else:  # pragma: no cover - STEPS is closed
        raise ValueError(step.name)


class EngineWorkload:
    """An engine on a fresh store: recommendations proposed and recommended, warm-up commands run."""

    def __init__(self, target: str, database: str, *, commands: int, warmup: int) -> None:
        self.keys, steps = workload(commands, warmup)
        self.warmup = warmup
        self.commands = commands
        self.engine = Engine(open_store(target), clock=FixedClock(CLOCK_AT), actor="bench")
        self.timing = Timing("engine", database, "prepare/propose/decide/announce")
        self.proposals = Timing("propose (set-up)", database, "one per recommendation")
        self.recommendations = Timing("recommend (set-up)", database, "one per recommendation")
        template = spec_template()
        try:
            self.engine.init()
            clock = time.perf_counter_ns
            for key in self.keys:
                text = spec_with_key(template, key)
                t0 = clock()
                self.engine.propose(text, on=PROPOSED_ON)
                self.proposals.add(clock() - t0)
            for key in self.keys:
                t0 = clock()
                self.engine.recommend(key, on=PROPOSED_ON)
                self.recommendations.add(clock() - t0)
            for step in steps[:warmup]:
                run_step(self.engine, step)
        except BaseException:
            self.engine.close()
            raise
        self.steps = steps[warmup:]

    def command(self, i: int) -> None:
        """Run timed step *i* through the engine."""
        run_step(self.engine, self.steps[i])

    def close(self) -> None:
        """Check the audit chain holds every command, then release the store."""
        try:
            report = self.engine.verify_audit()
            expected = 2 * len(self.keys) + self.warmup + self.timing.commands
            if not report.ok or report.events != expected:
                raise RuntimeError(f"audit log after the run: {report.as_dict()}, expected {expected} events")
        finally:
            self.engine.close()


# ---------------------------------------------------------------- the raw baselines


class RawLog:
    """What the raw baselines write per command: the state row's new values and a sealed audit row."""

    def __init__(self) -> None:
        self.seq = 0
        self.prev_hash = GENESIS_HASH
        self.stream_seq: dict[str, int] = {}
        self.recorded_at = CLOCK_AT.isoformat(timespec="microseconds")

    def seal(self, step: Step) -> tuple[tuple[str, str, str, str], tuple[object, ...]]:
        """The UPDATE parameters (state, updated_at, key, party) and the INSERT row of audit_event."""
        self.seq += 1
        stream_seq = self.stream_seq.get(step.key, 0) + 1
        self.stream_seq[step.key] = stream_seq
        valid_on = STEP_DATES[step.name].isoformat()
        kind = KIND_OF[step.name]
        payload = _json({"actor": "bench", "party": step.party, "step": step.name, "paragraph": "§ 202"})
        content = {
            "seq": self.seq,
            "stream": step.key,
            "stream_seq": stream_seq,
            "recorded_at": self.recorded_at,
            "valid_on": valid_on,
            "kind": kind,
            "payload": json.loads(payload),
            "prev_hash": self.prev_hash,
        }
        digest = hashlib.sha256(_json(content).encode("utf-8")).hexdigest()
        row = (self.seq, step.key, stream_seq, self.recorded_at, valid_on, kind, payload, self.prev_hash, digest)
        self.prev_hash = digest
        return (STATE_AFTER[step.name], self.recorded_at, step.key, step.party), row


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_SQLITE_SCHEMA = (
    """CREATE TABLE party_state (
        recommendation_key TEXT NOT NULL,
        party_key TEXT NOT NULL,
        state TEXT NOT NULL,
        version INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (recommendation_key, party_key))""",
    """CREATE TABLE audit_event (
        seq INTEGER PRIMARY KEY,
        stream TEXT NOT NULL,
        stream_seq INTEGER NOT NULL,
        recorded_at TEXT NOT NULL,
        valid_on TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        UNIQUE (stream, stream_seq))""",
)
_UPDATE_SQLITE = (
    "UPDATE party_state SET state = ?, version = version + 1, updated_at = ?"
    " WHERE recommendation_key = ? AND party_key = ?"
)
_INSERT_SQLITE = "INSERT INTO audit_event VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"


class RawSqliteWorkload:
    """The baseline: each command is BEGIN IMMEDIATE; UPDATE; INSERT; COMMIT with :mod:`sqlite3`."""

    def __init__(self, path: Path, *, commands: int, warmup: int) -> None:
        _, steps = workload(commands, warmup)
        self.expected = len(steps)
        self.log = RawLog()
        self.timing = Timing("raw sqlite3", "sqlite", "BEGIN IMMEDIATE/UPDATE/INSERT/COMMIT")
        self.connection = sqlite3.connect(path, isolation_level=None)
        try:
            self.connection.execute("PRAGMA journal_mode=WAL")
            self.connection.execute("PRAGMA synchronous=FULL")
            for statement in _SQLITE_SCHEMA:
                self.connection.execute(statement)
            pairs = sorted({(s.key, s.party) for s in steps})
            self.connection.execute("BEGIN IMMEDIATE")
            self.connection.executemany(
                "INSERT INTO party_state VALUES (?, ?, 'pending', 1, ?)",
                [(k, p, self.log.recorded_at) for k, p in pairs],
            )
            self.connection.execute("COMMIT")
            for step in steps[:warmup]:
                self._write(step)
        except BaseException:
            self.connection.close()
            raise
        self.steps = steps[warmup:]

    def _write(self, step: Step) -> None:
        state, row = self.log.seal(step)
        self.connection.execute("BEGIN IMMEDIATE")
        self.connection.execute(_UPDATE_SQLITE, state)
        self.connection.execute(_INSERT_SQLITE, row)
        self.connection.execute("COMMIT")

    def command(self, i: int) -> None:
        """Write timed step *i*."""
        self._write(self.steps[i])

    def close(self) -> None:
        """Check every command's row is there, then close."""
        try:
            (count,) = self.connection.execute("SELECT count(*) FROM audit_event").fetchone()
            if count != self.log.seq:
                raise RuntimeError(f"raw baseline has {count} audit rows, expected {self.log.seq}")
        finally:
            self.connection.close()


_PG_SCHEMA = (
    """CREATE TABLE party_state (
        recommendation_key VARCHAR(100) NOT NULL,
        party_key VARCHAR(64) NOT NULL,
        state VARCHAR(20) NOT NULL,
        version INTEGER NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (recommendation_key, party_key))""",
    """CREATE TABLE audit_event (
        seq BIGINT PRIMARY KEY,
        stream VARCHAR(100) NOT NULL,
        stream_seq INTEGER NOT NULL,
        recorded_at TIMESTAMPTZ NOT NULL,
        valid_on DATE NOT NULL,
        kind VARCHAR(60) NOT NULL,
        payload TEXT NOT NULL,
        prev_hash VARCHAR(64) NOT NULL,
        hash VARCHAR(64) NOT NULL UNIQUE,
        UNIQUE (stream, stream_seq))""",
)
_UPDATE_PG = (
    "UPDATE party_state SET state = %s, version = version + 1, updated_at = %s"
    " WHERE recommendation_key = %s AND party_key = %s"
)
_INSERT_PG = "INSERT INTO audit_event VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"


class RawPostgresWorkload:
    """The baseline on PostgreSQL: each command is BEGIN; UPDATE; INSERT; COMMIT on one psycopg connection."""

    def __init__(self, url: str, *, commands: int, warmup: int) -> None:
        import psycopg  # noqa: PLC0415 - only with --postgres

        _, steps = workload(commands, warmup)
        self.log = RawLog()
        self.timing = Timing("raw psycopg", "postgres", "BEGIN/UPDATE/INSERT/COMMIT")
        self.connection = psycopg.connect(libpq_url(url), autocommit=True)
        try:
            for statement in _PG_SCHEMA:
                self.connection.execute(statement)
            pairs = sorted({(s.key, s.party) for s in steps})
            with self.connection.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO party_state VALUES (%s, %s, 'pending', 1, %s)", [(k, p, CLOCK_AT) for k, p in pairs]
                )
            for step in steps[:warmup]:
                self._write(step)
        except BaseException:
            self.connection.close()
            raise
        self.steps = steps[warmup:]

    def _write(self, step: Step) -> None:
        state, row = self.log.seal(step)
        self.connection.execute("BEGIN")
        self.connection.execute(_UPDATE_PG, state)
        self.connection.execute(_INSERT_PG, row)
        self.connection.execute("COMMIT")

    def command(self, i: int) -> None:
        """Write timed step *i*."""
        self._write(self.steps[i])

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


# ---------------------------------------------------------------- PostgreSQL databases


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://``) as libpq wants it (``postgresql://``)."""
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def with_database(url: str, name: str) -> str:
    """*url* pointing at database *name*."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextmanager
def fresh_postgres_database(url: str, purpose: str) -> Iterator[str]:
    """A new, empty database on the server of *url*, dropped afterwards; yields its URL."""
    import psycopg  # noqa: PLC0415 - only with --postgres
    from psycopg import sql  # noqa: PLC0415

    name = f"beslut_bench_{purpose}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_url(url), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(url, name)
    finally:
        with psycopg.connect(libpq_url(url), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# ---------------------------------------------------------------- memory


@dataclass(frozen=True)
class MemoryPoint:
    """The process after loading *cases* recommendations through one engine."""

    cases: int
    peak_rss_mib: float
    live_objects: int
    attached_models: int | None


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def _attached_models() -> int | None:
    """Models attached to the shared machine definitions right now (0 between triggers), if visible."""
    total = 0
    for definition in (machines.RECOMMENDATION_MACHINE, machines.PARTY_MACHINE):
        models = getattr(getattr(definition, "_machine", None), "models", None)
        if models is None:
            return None
        total += len(models)
    return total


def memory_run(path: Path, sizes: Sequence[int]) -> list[MemoryPoint]:
    """Propose and recommend recommendations up to each size in turn; note peak RSS and live objects."""
    template = spec_template()
    points: list[MemoryPoint] = []
    engine = Engine(open_store(path), clock=FixedClock(CLOCK_AT), actor="bench")
    try:
        engine.init()
        loaded = 0
        for size in sorted(sizes):
            for i in range(loaded, size):
                key = f"{KEY_PREFIX}-mem-{i:06d}"
                engine.propose(spec_with_key(template, key), on=PROPOSED_ON)
                engine.recommend(key, on=PROPOSED_ON)
            loaded = size
            gc.collect()
            points.append(MemoryPoint(size, _peak_rss_mib(), len(gc.get_objects()), _attached_models()))
    finally:
        engine.close()
    return points


# ---------------------------------------------------------------- report


@dataclass
class Report:
    """Everything one run measured."""

    commands: int
    warmup: int
    blocks: int
    timings: list[Timing] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)
    memory: list[MemoryPoint] = field(default_factory=list)
    profiled: bool = False

    def ratio_lines(self) -> list[str]:
        """One line per database: engine/raw and whether it meets the target."""
        return [
            f"ratio engine/raw ({database}): {ratio:.3f}x (target >= {TARGET_RATIO}x: "
            f"{'met' if ratio >= TARGET_RATIO else 'NOT met'})"
            for database, ratio in self.ratios.items()
        ]

    def table(self) -> str:
        """The summary table."""
        header = (
            f"{'database':<9} {'run':<19} {'commands':>8} {'seconds':>8} {'cmds/s':>9} "
            f"{'mean ms':>8} {'p50 ms':>8} {'p99 ms':>8}  what"
        )
        lines = [header, "-" * len(header)]
        for t in self.timings:
            lines.append(
                f"{t.database:<9} {t.label:<19} {t.commands:>8} {t.seconds:>8.2f} {t.per_second:>9.1f} "
                f"{t.mean_ms:>8.3f} {t.percentile_ms(50):>8.3f} {t.percentile_ms(99):>8.3f}  {t.note}"
            )
        return "\n".join(lines)

    def memory_lines(self) -> list[str]:
        """One line per memory point, and the growth between the first and the last."""
        lines = [
            f"memory after {p.cases:>5} recommendations: peak RSS {p.peak_rss_mib:7.1f} MiB, "
            f"live objects {p.live_objects:>9,}, machine models attached {p.attached_models}"
            for p in self.memory
        ]
        if len(self.memory) >= 2:
            first, last = self.memory[0], self.memory[-1]
            extra = max(1, last.cases - first.cases)
            rss = last.peak_rss_mib - first.peak_rss_mib
            objects = last.live_objects - first.live_objects
            lines.append(
                f"growth {first.cases} -> {last.cases} recommendations: peak RSS {rss:+.1f} MiB "
                f"({rss * 1024 / extra:+.2f} KiB per recommendation), "
                f"live objects {objects:+,} ({objects / extra:+.2f} per recommendation)"
            )
        return lines

    def render(self) -> str:
        """The whole summary."""
        return "\n".join(
            [
                f"\n== beslut durable commands: {self.commands} timed commands per run "
                f"({self.warmup} warm-up; engine and raw interleaved in {self.blocks} blocks) ==",
                self.table(),
                *(
                    ["note: the SQLite engine run was under cProfile, so its figures are inflated"]
                    if self.profiled
                    else []
                ),
                "",
                *self.ratio_lines(),
                *self.memory_lines(),
            ]
        )


# ---------------------------------------------------------------- main


def _sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(int(part) for part in text.split(",") if part.strip())
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError("memory sizes must be positive")
    return sizes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_commands", description=__doc__.split("\n")[0])
    parser.add_argument("--commands", type=int, default=DEFAULT_COMMANDS, help="timed commands per run")
    parser.add_argument("--warmup", type=int, default=None, help="untimed commands first (default N/10, at most 200)")
    parser.add_argument("--blocks", type=int, default=DEFAULT_BLOCKS, help="interleave engine and raw in this many")
    parser.add_argument("--db-dir", type=Path, default=None, help="make the temporary database files under DIR")
    parser.add_argument("--postgres", metavar="URL", default=None, help="also run against this PostgreSQL server")
    parser.add_argument(
        "--memory-cases",
        type=_sizes,
        default=DEFAULT_MEMORY_CASES,
        metavar="A,B",
        help="recommendation counts for the memory check ('' skips it; default 100,2000)",
    )
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the SQLite engine commands into FILE")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.commands < 1 or args.blocks < 1:
        parser.error("--commands and --blocks must be at least 1")
    if args.warmup is None:
        args.warmup = min(200, max(4, args.commands // 10))
    return args


def compare(engine: EngineWorkload, raw: RawSqliteWorkload | RawPostgresWorkload, args: argparse.Namespace) -> float:
    """Time the engine and the raw baseline interleaved; return the ratio of their commands per second."""
    profiler = cProfile.Profile() if args.profile is not None and engine.timing.database == "sqlite" else None
    interleave(engine, raw, args.commands, args.blocks, profiler)
    if profiler is not None:
        profiler.dump_stats(str(args.profile))
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(r"beslut|sqlalchemy|rfc8785", 30)
        print(f"\n-- cProfile of the engine's timed commands (saved to {args.profile}) --\n{out.getvalue()}")
    return engine.timing.per_second / raw.timing.per_second


def run(args: argparse.Namespace) -> Report:
    """Run every measurement the arguments ask for and return the report."""
    report = Report(args.commands, args.warmup, min(args.blocks, args.commands), profiled=args.profile is not None)
    if args.db_dir is not None:
        args.db_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="beslut-bench-", dir=args.db_dir))
    try:
        if args.memory_cases:
            _say(f"memory: loading {', then '.join(map(str, sorted(args.memory_cases)))} recommendations")
            report.memory = memory_run(workdir / "memory.db", args.memory_cases)
        _say(f"sqlite: engine and raw baseline, {args.commands} commands each, in {workdir}")
        with ExitStack() as stack:
            engine = EngineWorkload(str(workdir / "engine.db"), "sqlite", commands=args.commands, warmup=args.warmup)
            stack.callback(engine.close)
            raw = RawSqliteWorkload(workdir / "raw.db", commands=args.commands, warmup=args.warmup)
            stack.callback(raw.close)
            report.ratios["sqlite"] = compare(engine, raw, args)
        report.timings += [raw.timing, engine.timing, engine.proposals, engine.recommendations]
        if args.postgres:
            _say(f"postgres: engine and raw baseline, {args.commands} commands each")
            with ExitStack() as stack:
                engine_url = stack.enter_context(fresh_postgres_database(args.postgres, "engine"))
                raw_url = stack.enter_context(fresh_postgres_database(args.postgres, "raw"))
                pg_engine = EngineWorkload(engine_url, "postgres", commands=args.commands, warmup=args.warmup)
                stack.callback(pg_engine.close)
                pg_raw = RawPostgresWorkload(raw_url, commands=args.commands, warmup=args.warmup)
                stack.callback(pg_raw.close)
                report.ratios["postgres"] = compare(pg_engine, pg_raw, args)
            report.timings += [pg_raw.timing, pg_engine.timing, pg_engine.proposals, pg_engine.recommendations]
    finally:
        if args.keep:
            _say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return report


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the summary; the exit status is 0 whatever the figures."""
    report = run(parse_args(argv))
    print(report.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
