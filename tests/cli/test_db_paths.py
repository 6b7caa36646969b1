"""`--db` pointing at something that is no usable database, and the auditor on a read-only mount.

A directory, a file that is not a database and a read-only mount for a writing command exit 5
with one line (README's exit-code table); the database is never created or changed. The read-only
mount is real: the CLI runs in its own mount namespace (``unshare``) where the database's
directory is bind-mounted read-only, so even root cannot write there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.helpers import KEY, REPO, Result, dump, ok, run


def test_a_directory_as_db_exits_5_with_one_line(tmp_path: Path) -> None:
    for args in (["status"], ["init"], ["audit", "verify"], ["recommend", KEY, "--on", "2022-06-03"]):
        result = run(*args, db=str(tmp_path))
        assert (5, [f"error: database {tmp_path} is a directory, not a database file"]) == (
            result.code,
            result.error_lines,
        ), args


def test_a_file_that_is_no_database_exits_5_and_is_left_as_it_was(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database\n" * 100, encoding="utf-8")
    for args in (["status"], ["audit", "verify"], ["recommend", KEY, "--on", "2022-06-03"]):
        result = run(*args, db=str(junk))
        assert 5 == result.code, (args, result.stderr)
        assert 1 == len(result.error_lines)
        assert result.stderr.startswith("error: the file is not a beslut database")
    assert "not a database\n" * 100 == junk.read_text(encoding="utf-8")


def _read_only_mount_run(directory: Path, *args: str) -> Result:
    """Run `beslut ARGS` in a mount namespace where *directory* is mounted read-only."""
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed for the read-only mount test")
    env = {k: v for k, v in os.environ.items() if k not in ("BESLUT_DB", "BESLUT_ACTOR")}
    env["PYTHONPATH"] = str(REPO)
    script = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
    argv = ["unshare", "--map-root-user", "--mount", "sh", "-c", script, "sh", str(directory)]
    argv += [sys.executable, "-m", "beslut.cli", *args]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
    return Result(code=done.returncode, stdout=done.stdout, stderr=done.stderr)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_auditor_commands_read_a_read_only_mount_and_writers_exit_5(recommended: str, tmp_path: Path) -> None:
    """verify, log, replay --check and export work on a read-only mount; a writing command exits 5."""
    ok("party", "prepare", KEY, "2380", "--case", "KS 1", "--on", "2022-06-10", db=recommended)
    mounted = tmp_path / "ro"
    mounted.mkdir()
    database = mounted / "beslut.db"
    shutil.copy(recommended, database)
    before = dump(str(database))
    exported = tmp_path / "package"
    for args in (
        ["audit", "verify"],
        ["audit", "log", "--json"],
        ["audit", "replay", "--check"],
        ["audit", "export", KEY, "--out", str(exported)],
    ):
        result = _read_only_mount_run(mounted, *args, "--db", str(database))
        assert (0, "") == (result.code, result.stderr), args
    assert (exported / "METS.xml").is_file()
    written = _read_only_mount_run(
        mounted, "party", "prepare", KEY, "2309", "--case", "KS 2", "--on", "2022-06-10", "--db", str(database)
    )
    assert 5 == written.code, written.stderr
    assert 1 == len(written.stderr.splitlines())
    assert written.stderr.startswith("error: ")
    assert before == dump(str(database))
    assert sorted(p.name for p in mounted.iterdir()) == ["beslut.db"]  # no -wal or -shm left beside it


def test_on_takes_only_yyyy_mm_dd(recommended: str) -> None:
    before = dump(recommended)
    for value in ("20220610", "2022-W23-5", "2022-6-10", "2022-06-10T00:00", " 2022-06-10"):
        result = run("party", "prepare", KEY, "2380", "--case", "KS 1", "--on", value, db=recommended)
        assert (2, [f"error: --on: {value!r} is not a date (YYYY-MM-DD)"]) == (result.code, result.error_lines)
    assert before == dump(recommended)
    ok("party", "prepare", KEY, "2380", "--case", "KS 1", "--on", "2022-06-10", db=recommended)


def test_as_of_valid_takes_an_instant_on_its_stockholm_date(recommended: str) -> None:
    ok("party", "prepare", KEY, "2380", "--case", "KS 1", "--on", "2022-10-01", db=recommended)
    by_date = ok("audit", "replay", "--as-of-valid", "2022-10-01", "--json", db=recommended).json()
    # 23:30 UTC on 30 September is 01:30 on 1 October in Stockholm: the prepare counts.
    by_instant = ok("audit", "replay", "--as-of-valid", "2022-09-30T23:30:00+00:00", "--json", db=recommended).json()
    assert by_date == by_instant
    earlier = ok("audit", "replay", "--as-of-valid", "2022-09-30T21:30:00+00:00", "--json", db=recommended).json()
    assert earlier != by_instant
    refused = run("audit", "replay", "--as-of-valid", "20221001", db=recommended)
    assert 2 == refused.code
    assert 1 == len(refused.error_lines)
