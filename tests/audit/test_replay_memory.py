"""Flat memory: `audit verify` keeps few cases and folds a dropped stream again; `audit replay` goes stream by stream.

Each test forces the memory-saving path as hard as it goes (one case kept) on a log
whose streams interleave, and requires the very same report as the ordinary run, for
a good log and for tampered ones, on both stores.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest

from beslut.audit import service
from beslut.audit.verify import Report, Verifier
from beslut.errors import AuditVerificationFailed
from beslut.persistence import open_store
from beslut.states.audit_chain import AuditRecord
from beslut.states.calendar import BusinessCalendar
from beslut.workflow.audit_log import read_log, records_before
from tests.audit.attacker import Attacker
from tests.audit.conftest import build


def verify_keeping(url: str, keep: int | None) -> tuple[Report, int, int]:
    """Verify with at most *keep* cases in memory (None: no loader, every case kept); also the most kept, the reloads."""
    store = open_store(url, read_only=True)
    reloads = 0
    most = 0
    try:
        with store.reader() as reader:

            def loader(stream: str, seq: int) -> Iterable[AuditRecord]:
                nonlocal reloads
                reloads += 1
                return records_before(reader, stream, seq)

            verifier = Verifier(loader=loader if keep is not None else None)
            verifier.replayer.keep = keep or 0

            def rows() -> Any:
                nonlocal most
                for row in read_log(reader):
                    yield row
                    most = max(most, len(verifier.replayer.cases))

            return verifier.run(rows()), most, reloads
    finally:
        store.close()


def forge_decisions(url: str, announcements: list[AuditRecord]) -> None:
    """Turn each announcement into a second decision (the machine refuses it) and re-hash the chain from the first."""
    attacker = Attacker(url)
    try:
        attacker.drop_triggers()
        for record in announcements:
            attacker.set(record.seq, "kind", "party.decided")
        attacker.rehash_from(min(record.seq for record in announcements))
    finally:
        attacker.close()


@pytest.fixture
def interleaved(store_url: str) -> str:
    """At least 1,200 events (25 recommendations), five at a time interleaved event by event."""
    return build(store_url, 1200, group=5)


def test_verify_keeping_one_case_gives_the_same_report(interleaved: str) -> None:
    everything, most_everything, _ = verify_keeping(interleaved, None)
    one, most_one, reloads = verify_keeping(interleaved, 1)
    assert everything.ok
    assert one.as_dict() == everything.as_dict()
    assert (most_everything, most_one) == (everything.streams, 1)
    assert reloads > 100  # streams were dropped and folded again, over and over
    store = open_store(interleaved, read_only=True)
    try:
        assert everything.as_dict() == service.verify_store(store).as_dict()  # what `audit verify` runs
    finally:
        store.close()


def test_a_rewrite_is_caught_alike_keeping_one_case(interleaved: str) -> None:
    """An approval turned into a rejection and the chain re-hashed: the consolidation no longer adds up."""
    attacker = Attacker(interleaved)
    try:
        attacker.drop_triggers()
        records = attacker.records()
        annulled = {(r.stream, json.loads(r.payload)["party"]) for r in records if r.kind == "party.decision_annulled"}
        target = next(
            r
            for r in records[300:]
            if r.kind == "party.decided"
            and '"outcome":"approved"' in r.payload
            and (r.stream, json.loads(r.payload)["party"]) not in annulled
        )
        attacker.set(target.seq, "payload", target.payload.replace('"outcome":"approved"', '"outcome":"rejected"'))
        attacker.rehash_from(target.seq)
    finally:
        attacker.close()
    everything, _, _ = verify_keeping(interleaved, None)
    one, _, reloads = verify_keeping(interleaved, 1)
    assert (everything.ok, everything.failed_check) == (False, "transition")
    assert everything.first_bad_seq is not None
    assert everything.first_bad_seq > target.seq
    assert one.as_dict() == everything.as_dict()
    assert reloads > 0


def test_replay_stream_by_stream_names_the_first_bad_seq_of_the_log(interleaved: str) -> None:
    """Two broken streams: the refusal names the lower seq, though its stream is replayed later."""
    store = open_store(interleaved, read_only=True)
    try:
        with store.reader() as reader:
            records = [row.record for row in read_log(reader)]
        first_stream = records[0].stream
        # a later stream's announcement (early in the log) and the first stream's (later in the log)
        late = next(r for r in reversed(records) if r.stream == first_stream and r.kind == "party.announced")
        early = next(r for r in records if r.stream != first_stream and r.kind == "party.announced")
        assert early.seq < late.seq
    finally:
        store.close()
    forge_decisions(interleaved, [late, early])
    store = open_store(interleaved, read_only=True)
    try:
        with pytest.raises(AuditVerificationFailed, match=rf"^audit log broken at seq {early.seq}: "):
            service.replay_store(store)
        report = service.verify_store(store)
        assert (report.first_bad_seq, report.failed_check) == (early.seq, "transition")
    finally:
        store.close()


def _replay_document(url: str, **options: Any) -> dict[str, Any]:
    store = open_store(url, read_only=True)
    try:
        result = service.replay_store(store, **options)
        try:
            return result.as_dict()
        finally:
            result.close()
    finally:
        store.close()


def test_one_pass_replay_keeping_one_case_equals_the_stream_by_stream_replay(
    interleaved: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one-pass replay (no as-of time) spills all cases but one to its file and reads them back; the
    document, --check included, is the same as the stream-by-stream passes' (which the as-of replays use)."""
    from beslut.audit import streams  # noqa: PLC0415

    one_pass = _replay_document(interleaved, check=True)
    monkeypatch.setattr(streams, "SPILL_KEEP", 1)
    spilled = _replay_document(interleaved, check=True)
    store = open_store(interleaved, read_only=True)
    try:
        with store.reader() as reader:
            first_days, limit, failure = streams._chain_pass(reader)
            assert failure is None
            two = streams.Streamed(statuses=streams.Spool(), differences=[])
            for key in sorted(first_days, key=lambda k: (first_days[k], k)):
                assert (
                    streams._stream_pass(
                        reader, key, two, calendar=BusinessCalendar(), limit=limit, instant=None, day=None
                    )
                    is None
                )
            two_pass = {
                "recommendations": list(two.statuses),
                "events": two.events,
                "log_events": two.log_events,
                "differences": two.differences,
            }
            two.statuses.close()
    finally:
        store.close()
    assert one_pass == spilled
    assert len(spilled["recommendations"]) == 25  # build() writes whole groups of five past 1,200 events
    assert spilled["recommendations"] == two_pass["recommendations"]
    assert spilled["events"] == spilled["log_events"] == two_pass["events"] == two_pass["log_events"]
    assert spilled["check"] == {"ok": True, "differences": []}
    assert two_pass["differences"] == []


def test_one_pass_replay_keeping_one_case_names_the_same_first_bad_seq(
    interleaved: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream broken after it was spilled and read back: the same refusal as verify's."""
    from beslut.audit import streams  # noqa: PLC0415

    monkeypatch.setattr(streams, "SPILL_KEEP", 1)
    store = open_store(interleaved, read_only=True)
    try:
        with store.reader() as reader:
            records = [row.record for row in read_log(reader)]
    finally:
        store.close()
    target = next(r for r in records[600:] if r.kind == "party.announced")
    forge_decisions(interleaved, [target])
    store = open_store(interleaved, read_only=True)
    try:
        with pytest.raises(AuditVerificationFailed, match=rf"^audit log broken at seq {target.seq}: party.decided"):
            service.replay_store(store)
        assert service.verify_store(store).first_bad_seq == target.seq
    finally:
        store.close()
