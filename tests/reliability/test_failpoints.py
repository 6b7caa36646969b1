"""Failpoints (beslut/failpoints.py): the syntax, and the real console script dying where it is told to."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from beslut import failpoints
from beslut.workflow import Engine
from tests.reliability.crash_driver import spec_text

SCRIPT = Path(sys.executable).parent / "beslut"


def test_the_syntax_names_a_point_and_optionally_which_hit() -> None:
    """``name`` is the first hit, ``name:n`` the n-th; several are comma-separated."""
    assert {} == failpoints.parse("")
    assert {"uow.before_commit": 1} == failpoints.parse("uow.before_commit")
    assert {"uow.before_commit": 3, "outbox.after_send": 1} == failpoints.parse("uow.before_commit:3, outbox.after_send")


@pytest.mark.parametrize("value", ["uow.before_comit", "uow.before_commit:0", "uow.before_commit:x", "nope:2"])
def test_a_misspelt_point_or_count_is_refused(value: str) -> None:
    """A typo would silently test nothing, so it is an error naming the known points."""
    with pytest.raises(ValueError, match="BESLUT_FAILPOINT"):
        failpoints.parse(value)


def test_every_point_is_reached_somewhere_in_the_code() -> None:
    """Each documented name has a call site (a renamed call site would leave a point that never fires)."""
    source = "\n".join(p.read_text(encoding="utf-8") for p in Path(failpoints.__file__).parent.rglob("*.py"))
    for name in failpoints.POINTS:
        assert f'failpoints.hit("{name}")' in source, name


def _recommend(db: str, point: str) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if k != "BESLUT_DB"}, "BESLUT_FAILPOINT": point}
    return subprocess.run(
        [str(SCRIPT), "recommend", "fp", "--on", "2022-06-03", "--db", db],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("point", "committed"), [("engine.after_append_events", False), ("uow.before_commit", False), ("uow.after_commit", True)]
)
def test_the_cli_dies_at_the_point_and_the_transaction_is_all_or_nothing(
    store_url: str, point: str, committed: bool
) -> None:
    """`beslut recommend` killed inside its transaction leaves nothing; killed after COMMIT, all of it and no reply."""
    with Engine.open(store_url) as engine:
        engine.init()
        engine.propose(spec_text("fp"), on=date(2022, 6, 3))
        before = engine.deadlines()
    done = _recommend(store_url, point)
    assert (-signal.SIGKILL, "") == (done.returncode, done.stdout)
    with Engine.open(store_url) as engine:
        case = engine.case("fp")
        kinds = [r.kind for r in engine.audit_log()]
        after = engine.deadlines()
        report = engine.verify_audit()
    assert ("recommended" if committed else "proposed", 2 if committed else 1) == (case.state, case.version)
    assert ["recommendation.proposed", *(["recommendation.recommended"] if committed else [])] == kinds
    assert (after != before) == committed  # recommending arms the reply timers: all of the command or none
    assert report.ok


def test_a_proposal_killed_before_its_commit_leaves_no_trace(store_url: str, tmp_path: Path) -> None:
    """`beslut propose` killed once its rows, events and timers are written, before COMMIT: the key is free."""
    with Engine.open(store_url) as engine:
        engine.init()
    spec = tmp_path / "spec.toml"
    spec.write_text(spec_text("fp"), encoding="utf-8")
    env = {**{k: v for k, v in os.environ.items() if k != "BESLUT_DB"}, "BESLUT_FAILPOINT": "engine.after_sync_deadlines"}
    done = subprocess.run(
        [str(SCRIPT), "propose", str(spec), "--on", "2022-06-03", "--db", store_url],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert (-signal.SIGKILL, "") == (done.returncode, done.stdout)
    with Engine.open(store_url) as engine:
        assert ([], [], []) == (engine.cases(), engine.audit_log(), engine.deadlines(status=None))
        engine.propose(spec_text("fp"), on=date(2022, 6, 3))  # and the next process can register it
        assert engine.verify_audit().ok
