"""Races: real processes fire conflicting commands at one recommendation in the same instant.

Each racer (tests/reliability/race_driver.py) is a separate Python process that warms up,
waits at a barrier (a named pipe whose write end the test closes once all are ready) and
then runs one `beslut` command through the CLI's entry point. What must hold, on SQLite
and on PostgreSQL:

- never both applied: the outcome is one a serial order of the commands would give
  (with ``--expect-version`` exactly one racer wins and every other gets exit 3);
- every loser exits 2 (a refusal) or 3 (a stale version) with one ``error:`` line,
  never a traceback or exit 1;
- the audit log verifies (``seq`` gap-free, the chain unbroken, every event legal) and
  replays to exactly the live tables.

The PostgreSQL-only test at the end checks that audit ``seq`` becomes visible in commit
order while eight writer processes append: a reader polling the log never sees seq N+1
before seq N.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from beslut.audit.service import verify_store
from beslut.persistence import open_store
from beslut.states.audit_chain import AuditRecord
from beslut.workflow import Engine
from tests.reliability.crash_driver import spec_text
from tests.reliability.crash_helpers import replay_differences

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
KEY = "race"
PARTIES = ["2380", "2309", "2321", "2313", "2361", "2326", "2305", "2303", "region-jh"]
RECOMMENDED = date(2022, 6, 3)
START_WITHIN = 120.0  # seconds for the racers to import and warm up on a busy machine


@dataclass(frozen=True)
class Outcome:
    """How one racer ended."""

    argv: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    @property
    def name(self) -> str:
        return " ".join(self.argv[:2]) if self.argv[0] == "party" else self.argv[0]


class Racers:
    """The race_driver zygote: forks the racers of each race from one warmed-up interpreter."""

    def __init__(self, directory: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("BESLUT_DB", "BESLUT_FAILPOINT", "BESLUT_ACTOR")}
        self.stderr = (directory / "race_driver.err").open("wb")
        self.directory = directory
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.race_driver"], cwd=REPO, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
        )  # fmt: skip
        assert self._answer()["started"]

    def _answer(self) -> dict[str, object]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError(f"race_driver died: {(self.directory / 'race_driver.err').read_text()[-3000:]}")
        answer: dict[str, object] = json.loads(line)
        return answer

    def run(
        self, db: str, directory: Path, jobs: Sequence[Sequence[str]], *, after_release: Callable[[], None] | None = None
    ) -> list[Outcome]:
        """Fork one racer per job, release them together, and return how each ended."""
        directory.mkdir()
        fifo = directory / "barrier"
        os.mkfifo(fifo)
        hold = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # the write end: racers' opens do not block, reads do
        assert self.process.stdin is not None
        try:
            order = {"db": db, "dir": str(directory), "fifo": str(fifo), "jobs": [list(j) for j in jobs]}
            self.process.stdin.write(json.dumps(order) + "\n")
            self.process.stdin.flush()
            ready = self._answer()["ready"]
        finally:
            os.close(hold)  # the barrier opens (and nobody is left blocked should a racer have failed)
        if after_release is not None:
            after_release()
        codes = self._answer()["codes"]
        assert isinstance(codes, list)
        outcomes = [
            Outcome(
                argv=tuple(job[1:]) if job[0] == "cli" else tuple(job),
                code=code,
                stdout=(directory / f"{i}.out").read_text(encoding="utf-8"),
                stderr=(directory / f"{i}.err").read_text(encoding="utf-8"),
            )
            for i, (job, code) in enumerate(zip(jobs, codes, strict=True))
        ]
        assert ready, f"a racer died before the barrier: {outcomes}"
        return outcomes

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.stderr.close()


@pytest.fixture(scope="module")
def racers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Racers]:
    """One race_driver for the module."""
    zygote = Racers(tmp_path_factory.mktemp("racers"))
    try:
        yield zygote
    finally:
        zygote.close()


def race(racers: Racers, db: str, tmp_path: Path, commands: Sequence[Sequence[str]]) -> list[Outcome]:
    """Race the CLI *commands* against *db*."""
    directory = tmp_path / f"race-{len(list(tmp_path.iterdir()))}"
    return racers.run(db, directory, [["cli", *argv] for argv in commands])


@contextmanager
def api(db: str) -> Iterator[Engine]:
    """The Python API, for the set-up only: the race itself goes through the CLI."""
    engine = Engine.open(db, actor="setup")
    try:
        yield engine
    finally:
        engine.close()


def recommended(db: str, *, decided: Sequence[str] = ()) -> int:
    """Create the recommendation, send it out, let *decided* approve; return its version."""
    with api(db) as engine:
        engine.init()
        engine.propose(spec_text(KEY), on=RECOMMENDED)
        result = engine.recommend(KEY, on=RECOMMENDED)
        for party in decided:
            result = engine.decide(KEY, party, outcome="approved", paragraph="§ 1", on=date(2022, 9, 1))
        return result.version


def events(db: str) -> list[AuditRecord]:
    with api(db) as engine:
        return engine.audit_log()


def check_log(db: str) -> None:
    """The log verifies (seq gap-free, chain, legal transitions) and replays to the live tables."""
    store = open_store(db)
    try:
        report = verify_store(store)
        assert report.ok, (report.first_bad_seq, report.problem)
        assert [r.seq for r in events(db)] == list(range(1, report.head_seq + 1))
        assert replay_differences(store) == []
    finally:
        store.close()


def check_losers(outcomes: Sequence[Outcome], *, codes: set[int]) -> list[Outcome]:
    """Every racer that did not win exits with one of *codes* and one clear line; returns the winners."""
    for o in outcomes:
        if o.code != 0:
            assert o.code in codes, o
            assert o.stderr.startswith("error: "), o
            assert len(o.stderr.splitlines()) == 1, o
            assert "Traceback" not in o.stderr, o
            assert o.stdout == "", o
    return [o for o in outcomes if o.code == 0]


def decide(party: str, outcome: str, paragraph: int, *extra: str) -> list[str]:
    return ["party", "decide", KEY, party, "--outcome", outcome, "--paragraph", f"§ {paragraph}",
            "--on", "2022-09-20", *extra]  # fmt: skip


def test_two_decisions_for_one_party_exactly_one_is_recorded(racers: Racers, store_url: str, tmp_path: Path) -> None:
    """Four processes record a decision of the same party at once: one wins, the rest are refused (exit 2)."""
    recommended(store_url)
    outcomes = race(
        racers, store_url,
        tmp_path,
        [decide("2380", "approved", 1), decide("2380", "rejected", 2), decide("2380", "approved", 3),
         decide("2380", "approved", 4)],
    )  # fmt: skip
    winners = check_losers(outcomes, codes={2})
    assert len(winners) == 1, outcomes
    decided = [r for r in events(store_url) if r.kind == "party.decided"]
    assert len(decided) == 1
    assert json.loads(decided[0].payload)["paragraph"] == winners[0].argv[7]
    assert all("already" in o.stderr for o in outcomes if o.code == 2), outcomes
    check_log(store_url)


def test_consolidate_against_a_late_decision_with_expected_versions_exactly_one_wins(
    racers: Racers, store_url: str, tmp_path: Path
) -> None:
    """Consolidations and the last party's late decision, all at one version: one wins, the others exit 3."""
    version = recommended(store_url, decided=PARTIES[:-1])
    expect = ["--expect-version", str(version)]
    consolidate = ["consolidate", KEY, "--on", "2022-10-05", *expect]
    outcomes = race(
        racers, store_url, tmp_path,
        [consolidate, consolidate, decide("region-jh", "approved", 7, *expect),
         decide("region-jh", "rejected", 8, *expect)],
    )  # fmt: skip
    winners = check_losers(outcomes, codes={3})
    assert len(winners) == 1, outcomes
    kinds = [r.kind for r in events(store_url)][len(PARTIES) + 1 :]
    assert kinds in (["recommendation.consolidated"], ["party.decided"]), kinds
    check_log(store_url)


def test_consolidate_against_a_late_decision_without_versions_is_serialisable(racers: Racers, store_url: str, tmp_path: Path) -> None:
    """Without versions both may succeed, but only in an order: a decision either counts or is refused."""
    recommended(store_url, decided=PARTIES[:-1])
    consolidate = ["consolidate", KEY, "--on", "2022-10-05"]
    outcomes = race(
        racers, store_url, tmp_path,
        [consolidate, consolidate, decide("region-jh", "approved", 7), decide("region-jh", "approved", 8)],
    )  # fmt: skip
    winners = check_losers(outcomes, codes={2})
    assert [o.name for o in winners].count("consolidate") == 1, outcomes
    assert [o.name for o in winners].count("party decide") <= 1, outcomes
    log = events(store_url)
    consolidated = next(r for r in log if r.kind == "recommendation.consolidated")
    counted = json.loads(consolidated.payload)
    late = [r for r in log if r.kind == "party.decided" and json.loads(r.payload)["party"] == "region-jh"]
    if late:  # the decision came first and was counted
        assert late[0].seq < consolidated.seq
        assert "region-jh" in counted["approved"]
    else:  # the consolidation came first; the decisions were refused: the recommendation is no longer open
        assert "region-jh" in counted["not_answered"]
        assert all("consolidated" in o.stderr for o in outcomes if o.name == "party decide"), outcomes
    check_log(store_url)


def test_withdraw_against_decide_with_expected_versions_exactly_one_wins(racers: Racers, store_url: str, tmp_path: Path) -> None:
    """Withdrawals and decisions at one version: exactly one is applied, the others exit 3."""
    version = recommended(store_url, decided=["2309"])
    expect = ["--expect-version", str(version)]
    withdraw = ["withdraw", KEY, "--on", "2022-09-20", "--reason", "race", *expect]
    outcomes = race(
        racers, store_url, tmp_path, [withdraw, withdraw, decide("2380", "approved", 5, *expect), decide("2321", "rejected", 6, *expect)]
    )
    winners = check_losers(outcomes, codes={3})
    assert len(winners) == 1, outcomes
    after = events(store_url)[3:]
    assert [r.kind for r in after] in (["recommendation.withdrawn"], ["party.decided"]), after
    check_log(store_url)


def test_two_recommends_exactly_one_sends_it(racers: Racers, store_url: str, tmp_path: Path) -> None:
    """Four processes recommend one proposed recommendation: one wins, the others are refused (exit 2)."""
    with api(store_url) as engine:
        engine.init()
        engine.propose(spec_text(KEY), on=RECOMMENDED)
    recommend = ["recommend", KEY, "--on", "2022-06-03"]
    outcomes = race(racers, store_url, tmp_path, [recommend] * 4)
    winners = check_losers(outcomes, codes={2})
    assert len(winners) == 1, outcomes
    assert [r.kind for r in events(store_url)] == ["recommendation.proposed", "recommendation.recommended"]
    check_log(store_url)


@pytest.mark.postgres
def test_readers_never_see_an_audit_seq_before_the_ones_below_it_nor_a_torn_case(
    racers: Racers, postgres_url: str, tmp_path: Path
) -> None:
    """Eight writer processes append while readers poll: a gap-free prefix of the log, each case at one commit.

    A gap seen and later filled (seq N+1 visible before N) would make a reader that pages by
    seq skip N for good; eventsourcing prevents it with a table lock, beslut with an advisory
    lock taken before the head is read and held to commit (beslut/persistence/postgres.py).
    A case read in two statements under READ COMMITTED could show its parties one commit
    ahead of its version: the bug this test found (every read is one snapshot now).
    """
    keys = [f"seq-{n}" for n in range(8)]
    with api(postgres_url) as engine:
        engine.init()
        for key in keys:
            engine.propose(spec_text(key), on=RECOMMENDED)
            engine.recommend(key, on=RECOMMENDED)
        before = len(engine.audit_log())
    directory = tmp_path / "seq"
    jobs = [["seq"], ["status", str(len(keys))], *(["write", key] for key in keys)]

    def announce_head() -> None:  # the pollers stop once they have seen the head the writers left
        (directory / "head").write_text(str(before + 29 * len(keys)))

    outcomes = racers.run(postgres_url, directory, jobs, after_release=announce_head)
    assert [o.code for o in outcomes] == [0] * len(jobs), outcomes
    commands = sum(int(o.stdout) for o in outcomes[2:])
    head = len(events(postgres_url))
    seen = json.loads(outcomes[0].stdout)
    statuses = json.loads(outcomes[1].stdout)
    print(f"\nseq order: {commands} commands by 8 writers, {head - before} events; reader {seen}; status {statuses}")
    assert head - before == commands + len(keys)  # one event per command, two for each consolidation
    assert seen["gaps"] == [], seen
    assert seen["last"] == head
    assert seen["batches"] > 20, seen  # the reader really watched the log grow, batch by batch
    assert statuses["torn"] == [], statuses  # every read showed each case at one commit
    assert statuses["reads"] > 5, statuses
    check_log(postgres_url)


def test_two_proposals_of_one_key_exactly_one_is_registered(racers: Racers, store_url: str, tmp_path: Path) -> None:
    """Four processes propose the same new key: one registers it, the others are refused (exit 2)."""
    with api(store_url) as engine:
        engine.init()
    spec = tmp_path / "race.toml"
    spec.write_text(spec_text(KEY), encoding="utf-8")
    outcomes = race(racers, store_url, tmp_path, [["propose", str(spec), "--on", "2022-06-03"]] * 4)
    winners = check_losers(outcomes, codes={2})
    assert len(winners) == 1, outcomes
    assert all("already exists" in o.stderr for o in outcomes if o.code == 2), outcomes
    assert [r.kind for r in events(store_url)] == ["recommendation.proposed"]
    check_log(store_url)


def test_ticks_against_a_decision_on_the_reply_date_fire_each_timer_once(
    racers: Racers, store_url: str, tmp_path: Path
) -> None:
    """Two ticks just after the reply date race two decisions of one party made on it: each timer fires once."""
    recommended(store_url)
    tick = ["tick", "--now", "2022-10-01T00:30:00+02:00"]
    outcomes = race(racers, store_url, tmp_path, [tick, tick, decide("2380", "approved", 1, "--on", "2022-09-30"),
                                                  decide("2380", "approved", 2, "--on", "2022-09-30")])  # fmt: skip
    winners = check_losers(outcomes, codes={2})
    assert [o.name for o in winners].count("tick") == 2, outcomes
    assert [o.name for o in winners].count("party decide") == 1, outcomes
    log = events(store_url)
    overdue = [json.loads(r.payload)["party"] for r in log if r.kind == "party.overdue"]
    decided = [r for r in log if r.kind == "party.decided"]
    assert sorted(overdue) == sorted(p for p in PARTIES if p != "2380") or sorted(overdue) == sorted(PARTIES)
    assert len(decided) == 1
    if "2380" in overdue:  # the tick came first: the decision is late, after the overdue mark
        assert next(r.seq for r in log if r.kind == "party.overdue" and '"2380"' in r.payload) < decided[0].seq
    with api(store_url) as engine:
        fired = [d for d in engine.deadlines(status=None) if d.status == "done"]
        outbox = engine.outbox()
    assert len({d.identity for d in fired}) == len(fired)  # no timer fired twice
    keys = [(m.recommendation, m.party, m.kind, m.due_at, m.contact_id) for m in outbox]
    assert len(set(keys)) == len(keys)
    check_log(store_url)
