"""The cost of one scheduler tick as the timer table grows, and reminders delivered per second.

Run::

    .venv/bin/python -m bench.bench_tick [--small N] [--large N] [--due N] [--waves N] [--db-dir DIR]
                                         [--postgres URL]

For each size (``--small``, default 10,000, and ``--large``, default 200,000; ``--large 1000000`` gives
the issue's figure) a fresh database gets:

- **due timers**, in ``--waves`` waves (default 3): per wave ``ceil(--due / 45)`` recommendations of
  ``examples/mini-maria-2022.toml`` (unique keys, one contact per party, the reply date moved 91 days
  on per wave) proposed and recommended through the engine on 2022-06-03. Ticking 25 days after a
  wave's reply date, every one of its 45 timers per recommendation is due (per party the reply date,
  two before-reminders, the overdue series and the escalation) and none of a later wave's: the same
  work at every size and in every wave. After its tick a wave is withdrawn (untimed), so its overdue
  series does not fall due again in the next wave;
- **pending timers**: the size's worth of rows that fall due after the last wave's tick, inserted through
  the store's own ``UnitOfWork.sync_deadlines`` (10,000 per recommendation, on recommendations that are
  proposed only, for the foreign key); on PostgreSQL the database is then ANALYZEd, as autovacuum
  would soon after such a load (SQLite keeps no statistics unless asked, and beslut never asks).

Timed per wave, on a :class:`FixedClock` at the wave's tick instant, the sizes taking turns (small then
large in even waves, large then small in odd ones, so neither always goes first):

- **tick**: ``engine.tick(now)``, once: every due timer fired, each in its own transaction after being
  claimed in batches of 100 by the due query on the ``(status, due_at)`` index;
- **idle tick**: ``engine.tick(now)`` with nothing left due, 30 times (the median is reported): what a
  daemon pays every ``tick_seconds`` while it waits, the due query alone;
- **delivery**: :class:`OutboxDelivery` with the :class:`LogNotifier` writing JSON lines to /dev/null,
  every message the tick queued, each leased, "sent" and marked sent.

The ratio large/small of the mean tick (and of the idle tick) should stay near 1: the due query reads
the due rows through the index, not the table. For context, a raw baseline: plain :mod:`sqlite3` on a
file in the same directory (WAL, ``synchronous=FULL`` like the store) doing as many UPDATEs as a wave
fires timers, one transaction each; with ``--postgres`` the same through psycopg. A warm-up wave on a
tiny database comes first, so import and statement-cache costs are not charged to the first size. The
plan of the due query on the large table is printed as the database explains it.

No timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import event

from beslut import Engine, FixedClock, Store, open_store
from beslut.clock import STOCKHOLM
from beslut.logs import configure_json_logging
from beslut.scheduler.notifiers import LogNotifier
from beslut.scheduler.outbox import OutboxDelivery
from beslut.states.deadlines import Deadline
from beslut.states.records import Contact

ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = ROOT / "examples" / "mini-maria-2022.toml"
PARTIES = ("2380", "2309", "2321", "2313", "2361", "2326", "2305", "2303", "region-jh")
TIMERS_PER_RECOMMENDATION = 45  # 9 parties x (reply_by, 2 before, overdue, escalation)
ROWS_PER_FILLER = 10_000
FILLER_KINDS = ("remind_before", "reply_by", "remind_overdue", "escalate")
IDLE_TICKS = 30
DEFAULT_SMALL = 10_000
DEFAULT_LARGE = 200_000
DEFAULT_DUE = 1_000

RECOMMENDED_ON = date(2022, 6, 3)
BUILT_AT = datetime(2022, 6, 3, 12, 0, tzinfo=STOCKHOLM)
FIRST_REPLY_BY = date(2022, 9, 30)
WAVE_SPACING = timedelta(days=91)  # a wave's first before-reminder (14 days ahead) comes after the last tick
TICK_AFTER = timedelta(days=25)  # after the escalation (15 days after the rolled reply date, rolled <= 5 days)
DEFAULT_WAVES = 3
_KEY_LINE = re.compile(r'^key = "[^"]*"', re.MULTILINE)
_REPLY_BY_LINE = re.compile(r"^reply_by = \d{4}-\d{2}-\d{2}", re.MULTILINE)
_IN_FORCE_LINE = re.compile(r"^in_force_on = \d{4}-\d{2}-\d{2}", re.MULTILINE)


def reply_by(wave: int) -> date:
    """The reply date of the recommendations of *wave*."""
    return FIRST_REPLY_BY + wave * WAVE_SPACING


def tick_at(wave: int) -> datetime:
    """The instant *wave* is ticked: every timer of its recommendations is due, none of a later wave's."""
    return datetime.combine(reply_by(wave) + TICK_AFTER, dt_time(12), tzinfo=STOCKHOLM)


def spec_for(template: str, key: str, wave: int) -> str:
    """The example spec with its key, reply date and in-force date replaced."""
    text = template
    for pattern, line in (
        (_KEY_LINE, f'key = "{key}"'),
        (_REPLY_BY_LINE, f"reply_by = {reply_by(wave).isoformat()}"),
        (_IN_FORCE_LINE, f"in_force_on = {(reply_by(wave) + timedelta(days=365)).isoformat()}"),
    ):
        text, replaced = pattern.subn(line, text, count=1)
        if replaced != 1:
            raise SystemExit(f"{SPEC_PATH} has no line for {pattern.pattern!r}")
    return text


def wave_keys(wave: int, due: int) -> list[str]:
    """The keys of the recommendations whose timers *wave* fires."""
    return [f"due-{wave}-{i:05d}" for i in range(max(1, math.ceil(due / TIMERS_PER_RECOMMENDATION)))]


# ---------------------------------------------------------------- building a database


@dataclass(frozen=True)
class Built:
    """A database ready to tick: how many rows it has and how long it took to make."""

    target: str
    pending: int
    due_per_wave: int
    seconds: float


def build(target: str, *, pending: int, due: int, waves: int) -> Built:
    """Fill a fresh database at *target* (see the module docstring)."""
    started = time.perf_counter()
    template = SPEC_PATH.read_text(encoding="utf-8")
    fillers = math.ceil(pending / ROWS_PER_FILLER)
    with Engine(open_store(target), clock=FixedClock(BUILT_AT), actor="bench") as engine:
        engine.init()
        contacts = False
        for wave in range(waves):
            for key in wave_keys(wave, due):
                engine.propose(spec_for(template, key, wave), on=RECOMMENDED_ON)
                if not contacts:  # after the first proposal: a contact's party must be named by a recommendation
                    for party in PARTIES:
                        contact = Contact(id=f"c-{party}", party=party, name="Handläggare", email=f"{party}@example.se")
                        engine.add_contact(contact)
                    contacts = True
                engine.recommend(key, on=RECOMMENDED_ON)
        first = tick_at(waves - 1) + timedelta(days=1)
        for f in range(fillers):
            key = f"filler-{f:05d}"
            engine.propose(spec_for(template, key, waves), on=RECOMMENDED_ON)  # proposed only: no timers
            count = min(ROWS_PER_FILLER, pending - f * ROWS_PER_FILLER)
            rows = [
                Deadline(
                    recommendation=key,
                    kind=FILLER_KINDS[i % len(FILLER_KINDS)],
                    party=PARTIES[i % len(PARTIES)],
                    due_at=first + timedelta(minutes=f * ROWS_PER_FILLER + i),
                )
                for i in range(count)
            ]
            with engine.store.unit_of_work() as uow:
                uow.sync_deadlines(key, rows, now=BUILT_AT)
        sql = sql_engine(engine.store)
        if sql.dialect.name == "postgresql":  # what autovacuum does soon after a bulk load; SQLite has no such thing
            with sql.begin() as connection:
                connection.exec_driver_sql("ANALYZE")
    per_wave = len(wave_keys(0, due)) * TIMERS_PER_RECOMMENDATION
    return Built(target=target, pending=pending, due_per_wave=per_wave, seconds=time.perf_counter() - started)


# ---------------------------------------------------------------- timing


def sql_engine(store: Store) -> SqlEngine:
    """The SQLAlchemy engine under a store (both shipped stores have one)."""
    found = getattr(store, "engine", None)
    if not isinstance(found, SqlEngine):
        raise SystemExit(f"{type(store).__name__} has no SQLAlchemy engine")
    return found


class DueQuery:
    """Remembers the due query (SELECT … FROM deadline … claimed_until …) the store sends, to EXPLAIN it."""

    def __init__(self, engine: SqlEngine) -> None:
        self.engine = engine
        self.statement: str | None = None
        self.parameters: Any = None
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(
        self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _executemany: bool
    ) -> None:
        flat = " ".join(statement.split())
        wanted = flat.upper().startswith("SELECT") and "FROM deadline" in flat and "claimed_until" in flat
        if self.statement is None and wanted and "ORDER BY" in flat:
            self.statement, self.parameters = statement, parameters

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def plan(self) -> str | None:
        """The database's plan for the captured statement, one line."""
        if self.statement is None:
            return None
        prefix = "EXPLAIN QUERY PLAN " if self.engine.dialect.name == "sqlite" else "EXPLAIN "
        with self.engine.connect() as connection:
            rows = connection.exec_driver_sql(prefix + self.statement, self.parameters).all()
            connection.rollback()
        parts = [str(row[-1]) for row in rows]
        return " | ".join(" ".join(part.split()) for part in parts)


@dataclass
class Subject:
    """One size's database, ticked wave by wave, and what it measured."""

    label: str
    built: Built
    due: int
    engine: Engine
    clock: FixedClock
    ticks: list[float] = field(default_factory=list)
    idle: list[float] = field(default_factory=list)
    delivered: int = 0
    deliver_seconds: float = 0.0
    due_query: str | None = None

    @classmethod
    def open(cls, label: str, built: Built, due: int) -> Subject:
        clock = FixedClock(BUILT_AT)
        return cls(label, built, due, Engine(open_store(built.target), clock=clock, actor="bench"), clock)

    def close(self) -> None:
        self.engine.close()

    def wave(self, wave: int, *, explain: bool = False) -> None:
        """Tick *wave* (timed), idle-tick, deliver its outbox (timed), then withdraw it (untimed)."""
        now = tick_at(wave)
        self.clock.set(now)
        due_query = DueQuery(sql_engine(self.engine.store)) if explain else None
        started = time.perf_counter()
        fired = self.engine.tick(now, worker="bench")
        self.ticks.append(time.perf_counter() - started)
        if due_query is not None:
            self.due_query = due_query.plan()
            due_query.close()
        if len(fired) != self.built.due_per_wave:
            raise SystemExit(f"{self.label}: wave {wave} fired {len(fired)} timers, {self.built.due_per_wave} were due")
        for _ in range(IDLE_TICKS):
            started = time.perf_counter()
            if self.engine.tick(now, worker="bench"):
                raise SystemExit("an idle tick fired a timer")
            self.idle.append(time.perf_counter() - started)
        delivery = OutboxDelivery(self.engine.store, LogNotifier(), clock=self.clock, worker="bench")
        started = time.perf_counter()
        report = delivery.deliver_due()
        self.deliver_seconds += time.perf_counter() - started
        self.delivered += report.sent
        if report.failed:
            raise SystemExit(f"{report.failed} deliveries failed with the log notifier")
        for key in wave_keys(wave, self.due):
            self.engine.withdraw(key, on=now.date(), reason="bench: the next wave")

    @property
    def mean_tick(self) -> float:
        return statistics.fmean(self.ticks)

    @property
    def timers_per_second(self) -> float:
        return self.built.due_per_wave / self.mean_tick

    @property
    def idle_tick_ms(self) -> float:
        return statistics.median(self.idle) * 1000

    @property
    def delivered_per_second(self) -> float:
        return self.delivered / self.deliver_seconds if self.deliver_seconds else 0.0


# ---------------------------------------------------------------- raw baselines


def raw_sqlite_updates(path: Path, count: int) -> float:
    """Seconds for *count* UPDATEs on a plain sqlite3 file (WAL, synchronous=FULL), one transaction each."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("CREATE TABLE timer (id INTEGER PRIMARY KEY, status TEXT NOT NULL, closed_at TEXT)")
        connection.executemany("INSERT INTO timer (status) VALUES (?)", [("pending",) for _ in range(count)])
        started = time.perf_counter()
        for i in range(1, count + 1):
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(
                "UPDATE timer SET status = 'done', closed_at = ? WHERE id = ?", (datetime.now(STOCKHOLM).isoformat(), i)
            )
            connection.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        connection.close()


def raw_postgres_updates(url: str, count: int) -> float:
    """Seconds for *count* UPDATEs through psycopg, one transaction each."""
    import psycopg  # noqa: PLC0415 - only with --postgres

    from bench.bench_commands import libpq_url  # noqa: PLC0415

    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute("CREATE TABLE timer (id serial PRIMARY KEY, status text NOT NULL, closed_at timestamptz)")
        with connection.cursor() as cursor:
            cursor.executemany("INSERT INTO timer (status) VALUES (%s)", [("pending",) for _ in range(count)])
        started = time.perf_counter()
        for i in range(1, count + 1):
            with connection.transaction():
                connection.execute(
                    "UPDATE timer SET status = 'done', closed_at = %s WHERE id = %s", (datetime.now(STOCKHOLM), i)
                )
        return time.perf_counter() - started


# ---------------------------------------------------------------- the runs


@contextmanager
def database(kind: str, directory: Path, name: str, postgres: str | None) -> Iterator[str]:
    """A fresh SQLite file in *directory*, or a fresh database on the PostgreSQL server of *postgres*."""
    if kind == "sqlite":
        path = directory / f"{name}.db"
        try:
            yield str(path)
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    assert postgres is not None
    from bench.bench_commands import fresh_postgres_database  # noqa: PLC0415 - only with --postgres

    with fresh_postgres_database(postgres, f"tick_{name}") as url:
        yield url


def run_store(
    kind: str, directory: Path, sizes: Sequence[tuple[str, int]], due: int, waves: int, postgres: str | None
) -> str:
    """Warm up, build every size, tick them wave by wave taking turns, run the raw baseline; the report."""
    with database(kind, directory, "warmup", postgres) as target:
        warm = Subject.open("warm-up", build(target, pending=100, due=1, waves=1), 1)
        try:
            warm.wave(0)
        finally:
            warm.close()
    with ExitStack() as stack:
        subjects = []
        for label, pending in sizes:
            target = stack.enter_context(database(kind, directory, label, postgres))
            subject = Subject.open(label, build(target, pending=pending, due=due, waves=waves), due)
            stack.callback(subject.close)
            subjects.append(subject)
        for wave in range(waves):
            for subject in subjects if wave % 2 == 0 else reversed(subjects):
                subject.wave(wave, explain=wave == 0 and subject is subjects[-1])
    count = subjects[0].built.due_per_wave
    with database(kind, directory, "raw", postgres) as target:
        raw = raw_sqlite_updates(Path(target), count) if kind == "sqlite" else raw_postgres_updates(target, count)
    return render(kind, subjects, raw, waves)


def render(kind: str, subjects: Sequence[Subject], raw_seconds: float, waves: int) -> str:
    """The report of one store's runs."""
    first, last = subjects[0], subjects[-1]
    due = first.built.due_per_wave
    lines = [
        f"{kind}: {waves} tick(s) per size, each with {due:,} timers due "
        f"({due // TIMERS_PER_RECOMMENDATION} recommendation(s)); log notifier to /dev/null",
        f"{'size':<8}{'pending':>11}{'build s':>9}{'tick s (min-max)':>22}{'timers/s':>10}{'idle tick ms':>14}"
        f"{'delivered':>11}{'msgs/s':>9}",
    ]
    lines += [
        f"{s.label:<8}{s.built.pending:>11,}{s.built.seconds:>9.1f}"
        f"{f'{s.mean_tick:.2f} ({min(s.ticks):.2f}-{max(s.ticks):.2f})':>22}{s.timers_per_second:>10.0f}"
        f"{s.idle_tick_ms:>14.2f}{s.delivered:>11,}{s.delivered_per_second:>9.0f}"
        for s in subjects
    ]
    ratio = last.mean_tick / first.mean_tick
    idle_ratio = last.idle_tick_ms / first.idle_tick_ms
    lines.append(
        f"ratio {last.label}/{first.label} ({kind}): tick {ratio:.2f}x, idle tick {idle_ratio:.2f}x "
        f"with {last.built.pending / first.built.pending:.0f}x the pending timers (target: near 1x)"
    )
    raw_rate = due / raw_seconds if raw_seconds else 0.0
    lines.append(
        f"raw {'sqlite3' if kind == 'sqlite' else 'psycopg'}: {due:,} UPDATEs, one transaction each: "
        f"{raw_seconds:.2f} s ({raw_rate:,.0f}/s); engine timers/s is {first.timers_per_second / raw_rate:.2f}x "
        f"of that, delivered/s {first.delivered_per_second / raw_rate:.2f}x"
        if raw_rate
        else "raw baseline: nothing to update"
    )
    lines.append(f"due query plan ({last.label}): {last.due_query or 'not captured'}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--small", type=int, default=DEFAULT_SMALL, help="pending timers in the small table")
    parser.add_argument("--large", type=int, default=DEFAULT_LARGE, help="pending timers in the large table (1000000)")
    parser.add_argument("--due", type=int, default=DEFAULT_DUE, help="timers due at each tick (rounded up to 45s)")
    parser.add_argument("--waves", type=int, default=DEFAULT_WAVES, help="ticks per size, the sizes taking turns")
    parser.add_argument("--db-dir", type=Path, default=None, help="where the SQLite files go (default: a temp dir)")
    parser.add_argument("--postgres", metavar="URL", default=None, help="also run on fresh databases on this server")
    args = parser.parse_args(argv)
    if not 0 < args.small <= args.large:
        parser.error("need 0 < --small <= --large")
    if args.due < 1 or args.waves < 1:
        parser.error("--due and --waves must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = [("small", args.small), ("large", args.large)]
    with ExitStack() as stack:
        devnull = stack.enter_context(Path(os.devnull).open("w", encoding="utf-8"))
        configure_json_logging(devnull)  # the log notifier's lines (and the outbox's) go to /dev/null
        stack.callback(structlog.reset_defaults)
        if args.db_dir is None:
            directory = Path(tempfile.mkdtemp(prefix="beslut-bench-tick-"))
            stack.callback(shutil.rmtree, directory, ignore_errors=True)
        else:
            directory = args.db_dir
            directory.mkdir(parents=True, exist_ok=True)
        reports = [run_store("sqlite", directory, sizes, args.due, args.waves, None)]
        if args.postgres:
            reports.append(run_store("postgresql", directory, sizes, args.due, args.waves, args.postgres))
    print("\n\n".join(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
