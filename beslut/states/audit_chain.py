"""The audit log's hash chain: canonical bytes, hashes and the checks an auditor runs.

Pure functions over plain records, so the same code verifies a live database, a
read-only copy or an exported JSON Lines file. Each event's hash is
``sha256(RFC 8785 canonical JSON of {seq, stream, stream_seq, recorded_at,
valid_on, kind, payload, prev_hash})``; the first event's ``prev_hash`` is 64 zeros.
A change to any column of any row, a deleted, inserted, swapped or duplicated row
breaks the chain at that row, which :func:`verify_chain` names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import rfc8785

from beslut.clock import STOCKHOLM

GENESIS_HASH: Final = "0" * 64


@dataclass(frozen=True, kw_only=True)
class AuditRecord:
    """One row of `audit_event`, with every column as the auditor sees it (text, not objects)."""

    seq: int
    stream: str
    stream_seq: int
    recorded_at: str
    valid_on: str
    kind: str
    payload: str
    prev_hash: str
    hash: str

    def recompute_hash(self) -> str:
        """The hash this record's columns give (compare with :attr:`hash` to see it untouched)."""
        return compute_hash(
            seq=self.seq,
            stream=self.stream,
            stream_seq=self.stream_seq,
            recorded_at=self.recorded_at,
            valid_on=self.valid_on,
            kind=self.kind,
            payload=self.payload,
            prev_hash=self.prev_hash,
        )

    def as_dict(self) -> dict[str, Any]:
        """The record as a JSON object (payload parsed), as `audit log --json` prints it."""
        return {
            "seq": self.seq,
            "stream": self.stream,
            "stream_seq": self.stream_seq,
            "recorded_at": self.recorded_at,
            "valid_on": self.valid_on,
            "kind": self.kind,
            "payload": json.loads(self.payload),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def canonical_json(value: Any) -> str:
    """RFC 8785 canonical JSON text of *value* (no floats allowed in the audit log)."""
    _refuse_floats(value)
    text: str = rfc8785.dumps(value).decode("utf-8")
    return text


def format_instant(instant: datetime) -> str:
    """An instant as stored in the log: ISO 8601 in Europe/Stockholm with microseconds and offset."""
    if instant.tzinfo is None:
        raise ValueError("audit instants must be aware")
    return instant.astimezone(STOCKHOLM).isoformat(timespec="microseconds")


def compute_hash(
    *,
    seq: int,
    stream: str,
    stream_seq: int,
    recorded_at: str,
    valid_on: str,
    kind: str,
    payload: str,
    prev_hash: str,
) -> str:
    """The sha256 (hex) of one event chained to *prev_hash*.

    The hashed bytes are the RFC 8785 form of ``{kind, payload, prev_hash, recorded_at,
    seq, stream, stream_seq, valid_on}`` with *payload* as the JSON object it encodes.
    Because a stored payload is already canonical, the object is assembled around its
    text in RFC 8785 key order instead of being parsed and serialised again
    (:func:`hash_content` is the slow, obviously-right form; a test keeps them equal).
    """
    text = (
        '{"kind":' + _string(kind)
        + ',"payload":' + payload
        + ',"prev_hash":' + _string(prev_hash)
        + ',"recorded_at":' + _string(recorded_at)
        + ',"seq":' + str(int(seq))
        + ',"stream":' + _string(stream)
        + ',"stream_seq":' + str(int(stream_seq))
        + ',"valid_on":' + _string(valid_on)
        + "}"
    )  # fmt: skip
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hash_content(
    *,
    seq: int,
    stream: str,
    stream_seq: int,
    recorded_at: str,
    valid_on: str,
    kind: str,
    payload: str,
    prev_hash: str,
) -> bytes:
    """The canonical bytes an event's hash covers, built the slow way with the `rfc8785` library."""
    content = {
        "seq": seq,
        "stream": stream,
        "stream_seq": stream_seq,
        "recorded_at": recorded_at,
        "valid_on": valid_on,
        "kind": kind,
        "payload": json.loads(payload),
        "prev_hash": prev_hash,
    }
    encoded: bytes = rfc8785.dumps(content)
    return encoded


def _string(value: str) -> str:
    encoded: str = rfc8785.dumps(value).decode("utf-8")
    return encoded


def seal(
    *,
    seq: int,
    stream: str,
    stream_seq: int,
    recorded_at: str,
    valid_on: str,
    kind: str,
    payload: Any,
    prev_hash: str,
) -> AuditRecord:
    """Build the record for a new event after the head (*seq* - 1, *prev_hash*)."""
    text = canonical_json(payload)
    digest = compute_hash(
        seq=seq,
        stream=stream,
        stream_seq=stream_seq,
        recorded_at=recorded_at,
        valid_on=valid_on,
        kind=kind,
        payload=text,
        prev_hash=prev_hash,
    )
    return AuditRecord(
        seq=seq,
        stream=stream,
        stream_seq=stream_seq,
        recorded_at=recorded_at,
        valid_on=valid_on,
        kind=kind,
        payload=text,
        prev_hash=prev_hash,
        hash=digest,
    )


@dataclass(frozen=True, kw_only=True)
class ChainReport:
    """What :func:`verify_chain` found: ok, or the first bad seq and what is wrong with it."""

    ok: bool
    events: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The report as `audit verify --json` prints it."""
        return {
            "ok": self.ok,
            "events": self.events,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
        }


def verify_chain(records: Iterable[AuditRecord]) -> ChainReport:
    """Check the chain, a gap-free global seq from 1, and a gap-free stream_seq per stream.

    *records* must come ordered by seq (as the store returns them); a row out of
    order shows up as a seq gap at that row.
    """
    expected_seq = 1
    prev_hash = GENESIS_HASH
    stream_heads: dict[str, int] = {}
    count = 0
    for record in records:
        problem = _check(record, expected_seq, prev_hash, stream_heads)
        if problem is not None:
            return ChainReport(
                ok=False,
                events=count,
                head_seq=expected_seq - 1,
                head_hash=prev_hash,
                first_bad_seq=record.seq if record.seq == expected_seq else expected_seq,
                problem=problem,
            )
        stream_heads[record.stream] = record.stream_seq
        prev_hash = record.hash
        expected_seq += 1
        count += 1
    return ChainReport(ok=True, events=count, head_seq=expected_seq - 1, head_hash=prev_hash)


def _check(record: AuditRecord, expected_seq: int, prev_hash: str, stream_heads: dict[str, int]) -> str | None:
    if record.seq != expected_seq:
        return f"expected seq {expected_seq}, found seq {record.seq} (a row is missing, duplicated or moved)"
    if record.prev_hash != prev_hash:
        return f"prev_hash {record.prev_hash[:12]}… does not match the hash of seq {expected_seq - 1}"
    try:
        parsed = json.loads(record.payload)
    except (TypeError, ValueError):
        return "payload is not valid JSON"
    try:
        if canonical_json(parsed) != record.payload:
            return "payload is not in RFC 8785 canonical form"
        digest = record.recompute_hash()
    except (TypeError, ValueError) as error:
        return f"event cannot be hashed: {error}"
    if digest != record.hash:
        return "hash does not match the event's content"
    expected_stream_seq = stream_heads.get(record.stream, 0) + 1
    if record.stream_seq != expected_stream_seq:
        return f"stream {record.stream!r}: expected stream_seq {expected_stream_seq}, found {record.stream_seq}"
    return None


def _refuse_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("floats are not allowed in the audit log; use decimal strings")
    if isinstance(value, dict):
        for item in value.values():
            _refuse_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_floats(item)
