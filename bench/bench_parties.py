"""One recommendation with many parties: the cost per fired timer and of one status, at 300, 3,000 and 10,000 parties.

Run::

    .venv/bin/python -m bench.bench_parties [--sizes 300,3000,10000] [--timers 300] [--db-dir DIR]

For each size P a fresh SQLite database gets one recommendation to P parties (one equal cost pool,
reply by 2022-09-30), proposed and recommended through the engine on 2022-06-03, twice over (two
databases, so each phase finds only its own timers due):

- **reminders**: with the default reminders, ticking at 2022-09-16 12:00 finds every party's 14-day
  reminder due; ``engine.tick(now, limit=--timers)`` fires the first ``--timers`` of them, each in
  its own transaction. Printed: milliseconds per fired timer;
- **transitions**: with no reminders before the reply date, ticking at 2022-10-01 12:00 finds every
  party's reply date passed; the tick marks ``--timers`` parties overdue (an audit event, the party's
  row and its timers each). Printed: milliseconds per fired timer;
- **status**: ``engine.case(key)``, its ``status --json`` document and the text table ``beslut status
  KEY`` prints (written to /dev/null), five times (the median). Printed: milliseconds per 1,000 parties.

Before the engine stopped rereading the whole recommendation for each timer, a timer cost time in
proportion to P (a tick over every party quadratic in P). Each figure is printed with the ratio of
the largest size's to the smallest's: near 1 means linear (per timer: constant). The databases
are removed afterwards. No timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from rich.console import Console

from beslut import Engine, FixedClock, open_store
from beslut.clock import STOCKHOLM
from beslut.render import print_status
from beslut.states.views import case_status

KEY = "many-parties"
ON = date(2022, 6, 3)
REMINDERS_AT = datetime(2022, 9, 16, 12, 0, tzinfo=STOCKHOLM)
TRANSITIONS_AT = datetime(2022, 10, 1, 12, 0, tzinfo=STOCKHOLM)
STATUS_RUNS = 5


def spec_text(parties: int, *, reminders: bool) -> str:
    """A recommendation to *parties* parties, unanimous, one equal cost pool."""
    keys = ", ".join(f'"p{p:05d}"' for p in range(parties))
    text = (
        f'key = "{KEY}"\ntitle = "Många parter"\nissuer = "SKR"\ncoordinator = "p00000"\n'
        'reply_by = 2022-09-30\nconsolidation = "unanimous"\n\n'
        f'[cost]\ntotal = "100000000"\nunit = "1"\n\n[[cost.pool]]\nshare = "1"\nsplit = "equal"\nparties = [{keys}]\n'
    )
    if not reminders:
        text += "\n[reminders]\nbefore = []\n"
    return text + "".join(
        f'\n[[party]]\nkey = "p{p:05d}"\nname = "Part {p}"\ndeciding_body = "KF"\n' for p in range(parties)
    )


@dataclass(frozen=True)
class Row:
    """The figures of one size."""

    parties: int
    reminder_ms: float
    transition_ms: float
    status_ms_per_1000: float


def _loaded(directory: Path, name: str, parties: int, *, reminders: bool, at: datetime) -> Engine:
    store = open_store(directory / name)
    store.create_schema()
    engine = Engine(store, clock=FixedClock(at))
    engine.propose(spec_text(parties, reminders=reminders), on=ON)
    engine.recommend(KEY, on=ON)
    return engine


def _per_timer_ms(engine: Engine, at: datetime, timers: int) -> float:
    started = time.perf_counter()
    fired = engine.tick(at, limit=timers)
    elapsed = time.perf_counter() - started
    return elapsed * 1000 / max(1, len(fired))


def _status_ms(engine: Engine) -> float:
    runs = []
    with open(os.devnull, "w", encoding="utf-8") as sink:
        console = Console(file=sink, width=160, soft_wrap=True, highlight=False)
        for _ in range(STATUS_RUNS):
            started = time.perf_counter()
            document = case_status(engine.case(KEY))
            print_status(document, console)
            runs.append(time.perf_counter() - started)
    return statistics.median(runs) * 1000


def measure(parties: int, timers: int, directory: Path) -> Row:
    """Load both databases for *parties* and take the three figures."""
    reminding = _loaded(directory, f"r{parties}.db", parties, reminders=True, at=REMINDERS_AT)
    try:
        reminder_ms = _per_timer_ms(reminding, REMINDERS_AT, min(timers, parties))
        status_ms = _status_ms(reminding)
    finally:
        reminding.close()
    transitioning = _loaded(directory, f"t{parties}.db", parties, reminders=False, at=TRANSITIONS_AT)
    try:
        transition_ms = _per_timer_ms(transitioning, TRANSITIONS_AT, min(timers, parties))
    finally:
        transitioning.close()
    return Row(parties, reminder_ms, transition_ms, status_ms * 1000 / parties)


def render(rows: Sequence[Row], timers: int) -> str:
    """The table and the largest/smallest ratios."""
    lines = [
        f"one recommendation, P parties, SQLite; per timer: the first {timers} due timers of a tick",
        f"{'parties':>8} {'reminder ms/timer':>18} {'transition ms/timer':>20} {'status ms/1000 parties':>23}",
    ]
    lines += [
        f"{r.parties:>8} {r.reminder_ms:>18.2f} {r.transition_ms:>20.2f} {r.status_ms_per_1000:>23.2f}" for r in rows
    ]
    first, last = rows[0], rows[-1]
    for name, a, b in (
        ("reminder per timer", first.reminder_ms, last.reminder_ms),
        ("transition per timer", first.transition_ms, last.transition_ms),
        ("status per party", first.status_ms_per_1000, last.status_ms_per_1000),
    ):
        lines.append(f"ratio {last.parties}/{first.parties} parties, {name}: {b / a:.2f}x (target <= 1.5x)")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="300,3000,10000", help="Party counts, comma-separated, smallest first.")
    parser.add_argument("--timers", type=int, default=1000, help="Due timers fired per phase and size.")
    parser.add_argument("--db-dir", type=Path, default=None, help="Where the temporary databases go.")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the figures; the exit status is 0 whatever they are."""
    args = parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(dir=args.db_dir, prefix="bench-parties-") as directory:
        for parties in sizes:
            rows.append(measure(parties, args.timers, Path(directory)))
            print(f"measured {parties} parties", file=sys.stderr, flush=True)
    print(render(rows, args.timers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
