"""The racers of tests/reliability/test_races.py: real processes released at one instant.

``python -m tests.reliability.race_driver`` is a *zygote*: it imports and warms up
`beslut` once, then reads one JSON order per line on stdin. For each order it forks one
process per job; each warms up on the order's database, opens the named pipe ``fifo``
(whose write end the test holds open), marks itself ready and blocks reading the pipe.
When all are ready the zygote prints ``{"ready": true}``; the test closes the write end,
every racer gets end-of-file in the same instant and runs its job; the zygote then
prints ``{"codes": [...]}``, one exit code per job. Forking keeps the racers real
processes (their own connections, their own crash domain) without paying an
interpreter start-up each, which on a busy CI machine takes longer than the race.

Jobs (each a list; stdout and stderr of job *i* go to ``<dir>/<i>.out`` and ``.err``):

- ``["cli", ARGV...]``: ``beslut ARGV --db DB`` through the CLI's entry point, so the
  exit code and the one ``error:`` line are exactly what a user would get;
- ``["write", KEY]``: every party of *KEY* prepares, proposes and decides, then the
  recommendation is consolidated (one transaction per command, as fast as it can);
- ``["seq"]``: polls ``audit_event`` for rows after the last seq seen, a fresh snapshot
  per poll, until ``<dir>/head`` names a seq it has seen; reports every gap (seq N+1
  visible while N is not) as JSON;
- ``["status", CASES]``: reads every recommendation through the engine (``beslut
  status``) until all *CASES* are in force; reports every read that shows a case torn
  between two commits (its version does not count the party steps it shows).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

import beslut.persistence.postgres
import beslut.persistence.sqlite  # noqa: F401
from beslut.cli import main
from beslut.workflow import Engine
from tests.pg_server import psycopg_url
from tests.reliability.crash_driver import warm_up

PARTIES = ["2380", "2309", "2321", "2313", "2361", "2326", "2305", "2303", "region-jh"]
GIVE_UP = 300.0  # seconds: a poller that never sees the end stops and reports what it saw


def cli(db: str, directory: Path, *argv: str) -> int:
    """Run one CLI command; return its exit code."""
    try:
        main([*argv, "--db", db])
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 0 if done.code is None else 1
    return 0


def write(db: str, directory: Path, key: str) -> int:
    """Take every party of *key* through prepare, propose and decide, then consolidate; print the count."""
    commands = 0
    with Engine.open(db, actor="writer") as engine:
        for n, party in enumerate(PARTIES):
            engine.prepare(key, party, case_number=f"KS 2022/{n}", on=date(2022, 6, 10))
            engine.propose_party(key, party, body="SAU", paragraph=f"§ {n}", on=date(2022, 6, 20))
            engine.decide(key, party, outcome="approved", paragraph=f"§ {n + 100}", on=date(2022, 9, 1))
            commands += 3
        engine.consolidate(key, on=date(2023, 1, 9))  # adopted and in force at once: two events in one commit
    print(commands + 1)
    return 0


def seq(db: str, directory: Path) -> int:
    """Poll for new audit rows in autocommit (READ COMMITTED: a new snapshot per poll); report any gap."""
    polls = batches = largest = 0
    gaps: list[list[int]] = []
    last = 0
    head: int | None = None
    started = time.monotonic()
    with psycopg.connect(psycopg_url(db), autocommit=True) as connection:
        while (head is None or last < head) and time.monotonic() - started < GIVE_UP:
            rows = connection.execute("SELECT seq FROM audit_event WHERE seq > %s ORDER BY seq", (last,)).fetchall()
            polls += 1
            if rows:
                batches += 1
                largest = max(largest, len(rows))
                seqs = [row[0] for row in rows]
                if seqs != list(range(last + 1, last + 1 + len(seqs))):
                    gaps.append([last, seqs[0]])  # a reader paging by seq would now skip last+1 for good
                last = seqs[-1]
            if head is None and polls % 20 == 0 and (directory / "head").exists():
                head = int((directory / "head").read_text())
    print(json.dumps({"polls": polls, "batches": batches, "largest": largest, "gaps": gaps, "last": last}))
    return 0


def status(db: str, directory: Path, cases: str) -> int:
    """Read every recommendation in a loop until all are in force; report the torn reads.

    Each writer's command is one transaction, so a read must show each case at one
    version: 2 events for its proposal and recommendation, one per party step taken, and
    2 for the consolidation that put it in force.
    """
    reads = 0
    torn: list[str] = []
    started = time.monotonic()
    with Engine.open(db, actor="reader") as engine:
        while time.monotonic() - started < GIVE_UP:
            seen = engine.cases()
            reads += 1
            for case in seen:
                steps = sum(
                    (p.prepared_on is not None) + (p.proposed_on is not None) + (p.decided_on is not None)
                    for p in case.parties
                )
                expected = 2 + steps + (2 if case.state == "in_force" else 0)
                if case.version != expected and len(torn) < 20:
                    torn.append(f"{case.key}: version {case.version}, state {case.state}, {steps} party steps")
            if len(seen) == int(cases) and all(c.state == "in_force" for c in seen):
                break
    print(json.dumps({"reads": reads, "torn": torn}))
    return 0


JOBS: dict[str, Callable[..., int]] = {"cli": cli, "write": write, "seq": seq, "status": status}


def _racer(order: dict[str, Any], index: int, job: list[str]) -> None:
    """The forked racer: warm up, wait at the barrier, run the job, leave with its exit code."""
    code = 1
    directory = Path(order["dir"])
    try:
        for fd, suffix in ((1, "out"), (2, "err")):
            target = os.open(directory / f"{index}.{suffix}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
            os.close(target)
        with Engine.open(order["db"]) as engine:
            engine.cases()
        barrier = os.open(order["fifo"], os.O_RDONLY)  # does not block: the test holds the write end
        (directory / f"{index}.ready").touch()
        while os.read(barrier, 1):  # end-of-file when the test closes the write end: go
            pass
        code = JOBS[job[0]](order["db"], directory, *job[1:])
    except BaseException as error:
        print(f"racer {index}: {type(error).__name__}: {error}", file=sys.stderr)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    """Read orders; fork the racers of each; say when they are ready and how they ended."""
    warm_up(None)
    print(json.dumps({"started": True}), flush=True)
    for line in sys.stdin:
        order = json.loads(line)
        directory = Path(order["dir"])
        pids = []
        for index, job in enumerate(order["jobs"]):
            pid = os.fork()
            if pid == 0:
                _racer(order, index, job)
            pids.append(pid)
        codes: dict[int, int] = {}
        while not all((directory / f"{i}.ready").exists() for i in range(len(pids))):
            for i, pid in enumerate(pids):
                if i not in codes:
                    done, status_ = os.waitpid(pid, os.WNOHANG)
                    if done:
                        codes[i] = os.waitstatus_to_exitcode(status_)
            if codes:
                break  # a racer died before the barrier: say so, the test fails with its stderr
            time.sleep(0.005)
        print(json.dumps({"ready": not codes}), flush=True)
        for i, pid in enumerate(pids):
            if i not in codes:
                codes[i] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        print(json.dumps({"codes": [codes[i] for i in range(len(pids))]}), flush=True)


if __name__ == "__main__":
    serve()
