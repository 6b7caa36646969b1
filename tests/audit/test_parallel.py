"""`audit verify` and `audit replay` on two processes give exactly the one-process answers, on both stores.

The parallel path (beslut.audit.parallel) only ever says "ok": a log with anything wrong with it, a
checkpoint it does not extend, or a helper that fails sends the caller down the one-process path, so
its refusals are worded as before. These tests hold the two equal on clean logs (with a revision whose
stream hashes to the other part than the recommendation it supersedes), and check that the parallel
path steps aside, rather than answering, on every kind of fault.
"""

from __future__ import annotations

import hashlib
import sys
import zlib
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from beslut.audit import parallel, service
from beslut.audit.checkpoint import Checkpoint
from beslut.clock import STOCKHOLM, FixedClock
from beslut.demo import KEY_2022, LATE_2022, PLAN_2022, PLAN_2025, _at, _play_party, example_spec, play
from beslut.errors import AuditVerificationFailed
from beslut.persistence import Store, open_store
from beslut.workflow import Engine
from beslut.workflow.audit_log import read_log
from tests.audit.attacker import Attacker
from tests.audit.conftest import build, sign

REVISION = "svom-2025-mini-maria-revision-b"  # its CRC-32 puts it in the other part than KEY_2022


@pytest.fixture
def reader_store(big_log: str) -> Iterator[Store]:
    store = open_store(big_log, read_only=True)
    try:
        yield store
    finally:
        store.close()


def verify_both(store: Store, checkpoint: Checkpoint | None = None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(the parallel report, or None where it stepped aside; the one-process report)."""
    with store.reader() as reader:
        last_seq = reader.audit_head_seq()
        fast = parallel.verify_parallel(store, reader, checkpoint=checkpoint, source="cp.json", last_seq=last_seq)
    slow = service.verify_store(store, checkpoint=checkpoint, source="cp.json", parallel=False)
    return (fast.as_dict() if fast is not None else None), slow.as_dict()


def replay_both(store: Store) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(the parallel replay's document, or None; the one-process document)."""
    with store.reader() as reader:
        fast = parallel.replay_parallel(store, reader, last_seq=reader.audit_head_seq())
    fast_document = None
    if fast is not None:
        try:
            fast_document = {"recommendations": list(fast.statuses), "events": fast.events}
        finally:
            fast.statuses.close()
    result = service.replay_store(store, parallel=False)
    try:
        slow_document = {"recommendations": list(result.statuses), "events": result.events}
    finally:
        result.close()
    return fast_document, slow_document


def test_a_clean_log_gives_the_same_report_and_replay(reader_store: Store) -> None:
    fast, slow = verify_both(reader_store)
    assert slow["ok"]
    assert fast == slow
    fast_replay, slow_replay = replay_both(reader_store)
    assert fast_replay == slow_replay
    assert len(slow_replay["recommendations"]) > 40


def test_the_service_takes_the_parallel_path_when_asked_and_answers_alike(reader_store: Store) -> None:
    forced = service.verify_store(reader_store, parallel=True).as_dict()
    assert forced == service.verify_store(reader_store, parallel=False).as_dict()
    result = service.replay_store(reader_store, parallel=True)
    try:
        assert result.as_dict() == service.replay_store(reader_store, parallel=False).as_dict()
    finally:
        result.close()


def test_rows_after_the_last_seq_are_not_read(reader_store: Store) -> None:
    """Both parts stop at the seq this process saw last: rows appended meanwhile are not theirs to read."""
    with reader_store.reader() as reader:
        head = reader.audit_head_seq()
        report = parallel.verify_parallel(reader_store, reader, checkpoint=None, source="", last_seq=head - 7)
    assert report is not None
    assert (report.ok, report.events, report.head_seq) == (True, head - 7, head - 7)


@pytest.fixture
def revised(store_url: str) -> str:
    """The demo's 2022 recommendation and a 2025 revision of it whose key hashes to the other part, in force."""
    assert parallel.Partition().part(REVISION.encode()) != parallel.Partition().part(KEY_2022.encode())
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=STOCKHOLM))
    engine = Engine(open_store(store_url), clock=clock, actor="registry")
    try:
        engine.init()
        engine.propose(example_spec("mini-maria-2022.toml"), on=date(2022, 6, 3))
        engine.recommend(KEY_2022, on=date(2022, 6, 3))
        for plan in PLAN_2022:  # as the demo plays it (beslut.demo.play)
            _play_party(engine, KEY_2022, plan)
        engine.appeal(KEY_2022, "2326", on=date(2022, 9, 20))
        engine.tick(_at(date(2022, 10, 1)))
        _play_party(engine, KEY_2022, LATE_2022)
        engine.consolidate(KEY_2022, on=date(2022, 10, 17))
        engine.tick(_at(date(2022, 11, 7)))
        engine.settle(KEY_2022, "2326", result="dismissed", on=date(2022, 11, 28))
        engine.tick(_at(date(2023, 1, 1)))
        spec = example_spec("mini-maria-2025.toml").replace('"svom-2025-mini-maria-revision"', f'"{REVISION}"')
        engine.propose(spec, on=date(2025, 3, 7))
        engine.recommend(REVISION, on=date(2025, 3, 7))
        for plan in PLAN_2025:
            _play_party(engine, REVISION, plan)
        engine.consolidate(REVISION, on=date(2025, 6, 23))
        engine.tick(_at(date(2025, 9, 1)))
        assert engine.case(KEY_2022).state == "superseded"
    finally:
        engine.close()
    return store_url


def test_a_revision_is_verified_in_the_part_of_what_it_supersedes(revised: str) -> None:
    """The supersession checks read both cases; the revision goes with the original, whatever its own hash."""
    store = open_store(revised, read_only=True)
    try:
        fast, slow = verify_both(store)
        assert slow["ok"]
        assert fast == slow
        assert replay_both(store)[0] == replay_both(store)[1]
    finally:
        store.close()


def test_the_demo_log_verifies_alike(tmp_path: Path) -> None:
    engine = Engine.open(tmp_path / "demo.db", actor="demo")
    try:
        engine.init()
        play(engine)
    finally:
        engine.close()
    store = open_store(tmp_path / "demo.db", read_only=True)
    try:
        fast, slow = verify_both(store)
        assert slow["ok"]
        assert fast == slow
    finally:
        store.close()


def test_the_partition_keeps_a_line_of_revisions_together() -> None:
    partition = parallel.Partition()
    original, revision, second = b"svom-2022-mini-maria", REVISION.encode(), b"svom-2025-mini-maria-revision-a"
    assert partition.part(revision) != partition.part(original)
    partition.note_proposal(revision, '{"spec":{"supersedes":"svom-2022-mini-maria"}}')
    partition.note_proposal(second, b'{"spec":{"supersedes":"' + revision + b'"}}')
    partition.note_proposal(b"x", "not json")  # an unreadable proposal keeps its own part
    partition.note_proposal(b"y", '{"spec":{"supersedes":7}}')
    assert partition.part(revision) == partition.part(second) == partition.part(original)
    assert partition.part(b"x") == (0 if zlib.crc32(b"x") % 1000 < parallel.HALF else 1)


def test_a_share_moves_streams_to_the_helper_and_no_further() -> None:
    """Part 0 takes the streams whose CRC-32 modulo 1000 is below its share, and nothing else changes."""
    names = [f"rec-{n}".encode() for n in range(2000)]
    half, light = parallel.Partition(), parallel.Partition(parallel.REPLAY_SHARE)
    mine_half = {n for n in names if half.part(n) == 0}
    mine_light = {n for n in names if light.part(n) == 0}
    assert mine_light < mine_half  # a smaller share only gives streams away
    assert abs(len(mine_light) / len(names) - parallel.REPLAY_SHARE / 1000) < 0.03
    with pytest.raises(ValueError, match="per mille"):
        parallel.Partition(1000)


# ---------------------------------------------------------------- faults: the parallel path steps aside


def test_a_checkpoint_the_log_extends_gives_the_same_report(big_log: str, tmp_path: Path) -> None:
    signed = sign(big_log, tmp_path)
    store = open_store(big_log, read_only=True)
    try:
        fast, slow = verify_both(store, signed)
        assert slow["ok"]
        assert slow["checkpoint"]["extended"]
        assert fast == slow
    finally:
        store.close()


def test_a_truncated_tail_sends_it_to_one_process(big_log: str, tmp_path: Path) -> None:
    signed = sign(big_log, tmp_path)
    attacker = Attacker(big_log)
    try:
        attacker.drop_triggers()
        attacker.sql(f"DELETE FROM audit_event WHERE seq > {signed.tree_size - 5}")
    finally:
        attacker.close()
    store = open_store(big_log, read_only=True)
    try:
        fast, slow = verify_both(store, signed)
        assert fast is None
        assert (slow["ok"], slow["first_bad_seq"], slow["failed_check"]) == (False, signed.tree_size - 4, "checkpoint")
        assert service.verify_store(store, checkpoint=signed, source="cp.json", parallel=True).as_dict() == slow
    finally:
        store.close()


@pytest.mark.parametrize("column", ["payload", "hash", "prev_hash", "kind", "stream_seq"])
def test_a_tampered_row_sends_it_to_one_process(big_log: str, column: str) -> None:
    """Whichever part owns the row, the fault is found, and the one-process report (and refusal) is the answer."""
    attacker = Attacker(big_log)
    try:
        attacker.drop_triggers()
        records = attacker.records()
        split = parallel.Partition()
        targets = {split.part(r.stream.encode()): r for r in records[500:] if r.kind == "party.decided"}
        for target in targets.values():  # one row in each part
            value: Any = {
                "payload": target.payload.replace('"party":', '"party" :'),
                "hash": target.hash[::-1],
                "prev_hash": "0" * 64,
                "kind": "party.announced",
                "stream_seq": target.stream_seq + 1000,  # (stream, stream_seq) is unique
            }[column]
            attacker.set(target.seq, column, value)
    finally:
        attacker.close()
    store = open_store(big_log, read_only=True)
    try:
        fast, slow = verify_both(store)
        assert fast is None
        assert slow["ok"] is False
        assert service.verify_store(store, parallel=True).as_dict() == slow
        fast_replay, _ = (None, None)
        with store.reader() as reader:
            fast_replay = parallel.replay_parallel(store, reader, last_seq=reader.audit_head_seq())
        assert fast_replay is None
        with pytest.raises(AuditVerificationFailed, match=rf"^audit log broken at seq {slow['first_bad_seq']}: "):
            service.replay_store(store, parallel=True)
    finally:
        store.close()


@pytest.mark.parametrize("attack", ["delete", "duplicate", "unknown stream", "broken link", "genesis"])
def test_a_replay_steps_aside_when_the_database_finds_a_row_out_of_place(big_log: str, attack: str) -> None:
    """A replay's parts read only their own streams' rows, so seq and links are the database's to check."""
    attacker = Attacker(big_log)
    try:
        attacker.drop_triggers()
        middle = attacker.records()[1500]
        if attack == "delete":
            attacker.sql("DELETE FROM audit_event WHERE seq = :seq", {"seq": middle.seq})
        elif attack == "duplicate":  # the same seq twice: possible once the primary key is gone
            attacker.drop_constraints()
            attacker.insert(attacker.row(middle.seq))
        elif attack == "unknown stream":  # a row no proposal names: neither part would read it
            attacker.set(middle.seq, "stream", "a-stream-never-proposed")
        elif attack == "broken link":
            attacker.set(middle.seq, "prev_hash", "f" * 64)
        else:
            attacker.set(1, "prev_hash", "1" * 64)
    finally:
        attacker.close()
    store = open_store(big_log, read_only=True)
    try:
        with store.reader() as reader:
            assert parallel.replay_parallel(store, reader, last_seq=reader.audit_head_seq()) is None
        with pytest.raises(AuditVerificationFailed) as one:
            service.replay_store(store, parallel=False)
        with pytest.raises(AuditVerificationFailed) as two:
            service.replay_store(store, parallel=True)
        assert str(two.value) == str(one.value)
    finally:
        store.close()


def test_the_database_checks_seq_and_links_up_to_the_last_seq(reader_store: Store) -> None:
    with reader_store.reader() as reader:
        head = reader.audit_head_seq()
        assert parallel.chain_whole(reader, last_seq=head)
        assert parallel.chain_whole(reader, last_seq=head - 7)  # a prefix is whole too
        assert not parallel.chain_whole(reader, last_seq=head + 1)  # a row missing at the end


def test_a_part_digests_the_hashes_of_its_own_streams_as_this_process_does(reader_store: Store) -> None:
    """What the helper reports of its rows (scan_own) and what this process expects (share_digest) agree."""
    with reader_store.reader() as reader:
        head = reader.audit_head_seq()
        records = [row.record for row in read_log(reader)]
        split = parallel.split_streams(reader, last_seq=head, share=parallel.REPLAY_SHARE)
        assert split is not None
        assert set(split[0]).isdisjoint(split[1])
        assert set(split[0]) | set(split[1]) == {r.stream for r in records}
        for part, streams in enumerate(split):
            seen: list[int] = []

            def note(values: tuple[Any, ...], seen: list[int] = seen) -> bool:
                seen.append(values[0])
                return True

            own = parallel.scan_own(reader, last_seq=head, streams=streams, owned=note)
            expected = [r for r in records if r.stream in set(streams)]
            assert seen == [r.seq for r in expected], part
            digest = hashlib.sha256(b"".join(r.hash.encode() for r in expected)).hexdigest()
            assert own == parallel.share_digest(reader, last_seq=head, streams=streams)
            assert own == parallel.OwnScan(len(expected), digest)


def test_a_helper_that_cannot_start_or_fails_sends_it_to_one_process(
    reader_store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Said once on stderr (the standard library's logger: never into `--json` on stdout), then answered alike."""
    slow = service.verify_store(reader_store, parallel=False).as_dict()
    for executable, said in (("/nonexistent/python", "not started"), ("/bin/false", "failed (exit 1")):
        monkeypatch.setattr(sys, "executable", executable)
        caplog.clear()
        fast, _ = verify_both(reader_store)
        assert fast is None
        assert next(r.getMessage() for r in caplog.records if "audit helper" in r.getMessage()).count(said) == 1
        assert service.verify_store(reader_store, parallel=True).as_dict() == slow


def test_the_helper_runs_this_beslut_not_one_in_the_callers_directory(
    reader_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``python -m`` looks in the working directory first: the helper is started where this package lives."""
    impostor = tmp_path / "beslut"
    impostor.mkdir()
    (impostor / "__init__.py").write_text("raise SystemExit(3)\n")
    monkeypatch.chdir(tmp_path)
    result = service.replay_store(reader_store, parallel=True)
    try:
        assert type(result.statuses).__name__ == "_MergedStatuses"  # answered in two processes
    finally:
        result.close()
    assert not [r for r in caplog.records if "helper" in r.getMessage()]


def test_an_answer_this_code_would_not_write_is_not_taken() -> None:
    """A helper of another version (or a damaged answer file) sends the command to one process."""
    good = {"share": "ab", "rows": 3, "streams": 1, "events": 3}
    assert parallel._well_formed(good, "verify")
    assert parallel._well_formed({**good, "statuses": 1}, "replay")
    assert not parallel._well_formed(good, "replay")  # a replay's answer counts its status documents
    assert not parallel._well_formed({**good, "rows": "3"}, "verify")
    assert not parallel._well_formed({**good, "scan": None}, "verify")
    assert not parallel._well_formed(["share", "rows"], "verify")


def test_a_small_log_or_a_store_the_helper_cannot_open_stays_in_one_process(tmp_path: Path) -> None:
    url = build(str(tmp_path / "small.db"), 300)
    store = open_store(url, read_only=True)
    try:
        assert not parallel.worthwhile(store, 300)
        assert parallel.worthwhile(store, parallel.MIN_EVENTS) == (parallel._cores() >= 2)
    finally:
        store.close()


def test_both_parts_digest_the_hashes_of_each_parts_rows(reader_store: Store) -> None:
    """Per part, the digest of its rows' hashes in seq order: what the helper's own digest is compared with."""
    with reader_store.reader() as reader:
        records = [row.record for row in read_log(reader)]
        scans = [parallel.scan(reader, part=part, last_seq=len(records), owned=lambda _values: True) for part in (0, 1)]
    shares = [hashlib.sha256(), hashlib.sha256()]
    partition = parallel.Partition()
    for record in records:
        if record.kind == "recommendation.proposed":
            partition.note_proposal(record.stream.encode(), record.payload)
        shares[partition.part(record.stream.encode())].update(record.hash.encode())
    digests = tuple(d.hexdigest() for d in shares)
    assert scans[0] == scans[1] == parallel.Scan(len(records), records[-1].hash, digests)


def test_an_unexpected_error_in_this_process_sends_it_to_one_process(
    reader_store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug or an odd value met in this process's part: the one-process path runs and answers."""
    slow = service.verify_store(reader_store, parallel=False).as_dict()

    def broken(_self: object, _values: tuple[Any, ...]) -> bool:
        raise RuntimeError("boom")

    monkeypatch.setattr(parallel._Folder, "__call__", broken)
    assert service.verify_store(reader_store, parallel=True).as_dict() == slow
    result = service.replay_store(reader_store, parallel=True)
    try:
        assert result.events == slow["events"]
    finally:
        result.close()
    said = [r.getMessage() for r in caplog.records if "two processes stopped (boom)" in r.getMessage()]
    assert len(said) == 2


def test_a_log_grown_past_its_checkpoint_gives_the_same_report(big_log: str, tmp_path: Path) -> None:
    """The checkpoint's head is the hash at its size, not the log's head now: both paths compare that one."""
    signed = sign(big_log, tmp_path)
    build(big_log, 200)  # more events after the checkpoint
    store = open_store(big_log, read_only=True)
    try:
        fast, slow = verify_both(store, signed)
        assert slow["ok"]
        assert slow["events"] > signed.tree_size
        assert fast == slow
    finally:
        store.close()
