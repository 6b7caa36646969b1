"""The parent side of the crash test: start the zygote, give it orders, and check the database after each kill.

:class:`Zygote` runs ``python -m tests.reliability.crash_driver DB`` (see that module) and
hands it one order per child life. :func:`check_after_kill` is everything that must hold
however and wherever a child died:

- the audit log verifies as the auditor's ``audit verify`` does (hash chain, ``seq`` and
  ``stream_seq`` gap-free, every event a legal transition its command would record);
- replaying the log gives exactly the live ``recommendation`` and ``party_decision`` rows;
- no command is half-applied: each case's version is the number of events in its stream,
  its pending deadline rows are the ones its state calls for (so the deadline sync of
  the last command is there if and only if its events are), and no two timers or
  outbox rows repeat;
- every command the child reported is there (its records, byte for byte, at their seq), and
  what the child did not report is at most one transaction at the very end of its life:
  nothing at all when it died before COMMIT or ran to the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from beslut.audit.service import replay_store, verify_store
from beslut.persistence import Store, open_store
from beslut.states.deadlines import SERIES_KINDS, deadlines_for

REPO = Path(__file__).resolve().parents[2]
# Points a worker can die at before its transaction commits: then it must have left nothing unreported.
BEFORE_COMMIT = ("engine.after_save_case", "engine.after_append_events", "engine.after_sync_deadlines",
                 "uow.before_commit")  # fmt: skip
AFTER_COMMIT = ("uow.after_commit", "engine.tick_after_claim", "engine.tick_after_fire")
FAILPOINTS = (*BEFORE_COMMIT, *AFTER_COMMIT)


@dataclass
class Life:
    """One worker's life: the order it got, how it ended, and what it reported."""

    order: dict[str, Any]
    answer: dict[str, Any]
    lines: list[dict[str, Any]]

    @property
    def killed(self) -> bool:
        return self.answer["signal"] is not None

    @property
    def reported_records(self) -> list[tuple[int, str]]:
        return [(seq, digest) for line in self.lines for seq, digest in line.get("records", [])]


@dataclass
class Tally:
    """What a run did, for the report: lives, kills by whom, commands by outcome."""

    lives: int = 0
    killed_by: Counter[str] = field(default_factory=Counter)
    failpoint_kills: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    unreported_tails: int = 0
    events: int = 0

    def add(self, life: Life) -> None:
        self.lives += 1
        self.killed_by[life.answer["killed_by"] or "ran to the end"] += 1
        if life.answer["killed_by"] == "failpoint":
            self.failpoint_kills[life.order["failpoint"].split(":")[0]] += 1
        for line in life.lines:
            outcome = "refused" if "refused" in line else "conflict" if "conflict" in line else "done"
            self.outcomes[f"{line['op']} {outcome}"] += 1

    def summary(self) -> str:
        ok = sum(n for k, n in self.outcomes.items() if k.endswith(" done") and not k.startswith("tick"))
        ticks = sum(n for k, n in self.outcomes.items() if k.startswith("tick"))
        refused = sum(n for k, n in self.outcomes.items() if not k.endswith(" done"))
        return (
            f"{self.lives} lives, kills {dict(self.killed_by)}, failpoints {dict(self.failpoint_kills)}, "
            f"{ok} commands committed, {ticks} tick calls, {refused} refused or stale, "
            f"{self.unreported_tails} kills left an unreported committed transaction, {self.events} audit events"
        )


class Zygote:
    """The ``crash_driver`` process for one database; each order forks one worker in it."""

    def __init__(self, db: str, directory: Path) -> None:
        self.db = db
        self.directory = directory
        env = {k: v for k, v in os.environ.items() if k not in ("BESLUT_FAILPOINT", "BESLUT_DB")}
        self.stderr = (directory / "zygote.err").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.crash_driver", db],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=env,
            text=True,
        )
        assert self.process.stdout is not None
        ready = self.process.stdout.readline()
        if not ready:
            raise AssertionError(f"the crash driver did not start: {(directory / 'zygote.err').read_text()[-3000:]}")

    def live(self, order: dict[str, Any]) -> Life:
        """Run one worker life to its end (a kill or the last command) and read what it reported."""
        out = self.directory / f"life-{order['life']}.jsonl"
        order = {**order, "out": str(out)}
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps(order) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError(f"the crash driver died: {(self.directory / 'zygote.err').read_text()[-3000:]}")
        answer = json.loads(line)
        text = out.read_text(encoding="utf-8") if out.exists() else ""
        assert text == "" or text.endswith("\n"), f"a torn report line: {text[-200:]!r}"
        lines = [json.loads(x) for x in text.splitlines()]
        if answer["exit"] not in (None, 0):
            raise AssertionError(f"worker crashed on its own: {(self.directory / 'zygote.err').read_text()[-3000:]}")
        return Life(order=order, answer=answer, lines=[x for x in lines if x["op"] != "done"])

    def close(self) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.stderr.close()


@contextlib.contextmanager
def zygote(db: str, directory: Path) -> Iterator[Zygote]:
    """A crash driver for *db* that is always stopped."""
    z = Zygote(db, directory)
    try:
        yield z
    finally:
        z.close()


def replay_differences(store: Store) -> list[str]:
    """Where replaying the whole log differs from the live tables (the auditor's `audit replay --check`)."""
    replayed = replay_store(store, check=True)
    try:
        return [str(d) for d in replayed.differences or []]
    finally:
        close = getattr(replayed, "close", None)  # a result that spools to a temporary file is closed
        if close is not None:
            close()


def audit_head(store: Store) -> int:
    """The highest seq in the log (0 when empty)."""
    with store.reader() as reader:
        return max((r.seq for r in reader.audit_records()), default=0)


def check_after_kill(store: Store, life: Life, head_before: int, tally: Tally) -> int:
    """Everything in the module docstring; returns the new audit head."""
    where = f"life {life.order} ended {life.answer}"
    report = verify_store(store)
    assert report.ok, f"{where}: audit verify: seq {report.first_bad_seq}: {report.problem}"
    differences = replay_differences(store)
    assert differences == [], f"{where}: replay differs: {differences}"

    with store.reader() as reader:
        records = {r.seq: r for r in reader.audit_records()}
        cases = reader.list_cases()
        deadlines = reader.deadlines()
        outbox = reader.outbox()
    head = max(records, default=0)
    assert report.head_seq == head

    # Every reported record is there, unchanged; the rest of this life's records are one transaction at the end.
    reported = life.reported_records
    for seq, digest in reported:
        assert seq in records, f"{where}: reported seq {seq} is not in the log"
        assert records[seq].hash == digest, f"{where}: seq {seq} is not the record reported"
    assert all(head_before < seq <= head for seq, _ in reported), where
    mine = set(range(head_before + 1, head + 1))
    unreported = sorted(mine - {seq for seq, _ in reported})
    if unreported:
        tally.unreported_tails += 1
        assert life.killed, f"{where}: a worker that ran to the end left unreported events {unreported}"
        assert min(unreported) > max((s for s, _ in reported), default=0), f"{where}: unreported {unreported}"
        assert len({records[s].recorded_at for s in unreported}) == 1, f"{where}: more than one transaction"
        assert not (life.answer["killed_by"] == "failpoint" and life.order["failpoint"].startswith(BEFORE_COMMIT)), (
            f"{where}: died before COMMIT, yet its events {unreported} are in the log"
        )
    for line in life.lines:
        if "version" in line:
            case = next(c for c in cases if c.key == line["key"])
            assert case.version >= line["version"], f"{where}: {line} but the case is at version {case.version}"

    # No command half-applied: versions count the stream's events, deadline rows match the state.
    streams = Counter(r.stream for r in records.values())
    for case in cases:
        assert case.version == streams[case.key], f"{where}: {case.key} v{case.version}, {streams[case.key]} events"
        rows = [d for d in deadlines if d.recommendation == case.key]
        pending = {d.identity for d in rows if d.status == "pending" and d.kind not in SERIES_KINDS}
        present = {d.identity for d in rows if d.status != "cancelled"}
        wanted = deadlines_for(case)
        one_offs = {d.identity for d in wanted if d.kind not in SERIES_KINDS}
        assert pending <= one_offs, f"{where}: {case.key} has pending timers it no longer wants: {pending - one_offs}"
        missing = {d.identity for d in wanted if d.kind not in SERIES_KINDS} - present
        assert not missing, f"{where}: {case.key} lacks the timers {missing}"
        wanted_series = {d.series for d in wanted if d.series is not None}
        for d in rows:
            if d.status == "pending" and d.kind in SERIES_KINDS:
                assert d.series in wanted_series, f"{where}: {case.key} keeps a series it no longer wants: {d}"
    timers = Counter((d.identity, d.status) for d in deadlines if d.status != "cancelled")
    assert [k for k, n in timers.items() if n > 1] == [], where
    messages = Counter((m.recommendation, m.party, m.kind, m.due_at, m.contact_id) for m in outbox)
    assert [k for k, n in messages.items() if n > 1] == [], where
    tally.events += head - head_before
    return head


def open_checked(db: str) -> Store:
    """A store on *db* for the checks (the parent never writes through it)."""
    return open_store(db)
