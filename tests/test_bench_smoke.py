"""Keep bench/bench_commands.py from rotting: run it end to end with a tiny workload.

Only that it runs and prints its figures is checked; no timing is ever asserted.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.bench_commands import main


def test_bench_commands_runs_and_prints_the_ratio(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--commands", "20", "--warmup", "4", "--memory-cases", "2,4", "--db-dir", str(tmp_path)]

    assert main(argv) == 0

    out = capsys.readouterr().out
    assert re.search(r"^ratio engine/raw \(sqlite\): \d+\.\d+x \(target >= 0\.5x", out, re.MULTILINE)
    assert re.search(r"^sqlite +engine +20 ", out, re.MULTILINE)
    assert re.search(r"^sqlite +raw sqlite3 +20 ", out, re.MULTILINE)
    assert "memory after     4 recommendations" in out
    assert list(tmp_path.iterdir()) == []  # the temporary databases are removed


def test_bench_tick_runs_and_prints_the_ratio(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """bench/bench_tick.py runs end to end on a tiny table and prints its large/small ratio."""
    from bench.bench_tick import main as tick_main  # noqa: PLC0415

    argv = ["--small", "100", "--large", "300", "--due", "45", "--waves", "1", "--db-dir", str(tmp_path)]
    assert tick_main(argv) == 0
    out = capsys.readouterr().out
    assert "ratio" in out.lower()


def test_bench_api_runs_against_a_real_server_and_prints_the_ratios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """bench/bench_api.py --smoke starts a real uvicorn process, measures every row and cleans up."""
    from bench.bench_api import main as api_main  # noqa: PLC0415

    assert api_main(["--smoke", "--db-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for operation in ("status", "decide"):
        for clients in (1, 4):
            assert re.search(rf"^{operation} +{clients} +16 +\d+ +\d+ ", out, re.MULTILINE), out
            assert re.search(
                rf"^ratio http/engine \({operation}, {clients} client\(s\)\): \d+\.\d+x$", out, re.MULTILINE
            )
    assert re.search(r"^healthz +1 +16 +\d+ +- ", out, re.MULTILINE), out  # the HTTP floor, no engine side
    assert list(tmp_path.iterdir()) == []  # the database and the server's log are removed


def test_bench_batch_runs_and_prints_the_ratios(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """bench/bench_batch.py --smoke runs Engine.batch and the raw baseline per batch size and cleans up."""
    from bench.bench_batch import main as batch_main  # noqa: PLC0415

    assert batch_main(["--smoke", "--db-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for size in (5, 20):
        assert re.search(rf"^engine batch +{size} +20 ", out, re.MULTILINE), out
        assert re.search(rf"^raw sqlite3 +{size} +20 ", out, re.MULTILINE), out
        assert re.search(rf"^ratio engine/raw \(batches of {size}\): \d+\.\d+x; engine \d+ decisions/s", out, re.M)
    assert list(tmp_path.iterdir()) == []  # the temporary databases are removed


def test_bench_writers_runs_both_modes_with_two_writer_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """bench/bench_writers.py runs real writer processes on SQLite, checks each run's audit log and cleans up."""
    from bench.bench_writers import main as writers_main  # noqa: PLC0415

    argv = ["--writers", "1,2", "--commands", "8", "--rounds", "1", "--warmup", "2", "--stores", "sqlite", "--phases"]
    assert writers_main([*argv, "--db-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for mode in ("own", "shared"):
        for writers in (1, 2):
            assert re.search(rf"^sqlite +{mode} +{writers} +\d+\.\d +\d+\.\d +\d+\.\d+x ", out, re.MULTILINE), out
        assert re.search(rf"^sqlite +{mode} +N=2: wait +\d+\.\d+ +hold +\d+\.\d+ ", out, re.MULTILINE), out
    assert list(tmp_path.iterdir()) == []  # every run's database is removed


def test_bench_startup_runs_the_processes_and_prints_the_ratios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """bench/bench_startup.py --smoke builds a demo database, times the real processes and cleans up."""
    from bench.bench_startup import main as startup_main  # noqa: PLC0415

    assert startup_main(["--smoke", "--db-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("baseline", "typer-run", "help", "status"):
        assert re.search(rf"^{name} +\d+ +\d+ +\d+  ", out, re.MULTILINE), out
    assert re.search(r"^ratio status/typer-run: \d+\.\d+x; by CPU time \d+\.\d+x$", out, re.MULTILINE), out
    for name in ("help", "status"):
        assert re.search(rf"^ratio {name}/baseline: \d+\.\d+x \(aim <= 1\.5x\); by CPU time \d+\.\d+x$", out, re.M), out
    assert list(tmp_path.iterdir()) == []  # the demo database is removed


def test_bench_parties_runs_and_prints_the_ratios(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """bench/bench_parties.py runs end to end at tiny sizes, prints every ratio and removes its databases."""
    from bench.bench_parties import main as parties_main  # noqa: PLC0415

    assert parties_main(["--sizes", "5,12", "--timers", "4", "--db-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^ +5 +\d+\.\d+ +\d+\.\d+ +\d+\.\d+$", out, re.MULTILINE), out
    for name in ("reminder per timer", "transition per timer", "status per party"):
        assert re.search(rf"^ratio 12/5 parties, {name}: \d+\.\d+x", out, re.MULTILINE), out
    assert list(tmp_path.iterdir()) == []
