"""Real `beslut scheduler run` processes signing checkpoints on a one-second schedule, on SQLite and PostgreSQL.

- Two daemons share one database and one checkpoint directory while their ticks fire timers and
  recommendations are proposed in the test process: every file verifies with `beslut audit verify
  --checkpoint FILE --pubkey PUB` (exit 0), the last one covers the final head, and each file was
  written by exactly one daemon (the other one logged ``checkpoint_exists`` or never tried).
- An attacker changes the log behind the daemon: the job refuses to sign, says so in the log at error
  level with the first bad seq, keeps running (and keeps refusing), and `audit verify` with the last
  good checkpoint exits 4.

Daemons are subprocesses of ``.venv/bin/beslut`` (tests/scheduler/daemon_helpers.py), killed in a
``finally``; every wait is bounded.
"""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from beslut.audit import checkpoint as cp
from beslut.audit import keys
from beslut.persistence import open_store
from beslut.workflow import Engine
from tests.audit.attacker import Attacker
from tests.cli.helpers import run
from tests.scheduler.daemon_helpers import (
    RECOMMENDED_ON,
    Daemon,
    Daemons,
    Progress,
    build_workload,
    daemons,
    spec_text,
    wait_until,
)

SETTLE_WITHIN = 60.0


def write_config(directory: Path, name: str, private: Path, out: Path, *, full_verify_hours: float = 24) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(
        "[scheduler]\n"
        "tick_seconds = 0.2\n"
        "lease_seconds = 2\n"
        f'daemon_id = "{name}"\n'
        'digest_cron = ""\n\n'
        "[scheduler.checkpoint]\n"
        "every = 1\n"
        f'key = "{private}"\n'
        f'out = "{out}"\n'
        f"full_verify_hours = {full_verify_hours}\n\n"
        '[notifier]\nkind = "log"\n',
        encoding="utf-8",
    )
    return path


def start(group: Daemons, name: str, private: Path, out: Path, *, full_verify_hours: float = 24) -> Daemon:
    config = write_config(group.directory, name, private, out, full_verify_hours=full_verify_hours)
    daemon = Daemon(name=name, db=group.db, config=config, directory=group.directory)
    group.started.append(daemon)
    return daemon.start()


def head(url: str) -> int:
    with Engine(open_store(url, read_only=True)) as engine:
        return len(engine.audit_log())


def newest(out: Path) -> cp.Checkpoint | None:
    files = sorted(out.glob("checkpoint-*.json"))
    return cp.load(files[-1]) if files else None


def signed(out: Path) -> int:
    """The seq the newest checkpoint in *out* covers (0: none yet)."""
    found = newest(out)
    return found.tree_size if found is not None else 0


def reached(out: Path, seq: int) -> Callable[[], bool]:
    """A predicate: the newest checkpoint in *out* covers *seq*."""
    return lambda: signed(out) >= seq


def covers_head(url: str, out: Path) -> bool:
    return signed(out) == head(url)


def named(daemon: Daemon, event: str) -> list[dict[str, Any]]:
    return [e for e in daemon.events() if e.get("event") == event]


@pytest.fixture
def key_pair(tmp_path: Path) -> tuple[Path, Path]:
    private, public = tmp_path / "cp.pem", tmp_path / "cp.pub"
    keys.generate(private, public)
    return private, public


def test_two_daemons_sign_checkpoints_while_commands_run(
    store_url: str, tmp_path: Path, key_pair: tuple[Path, Path]
) -> None:
    private, public = key_pair
    out = tmp_path / "checkpoints"
    out.mkdir()
    build_workload(store_url, 2)
    progress = Progress(store_url)
    try:
        with daemons(tmp_path, store_url) as group:
            first = start(group, "daemon-a", private, out)
            second = start(group, "daemon-b", private, out)
            first.wait_started()
            second.wait_started()
            with Engine(open_store(store_url), actor="clerk") as engine:
                for index in range(3):  # commands while the daemons run: more events, more timers
                    key = f"late-{index}"
                    engine.propose(spec_text(key), on=RECOMMENDED_ON)
                    engine.recommend(key, on=RECOMMENDED_ON)
                    wait_until("a checkpoint of the command's events", reached(out, head(store_url)), timeout=30)
            wait_until("the timers to fire and the outbox to drain", progress.settled, timeout=SETTLE_WITHIN)
            wait_until("a checkpoint of the final head", lambda: covers_head(store_url, out), timeout=SETTLE_WITHIN)
            for daemon in (first, second):
                code, _ = daemon.stop(signal.SIGTERM)
                assert (code, daemon.errors()) == (0, "")
                assert daemon.non_json_lines() == []
                assert named(daemon, "checkpoint_refused") == []
                assert named(daemon, "checkpoint_failed") == []
    finally:
        progress.close()
    files = sorted(out.iterdir())
    assert all(path.name.startswith("checkpoint-") for path in files)  # no temporary file left
    assert len(files) >= 3
    for path in files:
        result = run("audit", "verify", "--checkpoint", str(path), "--pubkey", str(public), db=store_url)
        assert result.code == 0, result
    sizes = [cp.load(path).tree_size for path in files]
    assert sizes == sorted(set(sizes))
    assert sizes[-1] == head(store_url)
    writers = Counter(Path(e["file"]).name for d in (first, second) for e in named(d, "checkpoint_written"))
    assert sorted(writers) == [path.name for path in files]
    assert set(writers.values()) == {1}  # each seq's file written once, by one daemon
    modes = {e["mode"] for d in (first, second) for e in named(d, "checkpoint_written")}
    assert "incremental" in modes


@pytest.mark.parametrize(
    ("attack", "full_verify_hours"),
    [("a middle row", 0), ("the signed head", 24)],
    ids=["middle-row-full-every-run", "head-row-incremental"],
)
def test_a_tampered_log_is_not_signed_and_the_daemon_keeps_running(
    store_url: str, tmp_path: Path, key_pair: tuple[Path, Path], attack: str, full_verify_hours: float
) -> None:
    private, public = key_pair
    out = tmp_path / "checkpoints"
    out.mkdir()
    build_workload(store_url, 1)
    progress = Progress(store_url)
    try:
        with daemons(tmp_path, store_url) as group:
            daemon = start(group, "daemon-a", private, out, full_verify_hours=full_verify_hours)
            daemon.wait_started()
            wait_until("the timers to fire and the outbox to drain", progress.settled, timeout=SETTLE_WITHIN)
            wait_until("a checkpoint of the head", lambda: covers_head(store_url, out), timeout=SETTLE_WITHIN)
            good = sorted(out.iterdir())
            size = cp.load(good[-1]).tree_size
            target = size // 2 if attack == "a middle row" else size
            attacker = Attacker(store_url)
            try:
                attacker.drop_triggers()
                attacker.set(target, "payload", attacker.row(target)["payload"].replace('"actor":"', '"actor":"x'))
            finally:
                attacker.close()
            wait_until("two refusals", lambda: len(named(daemon, "checkpoint_refused")) >= 2, timeout=30)
            with Engine(open_store(store_url), actor="clerk") as engine:  # new events on top of the tampered log
                engine.propose(spec_text("after-the-attack"), on=RECOMMENDED_ON)
            wait_until("a refusal of the new head", lambda: len(named(daemon, "checkpoint_refused")) >= 3, timeout=30)
            assert daemon.alive()
            code, _ = daemon.stop(signal.SIGTERM)
            assert (code, daemon.errors()) == (0, "")
    finally:
        progress.close()
    refusals = named(daemon, "checkpoint_refused")
    assert {(r["level"], r["first_bad_seq"], r["last_good"]) for r in refusals} == {("error", target, str(good[-1]))}
    assert f"refusing to sign: audit log broken at seq {target}" in refusals[0]["message"]
    assert sorted(out.iterdir()) == good  # nothing signed after the attack
    result = run("audit", "verify", "--checkpoint", str(good[-1]), "--pubkey", str(public), db=store_url)
    assert result.code == 4, result
    assert result.stderr.startswith(f"error: audit log broken at seq {target}")
