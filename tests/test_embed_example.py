"""examples/embed.py, the documented embedding example, runs as a real process and does what it says.

It is run with the project's interpreter on a fresh database (an SQLite file in a temporary
directory, and a PostgreSQL database), from another working directory; then the database
is opened independently to check what the example claims: the commands it made were
written, the refused ones were not, and the actor id is in the audit events.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from beslut import Engine
from tests.conftest import KEY

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "embed.py"


def run_example(database: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "BESLUT_DB"}
    return subprocess.run(
        [sys.executable, str(EXAMPLE), database],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_example_runs_and_leaves_what_it_prints(store_url: str, tmp_path: Path) -> None:
    """Exit 0; two refusals caught with their CLI exit codes; the database holds exactly the three accepted commands."""
    result = run_example(store_url, tmp_path)

    assert 0 == result.returncode, result.stderr
    lines = result.stdout.splitlines()
    assert f"proposed {KEY}: state proposed, version 1" == lines[0]
    assert "recommended: state recommended, version 2" == lines[1]
    assert "2380 decided: decided, version 3" == lines[2]
    assert lines[3].startswith("refused (the CLI would exit 3): recommendation 'svom-2022-mini-maria' is at version 3")
    assert lines[4].startswith(
        "refused (the CLI would exit 2): party decision 2309 of svom-2022-mini-maria is 'pending'"
    )
    assert "status: recommended, version 3" == lines[5]
    assert any(line.split() == ["2380", "decided", "1236026", "SEK"] for line in lines)
    assert lines[-1].startswith("audit: ok, 3 events, head ")

    with Engine.open(store_url) as engine:
        case = engine.case(KEY)
        assert 3 == case.version
        assert "decided" == case.party("2380").state
        assert "pending" == case.party("2309").state  # the refused decision wrote nothing
        records = engine.audit_log()
        assert ["recommendation.proposed", "recommendation.recommended", "party.decided"] == [r.kind for r in records]
        assert {"service:registry-sync"} == {json.loads(r.payload)["actor"] for r in records}
        assert engine.verify_audit().ok


def test_without_an_argument_it_uses_a_scratch_file(tmp_path: Path) -> None:
    """No database given: it still runs, on a file of its own in a temporary directory, not in the working directory."""
    env = {key: value for key, value in os.environ.items() if key != "BESLUT_DB"}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert 0 == result.returncode, result.stderr
    assert result.stdout.splitlines()[-1].startswith("audit: ok, 3 events")
    assert [] == list(tmp_path.iterdir())
