"""The child side of the crash test: a process that runs random commands and ticks until it is killed.

Run as ``python -m tests.reliability.crash_driver DB_URL`` from the repository root. The
process is a *zygote*: it imports everything once, then reads one JSON order per line
on stdin and, for each, forks a worker that runs the order's random commands against
the database, while the zygote kills it with ``SIGKILL`` at a random moment (or the
worker kills itself at the armed failpoint, :mod:`beslut.failpoints`). The zygote then
answers one JSON line on stdout: how the worker ended. Forking keeps a kill cheap (no
interpreter start-up per kill), so CI affords hundreds of them.

An order: ``{"life": 7, "seed": 1, "ops": 40, "kill_after": 0.15, "failpoint": "uow.before_commit:2",
"out": "/tmp/…/life-7.jsonl"}`` (``kill_after`` null: no random kill).

The worker appends one JSON line to ``out`` after each command returned (so after its
commit): what it did, the case version it left, and the ``[seq, hash]`` of every audit
record it appended. A command refused by the domain is reported as ``refused`` (it must
have written nothing). The parent checks that every reported record is in the database.

Reproducible: the worker's choices come from ``random.Random(f"{seed}:{life}")``; which
command is in flight when the kill lands depends on timing, and so does the database
the next worker starts from, so a failure is reported with the seed, life and order.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from beslut import failpoints
from beslut.clock import STOCKHOLM
from beslut.errors import ConcurrencyConflict, Refusal
from beslut.states.audit_chain import AuditRecord
from beslut.states.case import DECIDED, Case
from beslut.workflow import Engine
from beslut.workflow.engine import CommandResult

SPEC_2022 = Path(__file__).resolve().parents[2] / "examples" / "mini-maria-2022.toml"
WORKER = "crash-driver"  # one worker name for every life: a new life re-claims what a killed one had leased
MAX_CASES = 5
_KEY_LINE = re.compile(r'^key = "[^"]*"', re.MULTILINE)


def spec_text(key: str) -> str:
    """The 2022 Mini-Maria spec under another key."""
    return _KEY_LINE.sub(f'key = "{key}"', SPEC_2022.read_text(encoding="utf-8"), count=1)


class Worker:
    """Runs one order's random commands and reports each one that returned."""

    def __init__(self, engine: Engine, rng: random.Random, out: int, life: int) -> None:
        self.engine = engine
        self.rng = rng
        self.out = out
        self.life = life
        self.today = datetime.now(STOCKHOLM).date()

    def report(self, line: dict[str, Any]) -> None:
        """One line, written with one write(2): it is in the file the moment the call returns."""
        os.write(self.out, (json.dumps(line, separators=(",", ":")) + "\n").encode())

    def run(self, ops: int) -> None:
        """Run *ops* random commands."""
        for n in range(ops):
            self.step(n)

    def step(self, n: int) -> None:
        """Choose a command from the current state, run it, report it."""
        cases = self.engine.cases()
        live = [c for c in cases if c.state in ("proposed", "recommended", "consolidated", "in_force")]
        if not cases or (len(cases) < MAX_CASES and (not live or self.rng.random() < 0.03)):
            key = f"crash-{self.life}-{n}"
            on = date(2022, 6, 3) + timedelta(days=self.rng.randint(0, 30))
            self._run("propose", key, None, lambda: self.engine.propose(spec_text(key), on=on))
            return
        if self.rng.random() < 0.15:
            self._tick(cases)
            return
        case = self.rng.choice(live or cases)
        on = self._next_date(case)
        expected = case.version - 1 if self.rng.random() < 0.04 else None  # now and then a stale version
        name, call = self._choose(case, on, expected)
        self._run(name, case.key, expected, call)

    def _choose(self, case: Case, on: date, expected: int | None) -> tuple[str, Callable[[], CommandResult]]:
        e, key, rng = self.engine, case.key, self.rng
        if case.state == "proposed":
            if rng.random() < 0.9:
                return "recommend", lambda: e.recommend(key, on=on, expected_version=expected)
            return "withdraw", lambda: e.withdraw(key, on=on, reason="crash test", expected_version=expected)
        roll = rng.random()
        if case.state == "recommended" and roll < 0.08:
            return "consolidate", lambda: e.consolidate(key, on=on, expected_version=expected)
        if case.state == "recommended" and roll < 0.09:
            return "withdraw", lambda: e.withdraw(key, on=on, reason="crash test", expected_version=expected)
        party = rng.choice(case.parties)
        p = party.key
        if party.state in ("pending", "preparing", "proposed"):
            pick = rng.random()
            if party.state == "pending" and pick < 0.3:
                return "prepare", lambda: e.prepare(key, p, case_number=f"KS {on.year}/{rng.randint(1, 999)}", on=on)
            if pick < 0.5:
                return "propose_party", lambda: e.propose_party(
                    key, p, body="SAU", paragraph=f"§ {rng.randint(1, 200)}", on=on, expected_version=expected
                )
            outcome = rng.choice(["approved", "approved", "approved", "rejected"])
            return "decide", lambda: e.decide(
                key, p, outcome=outcome, paragraph=f"§ {rng.randint(1, 200)}", on=on, expected_version=expected
            )
        if party.state == "decided" and rng.random() < 0.7:
            return "announce", lambda: e.announce(key, p, on=on, expected_version=expected)
        if party.state == "appealed":
            result = rng.choice(["dismissed", "annulled"])
            return "settle", lambda: e.settle(key, p, result=result, on=on, expected_version=expected)
        if party.state in ("announced", "final") and rng.random() < 0.3:
            return "appeal", lambda: e.appeal(key, p, on=on, expected_version=expected)
        if party.state in DECIDED:
            return "report", lambda: e.report(key, p, on=on, expected_version=expected)
        return "consolidate", lambda: e.consolidate(key, on=on, expected_version=expected)

    def _next_date(self, case: Case) -> date:
        """A legal date a little after the case's latest one, never after today."""
        last = max(
            [case.proposed_on]
            + [d for d in (case.recommended_on, case.consolidated_on, case.in_force_since) if d is not None]
            + [
                d
                for party in case.parties
                for d in (party.prepared_on, party.proposed_on, party.decided_on, party.announced_on)
                if d is not None
            ]
        )
        return min(self.today, last + timedelta(days=self.rng.randint(0, 25)))

    def _run(self, name: str, key: str, expected: int | None, call: Callable[[], CommandResult]) -> None:
        try:
            result = call()
        except ConcurrencyConflict as error:
            self.report({"op": name, "key": key, "conflict": str(error)[:80], "expected": expected})
            return
        except Refusal as error:
            self.report({"op": name, "key": key, "refused": str(error)[:80]})
            return
        self.report({"op": name, "key": key, "version": result.version, "records": _pairs(result.records)})

    def _tick(self, cases: list[Case]) -> None:
        """Tick at an instant some weeks after a case's latest date, one timer per call (so one per report)."""
        case = self.rng.choice(cases)
        day = min(self.today, self._next_date(case) + timedelta(days=self.rng.randint(0, 60)))
        now = datetime.combine(day, clock_time(1, 0), tzinfo=STOCKHOLM)
        for _ in range(self.rng.randint(1, 12)):
            fired = self.engine.tick(now, worker=WORKER, limit=1)
            if not fired:
                self.report({"op": "tick", "at": now.isoformat(), "fired": None})
                return
            f = fired[0]
            self.report(
                {
                    "op": "tick",
                    "at": now.isoformat(),
                    "fired": [f.deadline.id, f.deadline.kind, f.status],
                    "key": f.deadline.recommendation,
                    "records": _pairs(f.records),
                }
            )


def _pairs(records: tuple[AuditRecord, ...]) -> list[list[Any]]:
    return [[r.seq, r.hash] for r in records]


def _work(db: str, order: dict[str, Any]) -> None:
    """The forked worker: arm the failpoint, run the commands, leave without cleaning up."""
    failpoints.arm(order.get("failpoint") or "")
    rng = random.Random(f"{order['seed']}:{order['life']}")
    out = os.open(order["out"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    engine = Engine.open(db, actor="crash")
    Worker(engine, rng, out, order["life"]).run(order["ops"])
    engine.close()
    os.write(out, b'{"op":"done"}\n')


def warm_up(db: str | None) -> None:
    """Do once, in the zygote, what every worker would otherwise pay for after its fork.

    The first command of a process imports the adapter, parses a spec, builds the
    machines and the holiday calendar: seconds on a busy machine, which would leave a
    worker killed at a random moment mostly killed before it did anything. A throwaway
    SQLite file takes the writes; the real database is only connected to and closed.
    """
    with tempfile.TemporaryDirectory() as scratch, Engine.open(Path(scratch) / "warm.db", actor="warm") as engine:
        engine.init()
        engine.propose(spec_text("warm"), on=date(2022, 6, 3))
        engine.recommend("warm", on=date(2022, 6, 3))
        engine.decide("warm", "2380", outcome="approved", paragraph="§ 1", on=date(2022, 6, 10))
        engine.announce("warm", "2380", on=date(2022, 6, 20))
        engine.tick(datetime(2023, 1, 2, tzinfo=STOCKHOLM), worker="warm")
        engine.consolidate("warm", on=date(2023, 1, 2))
        engine.replay("warm")
    if db is not None:
        with Engine.open(db, actor="warm") as engine:
            engine.cases()


def serve(db: str) -> None:
    """Read orders, fork a worker for each, kill it when told, answer how it ended."""
    warm_up(db)
    sys.stdout.write('{"ready": true}\n')
    sys.stdout.flush()
    for line in sys.stdin:
        order = json.loads(line)
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _work(db, order)
            except BaseException as error:
                os.write(2, f"worker {order['life']}: {type(error).__name__}: {error}\n".encode())
                code = 1
            os._exit(code)
        killed_by_parent = False
        kill_after = order.get("kill_after")
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if kill_after is not None and not killed_by_parent and time.monotonic() - started >= kill_after:
                os.kill(pid, signal.SIGKILL)  # still our unreaped child: the pid cannot have been reused
                killed_by_parent = True
            time.sleep(0.002)
        signalled = os.WIFSIGNALED(status)
        answer = {
            "life": order["life"],
            "pid": pid,
            "seconds": round(time.monotonic() - started, 4),
            "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if signalled else None,
            "killed_by": ("parent" if killed_by_parent else "failpoint") if signalled else None,
        }
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve(sys.argv[1])
