"""Ctrl-C in a command: a real process, a real SIGINT, one line, exit 130, nothing written.

The child is the CLI itself (``python -m beslut.cli``'s entry point) with one test-only change
made before it starts: one function (named ``module:attribute``) is wrapped so that after doing
its work it says so in a file and sleeps. The parent then sends SIGINT, so the signal arrives at
a known point: with a write transaction open, with a package half written, in a read.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.cli.helpers import KEY, REPO, dump

PAUSING_CHILD = """
import functools, importlib, sys, time
from pathlib import Path
ready, target, args = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
module_name, _, attribute = target.partition(":")
owner_name, _, function_name = attribute.rpartition(".")
owner = importlib.import_module(module_name)
if owner_name:
    owner = getattr(owner, owner_name)
real = getattr(owner, function_name)
@functools.wraps(real)
def pausing(*a, **k):
    result = real(*a, **k)
    ready.write_text("paused")
    time.sleep(60)
    return result
setattr(owner, function_name, pausing)
sys.argv = ["beslut", *args]
from beslut.cli import main
main()
"""


def interrupted(tmp_path: Path, target: str, *args: str) -> tuple[int, str, list[str]]:
    """Run `beslut ARGS` pausing after *target*; SIGINT it there; its exit code, stdout and stderr lines."""
    ready = tmp_path / "ready"
    env = {k: v for k, v in os.environ.items() if k not in ("BESLUT_DB", "BESLUT_ACTOR")}
    env["PYTHONPATH"] = str(REPO)
    argv = [sys.executable, "-c", PAUSING_CHILD, str(ready), target, *args]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the child never reached the pause"
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    return child.returncode, out, err.splitlines()


def test_ctrl_c_inside_a_write_transaction_rolls_back_with_one_line(recommended: str, tmp_path: Path) -> None:
    """SIGINT after the events are appended and before COMMIT: exit 130, one line, the database as before."""
    before = dump(recommended)
    code, out, err = interrupted(
        tmp_path, "beslut.persistence._sql:SqlUnitOfWork.append_events",
        "party", "prepare", KEY, "2380", "--case", "KS 1", "--on", "2022-06-10", "--db", recommended,
    )  # fmt: skip
    assert (130, "", ["error: interrupted"]) == (code, out, err)
    assert before == dump(recommended)


def test_ctrl_c_while_a_package_is_written_leaves_no_package(recommended: str, tmp_path: Path) -> None:
    """An interrupted `audit export` removes the directory it had started: no half package is left."""
    package = tmp_path / "package"
    code, _out, err = interrupted(
        tmp_path, "beslut.audit.export:_serialise", "audit", "export", KEY, "--out", str(package), "--db", recommended
    )
    assert (130, ["error: interrupted"]) == (code, err)
    assert not package.exists()


def test_ctrl_c_in_a_read_prints_one_line(recommended: str, tmp_path: Path) -> None:
    """SIGINT while `status` reads: one line, exit 130, no traceback."""
    code, out, err = interrupted(tmp_path, "beslut.workflow.engine:Engine.case", "status", KEY, "--db", recommended)
    assert (130, "", ["error: interrupted"]) == (code, out, err)
