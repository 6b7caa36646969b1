"""Wall time of a `beslut` process from start to exit, as a ratio to importing SQLAlchemy and Typer alone.

Run::

    .venv/bin/python -m bench.bench_startup [--runs 7] [--db-dir DIR] [--smoke]

Every CLI call is a new process that pays for its imports before it does anything, so a short command's
time is mostly its start. Measured, each as a fresh process of this interpreter with this checkout first
on ``PYTHONPATH``:

- **baseline**: ``python -c "import sqlalchemy, typer"``, the floor any command of a Typer CLI over
  SQLAlchemy pays;
- **typer-run**: the same imports, then a one-command Typer app run with three parameters: what any
  command of such a CLI pays before doing anything of its own (Typer coerces parameters through
  pydantic, so this row also loads pydantic);
- **help**: ``beslut --help`` (the console script next to the interpreter);
- **status**: ``beslut status svom-2022-mini-maria --json --db DEMO`` on a demo database built untimed
  with ``beslut demo`` (its output is checked to be the status document).

One untimed warm-up round first (it writes the bytecode caches of both sides into a temporary
``PYTHONPYCACHEPREFIX``, as an installed package has them, and fills the page cache), then ``--runs`` rounds, each
running the three once in an order that rotates per round, so a noisy neighbour on the shared machine
slows no row alone. Printed: the median and the fastest wall time of each row and its median CPU time
(user + system of the process, steadier on a shared machine), and the ratios help/baseline and
status/baseline of the wall-time medians (the aim is <= 1.5x) and of the CPU-time medians. ``--smoke`` runs two rounds.
No timing is asserted anywhere; docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
# The floor of any command of a Typer CLI over SQLAlchemy that runs (not only imports): Typer builds its
# click command and coerces each parameter (through pydantic, in the Typer this project pins).
TYPER_RUN = (
    "import sqlalchemy, typer\n"
    "app = typer.Typer()\n"
    "@app.command()\n"
    "def status(key: str, db: str = '', json_output: bool = False) -> None:\n"
    "    print(key)\n"
    "app(['k', '--db', 'x'], standalone_mode=False)"
)


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


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds from start to exit of *argv*, its CPU seconds (user + system), and its stdout.

    A failure stops the bench with the command's stderr.
    """
    cpu_before = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=300)
    elapsed = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    return elapsed, cpu, done.stdout


def _children_cpu() -> float:
    """CPU seconds of every waited-for child so far: on a shared machine steadier than the wall clock."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _check(name: str, stdout: str) -> None:
    """The command did what it is timed for (a help text, the status document), not a quick refusal."""
    if name == "typer-run" and stdout.strip() != "k":
        raise SystemExit(f"the Typer reference printed {stdout[:200]!r}")
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
        "typer-run": [sys.executable, "-c", TYPER_RUN],
        "help": [*beslut, "--help"],
        "status": [*beslut, "status", KEY, "--json", "--db", str(database)],
    }
    names = list(rows)
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(-1, runs):  # round -1: the warm-up, untimed
        turn = max(round_number, 0) % len(names)
        for name in names[turn:] + names[:turn]:
            elapsed, used, stdout = _timed(rows[name], env)
            _check(name, stdout)
            if round_number >= 0:
                wall[name].append(elapsed)
                cpu[name].append(used)
    medians = {name: statistics.median(values) for name, values in wall.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
    lines = [
        f"beslut start-up, per process, {runs} run(s) each, medians "
        f"(python {sys.version.split()[0]}, {os.cpu_count()} cpu(s), load average {os.getloadavg()[0]:.1f})",
        f"{'command':<10} {'wall ms':>8} {'fastest ms':>11} {'cpu ms':>7}  argv",
    ]
    for name in names:
        shown = " ".join(Path(part).name if index < 2 else part for index, part in enumerate(rows[name]))
        shown = shown.replace(TYPER_RUN, "<a one-command Typer app, run>")
        lines.append(
            f"{name:<10} {medians[name] * 1000:>8.0f} {min(wall[name]) * 1000:>11.0f} "
            f"{cpu_medians[name] * 1000:>7.0f}  {shown}"
        )
    for name in ("help", "status"):
        ratio = medians[name] / medians["baseline"]
        cpu_ratio = cpu_medians[name] / cpu_medians["baseline"]
        lines.append(f"ratio {name}/baseline: {ratio:.2f}x (aim <= {AIM}x); by CPU time {cpu_ratio:.2f}x")
    wall_ratio = medians["status"] / medians["typer-run"]
    cpu_ratio = cpu_medians["status"] / cpu_medians["typer-run"]
    lines.append(f"ratio status/typer-run: {wall_ratio:.2f}x; by CPU time {cpu_ratio:.2f}x")
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
