"""Decisions per second of ``Engine.batch`` on SQLite, against raw sqlite3 doing the same writes in the same run.

Run::

    .venv/bin/python -m bench.bench_batch [--recommendations 200] [--parties 50] [--batches 1000,10000]
                                          [--rounds 2] [--db-dir DIR] [--profile FILE] [--smoke]
                                          [--postgres URL]

Workload: R recommendations of P parties each (a generated spec, one cost pool split equally),
proposed and recommended untimed, then every (recommendation, party) decides once: R x P
``decide`` steps, in batches of B steps, each batch one ``Engine.batch`` call (one transaction:
load each case held, check and fire every step, save each case once, one multi-row audit insert,
deadlines synced once per case). ``--order case`` (the default) sends a recommendation's
parties together, so a batch of 1,000 touches 20 cases; ``--order party`` goes party by party
across the recommendations, so every batch touches all 200 (each case is loaded once per batch).

Raw baseline: plain :mod:`sqlite3` on a second file in the same directory, WAL and
``synchronous=FULL`` like the store, the state and ``audit_event`` tables of
bench/bench_commands.py; each batch is ``BEGIN IMMEDIATE``, one ``executemany`` UPDATE of the
party rows, one ``executemany`` INSERT of sha256-chained audit rows, ``COMMIT``. Each batch size
gets fresh databases (a party decides once); engine and raw alternate, ``--rounds`` times, and the
best round of each is kept, so a noisy neighbour on the shared machine slows neither alone.

Printed: decisions/s of each, and the ratio engine/raw per batch size. The target is >= 10,000
decisions/s for the engine. No timing is asserted anywhere; docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bench.bench_commands import (
    _INSERT_SQLITE,
    _SQLITE_SCHEMA,
    _UPDATE_SQLITE,
    CLOCK_AT,
    RawLog,
    Step,
    fresh_postgres_database,
)
from beslut import Engine, FixedClock, open_store
from beslut.workflow import PartyStep

DECIDED_ON = date(2022, 8, 22)
PROPOSED_ON = date(2022, 6, 3)
TARGET = 10_000


def spec_text(key: str, parties: int) -> str:
    """A recommendation to *parties* parties (p000, p001, ...), unanimous, with one equal cost pool."""
    keys = [f"p{i:03d}" for i in range(parties)]
    head = (
        f'key = "{key}"\ntitle = "Batch bench"\nissuer = "SKR"\ncoordinator = "p000"\n'
        'reply_by = 2022-09-30\nconsolidation = "unanimous"\n\n'
        '[cost]\ntotal = "1000000"\nunit = "1"\n\n'
        f'[[cost.pool]]\nshare = "1"\nsplit = "equal"\nparties = [{", ".join(f"{k!r}" for k in keys)}]\n'.replace(
            "'", '"'
        )
    )
    body = "".join(f'\n[[party]]\nkey = "{k}"\nname = "Part {k}"\ndeciding_body = "KF"\n' for k in keys)
    return head + body


def decisions(recommendations: int, parties: int, order: str = "case") -> list[PartyStep]:
    """Every party of every recommendation decides once.

    ``case`` order: a recommendation's parties together (a batch of 1,000 touches 20 cases);
    ``party`` order: party by party across the recommendations (every batch touches every case).
    """
    pairs = (
        [(r, p) for r in range(recommendations) for p in range(parties)]
        if order == "case"
        else [(r, p) for p in range(parties) for r in range(recommendations)]
    )
    return [
        PartyStep(
            action="decide",
            key=f"bench-{r:05d}",
            party=f"p{p:03d}",
            on=DECIDED_ON,
            outcome="approved",
            paragraph="§ 202",
        )
        for r, p in pairs
    ]


@dataclass
class Run:
    """One timed pass: which side, which batch size, how many decisions in how long."""

    label: str
    batch: int
    decisions: int
    seconds: float
    cpu: float  # CPU seconds of this process (the machine is shared: wall time includes waiting for a core)

    @property
    def per_second(self) -> float:
        return self.decisions / self.seconds if self.seconds > 0 else float("inf")

    @property
    def per_cpu_second(self) -> float:
        return self.decisions / self.cpu if self.cpu > 0 else float("inf")


def engine_run(
    path: Path | str,
    args: argparse.Namespace,
    batch: int,
    profiler: cProfile.Profile | None,
    label: str = "engine batch",
) -> Run:
    """Load the recommendations untimed, then time the decide batches through Engine.batch (SQLite file or URL)."""
    with Engine(open_store(str(path)), clock=FixedClock(CLOCK_AT), actor="bench", pause_gc=True) as engine:
        engine.init()
        for r in range(args.recommendations):
            key = f"bench-{r:05d}"
            engine.propose(spec_text(key, args.parties), on=PROPOSED_ON)
            engine.recommend(key, on=PROPOSED_ON)
        steps = decisions(args.recommendations, args.parties, args.order)
        start, cpu = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        for first in range(0, len(steps), batch):
            engine.batch(steps[first : first + batch])
        if profiler is not None:
            profiler.disable()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        report = engine.verify_audit()
        if not report.ok or report.events != len(steps) + 2 * args.recommendations:
            raise RuntimeError(f"the engine's audit log is not what the bench wrote: {report}")
    return Run(label, batch, len(steps), seconds, cpu)


def raw_run(path: Path, args: argparse.Namespace, batch: int) -> Run:
    """The same writes with sqlite3: per batch BEGIN IMMEDIATE, executemany UPDATE and INSERT, COMMIT."""
    steps = [Step("decide", s.key, s.party) for s in decisions(args.recommendations, args.parties, args.order)]
    log = RawLog()
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        for statement in _SQLITE_SCHEMA:
            connection.execute(statement)
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            "INSERT INTO party_state VALUES (?, ?, 'pending', 1, ?)", [(s.key, s.party, log.recorded_at) for s in steps]
        )
        connection.execute("COMMIT")
        start, cpu = time.perf_counter(), time.process_time()
        for first in range(0, len(steps), batch):
            sealed = [log.seal(step) for step in steps[first : first + batch]]
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(_UPDATE_SQLITE, [state for state, _ in sealed])
            connection.executemany(_INSERT_SQLITE, [row for _, row in sealed])
            connection.execute("COMMIT")
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        (count,) = connection.execute("SELECT count(*) FROM audit_event").fetchone()
        if count != len(steps):
            raise RuntimeError(f"raw baseline has {count} audit rows, expected {len(steps)}")
    finally:
        connection.close()
    return Run("raw sqlite3", batch, len(steps), seconds, cpu)


def _sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(int(part) for part in text.split(",") if part.strip())
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError("batch sizes must be positive")
    return sizes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; --smoke shrinks everything so the test suite can run it end to end."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_batch", description=__doc__.split("\n")[0])
    parser.add_argument("--recommendations", type=int, default=200)
    parser.add_argument("--parties", type=int, default=50)
    parser.add_argument("--batches", type=_sizes, default=(1000, 10000), metavar="B1,B2")
    parser.add_argument("--order", choices=("case", "party"), default="case", help="see decisions()")
    parser.add_argument("--rounds", type=int, default=2, help="alternate engine and raw this many times per size")
    parser.add_argument("--db-dir", type=Path, default=None, help="make the temporary database files under DIR")
    parser.add_argument(
        "--postgres", metavar="URL", default=None, help="also time the engine on fresh databases on this server"
    )
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the engine's batches into FILE")
    parser.add_argument("--smoke", action="store_true", help="4 recommendations x 5 parties, batches of 5 and 20")
    args = parser.parse_args(argv)
    if args.smoke:
        args.recommendations, args.parties, args.batches, args.rounds = 4, 5, (5, 20), 1
    if args.recommendations < 1 or args.parties < 1 or args.rounds < 1:
        parser.error("--recommendations, --parties and --rounds must be at least 1")
    return args


def run(args: argparse.Namespace) -> list[tuple[Run, Run]]:
    """For each batch size: the best engine run and the best raw run of the rounds (and PostgreSQL's, if asked)."""
    if args.db_dir is not None:
        args.db_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="beslut-bench-batch-", dir=args.db_dir))
    profiler = cProfile.Profile() if args.profile is not None else None
    results: list[tuple[Run, Run]] = []
    try:
        for batch in args.batches:
            engines: list[Run] = []
            raws: list[Run] = []
            postgres: list[Run] = []
            for round_ in range(args.rounds):
                _say(f"batches of {batch}: round {round_ + 1} of {args.rounds}")
                engines.append(engine_run(workdir / f"engine-{batch}-{round_}.db", args, batch, profiler))
                raws.append(raw_run(workdir / f"raw-{batch}-{round_}.db", args, batch))
                if args.postgres is not None:
                    with fresh_postgres_database(args.postgres, "batch") as url:
                        postgres.append(engine_run(url, args, batch, None, "engine on pg"))
            results.append((max(engines, key=lambda r: r.per_second), max(raws, key=lambda r: r.per_second)))
            if postgres:
                # Against the same run's raw sqlite3 (there is no raw PostgreSQL side here): a ratio to read
                # across runs, not a like-for-like comparison.
                results.append((max(postgres, key=lambda r: r.per_second), results[-1][1]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if profiler is not None:
        profiler.dump_stats(str(args.profile))
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(r"beslut|sqlalchemy|rfc8785", 30)
        print(f"-- cProfile of the engine's batches (saved to {args.profile}) --\n{out.getvalue()}")
    return results


def render(args: argparse.Namespace, results: list[tuple[Run, Run]]) -> str:
    """The figures as a small table and one ratio line per batch size."""
    lines = [
        f"{args.recommendations} recommendations x {args.parties} parties = "
        f"{args.recommendations * args.parties} decisions per run in {args.order} order, best of {args.rounds}",
        f"{'side':<14}{'batch':>7}{'decisions':>11}{'seconds':>10}{'decisions/s':>13}{'cpu s':>8}{'per cpu s':>11}",
    ]
    for engine, raw in results:
        for side in (engine, raw):
            lines.append(
                f"{side.label:<14}{side.batch:>7}{side.decisions:>11}{side.seconds:>10.3f}{side.per_second:>13.0f}"
                f"{side.cpu:>8.3f}{side.per_cpu_second:>11.0f}"
            )
    for engine, raw in results:
        name = "engine/raw" if engine.label == "engine batch" else f"{engine.label}/raw sqlite3"
        lines.append(
            f"ratio {name} (batches of {engine.batch}): {engine.per_second / raw.per_second:.2f}x; "
            f"engine {engine.per_second:.0f} decisions/s (target >= {TARGET})"
        )
        lines.append(
            f"  CPU time: {engine.per_cpu_second / raw.per_cpu_second:.2f}x; "
            f"engine {engine.per_cpu_second:.0f} decisions per CPU second of the bench process"
        )
    return "\n".join(lines)


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the figures; the exit status is 0 whatever they are."""
    args = parse_args(argv)
    print(render(args, run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
