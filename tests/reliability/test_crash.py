"""Crash tests: SIGKILL a process running random commands and ticks, at random moments and at every failpoint.

A zygote process (tests/reliability/crash_driver.py) forks one worker per *life*; the
worker runs random commands (mostly valid ones, chosen from the state it reads, some
refused, some with a stale version) and ticks against one database and reports each
command after it returned. The zygote SIGKILLs it at a random moment, or the worker
kills itself at an armed failpoint (beslut/failpoints.py). After every life the
database is checked (tests/reliability/crash_helpers.py) and the next worker carries
on from it. A database is reused for :data:`LIVES_PER_DATABASE` lives, so the checks,
which read the whole log, stay cheap.

``BESLUT_CRASH_ITERATIONS`` sets the number of lives per store (default 100, so 200 in
CI over SQLite and PostgreSQL); ``BESLUT_CRASH_SEED`` the seed (default 1). The heavy run
reported in docs/reliability.md is ``BESLUT_CRASH_ITERATIONS=1000``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from beslut.persistence import open_store
from beslut.workflow import Engine
from tests.pg_server import ThrowawayPostgres
from tests.reliability.crash_driver import spec_text
from tests.reliability.crash_helpers import FAILPOINTS, REPO, Life, Tally, check_after_kill, zygote
from tests.scheduler.daemon_helpers import (
    DeliveryCounter,
    Progress,
    build_workload,
    daemons,
    wait_until,
    webhook_notifier,
    webhook_receiver,
)

ITERATIONS = int(os.environ.get("BESLUT_CRASH_ITERATIONS", "100"))
SEED = int(os.environ.get("BESLUT_CRASH_SEED", "1"))
LIVES_PER_DATABASE = 34
OPS_PER_LIFE = 40
FAILPOINT_SHARE = 0.5  # half of the lives die at a failpoint, the others at a random moment


def _database(kind: str, tmp_path: Path, server: ThrowawayPostgres | None, n: int) -> tuple[str, str | None]:
    if kind == "sqlite":
        return str(tmp_path / f"crash-{n}.db"), None
    assert server is not None
    name = f"crash_{uuid.uuid4().hex[:10]}_{n}"
    return server.create_database(name), name


def _order(rng: random.Random, life: int) -> dict[str, object]:
    order: dict[str, object] = {"life": life, "seed": SEED, "ops": OPS_PER_LIFE, "failpoint": "", "kill_after": None}
    if rng.random() < FAILPOINT_SHARE:
        order["failpoint"] = f"{FAILPOINTS[life % len(FAILPOINTS)]}:{rng.randint(1, 4)}"
    else:
        order["kill_after"] = round(rng.uniform(0.005, 0.35), 3)
    return order


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_killed_process_leaves_a_whole_database_and_the_next_one_carries_on(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """After every SIGKILL (random or at a failpoint) the log verifies, replays to the tables, and nothing is lost."""
    server: ThrowawayPostgres | None = request.getfixturevalue("postgres_server") if kind == "postgres" else None
    rng = random.Random(f"{SEED}:{kind}")
    tally = Tally()
    life = 0
    while life < ITERATIONS:
        db, pg_name = _database(kind, tmp_path, server, life)
        store = open_store(db)
        try:
            store.create_schema()
            head = 0
            with zygote(db, tmp_path) as driver:
                for _ in range(min(LIVES_PER_DATABASE, ITERATIONS - life)):
                    lived = driver.live(_order(rng, life))
                    tally.add(lived)
                    head = check_after_kill(store, lived, head, tally)
                    life += 1
            if life >= ITERATIONS:  # the auditor's own command agrees, run as the real console script
                verify = subprocess.run(
                    [str(Path(sys.executable).parent / "beslut"), "audit", "verify", "--db", db],
                    capture_output=True, text=True, cwd=REPO, timeout=120, check=False,
                )  # fmt: skip
                assert (verify.returncode, verify.stderr) == (0, ""), verify
                assert f"head seq {head}," in verify.stdout
        finally:
            store.close()
            if server is not None and pg_name is not None:
                server.drop_database(pg_name)
    print(f"\ncrash {kind} seed {SEED}: {tally.summary()}")
    # The run must have exercised what it claims to: kills of both kinds, commits and refusals.
    assert tally.killed_by["parent"] > 0
    assert tally.killed_by["failpoint"] > 0
    assert sum(n for k, n in tally.outcomes.items() if k.endswith(" done") and not k.startswith("tick")) > ITERATIONS
    assert tally.outcomes["decide done"] > 0


@pytest.mark.slow
def test_a_daemon_killed_mid_delivery_repeats_only_the_message_in_flight(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daemon dies between sending a message and recording it; the next one finishes; the rest arrive once.

    The failpoint ``outbox.after_send:7`` kills daemon A right after its 7th message went out,
    before `sent` is recorded: that one message, and only it, arrives twice (the documented
    at-least-once window, which the receiver drops by its ``X-Beslut-Delivery`` key).
    (tests/scheduler/test_daemons.py kills daemons at random moments of the same work.)
    """
    point = "outbox.after_send:7"
    work = build_workload(store_url, 2)
    with webhook_receiver(DeliveryCounter()) as receiver, daemons(tmp_path, store_url) as group:
        monkeypatch.setenv("BESLUT_FAILPOINT", point)
        a = group.start("daemon-a", notifier=webhook_notifier(receiver.url), lease_seconds=1)
        monkeypatch.delenv("BESLUT_FAILPOINT")
        wait_until("daemon A to kill itself at the failpoint", lambda: not a.alive(), timeout=120)
        assert a.process is not None
        assert a.process.returncode == -signal.SIGKILL, (a.process.returncode, a.errors())
        delivered_by_a = receiver.snapshot()
        b = group.start("daemon-b", notifier=webhook_notifier(receiver.url), lease_seconds=1)
        progress = Progress(store_url)
        try:
            wait_until("daemon B to finish the work", progress.settled, timeout=120)
        finally:
            progress.close()
        code, _ = b.stop(signal.SIGTERM)
        assert (code, b.errors()) == (0, "")
    with Engine(open_store(store_url)) as engine:
        rows = engine.outbox()
        report = engine.verify_audit()
    assert report.ok, report
    sent = {r.dedupe_key for r in rows if r.status == "sent"}
    assert {r.status for r in rows} <= {"sent", "skipped"}
    assert len(sent) == work.queued
    deliveries = receiver.snapshot()
    assert set(deliveries) == sent  # every message arrived, and only messages marked sent
    repeated = {key for key, n in deliveries.items() if n > 1}
    assert set(deliveries.values()) <= {1, 2}
    assert sum(delivered_by_a.values()) == 7
    assert len(repeated) == 1  # exactly the message in flight when A died
    assert repeated <= set(delivered_by_a)  # and it is one A had sent


def test_the_checks_catch_a_half_applied_command_and_a_lost_report(store_url: str) -> None:
    """The after-kill checks fail on what they exist to catch (a test of the test, without processes)."""
    with Engine.open(store_url) as engine:
        engine.init()
        result = engine.propose(spec_text("k"), on=date(2022, 6, 3))
    store = open_store(store_url)
    try:
        reported = {"op": "propose", "key": "k", "version": 1, "records": [[1, result.records[0].hash]]}
        whole = Life(order={"life": 0}, answer={"signal": None, "killed_by": None}, lines=[reported])
        assert 1 == check_after_kill(store, whole, 0, Tally())  # the real thing passes
        lost = {"op": "recommend", "key": "k", "version": 2, "records": [[2, "0" * 64]]}
        with pytest.raises(AssertionError, match="reported seq 2 is not in the log"):
            check_after_kill(store, Life(order={"life": 1}, answer=whole.answer, lines=[lost]), 1, Tally())
        url = store_url if "://" in store_url else f"sqlite:///{store_url}"
        raw = create_engine(url)
        with raw.begin() as connection:  # a state change with no event: half a command
            connection.execute(text("UPDATE recommendation SET version = 2, state = 'recommended'"))
        raw.dispose()
        with pytest.raises(AssertionError, match=r"replay differs|events"):
            check_after_kill(store, Life(order={"life": 2}, answer=whole.answer, lines=[]), 1, Tally())
    finally:
        store.close()
