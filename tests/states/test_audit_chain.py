"""The hash chain on its own: the fast hash equals the library's canonical form, and every tampering is named."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beslut.states.audit_chain import (
    GENESIS_HASH,
    AuditRecord,
    canonical_json,
    compute_hash,
    hash_content,
    seal,
    verify_chain,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)


@given(
    payload=st.dictionaries(st.text(), json_values, max_size=6),
    stream=st.text(min_size=1),
    kind=st.text(min_size=1),
    seq=st.integers(1, 2**40),
)
def test_fast_hash_equals_canonical_hash(payload: dict[str, object], stream: str, kind: str, seq: int) -> None:
    """compute_hash, which assembles the canonical text around the payload, hashes exactly RFC 8785's bytes."""
    fields = {
        "seq": seq,
        "stream": stream,
        "stream_seq": 7,
        "recorded_at": "2022-09-05T10:00:00.000000+02:00",
        "valid_on": "2022-09-05",
        "kind": kind,
        "payload": canonical_json(payload),
        "prev_hash": GENESIS_HASH,
    }
    assert hashlib.sha256(hash_content(**fields)).hexdigest() == compute_hash(**fields)  # type: ignore[arg-type]


def _chain(length: int = 6) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    prev = GENESIS_HASH
    heads: dict[str, int] = {}
    for seq in range(1, length + 1):
        stream = "a" if seq % 2 else "b"
        heads[stream] = heads.get(stream, 0) + 1
        record = seal(
            seq=seq,
            stream=stream,
            stream_seq=heads[stream],
            recorded_at="2022-09-05T10:00:00.000000+02:00",
            valid_on="2022-09-05",
            kind="party.decided",
            payload={"party": str(seq), "outcome": "approved"},
            prev_hash=prev,
        )
        prev = record.hash
        records.append(record)
    return records


class TestVerify:
    def test_untouched_chain_verifies(self) -> None:
        """An intact chain is ok and reports its head."""
        chain = _chain()
        report = verify_chain(chain)
        assert (True, 6, 6, chain[-1].hash) == (report.ok, report.events, report.head_seq, report.head_hash)

    @pytest.mark.parametrize("column", ["stream", "recorded_at", "valid_on", "kind", "payload", "prev_hash", "hash"])
    def test_changed_column_is_caught_at_its_seq(self, column: str) -> None:
        """Changing any column of seq 3 is reported at seq 3."""
        chain = _chain()
        value = getattr(chain[2], column)
        changed = value.replace("a", "b", 1) if "a" in value else value + "x"
        if column == "payload":
            changed = json.dumps({"party": "3", "outcome": "rejected"}, separators=(",", ":"), sort_keys=True)
        chain[2] = replace(chain[2], **{column: changed})
        report = verify_chain(chain)
        assert (False, 3) == (report.ok, report.first_bad_seq)

    def test_deleted_row_is_caught(self) -> None:
        """A deleted row shows as a seq gap where it was."""
        chain = _chain()
        del chain[3]
        assert 4 == verify_chain(chain).first_bad_seq

    def test_swapped_rows_are_caught(self) -> None:
        """Two swapped rows are caught at the first of them."""
        chain = _chain()
        chain[1], chain[2] = chain[2], chain[1]
        assert 2 == verify_chain(chain).first_bad_seq

    def test_duplicated_row_is_caught(self) -> None:
        """A duplicated row is caught at the copy."""
        chain = _chain()
        chain.insert(3, chain[2])
        assert 4 == verify_chain(chain).first_bad_seq

    def test_renumbered_rehashed_stream_gap_is_caught(self) -> None:
        """A forged row with correct hashes but a stream_seq that skips is caught by the stream check."""
        chain = _chain(2)
        forged = seal(
            seq=3, stream="a", stream_seq=5, recorded_at=chain[0].recorded_at, valid_on="2022-09-06",
            kind="party.decided", payload={}, prev_hash=chain[1].hash,
        )  # fmt: skip
        report = verify_chain([*chain, forged])
        assert (3, True) == (report.first_bad_seq, "stream_seq" in (report.problem or ""))

    def test_non_canonical_payload_is_caught(self) -> None:
        """A payload with the same meaning but not canonical text is refused."""
        chain = _chain(1)
        chain[0] = replace(chain[0], payload=' {"outcome": "approved", "party": "1"}')
        assert "canonical" in (verify_chain(chain).problem or "")

    def test_floats_never_enter(self) -> None:
        """canonical_json refuses floats anywhere in a payload."""
        with pytest.raises(TypeError):
            canonical_json({"a": [1, {"b": 0.5}]})
