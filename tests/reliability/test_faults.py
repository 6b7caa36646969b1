"""Faults below the engine: PostgreSQL stopped under a running daemon, SQLite locked by another process,
a full disk. Real processes and real databases throughout.

- PostgreSQL (a server of this test's own, stopped and started on the same port): the daemon logs
  ``tick_failed`` with a growing ``retry_in``, keeps running, and once the server is back delivers
  every due reminder exactly once (a webhook receiver counts deliveries by their idempotency key).
- SQLite "database is locked": a writer that waits less than the busy timeout succeeds (SQLite's
  busy handler retries); one that waits longer gets one ``error:`` line, exit 3, no traceback.
- Disk full (``RLIMIT_FSIZE`` in the child, SIGXFSZ ignored so writes fail with EFBIG): the command
  fails with one ``error:`` line, and the database stays intact: ``integrity_check`` ok, the audit
  chain verifies, replay equals the live tables, and every command that succeeded is there.
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from beslut.persistence.retry import Backoff
from beslut.workflow import Engine
from tests.cli.helpers import KEY, SPEC_2022, dump, run_script
from tests.pg_server import ThrowawayPostgres
from tests.scheduler.daemon_helpers import (
    DeliveryCounter,
    build_workload,
    daemons,
    wait_until,
    webhook_notifier,
    webhook_receiver,
)

# -------------------------------------------------------------------- the backoff policy


class TestBackoff:
    def test_doubles_up_to_the_cap_and_resets_on_success(self) -> None:
        """1, 2, 4, 8 … seconds, never more than the cap; a success makes the next attempt immediate."""
        backoff = Backoff(initial=1, factor=2, cap=5)
        assert [1, 2, 4, 5, 5] == [backoff.failed(100.0) for _ in range(5)]
        assert not backoff.ready(104.9)
        assert backoff.ready(105.0)
        assert 5 == backoff.succeeded()
        assert backoff.ready(0.0)
        assert 1 == backoff.failed(200.0)


# -------------------------------------------------------------------- PostgreSQL stopped under a daemon


def _pg_stop(server: ThrowawayPostgres) -> None:
    """Stop the server but keep its data directory (a restart, not a loss)."""
    result = server._run("pg_ctl", "-D", str(server.data_dir), "-m", "fast", "-w", "stop", timeout=60)
    assert 0 == result.returncode, result.stderr


def _pg_start(server: ThrowawayPostgres) -> None:
    """Start it again on the same port, so the daemon's URL is right again."""
    options = (
        f"-c listen_addresses=127.0.0.1 -p {server.port} -k {server.socket_dir} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50 -c timezone=UTC"
    )
    result = server._run(
        "pg_ctl", "-D", str(server.data_dir), "-l", str(server.log_file), "-w", "-t", "60", "-o", options, "start",
        timeout=90,
    )  # fmt: skip
    assert 0 == result.returncode, result.stderr


@pytest.fixture
def own_postgres() -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL server for this test alone: stopping it must not disturb any other test."""
    server = ThrowawayPostgres()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.postgres
def test_daemon_rides_out_a_postgres_restart(own_postgres: ThrowawayPostgres, tmp_path: Path) -> None:
    """Stopped under a running daemon: it logs, backs off, carries on; afterwards each reminder goes out once."""
    url = own_postgres.create_database("faults")
    with Engine.open(url) as api:
        api.init()
    counter = DeliveryCounter(hold_after=3 * 9 * 2 + 5)  # phase 1 delivers 54 messages; hold the 6th of phase 2
    with webhook_receiver(counter), daemons(tmp_path, url) as group:
        daemon = group.start("d1", notifier=webhook_notifier(counter.url), tick_seconds=0.3, lease_seconds=5)
        daemon.wait_started()
        _pg_stop(own_postgres)
        down_since = time.monotonic()
        wait_until("two failed ticks", lambda: sum(e.get("event") == "tick_failed" for e in daemon.events()) >= 2,
                   timeout=60)  # fmt: skip
        time.sleep(3)  # stay down a while: the backoff spaces the attempts out
        assert daemon.alive(), daemon.errors()
        failures = [e for e in daemon.events() if e.get("event") == "tick_failed"]
        down_for = time.monotonic() - down_since
        # Backing off: far fewer attempts than ticks (one every 0.3 s), and the waits grow.
        assert len(failures) < down_for / 0.3 / 2, (len(failures), down_for)
        waits = [e["retry_in"] for e in failures]
        assert waits == sorted(waits), waits
        assert waits[-1] > waits[0], waits
        _pg_start(own_postgres)
        # Work that falls due while the daemon was cut off (proposed once the server is back).
        workload = build_workload(url, 3)
        wait_until("the daemon to recover", lambda: daemon.has_event("tick_recovered"), timeout=60)
        wait_until("every reminder delivered", lambda: _all_sent(url), timeout=90)
        time.sleep(1)  # a duplicate would arrive now
        assert daemon.alive(), daemon.errors()
        deliveries = counter.snapshot()
        assert workload.queued == len(deliveries), "a due reminder was not delivered"
        assert {1} == set(deliveries.values()), "some reminder was delivered more than once"
        with Engine.open(url) as api:
            sent = [o for o in api.outbox() if o.status == "sent"]
            assert len(sent) == len(deliveries)
            assert api.verify_audit().ok

        # Phase 2: the server stops while the daemon is in the middle of a delivery run. The receiver
        # holds the 6th request of the run, the server is stopped, the request is answered (the
        # daemon cannot record it as sent), and the server comes back.
        second = build_workload(url, 3, prefix="second")
        wait_until("a delivery held in flight", counter.held.is_set, timeout=60)
        _pg_stop(own_postgres)
        counter.release()
        wait_until("a failed tick after the stop", lambda: _count(daemon, "tick_failed") > len(failures), timeout=60)
        time.sleep(2)
        _pg_start(own_postgres)
        wait_until("every reminder of the second run delivered", lambda: _all_sent(url), timeout=120)
        time.sleep(1)
        assert daemon.alive(), daemon.errors()
        deliveries = counter.snapshot()
        assert workload.queued + second.queued == len(deliveries), "a due reminder was lost"
        repeated = {key: n for key, n in deliveries.items() if n > 1}
        # Only the message in flight when the database went away may arrive twice (same key, so the
        # receiver can drop it): the at-least-once window of docs/reliability.md.
        assert repeated in ({}, {counter.held_key: 2}), repeated
        with Engine.open(url) as api:
            assert workload.queued + second.queued == sum(o.status == "sent" for o in api.outbox())
            assert api.verify_audit().ok
        code, _ = daemon.stop()
        assert 0 == code
    assert "Traceback" not in daemon.errors()


def _count(daemon: Any, event: str) -> int:
    return sum(e.get("event") == event for e in daemon.events())


def _all_sent(url: str) -> bool:
    with Engine.open(url) as api:
        statuses = {o.status for o in api.outbox()}
        due = [d for d in api.deadlines(status="pending") if d.due_at.year < 2026]
    return bool(statuses) and statuses <= {"sent", "skipped"} and not due


# -------------------------------------------------------------------- SQLite locked by another process

HOLDER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")  # the write lock, held as a stuck writer would
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("ROLLBACK")
"""


@contextlib.contextmanager
def _lock_held(db: str, seconds: float) -> Iterator[subprocess.Popen[str]]:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, db, str(seconds)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert "locked" == holder.stdout.readline().strip()
        yield holder
    finally:
        holder.kill()
        holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()


@pytest.fixture
def recommended_sqlite(tmp_path: Path) -> str:
    db = str(tmp_path / "locked.db")
    with Engine.open(db) as api:
        api.init()
        api.propose(SPEC_2022.read_text(encoding="utf-8"), on=date(2022, 6, 3))
        api.recommend(KEY, on=date(2022, 6, 3))
    return db


def _decide(db: str, party: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = [str(Path(sys.executable).parent / "beslut"), "party", "decide", KEY, party, "--outcome", "approved",
            "--paragraph", "§ 1", "--on", "2022-09-01", "--db", db]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env={**os.environ, **(env or {})},
                          timeout=120, check=False)  # fmt: skip


class TestSQLiteLocked:
    def test_a_short_lock_is_waited_out(self, recommended_sqlite: str, tmp_path: Path) -> None:
        """Another process holds the write lock for 2 s: the command waits (busy handler) and succeeds."""
        with _lock_held(recommended_sqlite, 2.0):
            started = time.monotonic()
            done = _decide(recommended_sqlite, "2380", tmp_path, {"BESLUT_SQLITE_BUSY_TIMEOUT_MS": "20000"})
            waited = time.monotonic() - started
        assert 0 == done.returncode, done.stderr
        assert waited >= 1.0, "the command did not wait for the lock"
        with Engine.open(recommended_sqlite) as api:
            assert "decided" == api.case(KEY).party("2380").state

    def test_a_lock_held_too_long_is_one_clear_line(self, recommended_sqlite: str, tmp_path: Path) -> None:
        """The lock outlasts the busy timeout: exit 3, one `error:` line saying the database is busy, no change."""
        before = dump(recommended_sqlite)
        with _lock_held(recommended_sqlite, 30.0):
            done = _decide(recommended_sqlite, "2380", tmp_path, {"BESLUT_SQLITE_BUSY_TIMEOUT_MS": "1500"})
        assert 3 == done.returncode, done
        assert 1 == len(done.stderr.splitlines()), done.stderr
        assert done.stderr.startswith("error: ")
        assert "busy" in done.stderr or "locked" in done.stderr
        assert "Traceback" not in done.stderr
        assert before == dump(recommended_sqlite)


# -------------------------------------------------------------------- disk full


def _limit_file_size(limit: int) -> None:  # runs in the child between fork and exec
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write beyond the limit fails with EFBIG instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.parametrize("headroom", [0, 6_000, 40_000], ids=["at-once", "a-page-later", "mid-run"])
def test_disk_full_is_a_clear_error_and_the_database_stays_intact(
    recommended_sqlite: str, tmp_path: Path, headroom: int
) -> None:
    """Decisions until the file-size limit is hit: one clear error line, then integrity, chain and replay hold."""
    db = recommended_sqlite
    with sqlite3.connect(db) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    limit = headroom or 4096  # the WAL starts empty: 4 KiB cannot take one transaction's pages
    script = str(Path(sys.executable).parent / "beslut")
    done: list[str] = []
    failure: subprocess.CompletedProcess[str] | None = None
    for party in ["2380", "2309", "2321", "2313", "2361", "2326", "2305", "2303", "region-jh"]:
        wal = Path(db + "-wal")
        cap = limit + (wal.stat().st_size if wal.exists() else 0)  # room for *headroom* more bytes of log
        result = subprocess.run(
            [script, "party", "decide", KEY, party, "--outcome", "approved", "--paragraph", "§ 1",
             "--on", "2022-09-01", "--db", db],
            capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False,
            preexec_fn=functools.partial(_limit_file_size, cap),
        )  # fmt: skip
        if result.returncode != 0:
            failure = result
            break
        done.append(party)
    assert failure is not None, f"the file-size limit never bit ({len(done)} decisions went through)"
    assert 1 == len(failure.stderr.splitlines()), failure.stderr
    assert failure.stderr.startswith("error: "), failure.stderr
    assert "Traceback" not in failure.stderr
    assert any(word in failure.stderr for word in ("full", "I/O", "too large")), failure.stderr
    # Intact: SQLite's own check, the audit chain, replay, and every decision that was reported done.
    with sqlite3.connect(db) as connection:
        assert [("ok",)] == connection.execute("PRAGMA integrity_check").fetchall()
    with Engine.open(db) as api:
        assert api.verify_audit().ok
        case = api.case(KEY)
        assert case == api.replay(KEY)
        assert done == [p.key for p in case.parties if p.state == "decided"]
        api.decide(KEY, "region-jh" if "region-jh" not in done else "2303", outcome="approved", paragraph="§ 2",
                   on=date(2022, 9, 2))  # fmt: skip  # and it takes writes again once there is room
        assert api.verify_audit().ok


def test_real_process_reports_disk_full_in_one_line_via_cli(recommended_sqlite: str, tmp_path: Path) -> None:
    """`beslut tick` under a 4 KiB file-size limit: one `error:` line, non-zero exit, the database unchanged."""
    with sqlite3.connect(recommended_sqlite) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = dump(recommended_sqlite)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "beslut"), "tick", "--now", "2022-10-01T00:00", "--db", recommended_sqlite],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False,
        preexec_fn=lambda: _limit_file_size(4096),
    )  # fmt: skip
    assert result.returncode != 0
    assert 1 == len(result.stderr.splitlines()), result.stderr
    assert result.stderr.startswith("error: ")
    assert before == dump(recommended_sqlite)
    assert run_script("audit", "verify", db=recommended_sqlite, cwd=tmp_path).code == 0
