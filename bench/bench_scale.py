"""National scale on PostgreSQL: R recommendations x P parties loaded through the engine, then measured.

Run::

    .venv/bin/python -m bench.bench_scale [--recommendations 10000] [--parties 300] [--out /work/scale-run]
                                          [--postgres URL] [--points 1000,10000,100000,1000000]
                                          [--status-samples 1000] [--load-until HH:MM] [--rss MODES]
                                          [--final-rss MODES] [--smoke]

Without ``--postgres`` a PostgreSQL server (the test suite's settings: ``fsync=off``, ``synchronous_commit=off``)
is started with its data directory in ``OUT/pg`` and kept there, so a load that stops (a kill, a reboot) is
continued by running the same command again: every recommendation already loaded is skipped, one that was
cut between its commands is finished, and measurement points already taken are not taken again. With
``--postgres URL`` that database is used (and continued) as it is.

**Load** (the real engine, one transaction per command): each recommendation ``scale-NNNNN`` is a generated
spec with P parties (``p000`` ... one equal cost pool, ``p000`` coordinates), proposed and recommended on
2022-06-03 by two single commands, then all its party steps go in ONE ``Engine.batch`` call. The parties
follow a fixed, seeded mix: 75 % prepare, propose, decide, announce and report; 7 % the same but appeal
instead of report; 9 % only prepare; 9 % nothing (late). The first 193 recommendations reply by 2022-09-30,
the rest in 51 later weekly cohorts (2022-10-07 + 7 x (r mod 51) days), so on 2022-09-16 (``TICK_AT``) only
the 14-day reminders of those first 193 are due: about 10,000 (54 undecided parties each) at any size past
193 recommendations. Every party has one contact, so a reminder writes one outbox row. Printed: party
steps/s and recommendations/s per segment. ``--load-until HH:MM`` (UTC) stops loading at that time and goes
on to the final measurements (a run continued later loads the rest).

**At each point** (1k, 10k, 100k and 1M cases by default, a case being one party's decision process, and at
the end) the load stops and the bench measures, printing the load average with every figure:

- ``status``: ``engine.case(key)`` and the JSON document ``status --json`` prints, for random keys, against
  a raw psycopg baseline running the two equivalent SELECTs (case row, party rows by position) on its own
  connection; engine and raw alternate key by key. p50/p99 of each and the p99 ratio;
- ``overdue``: :meth:`Reader.overdue_parties` on 2022-10-01 (cohort 0's undecided parties: the dashboard's
  "who is overdue today") against the same SQL on psycopg; p50/p99 and the ratio;
- peak RSS (``VmHWM``) of fresh child processes: ``status --json`` of every recommendation (the CLI, output to
  /dev/null), the matrix over every case (``pages.matrix(engine.cases())``, the dashboard's read before it
  paged), the paged dashboard's read (its first page of 50 and the overdue total), one ``tick`` at ``TICK_AT`` limited
  to 100 timers (the same work at every point), and one command (``prepare`` of a late party). A child is
  capped at ``--child-memory-mb`` of address space so it fails instead of taking the shared machine down;
- the database size (``pg_database_size`` and each table with its indexes) and the row counts.

**At the end**, one ``tick`` at ``TICK_AT``: every before-reminder of cohort 0 still pending (the point ticks
fired up to 100 each), its wall time, timers handled and outbox rows written.

``--measure-only LABEL`` loads nothing: it measures the database as it is (every point measurement and one
final tick, the next week's reminders once a week's are fired) under ``LABEL-<cases>``, e.g. after a code change.

No timing is asserted anywhere; results also go to ``OUT/results.jsonl``, one JSON object per measurement.
docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from beslut import Engine, FixedClock, open_store
from beslut.clock import STOCKHOLM
from beslut.jsontext import pretty
from beslut.states.records import Contact
from beslut.states.views import case_status
from beslut.workflow import PartyStep

ROOT = Path(__file__).resolve().parent.parent
CLOCK_AT = datetime(2030, 1, 1, 12, 0, tzinfo=STOCKHOLM)  # after every legal date used
RECOMMENDED_ON = date(2022, 6, 3)
FIRST_REPLY_BY = date(2022, 9, 30)
COHORTS = 52
TICK_COHORT = 193  # x ~54 undecided parties of 300 = ~10,400 reminders due at TICK_AT
TICK_AT = datetime(2022, 9, 16, 12, 0, tzinfo=STOCKHOLM)  # cohort 0's 14-day reminders are due, nothing else
OVERDUE_ON = date(2022, 10, 1)  # the day after cohort 0's reply date
POINT_TICK_LIMIT = 100
FINAL_TICK_LIMIT = 10_000
DEFAULT_POINTS = (1_000, 10_000, 100_000, 1_000_000)
# The party mix: (share, steps). Dates keep every step before the earliest reply date and every appeal
# period ending after TICK_AT (announced 2022-09-01: the last day is 2022-09-22).
MIX: tuple[tuple[float, str], ...] = ((0.75, "full"), (0.07, "appeal"), (0.09, "prepare"), (0.09, "late"))
PROFILE_DATES = {
    "prepare": date(2022, 6, 20),
    "propose": date(2022, 8, 15),
    "decide": date(2022, 8, 22),
    "announce": date(2022, 9, 1),
    "report": date(2022, 9, 5),
    "appeal": date(2022, 9, 10),
}
DB_NAME = "beslut_scale"


# ---------------------------------------------------------------- the workload


def key_of(r: int) -> str:
    """The key of recommendation number *r*."""
    return f"scale-{r:05d}"


def reply_by(r: int) -> date:
    """Recommendation *r*'s reply date: the first TICK_COHORT reply on FIRST_REPLY_BY, the rest in 51 weekly cohorts.

    So the tick at TICK_AT has the same ~10,000 reminders due (the first cohort's 14-day reminders) at any
    size past TICK_COHORT recommendations, however far the load gets.
    """
    if r < TICK_COHORT:
        return FIRST_REPLY_BY
    return FIRST_REPLY_BY + timedelta(days=7 * (1 + r % (COHORTS - 1)))


def party_key(p: int) -> str:
    """The key of party number *p*."""
    return f"p{p:03d}"


def spec_text(r: int, parties: int) -> str:
    """A recommendation to *parties* parties, unanimous, one equal cost pool, the default reminders."""
    keys = ", ".join(f'"{party_key(p)}"' for p in range(parties))
    head = (
        f'key = "{key_of(r)}"\ntitle = "Nationell rekommendation {r}"\nissuer = "SKR"\ncoordinator = "p000"\n'
        f'reply_by = {reply_by(r).isoformat()}\nconsolidation = "unanimous"\n\n'
        f'[cost]\ntotal = "100000000"\nunit = "1"\n\n[[cost.pool]]\nshare = "1"\nsplit = "equal"\nparties = [{keys}]\n'
    )
    body = "".join(
        f'\n[[party]]\nkey = "{party_key(p)}"\nname = "Part {p:03d}"\ndeciding_body = "KF"\n' for p in range(parties)
    )
    return head + body


def profiles(r: int, parties: int) -> list[str]:
    """Each party's profile on recommendation *r* (seeded by *r*, so a resumed load makes the same)."""
    rng = random.Random(r)
    shares = [share for share, _ in MIX]
    names = [name for _, name in MIX]
    return rng.choices(names, weights=shares, k=parties)


def steps_for(r: int, parties: int) -> list[PartyStep]:
    """Recommendation *r*'s party steps, party by party, in the order a clerk would enter them."""
    key = key_of(r)
    steps: list[PartyStep] = []
    for p, profile in enumerate(profiles(r, parties)):
        party = party_key(p)
        if profile == "late":
            continue
        steps.append(
            PartyStep(action="prepare", key=key, party=party, on=PROFILE_DATES["prepare"], case_number=f"KS {r}/{p}")
        )
        if profile == "prepare":
            continue
        steps.append(
            PartyStep(action="propose", key=key, party=party, on=PROFILE_DATES["propose"], body="KS", paragraph="§ 1")
        )
        steps.append(
            PartyStep(
                action="decide",
                key=key,
                party=party,
                on=PROFILE_DATES["decide"],
                outcome="approved",
                paragraph="§ 2",
            )
        )
        steps.append(PartyStep(action="announce", key=key, party=party, on=PROFILE_DATES["announce"]))
        last = "report" if profile == "full" else "appeal"
        steps.append(PartyStep(action=last, key=key, party=party, on=PROFILE_DATES[last]))
    return steps


def late_parties(r: int, parties: int) -> list[str]:
    """The parties of recommendation *r* that did nothing."""
    return [party_key(p) for p, profile in enumerate(profiles(r, parties)) if profile == "late"]


# ---------------------------------------------------------------- the server


class KeptPostgres:
    """A PostgreSQL server whose data directory stays in *base* between runs (so a load can be continued).

    Built on the test suite's :class:`tests.pg_server.ThrowawayPostgres` (same binaries, settings and
    root handling), except that the directory is given, ``initdb`` runs only once, and stopping keeps it.
    """

    def __init__(self, base: Path) -> None:
        from tests.pg_server import ThrowawayPostgres  # noqa: PLC0415 - the test suite's server helper

        self.server = ThrowawayPostgres()
        self.base = base

    def start(self) -> str:
        """Start the server on *base* (initdb first if it is new) and return a URL of its ``postgres`` db."""
        from tests.pg_server import SERVER_USER_WHEN_ROOT, find_bindir  # noqa: PLC0415

        server = self.server
        server._bindir = find_bindir()
        server.base_dir = self.base
        fresh = not (server.data_dir / "PG_VERSION").exists()
        if fresh:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base.mkdir(parents=True)
            self.base.chmod(0o755)
            server.socket_dir.mkdir(mode=0o700)
            server.data_dir.mkdir(mode=0o700)
            if os.geteuid() == 0:
                for path in (self.base, server.socket_dir, server.data_dir):
                    shutil.chown(path, SERVER_USER_WHEN_ROOT, SERVER_USER_WHEN_ROOT)
            server._initdb()
        else:
            (server.data_dir / "postmaster.pid").unlink(missing_ok=True)  # a server killed with the bench
        server._start_server()
        assert server.url is not None
        return server.url

    def stop(self) -> None:
        """Stop the server, keeping its directory."""
        server = self.server
        if server._running:
            server._running = False
            server._run("pg_ctl", "-D", str(server.data_dir), "-m", "fast", "-w", "stop", timeout=120)


def ensure_database(admin_url: str) -> str:
    """Create ``beslut_scale`` on the server if it is missing; return its SQLAlchemy URL."""
    from tests.pg_server import psycopg_url, with_database  # noqa: PLC0415

    with psycopg.connect(psycopg_url(admin_url), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone() is None:
            conn.execute(f"CREATE DATABASE {DB_NAME}")
    return with_database(admin_url, DB_NAME)


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL as psycopg takes it."""
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


# ---------------------------------------------------------------- loading


@dataclass
class Progress:
    """What the database already holds: recommendations fully loaded, and the one cut short, if any."""

    done: int
    partial: tuple[int, int] | None  # (r, version) of a recommendation whose commands did not all run


def progress(raw: psycopg.Connection[Any], parties: int) -> Progress:
    """Read how far an earlier load got (keys are loaded in order, so at most the last is partial)."""
    rows = raw.execute("SELECT key, version FROM recommendation WHERE key LIKE 'scale-%' ORDER BY key").fetchall()
    done = 0
    for key, version in rows:
        r = int(key.removeprefix("scale-"))
        if r != done:
            raise SystemExit(f"the database has {key} but not {key_of(done)}: it was not made by this bench")
        # propose is version 1, recommend 2; the batch (all or nothing) takes it past 2 if there are steps.
        if version < 2 or (version == 2 and steps_for(r, parties)):
            return Progress(done=done, partial=(r, version))
        done += 1
    return Progress(done=done, partial=None)


def load_one(engine: Engine, r: int, parties: int, version: int = 0) -> int:
    """Propose, recommend and batch recommendation *r* (continuing from *version*); return its party steps."""
    key = key_of(r)
    if version < 1:
        engine.propose(spec_text(r, parties), on=RECOMMENDED_ON)
    if version < 2:
        engine.recommend(key, on=RECOMMENDED_ON)
    steps = steps_for(r, parties)
    if steps:
        engine.batch(steps)
    return len(steps)


def add_contacts(engine: Engine, parties: int) -> None:
    """One contact per party (ids only in the audit log; the address lives in the contact table)."""
    have = {c.id for c in engine.contacts()}
    for p in range(parties):
        contact_id = f"c-{party_key(p)}"
        if contact_id not in have:
            engine.add_contact(Contact(id=contact_id, party=party_key(p), email=f"{party_key(p)}@example.invalid"))


# ---------------------------------------------------------------- measuring


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages, as printed with every figure."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def percentile(values: Sequence[float], fraction: float) -> float:
    """The *fraction* percentile (nearest rank) of *values*."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


_RAW_CASE = "SELECT * FROM recommendation WHERE key = %s"
_RAW_PARTIES = "SELECT * FROM party_decision WHERE recommendation_key = %s ORDER BY position"
_RAW_OVERDUE = (
    "SELECT p.recommendation_key, p.party_key, p.deadline FROM party_decision p"
    " JOIN recommendation r ON r.key = p.recommendation_key"
    " WHERE p.state IN ('pending', 'preparing', 'proposed') AND p.deadline < %s AND r.state = 'recommended'"
    " ORDER BY p.deadline, p.recommendation_key, p.party_key"
)


def time_status(engine: Engine, raw: psycopg.Connection[Any], loaded: int, samples: int) -> dict[str, Any]:
    """status of random recommendations through the engine (read + JSON document) vs the raw SELECTs."""
    rng = random.Random(loaded)
    keys = [key_of(rng.randrange(loaded)) for _ in range(samples)]
    engine_ms: list[float] = []
    engine_cpu_ms: list[float] = []
    raw_ms: list[float] = []
    for i, key in enumerate(keys):
        order = ("engine", "raw") if i % 2 == 0 else ("raw", "engine")
        for side in order:
            start = time.perf_counter()
            if side == "engine":
                cpu = time.process_time()
                pretty(case_status(engine.case(key)))  # what `beslut status KEY --json` prints
                engine_ms.append((time.perf_counter() - start) * 1000)
                engine_cpu_ms.append((time.process_time() - cpu) * 1000)
            else:
                with raw.transaction():
                    raw.execute(_RAW_CASE, (key,)).fetchone()
                    raw.execute(_RAW_PARTIES, (key,)).fetchall()
                raw_ms.append((time.perf_counter() - start) * 1000)
    result = _latencies("status", engine_ms, raw_ms)
    # This process's CPU per status (building the case and its JSON): what a busy shared machine does not inflate.
    result["engine_cpu_p50_ms"] = round(percentile(engine_cpu_ms, 0.5), 2)
    result["engine_cpu_p99_ms"] = round(percentile(engine_cpu_ms, 0.99), 2)
    return result


def time_overdue(engine: Engine, raw: psycopg.Connection[Any], samples: int) -> dict[str, Any]:
    """The "all overdue parties" read on OVERDUE_ON through the store vs the same SQL on psycopg."""
    engine_ms: list[float] = []
    raw_ms: list[float] = []
    rows = 0
    for i in range(samples):
        order = ("engine", "raw") if i % 2 == 0 else ("raw", "engine")
        for side in order:
            start = time.perf_counter()
            if side == "engine":
                with engine.store.reader() as reader:
                    rows = len(reader.overdue_parties(OVERDUE_ON))
                engine_ms.append((time.perf_counter() - start) * 1000)
            else:
                with raw.transaction():
                    raw.execute(_RAW_OVERDUE, (OVERDUE_ON,)).fetchall()
                raw_ms.append((time.perf_counter() - start) * 1000)
    result = _latencies("overdue", engine_ms, raw_ms)
    result["rows"] = rows
    plan = raw.execute("EXPLAIN " + _RAW_OVERDUE, (OVERDUE_ON,)).fetchall()
    result["plan"] = [line for (line,) in plan]
    return result


def _latencies(name: str, engine_ms: list[float], raw_ms: list[float]) -> dict[str, Any]:
    e50, e99 = percentile(engine_ms, 0.5), percentile(engine_ms, 0.99)
    r50, r99 = percentile(raw_ms, 0.5), percentile(raw_ms, 0.99)
    return {
        "what": name,
        "samples": len(engine_ms),
        "engine_p50_ms": round(e50, 2),
        "engine_p99_ms": round(e99, 2),
        "raw_p50_ms": round(r50, 2),
        "raw_p99_ms": round(r99, 2),
        "ratio_p50": round(e50 / r50, 2) if r50 else None,
        "ratio_p99": round(e99 / r99, 2) if r99 else None,
        "loadavg": loadavg(),
    }


SIZE_TABLES = ("recommendation", "party_decision", "deadline", "audit_event", "outbox", "contact")


def sizes(raw: psycopg.Connection[Any]) -> dict[str, Any]:
    """The database's size, each table's (with indexes and TOAST) and its exact row count."""
    (total,) = raw.execute("SELECT pg_database_size(current_database())").fetchone() or (0,)
    tables: dict[str, Any] = {}
    for table in SIZE_TABLES:
        (size,) = raw.execute("SELECT pg_total_relation_size(%s::regclass)", (table,)).fetchone() or (0,)
        (count,) = raw.execute(f"SELECT count(*) FROM {table}").fetchone() or (0,)
        tables[table] = {"bytes": size, "rows": count}
    return {"what": "size", "database_bytes": total, "tables": tables, "loadavg": loadavg()}


def child_rss(mode: str, url: str, args: argparse.Namespace, extra: Sequence[str] = ()) -> dict[str, Any]:
    """Run one measured operation in a fresh child process; its peak RSS (VmHWM) and wall time."""
    command = [
        sys.executable, "-m", "bench.bench_scale", "--child", mode, "--postgres", url,
        "--parties", str(args.parties), "--child-memory-mb", str(args.child_memory_mb), *extra,
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {
            "what": f"rss {mode}",
            "ok": False,
            "error": tail[:300],
            "seconds": round(seconds, 1),
            "loadavg": loadavg(),
        }
    result: dict[str, Any] = json.loads(lines[-1])
    return {"what": f"rss {mode}", "ok": True, **result, "seconds": round(seconds, 1), "loadavg": loadavg()}


def run_child(args: argparse.Namespace) -> int:
    """The child side of :func:`child_rss`: do one operation, then print VmHWM and what it did as JSON."""
    limit = args.child_memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    url = args.postgres
    detail: dict[str, Any] = {}
    started = time.perf_counter()
    if args.child == "status-all":
        from beslut.cli import main as cli_main  # noqa: PLC0415 - only the child runs the CLI

        out = os.dup(1)
        with open(os.devnull, "w") as null:
            sys.stdout.flush()
            os.dup2(null.fileno(), 1)
            try:
                with contextlib.suppress(SystemExit):
                    cli_main(["status", "--db", url, "--json"])
                sys.stdout.flush()
            finally:
                os.dup2(out, 1)
    elif args.child == "matrix":
        from beslut.web import pages  # noqa: PLC0415

        with Engine(open_store(url), clock=FixedClock(CLOCK_AT), actor="bench") as engine:
            matrix = pages.matrix(engine.cases(), today=OVERDUE_ON)
            detail = {"columns": len(matrix.columns), "overdue": matrix.overdue_count}
    elif args.child == "dashboard":
        from beslut.web import pages  # noqa: PLC0415
        from beslut.web.router import read_matrix  # noqa: PLC0415

        with Engine(open_store(url), clock=FixedClock(CLOCK_AT), actor="bench") as engine:
            cases, _shown, overdue = read_matrix(
                engine, include_closed=False, sida=None, size=pages.MATRIX_PAGE_SIZE, day=OVERDUE_ON
            )
            matrix = pages.matrix(cases, today=OVERDUE_ON)
            detail = {"columns": len(matrix.columns), "overdue": overdue}
    elif args.child == "tick":
        with Engine(open_store(url), clock=FixedClock(CLOCK_AT), actor="bench") as engine:
            fired = engine.tick(TICK_AT, worker="bench-point", limit=POINT_TICK_LIMIT)
            detail = {"fired": len(fired), "messages": sum(f.messages for f in fired)}
    elif args.child == "command":
        with Engine(open_store(url), clock=FixedClock(CLOCK_AT), actor="bench") as engine:
            pending = {p.key for p in engine.case(args.key).parties if p.state == "pending"}
            party = next(p for p in args.party.split(",") if p in pending)  # a late party no point prepared yet
            engine.prepare(args.key, party, case_number="KS late", on=date(2022, 9, 12))
            detail = {"key": args.key, "party": party}
    seconds = time.perf_counter() - started
    status = Path("/proc/self/status").read_text()
    hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    print(json.dumps({"vmhwm_mib": round(hwm / 1024, 1), "op_seconds": round(seconds, 2), **detail}))
    return 0


# ---------------------------------------------------------------- the run


class Results:
    """Measurements printed as they come and appended to OUT/results.jsonl (which says what was taken)."""

    def __init__(self, out: Path) -> None:
        self.path = out / "results.jsonl"
        self.taken: set[str] = set()
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                with contextlib.suppress(ValueError):
                    self.taken.add(json.loads(line).get("point_id", ""))

    def add(self, point_id: str, cases: int, recommendations: int, result: dict[str, Any]) -> None:
        record = {"point_id": point_id, "cases": cases, "recommendations": recommendations, **result}
        with self.path.open("a") as file:
            file.write(json.dumps(record) + "\n")
        say(json.dumps(record))


def measure_point(
    label: str, engine: Engine, raw: psycopg.Connection[Any], url: str, loaded: int, args: argparse.Namespace,
    results: Results, samples: int, rss: Sequence[str],
) -> None:  # fmt: skip
    """Every measurement at one size (the load paused)."""
    cases = loaded * args.parties
    say(f"measuring at {label}: {loaded} recommendations, {cases} cases, load average {loadavg()}")
    raw.execute("ANALYZE")
    steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("status", lambda: time_status(engine, raw, loaded, samples)),
        ("overdue", lambda: time_overdue(engine, raw, max(20, samples // 20))),
        ("size", lambda: sizes(raw)),
    ]
    late = late_parties(loaded - 1, args.parties)
    for mode in rss:
        extra: list[str] = []
        if mode == "command":
            if not late:
                continue
            extra = ["--key", key_of(loaded - 1), "--party", ",".join(late)]
        steps.append((f"rss {mode}", functools.partial(child_rss, mode, url, args, extra)))
    for name, run in steps:
        point_id = f"{label}:{name}"
        if point_id in results.taken:
            continue
        results.add(point_id, cases, loaded, run())


def final_tick(
    engine: Engine,
    raw: psycopg.Connection[Any],
    loaded: int,
    args: argparse.Namespace,
    results: Results,
    point_id: str | None = None,
) -> None:
    """One tick handling up to FINAL_TICK_LIMIT (10,000) due reminders; wall time and outbox rows.

    The first tick at a size fires cohort 0's 14-day reminders at TICK_AT. Once those are fired (a run
    continued to a larger size), it ticks a week later (TICK_AT + 7 days: cohort 0's 7-day reminders and
    the next cohort's 14-day ones), with the limit, so it is again one tick with 10,000 reminders.
    """
    if point_id is None:
        point_id = f"final-{loaded * args.parties}:tick"
        if loaded * args.parties <= 1_000_200 and "final:tick" in results.taken:  # the first run's name
            return
    if point_id in results.taken:
        return
    tick_at, due = TICK_AT, 0
    for candidate in (TICK_AT + timedelta(days=7 * weeks) for weeks in range(3)):
        tick_at = candidate
        (due,) = raw.execute(
            "SELECT count(*) FROM deadline WHERE status = 'pending' AND due_at <= %s", (candidate,)
        ).fetchone() or (0,)
        if due:
            break
    (before,) = raw.execute("SELECT count(*) FROM outbox").fetchone() or (0,)
    say(f"final tick: {due} timers due at {tick_at.isoformat()}, limit {FINAL_TICK_LIMIT}, load average {loadavg()}")
    cpu = time.process_time()
    start = time.perf_counter()
    fired = engine.tick(tick_at, worker="bench-final", limit=FINAL_TICK_LIMIT)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    (after,) = raw.execute("SELECT count(*) FROM outbox").fetchone() or (0,)
    result = {
        "what": "tick",
        "tick_at": tick_at.isoformat(),
        "due": due,
        "limit": FINAL_TICK_LIMIT,
        "fired": len(fired),
        "outbox_rows_written": after - before,
        "seconds": round(seconds, 1),
        "client_cpu_seconds": round(cpu, 1),
        "timers_per_second": round(len(fired) / seconds, 1) if seconds else None,
        "loadavg": loadavg(),
    }
    results.add(point_id, loaded * args.parties, loaded, result)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    """Load (or continue loading) and measure at every point."""
    # Stop cleanly on SIGINT or SIGTERM (the transaction under way rolls back, the kept server is stopped), even
    # when started in the background, where the shell makes SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    args.out.mkdir(parents=True, exist_ok=True)
    server: KeptPostgres | None = None
    with contextlib.ExitStack() as stack:
        if args.postgres:
            url = args.postgres
        else:
            server = KeptPostgres(args.out / "pg")
            url = ensure_database(server.start())
            stack.callback(server.stop)
        say(f"database {url}; results in {args.out / 'results.jsonl'}")
        engine = stack.enter_context(Engine(open_store(url), clock=FixedClock(CLOCK_AT), actor="bench"))
        engine.init()
        raw = stack.enter_context(psycopg.connect(libpq_url(url), autocommit=True))
        results = Results(args.out)
        state = progress(raw, args.parties)
        targets = sorted({min(args.recommendations, math.ceil(c / args.parties)) for c in args.points})
        say(f"{state.done} recommendations already loaded; points at {targets} recommendations")
        r = state.done
        if r > 0:  # a contact needs a recommendation that names its party (the first one loaded)
            add_contacts(engine, args.parties)
        if args.measure_only:
            # Measure the database as it is, under a new label (e.g. after a code change), no loading.
            label = f"{args.measure_only}-{r * args.parties}"
            measure_point(label, engine, raw, url, r, args, results, args.status_samples, args.final_rss)
            final_tick(engine, raw, r, args, results, point_id=f"{label}:tick")
            say("done")
            return 0
        if state.partial is not None:
            load_one(engine, state.partial[0], args.parties, state.partial[1])
            r += 1
            add_contacts(engine, args.parties)
        segment_start, segment_steps, segment_recs = time.perf_counter(), 0, 0
        load_cpu = time.process_time()
        while True:
            for target in targets:
                if target == r:
                    if segment_recs:
                        _report_load(results, r, args, segment_recs, segment_steps, segment_start, load_cpu)
                    label = f"{target * args.parties}"
                    measure_point(label, engine, raw, url, r, args, results, args.point_samples, args.rss)
                    segment_start, segment_steps, segment_recs = time.perf_counter(), 0, 0
                    load_cpu = time.process_time()
            if r >= args.recommendations:
                break
            if args.load_until is not None and datetime.now(UTC).strftime("%H:%M") >= args.load_until:
                say(f"--load-until {args.load_until} UTC reached: stopping the load at {r} recommendations")
                break
            segment_steps += load_one(engine, r, args.parties)
            if r == 0:
                add_contacts(engine, args.parties)
            segment_recs += 1
            r += 1
            if r % 50 == 0:
                elapsed = time.perf_counter() - segment_start
                say(
                    f"loaded {r} recommendations ({r * args.parties} cases); segment {segment_steps / elapsed:.0f} "
                    f"steps/s, {segment_recs / elapsed:.2f} recs/s; load average {loadavg()}"
                )
        if segment_recs:
            _report_load(results, r, args, segment_recs, segment_steps, segment_start, load_cpu)
        final = f"end-{r * args.parties}"
        raw.execute("ANALYZE")
        measures: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("status", lambda: time_status(engine, raw, r, args.status_samples)),
            ("overdue", lambda: time_overdue(engine, raw, max(20, args.status_samples // 10))),
            ("size", lambda: sizes(raw)),
        ]
        for name, measure in measures:
            if f"{final}:{name}" not in results.taken:
                results.add(f"{final}:{name}", r * args.parties, r, measure())
        final_tick(engine, raw, r, args, results)
        label = f"final-{r * args.parties}"
        measure_point(label, engine, raw, url, r, args, results, args.point_samples, args.final_rss)
    say("done")
    return 0


def _report_load(
    results: Results, r: int, args: argparse.Namespace, recs: int, steps: int, start: float, cpu: float
) -> None:
    seconds = time.perf_counter() - start
    results.add(
        f"load-to-{r}-{time.time():.0f}",
        r * args.parties,
        r,
        {
            "what": "load",
            "recommendations_loaded": recs,
            "party_steps": steps,
            "seconds": round(seconds, 1),
            "client_cpu_seconds": round(time.process_time() - cpu, 1),
            "steps_per_second": round(steps / seconds, 1),
            "recommendations_per_second": round(recs / seconds, 3),
            "loader_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "loadavg": loadavg(),
        },
    )


def say(message: str) -> None:
    """Progress and results, with a UTC time stamp, on stdout (the run's log)."""
    print(f"{datetime.now().astimezone().strftime('%H:%M:%S')} {message}", flush=True)


def _counts(text: str) -> tuple[int, ...]:
    values = tuple(int(part) for part in text.split(",") if part.strip())
    if any(value < 1 for value in values):
        raise argparse.ArgumentTypeError("points must be positive")
    return values


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; --smoke makes a tiny run for the test suite."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_scale", description=__doc__.split("\n")[0])
    parser.add_argument("--recommendations", type=int, default=10_000)
    parser.add_argument("--parties", type=int, default=300)
    parser.add_argument("--postgres", default=None, metavar="URL", help="use this database instead of a kept server")
    parser.add_argument("--out", type=Path, default=Path("/work/scale-run"), help="results and the kept server")
    parser.add_argument("--points", type=_counts, default=DEFAULT_POINTS, metavar="C1,C2", help="cases to measure at")
    parser.add_argument("--load-until", default=None, metavar="HH:MM", help="stop loading at this UTC time")
    parser.add_argument("--status-samples", type=int, default=1000, help="random keys for status at the end")
    parser.add_argument("--point-samples", type=int, default=200, help="random keys for status at each point")
    parser.add_argument("--rss", default="tick,command,dashboard,status-all,matrix", help="child processes to measure")
    parser.add_argument("--final-rss", default=None, help="child processes at the end [default: --rss]")
    parser.add_argument("--child-memory-mb", type=int, default=8192, help="address-space cap of a child")
    parser.add_argument(
        "--measure-only", default=None, metavar="LABEL", help="no loading: measure as it is, under LABEL-<cases>"
    )
    parser.add_argument("--smoke", action="store_true", help="3 recommendations x 5 parties, tiny samples")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--key", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--party", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.rss = [mode for mode in args.rss.split(",") if mode]
    args.final_rss = args.rss if args.final_rss is None else [mode for mode in args.final_rss.split(",") if mode]
    if args.smoke:
        args.recommendations, args.parties, args.points = 3, 5, (5, 15)
        args.status_samples, args.point_samples = 10, 10
    if args.recommendations < 1 or args.parties < 1:
        parser.error("--recommendations and --parties must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with the hidden --child, one measured operation)."""
    args = parse_args(argv)
    if args.child is not None:
        return run_child(args)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
