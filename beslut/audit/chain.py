"""The hash-chain check of :func:`beslut.states.audit_chain.verify_chain`, one record at a time.

Same checks, same order, same messages (a test holds them equal): seq gap-free from
1, ``prev_hash`` is the previous event's hash, the payload is JSON in RFC 8785
canonical form, the hash matches the content, ``stream_seq`` gap-free per stream.

Why a class beside ``verify_chain``: the auditor's verifier streams a million events and
runs more checks on each accepted record (transitions, the Merkle tree), so it needs the
chain check as a step, and the payload it parsed. The encoding is not duplicated here:
:func:`~beslut.states.audit_chain.parse_payload`, ``is_canonical`` and ``compute_hash``
are the one fast RFC 8785 encoder of :mod:`beslut.states.audit_chain`.
"""

from __future__ import annotations

from typing import Any

from beslut.states.audit_chain import GENESIS_HASH, AuditRecord, is_canonical, parse_payload

__all__ = ["ChainChecker", "event_hash", "is_canonical", "parse_payload"]


def event_hash(record: AuditRecord) -> str:
    """The hash of *record*'s content (:meth:`AuditRecord.recompute_hash`).

    Raises:
        TypeError, ValueError: the content cannot be hashed.
    """
    return record.recompute_hash()


class ChainChecker:
    """Check records one by one, in seq order; :meth:`accept` the ones that pass."""

    __slots__ = ("count", "expected_seq", "prev_hash", "stream_heads")

    def __init__(self) -> None:
        self.expected_seq = 1
        self.prev_hash = GENESIS_HASH
        self.stream_heads: dict[str, int] = {}
        self.count = 0

    def check(self, record: AuditRecord) -> tuple[str | None, Any]:
        """What is wrong with *record* as the next event (None if nothing), and its parsed payload."""
        if record.seq != self.expected_seq:
            return (
                f"expected seq {self.expected_seq}, found seq {record.seq} (a row is missing, duplicated or moved)",
                None,
            )
        if record.prev_hash != self.prev_hash:
            return f"prev_hash {record.prev_hash[:12]}… does not match the hash of seq {self.expected_seq - 1}", None
        return self.check_content(record)

    def check_content(self, record: AuditRecord) -> tuple[str | None, Any]:
        """The checks of :meth:`check` that need only *record* and its stream's head, not the previous row.

        Why apart: a part of a parallel verification (:mod:`beslut.audit.parallel`) checks every row's seq
        and link itself but the content only of its own streams' rows.
        """
        try:
            parsed, known = parse_payload(record.payload)
        except (TypeError, ValueError):
            return "payload is not valid JSON", None
        try:
            if not is_canonical(record.payload, parsed, known):
                return "payload is not in RFC 8785 canonical form", None
            digest = record.recompute_hash()
        except (TypeError, ValueError) as error:
            return f"event cannot be hashed: {error}", None
        if digest != record.hash:
            return "hash does not match the event's content", None
        expected_stream_seq = self.stream_heads.get(record.stream, 0) + 1
        if record.stream_seq != expected_stream_seq:
            found = record.stream_seq
            return f"stream {record.stream!r}: expected stream_seq {expected_stream_seq}, found {found}", None
        return None, parsed

    def accept(self, record: AuditRecord) -> None:
        """Make *record* the head."""
        self.stream_heads[record.stream] = record.stream_seq
        self.prev_hash = record.hash
        self.expected_seq += 1
        self.count += 1
