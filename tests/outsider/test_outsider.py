"""An outsider checks a database the CLI made, with a verifier written from the docs alone (verifier.py).

The database, checkpoint and proofs are made by the real `beslut` console script in subprocesses; the
verifier reads the SQLite file with sqlite3. It must accept them, and must refuse a log changed behind
the triggers' back, a checkpoint of another key and a proof with a changed audit path. Nothing in this
folder imports beslut (a test below reads the imports), so the docs are all the verifier knows.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.outsider.verifier import (
    Event,
    Invalid,
    event_hash,
    load_public_key,
    read_log,
    verify_chain,
    verify_checkpoint,
    verify_proof,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCRIPT = Path(sys.executable).parent / "beslut"
COLUMNS = "seq, stream, stream_seq, recorded_at, valid_on, kind, payload, prev_hash, hash"


def beslut(*args: str, cwd: Path) -> str:
    """Run the real console script (this checkout's code) and return its stdout."""
    env = {k: v for k, v in os.environ.items() if k not in ("BESLUT_DB", "BESLUT_ACTOR")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300, check=False
    )
    assert 0 == done.returncode, f"beslut {' '.join(args)}: {done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's database, a key pair, a checkpoint of the whole log, and proofs of three events."""
    where = tmp_path_factory.mktemp("outsider")
    beslut("demo", "--db", "demo.db", cwd=where)
    beslut("audit", "keygen", "--out-private", "key.pem", "--out-public", "key.pub", cwd=where)
    beslut("audit", "checkpoint", "--key", "key.pem", "--out", "checkpoint.json", "--db", "demo.db", cwd=where)
    for seq in ("1", "5", "97"):
        beslut("audit", "prove", seq, "--checkpoint", "checkpoint.json", "--out", f"proof-{seq}.json",
               "--db", "demo.db", cwd=where)  # fmt: skip
    return where


def test_the_outsider_accepts_the_chain_the_checkpoint_and_the_proofs(made: Path) -> None:
    events = read_log(made / "demo.db")
    assert 97 == len(events)
    assert any(e.recorded_at.endswith("+00:00") for e in events)  # SQLite's UTC text, not the hashed form
    verify_chain(events)
    key = load_public_key((made / "key.pub").read_bytes())
    verify_checkpoint(events, json.loads((made / "checkpoint.json").read_text()), key)
    proven = [verify_proof(json.loads((made / f"proof-{seq}.json").read_text()), key) for seq in (1, 5, 97)]
    assert [1, 5, 97] == proven


def test_the_outsider_refuses_a_changed_log(made: Path, tmp_path: Path) -> None:
    """A payload changed behind the triggers' back, then re-hashed from there on: the chain holds, the checkpoint not."""
    copy = tmp_path / "changed.db"
    shutil.copy(made / "demo.db", copy)
    connection = sqlite3.connect(copy)
    triggers = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")]
    for name in triggers:
        connection.execute(f'DROP TRIGGER "{name}"')
    payload = connection.execute("SELECT payload FROM audit_event WHERE seq = 5").fetchone()[0]
    connection.execute("UPDATE audit_event SET payload = ? WHERE seq = 5", (payload.replace("approved", "rejected"),))
    connection.commit()
    connection.close()
    with pytest.raises(Invalid, match="seq 5: hash does not match"):
        verify_chain(read_log(copy))

    connection = sqlite3.connect(copy)
    previous = connection.execute("SELECT hash FROM audit_event WHERE seq = 4").fetchone()[0]
    for (seq,) in connection.execute("SELECT seq FROM audit_event WHERE seq >= 5 ORDER BY seq").fetchall():
        connection.execute("UPDATE audit_event SET prev_hash = ? WHERE seq = ?", (previous, seq))
        [event] = [
            Event(*row) for row in connection.execute(f"SELECT {COLUMNS} FROM audit_event WHERE seq = ?", (seq,))
        ]
        previous = event_hash(event)
        connection.execute("UPDATE audit_event SET hash = ? WHERE seq = ?", (previous, seq))
    connection.commit()
    connection.close()
    events = read_log(copy)
    verify_chain(events)  # a thorough forger: the chain alone no longer tells
    key = load_public_key((made / "key.pub").read_bytes())
    with pytest.raises(Invalid, match="head_hash are not"):
        verify_checkpoint(events, json.loads((made / "checkpoint.json").read_text()), key)


def test_the_outsider_refuses_another_key_and_a_changed_path(made: Path, tmp_path: Path) -> None:
    events = read_log(made / "demo.db")
    checkpoint = json.loads((made / "checkpoint.json").read_text())
    beslut("audit", "keygen", "--out-private", "other.pem", "--out-public", "other.pub", cwd=tmp_path)
    other = load_public_key((tmp_path / "other.pub").read_bytes())
    with pytest.raises(Invalid, match="another key"):
        verify_checkpoint(events, checkpoint, other)
    key = load_public_key((made / "key.pub").read_bytes())
    checkpoint["created_at"] = "2020-01-01T00:00:00+01:00"
    with pytest.raises(Invalid, match="signature does not verify"):
        verify_checkpoint(events, checkpoint, key)
    proof = json.loads((made / "proof-5.json").read_text())
    proof["audit_path"][2] = "00" * 32
    with pytest.raises(Invalid, match="seq 5: the audit path"):
        verify_proof(proof, key)
    proof = json.loads((made / "proof-5.json").read_text())
    proof["event"]["recorded_at"] = events[4].recorded_at.replace("+00:00", "+01:00")  # the stored text, misread
    with pytest.raises(Invalid, match="seq 5: the event shown"):
        verify_proof(proof, key)


def test_nothing_here_imports_beslut() -> None:
    """The verifier knows the docs only: no module in tests/outsider imports beslut, or a test helper that does."""
    for path in sorted(HERE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] != "beslut", f"{path.name} imports {name}"
                if name.startswith("tests"):
                    assert name.startswith("tests.outsider"), f"{path.name} imports {name}"
