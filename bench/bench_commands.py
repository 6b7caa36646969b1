"""Durable commands per second of the engine, against a raw driver baseline measured in the same run.

Run::

    .venv/bin/python -m bench.bench_commands [--commands N] [--db-dir DIR] [--postgres URL]

Engine run: a fresh SQLite file, ``Engine(store, clock=FixedClock(2030-01-01))``, recommendations made
from ``examples/mini-maria-2022.toml`` with unique keys, proposed and recommended, then N timed party
commands, cycling prepare -> propose -> decide -> announce over every (party, recommendation) pair.
Each one is a durable transaction: load the case, check, fire the machine, update the state rows,
append a hash-chained audit event and sync the deadline rows.

Raw baseline: plain :mod:`sqlite3` on a second file in the same directory (so the same filesystem),
WAL and ``synchronous=FULL`` like the store, a state row per party with a version and an
``audit_event`` table shaped like ours; each of the same N commands is ``BEGIN IMMEDIATE``, one
UPDATE, one INSERT with a sha256 over a JSON payload, ``COMMIT``. The ratio engine/raw is printed
(the target is >= 0.5x).

Memory: the process's peak RSS (``getrusage``) and the number of live Python objects after loading
(proposing and recommending) 100 and then 2,000 recommendations through one engine; it must stay flat,
because a case is a row and the machines attach a throw-away model per trigger. This runs first, so
the peak RSS is not that of the timed runs.

``--postgres URL``: the same engine run and a raw psycopg baseline (BEGIN; UPDATE; INSERT; COMMIT),
each in a fresh database created on that server and dropped afterwards (the URL's user must be
allowed to create databases).

No timing is asserted anywhere: this prints figures, see docs/performance.md.
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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from beslut import Engine, FixedClock, open_store, parse_spec_text
from beslut.clock import STOCKHOLM
from beslut.states import machines

ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = ROOT / "examples" / "mini-maria-2022.toml"

DEFAULT_COMMANDS = 2000
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


def case_keys(count: int) -> list[str]:
    """Unique recommendation keys."""
    return [f"{KEY_PREFIX}-{i:06d}" for i in range(count)]


def spec_with_key(template: str, key: str) -> str:
    """The example spec with its recommendation key (the first top-level ``key =`` line) replaced."""
    text, replaced = _KEY_LINE.subn(f'key = "{key}"', template, count=1)
    if replaced != 1:
        raise RuntimeError(f"no key line in {SPEC_PATH}")
    return text


def plan(keys: Sequence[str], parties: Sequence[str]) -> list[Step]:
    """Every (party, recommendation) pair through prepare, propose, decide and announce, party by party."""
    return [Step(name, key, party) for party in parties for key in keys for name in STEPS]


def cases_needed(commands: int, parties: int) -> int:
    """How many recommendations give at least *commands* party commands."""
    return max(1, math.ceil(commands / (len(STEPS) * parties)))


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


# ---------------------------------------------------------------- timing


@dataclass(frozen=True)
class Timing:
    """What one timed run did: how many commands, how long in all, and each command's latency."""

    label: str
    database: str
    commands: int
    seconds: float
    latencies_ns: tuple[int, ...] = field(repr=False)
    note: str = ""

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
        rank = max(1, math.ceil(q / 100 * len(ordered)))
        return ordered[rank - 1] / 1e6


def timed(label: str, database: str, count: int, command: Callable[[int], object], *, note: str = "") -> Timing:
    """Call ``command(i)`` for i in range(count), timing each call and the whole loop."""
    latencies: list[int] = []
    clock = time.perf_counter_ns
    began = clock()
    for i in range(count):
        start = clock()
        command(i)
        latencies.append(clock() - start)
    return Timing(label, database, count, (clock() - began) / 1e9, tuple(latencies), note)


@contextmanager
def profiled(target: Path | None) -> Iterator[None]:
    """Profile the block with cProfile into *target* (and print its top costs), or do nothing."""
    if target is None:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profiler.dump_stats(str(target))
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(r"beslut|sqlalchemy|rfc8785|sqlite3|psycopg", 30)
        print(f"\n-- cProfile of the timed engine commands (saved to {target}; timings are inflated) --")
        print(out.getvalue())


# ---------------------------------------------------------------- the engine run


@dataclass(frozen=True)
class EngineRun:
    """The engine's timed party commands, and the set-up commands that made their recommendations."""

    commands: Timing
    proposals: Timing
    recommendations: Timing
    audit_events: int


def engine_run(target: str, database: str, *, commands: int, warmup: int, profile: Path | None = None) -> EngineRun:
    """Time *commands* party commands of an engine on a fresh, initialised store at *target*."""
    template = SPEC_PATH.read_text(encoding="utf-8")
    parties = [p.key for p in parse_spec_text(template).parties]
    keys = case_keys(cases_needed(commands + warmup, len(parties)))
    engine = Engine(open_store(target), clock=FixedClock(CLOCK_AT), actor="bench")
    try:
        engine.init()
        specs = [spec_with_key(template, key) for key in keys]
        proposals = timed("propose (set-up)", database, len(keys), lambda i: engine.propose(specs[i], on=PROPOSED_ON))
        recommendations = timed(
            "recommend (set-up)", database, len(keys), lambda i: engine.recommend(keys[i], on=PROPOSED_ON)
        )
        steps = plan(keys, parties)
        for step in steps[:warmup]:
            run_step(engine, step)
        work = steps[warmup : warmup + commands]
        with profiled(profile):
            timing = timed(
                "engine",
                database,
                commands,
                lambda i: run_step(engine, work[i]),
                note="prepare/propose/decide/announce",
            )
        report = engine.verify_audit()
        expected = 2 * len(keys) + warmup + commands
        if not report.ok or report.events != expected:
            raise RuntimeError(f"audit log after the run: {report.as_dict()} (expected {expected} events)")
    finally:
        engine.close()
    return EngineRun(commands=timing, proposals=proposals, recommendations=recommendations, audit_events=expected)


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
        payload = json.dumps(
            {"actor": "bench", "party": step.party, "step": step.name, "paragraph": "§ 202"},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
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
        digest = hashlib.sha256(
            json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        ).hexdigest()
        row = (self.seq, step.key, stream_seq, self.recorded_at, valid_on, kind, payload, self.prev_hash, digest)
        self.prev_hash = digest
        return (STATE_AFTER[step.name], self.recorded_at, step.key, step.party), row


def _raw_steps(commands: int, warmup: int) -> list[Step]:
    template = SPEC_PATH.read_text(encoding="utf-8")
    parties = [p.key for p in parse_spec_text(template).parties]
    keys = case_keys(cases_needed(commands + warmup, len(parties)))
    return plan(keys, parties)[: warmup + commands]


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


def raw_sqlite_run(path: Path, *, commands: int, warmup: int) -> Timing:
    """The baseline: the same N commands as BEGIN IMMEDIATE; UPDATE; INSERT; COMMIT with :mod:`sqlite3`."""
    steps = _raw_steps(commands, warmup)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        for statement in _SQLITE_SCHEMA:
            connection.execute(statement)
        pairs = sorted({(s.key, s.party) for s in steps})
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            "INSERT INTO party_state VALUES (?, ?, 'pending', 1, ?)", [(k, p, CLOCK_AT.isoformat()) for k, p in pairs]
        )
        connection.execute("COMMIT")
        log = RawLog()

        def command(step: Step) -> None:
            state, row = log.seal(step)
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(_UPDATE_SQLITE, state)
            connection.execute(_INSERT_SQLITE, row)
            connection.execute("COMMIT")

        for step in steps[:warmup]:
            command(step)
        work = steps[warmup:]
        timing = timed(
            "raw sqlite3", "sqlite", commands, lambda i: command(work[i]), note="BEGIN IMMEDIATE/UPDATE/INSERT/COMMIT"
        )
        (count,) = connection.execute("SELECT count(*) FROM audit_event").fetchone()
        if count != warmup + commands:
            raise RuntimeError(f"raw baseline wrote {count} audit rows, expected {warmup + commands}")
    finally:
        connection.close()
    return timing


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


def raw_postgres_run(url: str, *, commands: int, warmup: int) -> Timing:
    """The baseline on PostgreSQL: BEGIN; UPDATE; INSERT; COMMIT with psycopg, one connection."""
    import psycopg  # noqa: PLC0415 - only with --postgres

    steps = _raw_steps(commands, warmup)
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        for statement in _PG_SCHEMA:
            connection.execute(statement)
        pairs = sorted({(s.key, s.party) for s in steps})
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO party_state VALUES (%s, %s, 'pending', 1, %s)", [(k, p, CLOCK_AT) for k, p in pairs]
            )
        log = RawLog()

        def command(step: Step) -> None:
            state, row = log.seal(step)
            connection.execute("BEGIN")
            connection.execute(_UPDATE_PG, state)
            connection.execute(_INSERT_PG, row)
            connection.execute("COMMIT")

        for step in steps[:warmup]:
            command(step)
        work = steps[warmup:]
        return timed("raw psycopg", "postgres", commands, lambda i: command(work[i]), note="BEGIN/UPDATE/INSERT/COMMIT")


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
    """Models attached to the shared machine definitions right now (should be 0 between triggers)."""
    total = 0
    for definition in (machines.RECOMMENDATION_MACHINE, machines.PARTY_MACHINE):
        machine = getattr(definition, "_machine", None)
        models = getattr(machine, "models", None)
        if models is None:
            return None
        total += len(models)
    return total


def memory_run(path: Path, sizes: Sequence[int]) -> list[MemoryPoint]:
    """Propose and recommend recommendations up to each size in turn; note peak RSS and live objects."""
    template = SPEC_PATH.read_text(encoding="utf-8")
    keys = case_keys(max(sizes))
    points: list[MemoryPoint] = []
    engine = Engine(open_store(path), clock=FixedClock(CLOCK_AT), actor="bench")
    try:
        engine.init()
        loaded = 0
        for size in sorted(sizes):
            for key in keys[loaded:size]:
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
    timings: list[Timing] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)
    memory: list[MemoryPoint] = field(default_factory=list)

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
            extra = last.cases - first.cases
            lines.append(
                f"growth {first.cases} -> {last.cases} recommendations: peak RSS "
                f"{last.peak_rss_mib - first.peak_rss_mib:+.1f} MiB "
                f"({(last.peak_rss_mib - first.peak_rss_mib) * 1024 / extra:+.2f} KiB per recommendation), "
                f"live objects {last.live_objects - first.live_objects:+,} "
                f"({(last.live_objects - first.live_objects) / extra:+.2f} per recommendation)"
            )
        return lines

    def render(self) -> str:
        """The whole summary."""
        return "\n".join(
            [
                f"\n== beslut durable commands: {self.commands} timed commands per run, {self.warmup} warm-up ==",
                self.table(),
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
    parser.add_argument("--db-dir", type=Path, default=None, help="make the temporary database files here")
    parser.add_argument("--postgres", metavar="URL", default=None, help="also run against this PostgreSQL server")
    parser.add_argument(
        "--memory-cases",
        type=_sizes,
        default=DEFAULT_MEMORY_CASES,
        metavar="A,B",
        help="recommendation counts for the memory check ('' to skip; default 100,2000)",
    )
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the timed SQLite engine run into FILE")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.commands < 1:
        parser.error("--commands must be at least 1")
    if args.warmup is None:
        args.warmup = min(200, max(4, args.commands // 10))
    return args


def run(args: argparse.Namespace) -> Report:
    """Run every measurement the arguments ask for and return the report."""
    report = Report(commands=args.commands, warmup=args.warmup)
    if args.db_dir is not None:
        args.db_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="beslut-bench-", dir=args.db_dir))
    say = _progress
    try:
        if args.memory_cases:
            say(f"memory: loading {', then '.join(map(str, sorted(args.memory_cases)))} recommendations")
            report.memory = memory_run(workdir / "memory.db", args.memory_cases)
        say(f"sqlite: raw baseline, {args.commands} commands in {workdir}")
        raw = raw_sqlite_run(workdir / "raw.db", commands=args.commands, warmup=args.warmup)
        say(f"sqlite: engine, {args.commands} commands")
        eng = engine_run(
            str(workdir / "engine.db"), "sqlite", commands=args.commands, warmup=args.warmup, profile=args.profile
        )
        report.timings += [raw, eng.commands, eng.proposals, eng.recommendations]
        report.ratios["sqlite"] = eng.commands.per_second / raw.per_second
        if args.postgres:
            say(f"postgres: engine, {args.commands} commands")
            with fresh_postgres_database(args.postgres, "engine") as url:
                pg_eng = engine_run(url, "postgres", commands=args.commands, warmup=args.warmup)
            say(f"postgres: raw baseline, {args.commands} commands")
            with fresh_postgres_database(args.postgres, "raw") as url:
                pg_raw = raw_postgres_run(url, commands=args.commands, warmup=args.warmup)
            report.timings += [pg_raw, pg_eng.commands, pg_eng.proposals, pg_eng.recommendations]
            report.ratios["postgres"] = pg_eng.commands.per_second / pg_raw.per_second
    finally:
        if args.keep:
            say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return report


def _progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the summary; the exit status is 0 whatever the figures."""
    report = run(parse_args(argv))
    print(report.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
