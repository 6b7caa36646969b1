"""The one chain check (`ChainChecker`, behind `verify_chain`) names the seq a slow reference names, on any tampering.

The fast path may only ever call a payload canonical when RFC 8785 (the `rfc8785`
library) does: hypothesis throws JSON with floats, huge integers, astral characters,
escapes and control characters at it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from beslut.states.audit_chain import (
    GENESIS_HASH,
    AuditRecord,
    ChainChecker,
    canonical_json,
    compute_hash,
    hash_content,
    parse_payload,
    seal,
    verify_chain,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False)
    | st.text(alphabet=st.characters(codec="utf-8")),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet=st.characters(codec="utf-8"), max_size=5), children, max_size=4)
    ),
    max_leaves=10,
)


def chain(payloads: list[dict[str, Any]]) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    prev = GENESIS_HASH
    for seq, payload in enumerate(payloads, start=1):
        record = seal(
            seq=seq,
            stream="s" if seq % 2 else "t",
            stream_seq=(seq + 1) // 2,
            recorded_at="2022-09-05T10:00:00.000000+02:00",
            valid_on="2022-09-05",
            kind="party.decided",
            payload=payload,
            prev_hash=prev,
        )
        prev = record.hash
        records.append(record)
    return records


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    return isinstance(value, list) and any(_has_float(v) for v in value)


def reference_bad_seq(records: list[AuditRecord]) -> int | None:
    """The first bad seq by the rules of docs/audit.md, the slow and obvious way (the `rfc8785` library, no fast path)."""
    prev, heads = GENESIS_HASH, dict[str, int]()
    for expected, record in enumerate(records, start=1):
        if record.seq != expected or record.prev_hash != prev:
            return expected
        try:
            parsed = json.loads(record.payload)
            if _has_float(parsed) or rfc8785.dumps(parsed).decode() != record.payload:
                return expected
            content = {k: v for k, v in record.__dict__.items() if k != "hash"}
            if hashlib.sha256(hash_content(**content)).hexdigest() != record.hash:
                return expected
        except (TypeError, ValueError, rfc8785.CanonicalizationError):
            return expected
        if record.stream_seq != heads.get(record.stream, 0) + 1:
            return expected
        heads[record.stream] = record.stream_seq
        prev = record.hash
    return None


def fast_verdict(records: list[AuditRecord]) -> tuple[int | None, str | None]:
    checker = ChainChecker()
    for record in records:
        problem, _ = checker.check(record)
        if problem is not None:
            return checker.expected_seq, problem
        checker.accept(record)
    return None, None


@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_fast_path_calls_canonical_only_what_rfc8785_does(value: Any) -> None:
    """Whatever the text, `parse_payload` says "canonical" only if RFC 8785's own output is that text."""
    for text in {json.dumps(value), json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)}:
        try:
            parsed, known = parse_payload(text)
        except ValueError:
            continue
        if known:
            assert canonical_json(parsed) == text


@settings(max_examples=200, deadline=None)
@given(payload=st.dictionaries(st.text(alphabet=st.characters(codec="utf-8")), json_values, max_size=5))
def test_fast_hash_is_the_reference_hash(payload: dict[str, Any]) -> None:
    """For every payload the log can hold, the fast hash equals `compute_hash`."""
    try:
        text = canonical_json(payload)
    except (TypeError, ValueError):
        return
    record = seal(
        seq=7,
        stream="strömsund-ü-\U0001f600",
        stream_seq=3,
        recorded_at="2022-09-05T10:00:00.000000+02:00",
        valid_on="2022-09-05",
        kind="party.decided",
        payload=json.loads(text),
        prev_hash=GENESIS_HASH,
    )
    assert record.hash == record.recompute_hash() == hashlib.sha256(hash_content(**_content(record))).hexdigest()


def _content(record: AuditRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k != "hash"}


TAMPERINGS = {
    "payload_changed": lambda r: replace(r, payload=r.payload.replace("approved", "rejected")),
    "payload_not_json": lambda r: replace(r, payload="{"),
    "payload_not_canonical": lambda r: replace(r, payload=json.dumps(json.loads(r.payload), indent=1)),
    "payload_float": lambda r: replace(r, payload='{"x":1.5}'),
    "payload_big_int": lambda r: replace(r, payload='{"x":123456789012345678901}'),
    "payload_escape": lambda r: replace(r, payload='{"x":"\\u00e5"}'),
    "payload_surrogate": lambda r: replace(r, payload='{"x":"\\ud800"}'),
    "payload_astral_order": lambda r: replace(r, payload='{"\uffff":2,"\U0001f600":1}'),
    "seq": lambda r: replace(r, seq=r.seq + 1),
    "stream": lambda r: replace(r, stream=r.stream + "x"),
    "stream_seq": lambda r: replace(r, stream_seq=r.stream_seq + 1),
    "recorded_at": lambda r: replace(r, recorded_at=r.recorded_at.replace("10:", "11:")),
    "valid_on": lambda r: replace(r, valid_on="2022-09-06"),
    "kind": lambda r: replace(r, kind="party.appealed"),
    "prev_hash": lambda r: replace(r, prev_hash="1" * 64),
    "hash": lambda r: replace(r, hash="2" * 64),
}


@settings(max_examples=150, deadline=None)
@given(
    outcomes=st.lists(
        st.sampled_from(["approved", "rejected", "§ 5 Östersund", "\x01\t\u2028"]), min_size=3, max_size=8
    ),
    where=st.integers(0, 7),
    how=st.sampled_from(sorted(TAMPERINGS)),
)
def test_fast_check_says_what_the_reference_says(outcomes: list[str], where: int, how: str) -> None:
    """The first bad seq of the slow reference, and `verify_chain` says what the checker step by step says."""
    records = chain([{"party": str(i), "outcome": o} for i, o in enumerate(outcomes)])
    index = where % len(records)
    records[index] = TAMPERINGS[how](records[index])
    reference = verify_chain(records)
    seq, problem = fast_verdict(records)
    assert (reference.first_bad_seq, reference.problem) == (seq, problem)
    assert reference_bad_seq(records) == seq


def test_rehashed_non_canonical_payloads_are_named_like_the_reference() -> None:
    """A forger who re-hashes a payload RFC 8785 would write differently is still named, the same way."""
    for payload in ['{"b":1,"a":2}', '{"a":1.0}', '{"a":"\\u0041"}', '{"\uffff":2,"\U0001f600":1}', '{"a":"\\ud800"}']:
        record = AuditRecord(
            seq=1, stream="s", stream_seq=1, recorded_at="x", valid_on="y", kind="k", payload=payload,
            prev_hash=GENESIS_HASH, hash="",
        )  # fmt: skip
        try:
            digest = compute_hash(**{k: v for k, v in record.__dict__.items() if k != "hash"})
        except ValueError:
            digest = "0" * 64
        record = replace(record, hash=digest)
        reference = verify_chain([record])
        assert not reference.ok
        assert reference_bad_seq([record]) == 1
        assert (reference.first_bad_seq, reference.problem) == fast_verdict([record])
