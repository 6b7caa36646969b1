"""Wall time of a `beslut` process from start to exit, as a ratio to importing SQLAlchemy and Typer alone.

Run::

    .venv/bin/python -m bench.bench_startup [--runs 7] [--db-dir DIR] [--smoke]

Every CLI call is a new process that pays for its imports before it does anything, so a short command's
time is mostly its start. Measured, each as a fresh process of this interpreter with this checkout first
on ``PYTHONPATH``:

- **baseline**: ``python -c "import sqlalchemy, typer"``, the floor any command of a Typer CLI over
  SQLAlchemy pays;
- **help**: ``beslut --help`` (the console script next to the interpreter);
- **status**: ``beslut status svom-2022-mini-maria --json --db DEMO`` on a demo database built untimed
  with ``beslut demo`` (its output is checked to be the status document).

One untimed warm-up round first (it writes the bytecode caches of both sides into a temporary
``PYTHONPYCACHEPREFIX``, as an installed package has them, and fills the page cache), then ``--runs`` rounds, each
running the three once in an order that rotates per round, so a noisy neighbour on the shared machine
slows no row alone. Printed: the median and the fastest wall time of each row, and the ratios
help/baseline and status/baseline of the medians (the aim is <= 1.5x). ``--smoke`` runs two rounds.
No timing is asserted anywhere; docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEY = "svom-2022-mini-maria"
AIM = 1.5


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7, help="timed rounds (each runs every row once)")
    parser.add_argument("--db-dir", type=Path, default=None, help="where the demo database goes (removed after)")
    parser.add_argument("--smoke", action="store_true", help="two rounds: only that it runs")
    args = parser.parse_args(argv)
    if args.smoke:
        args.runs = 2
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def _environment(directory: Path) -> dict[str, str]:
    """This checkout first on the path, and bytecode caches written to (and read from) *directory*.

    Why the caches: an installed package has its ``.pyc`` files, and without them every run would compile
    beslut's sources again while SQLAlchemy's and Typer's come compiled (``PYTHONDONTWRITEBYTECODE`` in a
    developer's environment would do that). With ``PYTHONPYCACHEPREFIX`` both sides read caches written by
    the warm-up round, and nothing is written into the checkout or the venv.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONPYCACHEPREFIX"] = str(directory / "pycache")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("BESLUT_DB", None)
    return env


def _beslut() -> list[str]:
    """The console script beside the interpreter (what a user runs), else the same entry point through -c."""
    script = Path(sys.executable).parent / "beslut"
    if script.is_file():
        return [sys.executable, str(script)]
    return [sys.executable, "-c", "import sys; from beslut.cli import main; sys.argv[0] = 'beslut'; main()"]


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Seconds from start to exit of *argv*, and its stdout; a failure stops the bench with its stderr."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=300)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    return elapsed, done.stdout


def _check(name: str, stdout: str) -> None:
    """The command did what it is timed for (a help text, the status document), not a quick refusal."""
    if name == "help" and "Usage" not in stdout:
        raise SystemExit(f"beslut --help printed no usage: {stdout[:200]!r}")
    if name == "status" and json.loads(stdout)["key"] != KEY:
        raise SystemExit(f"beslut status printed another document: {stdout[:200]!r}")


def run(runs: int, directory: Path) -> str:
    env = _environment(directory)
    database = directory / "demo.db"
    beslut = _beslut()
    subprocess.run(
        [*beslut, "demo", "--db", str(database)], env=env, check=True, capture_output=True, text=True, timeout=600
    )
    rows: dict[str, list[str]] = {
        "baseline": [sys.executable, "-c", "import sqlalchemy, typer"],
        "help": [*beslut, "--help"],
        "status": [*beslut, "status", KEY, "--json", "--db", str(database)],
    }
    names = list(rows)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(-1, runs):  # round -1: the warm-up, untimed
        turn = max(round_number, 0) % len(names)
        for name in names[turn:] + names[:turn]:
            elapsed, stdout = _timed(rows[name], env)
            _check(name, stdout)
            if round_number >= 0:
                times[name].append(elapsed)
    medians = {name: statistics.median(values) for name, values in times.items()}
    lines = [
        f"beslut start-up, wall time per process, {runs} run(s) each, medians "
        f"(python {sys.version.split()[0]}, {os.cpu_count()} cpu(s))",
        f"{'command':<10} {'median ms':>10} {'fastest ms':>11}  argv",
    ]
    for name in names:
        shown = " ".join(Path(part).name if index < 2 else part for index, part in enumerate(rows[name]))
        lines.append(f"{name:<10} {medians[name] * 1000:>10.0f} {min(times[name]) * 1000:>11.0f}  {shown}")
    for name in ("help", "status"):
        ratio = medians[name] / medians["baseline"]
        lines.append(f"ratio {name}/baseline: {ratio:.2f}x (aim <= {AIM}x)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with ExitStack() as stack:
        directory = Path(tempfile.mkdtemp(prefix="beslut-bench-startup-", dir=args.db_dir))
        stack.callback(shutil.rmtree, directory, ignore_errors=True)
        print(run(args.runs, directory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
