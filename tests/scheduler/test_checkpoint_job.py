"""The daemon's checkpoint job in-process, on a real SQLite file and a real PostgreSQL server.

What must hold: each file it writes is a checkpoint `audit verify --checkpoint` accepts; the
incremental path signs exactly what a full verification would (same root, subtrees and head);
nothing is signed when the head has not moved, when the log is broken (new events tampered,
the tail truncated, seq 1 rewritten) or when the directory holds another database's
checkpoints; an unwritable directory is a logged failure, not a crash; two jobs on one
directory write each seq's file once. Real-process daemons are in test_checkpoint_daemons.py.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import stat
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from bench.bench_audit import build_log
from beslut.audit import checkpoint as cp
from beslut.audit import keys
from beslut.audit.extend import Broken, extend, full
from beslut.audit.merkle import TreeBuilder
from beslut.clock import STOCKHOLM, FixedClock
from beslut.persistence import Store, open_store
from beslut.scheduler.checkpoints import CheckpointJob, CheckpointSettings, file_name, write_exclusive
from beslut.workflow.audit_log import read_log
from tests.audit.attacker import Attacker
from tests.audit.conftest import build
from tests.cli.helpers import ok, refused, run

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=STOCKHOLM)


@pytest.fixture
def key_pair(tmp_path: Path) -> tuple[Path, Path]:
    private, public = tmp_path / "cp.pem", tmp_path / "cp.pub"
    keys.generate(private, public)
    return private, public


@pytest.fixture
def out(tmp_path: Path) -> Path:
    directory = tmp_path / "checkpoints"
    directory.mkdir()
    return directory


@pytest.fixture
def log_url(store_url: str) -> str:
    """A log of a few hundred events in a handful of interleaved recommendations."""
    return build(store_url, 240, group=4)


@pytest.fixture
def store(log_url: str) -> Iterator[Store]:
    opened = open_store(log_url)
    try:
        yield opened
    finally:
        opened.close()


def make_job(store: Store, private: Path, out: Path, *, name: str = "daemon-a", hours: float = 24) -> CheckpointJob:
    settings = CheckpointSettings(key=private, out=out, every_seconds=60, full_verify_hours=hours)
    return CheckpointJob(store, settings, clock=FixedClock(NOW), daemon_id=name)


def grow(store: Store, events: int) -> None:
    """Append *events* more events (new recommendations, interleaved) through the store itself."""
    build_log(store, events, group=3)


def head(store: Store) -> int:
    with store.reader() as reader:
        return sum(1 for _ in read_log(reader))


def verify_cli(db: str, checkpoint: Path, public: Path) -> int:
    return run("audit", "verify", "--checkpoint", str(checkpoint), "--pubkey", str(public), db=db).code


def events_named(logs: Sequence[Mapping[str, Any]], name: str) -> list[Mapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


def test_first_run_is_full_then_incremental_and_each_file_verifies(
    log_url: str, store: Store, key_pair: tuple[Path, Path], out: Path
) -> None:
    private, public = key_pair
    job = make_job(store, private, out)
    with capture_logs() as logs:
        first = job.run()
        unchanged = job.run()
        grow(store, 100)
        second = job.run()
    assert first is not None
    assert second is not None
    assert unchanged is None
    assert [e["mode"] for e in events_named(logs, "checkpoint_written")] == ["full", "incremental"]
    assert len(events_named(logs, "checkpoint_unchanged")) == 1
    first_cp, second_cp = cp.load(first), cp.load(second)
    assert first.name == file_name(first_cp.tree_size)
    assert second_cp.tree_size == head(store) > first_cp.tree_size
    assert sorted(p.name for p in out.iterdir()) == [first.name, second.name]  # no temporary file left
    assert stat.S_IMODE(second.stat().st_mode) == 0o644
    for path in (first, second):
        assert verify_cli(log_url, path, public) == 0
    written = events_named(logs, "checkpoint_written")[1]
    assert written["checked"] == second_cp.tree_size - first_cp.tree_size
    assert written["streams"] >= 3  # the new recommendations were replayed through the machines


def test_the_incremental_checkpoint_signs_what_a_full_verification_signs(
    store: Store, key_pair: tuple[Path, Path]
) -> None:
    private_key = keys.load_private(key_pair[0])
    start = full(store, private_key, None, now=NOW).checkpoint
    assert start is not None
    grow(store, 90)
    incremental = extend(store, private_key, start, now=NOW)
    whole = full(store, private_key, start, now=NOW)
    assert incremental is not None
    assert incremental.checkpoint is not None
    assert whole.checkpoint is not None
    assert incremental.checkpoint.as_dict() == whole.checkpoint.as_dict()
    assert incremental.mode == "incremental"
    assert incremental.checked == whole.checkpoint.tree_size - start.tree_size
    assert extend(store, private_key, start, now=NOW, max_streams=1) is None  # too many streams: go full


def test_a_resumed_tree_has_the_same_root_at_every_size() -> None:
    leaves = [bytes([i]) * 32 for i in range(70)]
    for size in range(1, 70):
        whole = TreeBuilder()
        for leaf in leaves[:size]:
            whole.append_hash(leaf)
        resumed = TreeBuilder.resume(size, [digest for _, _, digest in whole.frontier()])
        for leaf in leaves[size:]:
            resumed.append_hash(leaf)
            whole.append_hash(leaf)
        assert resumed.root() == whole.root()
        assert resumed.frontier() == whole.frontier()
    with pytest.raises(ValueError, match="perfect subtrees"):
        TreeBuilder.resume(7, [leaves[0]])


def test_the_revision_and_its_supersession_are_replayed_across_streams(
    tmp_path: Path, key_pair: tuple[Path, Path]
) -> None:
    """The demo's 2025 revision supersedes 2022: checking the new events needs the other stream too."""
    db = str(tmp_path / "demo.db")
    ok("demo", db=db)
    store = open_store(db)
    try:
        with store.reader() as reader:
            records = [row.record for row in read_log(reader)]
        proposal = next(r.seq for r in records if r.kind == "recommendation.proposed" and r.seq > 1)
        prefix = TreeBuilder()
        for record in records[: proposal - 1]:
            prefix.append_leaf(bytes.fromhex(record.hash))
        private_key = keys.load_private(key_pair[0])
        before = cp.sign(
            private_key=private_key,
            log_id=records[0].hash,
            tree_size=proposal - 1,
            head_hash=records[proposal - 2].hash,
            subtrees=[digest for _, _, digest in prefix.frontier()],
            created_at=NOW,
        )
        result = extend(store, private_key, before, now=NOW)
        assert result is not None
        assert result.checkpoint is not None
        assert result.streams == 2
        assert {r.kind for r in records[proposal - 1 :]} >= {"recommendation.proposed", "recommendation.superseded"}
        assert result.checkpoint.as_dict() == full(store, private_key, before, now=NOW).checkpoint.as_dict()  # type: ignore[union-attr]
    finally:
        store.close()


def test_tampered_new_events_are_refused_and_the_last_good_checkpoint_fails_to_verify(
    log_url: str, store: Store, key_pair: tuple[Path, Path], out: Path
) -> None:
    private, public = key_pair
    job = make_job(store, private, out)
    good = job.run()
    assert good is not None
    grow(store, 60)
    size = cp.load(good).tree_size
    attacker = Attacker(log_url)
    try:
        attacker.drop_triggers()
        attacker.set(size + 5, "valid_on", "2022-01-01")
    finally:
        attacker.close()
    with capture_logs() as logs:
        assert job.run() is None
    (refusal,) = events_named(logs, "checkpoint_refused")
    assert refusal["log_level"] == "error"
    assert refusal["first_bad_seq"] == size + 5
    assert refusal["last_good"] == str(good)
    assert sorted(out.iterdir()) == [good]
    assert verify_cli(log_url, good, public) == 4


def test_an_old_row_changed_is_caught_by_the_full_verification(
    log_url: str, store: Store, key_pair: tuple[Path, Path], out: Path
) -> None:
    """The incremental path trusts the signed past; the full verification (first run, every N hours) does not."""
    private, _ = key_pair
    assert make_job(store, private, out).run() is not None
    grow(store, 30)
    attacker = Attacker(log_url)
    try:
        attacker.drop_triggers()
        attacker.set(7, "kind", "party.decided")
    finally:
        attacker.close()
    with capture_logs() as logs:
        assert make_job(store, private, out, hours=0).run() is None  # a fresh daemon: its first run is full
    (refusal,) = events_named(logs, "checkpoint_refused")
    assert refusal["first_bad_seq"] == 7
    assert len(list(out.iterdir())) == 1


@pytest.mark.parametrize("attack", ["truncate", "rewrite from seq 1", "change the head"])
def test_a_log_that_no_longer_extends_the_last_checkpoint_is_refused(
    log_url: str, store: Store, key_pair: tuple[Path, Path], out: Path, attack: str
) -> None:
    """Both paths refuse: a fresh job (full verification against the last file) and one past its first run."""
    private, public = key_pair
    job = make_job(store, private, out)
    good = job.run()
    assert good is not None
    size = cp.load(good).tree_size
    attacker = Attacker(log_url)
    try:
        attacker.drop_triggers()
        if attack == "truncate":
            attacker.sql("DELETE FROM audit_event WHERE seq >= :seq", {"seq": size - 3})
            expected = (size - 3, size)  # full names the first removed seq; incremental, the signed head missing
        elif attack == "rewrite from seq 1":  # a consistent chain again: only a checkpoint shows it
            attacker.set(1, "payload", attacker.row(1)["payload"].replace('"actor":"', '"actor":"x'))
            attacker.rehash_from(1)
            expected = (1, 1)
        else:
            attacker.set(size, "payload", attacker.row(size)["payload"].replace('"actor":"', '"actor":"x'))
            expected = (size, size)
    finally:
        attacker.close()
    with capture_logs() as logs:
        assert make_job(store, private, out).run() is None
        assert job.run() is None
    refusals = events_named(logs, "checkpoint_refused")
    assert (refusals[0]["first_bad_seq"], refusals[1]["first_bad_seq"]) == expected
    assert sorted(out.iterdir()) == [good]
    assert verify_cli(log_url, good, public) == 4


def test_files_not_signed_by_this_key_are_passed_over(
    store: Store, key_pair: tuple[Path, Path], out: Path, tmp_path: Path
) -> None:
    private, _ = key_pair
    other_private, other_public = tmp_path / "other.pem", tmp_path / "other.pub"
    keys.generate(other_private, other_public)
    foreign = make_job(store, other_private, out).run()
    assert foreign is not None
    grow(store, 9)
    (out / file_name(999_999)).write_text("{not json", encoding="utf-8")
    with capture_logs() as logs:
        mine = make_job(store, private, out).run()
    assert mine is not None
    ignored = {Path(e["file"]).name for e in events_named(logs, "checkpoint_ignored")}
    assert ignored == {foreign.name, file_name(999_999)}
    assert events_named(logs, "checkpoint_written")[0]["mode"] == "full"


def test_an_unwritable_directory_is_logged_and_the_next_run_succeeds(
    store: Store, key_pair: tuple[Path, Path], out: Path
) -> None:
    job = make_job(store, key_pair[0], out)
    out.rmdir()
    out.write_text("not a directory any more", encoding="utf-8")  # (permissions would not stop root)
    with capture_logs() as logs:
        assert job.run() is None
        out.unlink()
        out.mkdir()
        written = job.run()
    (failure,) = events_named(logs, "checkpoint_failed")
    assert failure["log_level"] == "error"
    assert "Not a directory" in failure["error"]
    assert written is not None
    assert [p.name for p in out.iterdir()] == [written.name]


def test_the_stop_flag_abandons_the_run(store: Store, key_pair: tuple[Path, Path], out: Path) -> None:
    with capture_logs() as logs:
        assert make_job(store, key_pair[0], out).run(should_stop=lambda: True) is None
    assert events_named(logs, "checkpoint_interrupted")
    assert list(out.iterdir()) == []


def test_two_jobs_on_one_directory_write_each_seq_once(store: Store, key_pair: tuple[Path, Path], out: Path) -> None:
    first, second = make_job(store, key_pair[0], out, name="a"), make_job(store, key_pair[0], out, name="b")
    with capture_logs() as logs:
        assert first.run() is not None
        assert second.run() is None  # the same head: unchanged (it finds a's file and verifies from it)
    assert [e["daemon_id"] for e in events_named(logs, "checkpoint_written")] == ["a"]
    assert events_named(logs, "checkpoint_unchanged")[0]["daemon_id"] == "b"
    target = out / "race.json"
    assert write_exclusive(target, b"first") is True
    assert write_exclusive(target, b"second") is False
    assert target.read_bytes() == b"first"
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_an_empty_log_is_not_signed(tmp_path: Path, key_pair: tuple[Path, Path], out: Path) -> None:
    store = open_store(str(tmp_path / "empty.db"))
    try:
        store.create_schema()
        with capture_logs() as logs:
            assert make_job(store, key_pair[0], out).run() is None
        assert events_named(logs, "checkpoint_unchanged")[0]["tree_size"] == 0
    finally:
        store.close()


def test_a_broken_extension_names_the_first_bad_seq(store: Store, key_pair: tuple[Path, Path], log_url: str) -> None:
    private_key = keys.load_private(key_pair[0])
    start = full(store, private_key, None, now=NOW).checkpoint
    assert start is not None
    grow(store, 20)
    attacker = Attacker(log_url)
    try:
        attacker.drop_triggers()
        attacker.sql("DELETE FROM audit_event WHERE seq = :seq", {"seq": start.tree_size + 2})
    finally:
        attacker.close()
    with pytest.raises(Broken) as caught:
        extend(store, private_key, start, now=NOW)
    assert caught.value.seq == start.tree_size + 2
    assert "expected seq" in caught.value.problem
    assert refused("audit", "verify", db=log_url, code=4).stderr.startswith(
        f"error: audit log broken at seq {start.tree_size + 2}"
    )
    assert json.loads(start.to_text())["tree_size"] == start.tree_size


def test_each_checkpoint_is_provably_consistent_with_the_one_before(
    log_url: str, store: Store, key_pair: tuple[Path, Path], out: Path
) -> None:
    """`prove-consistency` / `verify-proof` accept every pair of successive files the job wrote, and a new event's proof."""
    private, public = key_pair
    job = make_job(store, private, out)
    files = [job.run()]
    for events in (1, 37, 64):
        grow(store, events)
        files.append(job.run())
    assert None not in files
    paths = [path for path in files if path is not None]
    for old, new in itertools.pairwise(paths):
        proof = out.parent / f"consistency-{old.stem}.json"
        ok("audit", "prove-consistency", str(old), str(new), "--pubkey", str(public), "--out", str(proof), db=log_url)
        result = ok("audit", "verify-proof", str(proof), "--pubkey", str(public), db=None)
        assert result.stdout.startswith(f"ok: the log signed at seq 1..{cp.load(new).tree_size}")
    last = cp.load(paths[-1])
    inclusion = out.parent / "inclusion.json"
    ok("audit", "prove", str(last.tree_size), "--checkpoint", str(paths[-1]), "--out", str(inclusion), db=log_url)
    assert ok("audit", "verify-proof", str(inclusion), "--pubkey", str(public), db=None).stdout.startswith("ok:")


def test_bench_checkpoint_runs_and_prints_the_ratios(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """bench/bench_checkpoint.py runs end to end on a tiny log (no timing is asserted) and leaves nothing behind."""
    from bench.bench_checkpoint import main  # noqa: PLC0415

    assert main(["--events", "300", "--new", "30", "--db-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    for label in ("raw sqlite3 + sha256 chain", "full verification + sign", "incremental + sign"):
        assert re.search(rf"^{re.escape(label)}.* +\d+\.\d{{3}} +\d+\.\d{{3}}x$", printed, re.MULTILINE), printed
    assert list(tmp_path.iterdir()) == []


def test_full_verify_hours_zero_verifies_the_whole_log_every_run(
    store: Store, key_pair: tuple[Path, Path], out: Path
) -> None:
    job = make_job(store, key_pair[0], out, hours=0)
    with capture_logs() as logs:
        assert job.run() is not None
        grow(store, 10)
        assert job.run() is not None
    assert [e["mode"] for e in events_named(logs, "checkpoint_written")] == ["full", "full"]


def test_a_stale_temporary_file_is_removed_and_a_fresh_one_is_left(
    store: Store, key_pair: tuple[Path, Path], out: Path
) -> None:
    stale, fresh = out / ".checkpoint-dead.tmp", out / ".checkpoint-busy.tmp"
    for path in (stale, fresh):
        path.write_bytes(b"{")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    with capture_logs() as logs:
        written = make_job(store, key_pair[0], out).run()
    assert written is not None
    assert sorted(p.name for p in out.iterdir()) == [fresh.name, written.name]
    assert [e["file"] for e in events_named(logs, "checkpoint_temporary_removed")] == [str(stale)]
