"""Inclusion and consistency proofs against signed checkpoints, and their offline verification.

An **inclusion proof** shows one event is in the log a checkpoint signed, without the
rest of the log: the event itself, its leaf index (seq - 1), the tree size, the RFC 6962
audit path (hex, from the leaf's sibling upwards) and the checkpoint. The verifier checks
the checkpoint's signature with the public key it trusts, recomputes the event's hash
from its content (so the event shown is the event proven), and folds the path from that
leaf hash to the signed root (RFC 9162 §2.1.3.2).

A **consistency proof** shows a later checkpoint's log extends an earlier one's
(RFC 9162 §2.1.4.2): an auditor holding last year's checkpoint can accept this year's
without reading the log in between.

Making a proof reads the log once up to the checkpoint's size and computes only the
subtree hashes the proof needs; it refuses when the log no longer gives the signed root.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from beslut.audit import checkpoint as cp
from beslut.audit.merkle import (
    TreeBuilder,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from beslut.errors import AuditVerificationFailed, InvalidInput
from beslut.states.audit_chain import AuditRecord, canonical_json
from beslut.workflow.ports import AUDIT_COLUMNS

INCLUSION_FORMAT: Final = "beslut-inclusion-proof/1"
CONSISTENCY_FORMAT: Final = "beslut-consistency-proof/1"
MAX_PROOF_FILE: Final = 50_000_000
_EVENT_FIELDS: Final = AUDIT_COLUMNS  # a proof carries its event's columns, as the table has them


@dataclass(frozen=True)
class Inclusion:
    """One event and its audit path in a checkpoint's tree."""

    record: AuditRecord
    path: tuple[bytes, ...]

    def document(self, checkpoint: cp.Checkpoint) -> dict[str, Any]:
        """The proof as a self-contained JSON object."""
        return {
            "format": INCLUSION_FORMAT,
            "event": self.record.as_dict(),
            "leaf_index": self.record.seq - 1,
            "tree_size": checkpoint.tree_size,
            "audit_path": [h.hex() for h in self.path],
            "checkpoint": checkpoint.as_dict(),
        }


def prove_inclusion(records: Iterable[AuditRecord], checkpoint: cp.Checkpoint, seqs: Iterable[int]) -> list[Inclusion]:
    """Audit paths for the events *seqs* (each within the checkpoint), from one pass over the log.

    Raises:
        InvalidInput: a seq outside 1..tree_size.
        AuditVerificationFailed: the log does not give the checkpoint's root (it does not extend it).
    """
    size = checkpoint.tree_size
    wanted_seqs = sorted(set(seqs))
    for seq in wanted_seqs:
        if not 1 <= seq <= size:
            raise InvalidInput(f"seq {seq} is not covered by the checkpoint, which signed seq 1..{size}")
    ranges = {seq: inclusion_ranges(seq - 1, size) for seq in wanted_seqs}
    tree = TreeBuilder(r for rs in ranges.values() for r in rs)
    found_records: dict[int, AuditRecord] = {}
    targets = set(wanted_seqs)
    for record in records:
        if tree.size == size:
            break
        if record.seq != tree.size + 1:
            raise _not_extended(checkpoint, f"seq {tree.size + 1} is missing or out of place")
        try:
            leaf = bytes.fromhex(record.hash)
        except ValueError:
            raise _not_extended(checkpoint, f"the hash of seq {record.seq} is not hex") from None
        tree.append_leaf(leaf)
        if record.seq in targets:
            found_records[record.seq] = record
    if tree.size < size:
        raise _not_extended(checkpoint, f"the log ends at seq {tree.size}")
    if tree.root().hex() != checkpoint.root:
        raise _not_extended(checkpoint, "the Merkle root over its events differs from the signed one")
    found = tree.found()
    return [Inclusion(found_records[seq], tuple(found[r] for r in ranges[seq])) for seq in wanted_seqs]


def prove_consistency(records: Iterable[AuditRecord], old: cp.Checkpoint, new: cp.Checkpoint) -> dict[str, Any]:
    """The consistency proof from checkpoint *old* to *new*, from one pass over the log.

    Raises:
        InvalidInput: *old* is larger than *new*.
        AuditVerificationFailed: the log does not give one of the two signed roots.
    """
    if old.tree_size > new.tree_size:
        raise InvalidInput(
            f"the first checkpoint ({old.tree_size} events) must not be larger than the second ({new.tree_size})"
        )
    ranges = consistency_ranges(old.tree_size, new.tree_size)
    tree = TreeBuilder(ranges)
    for record in records:
        if tree.size == new.tree_size:
            break
        if record.seq != tree.size + 1:
            raise _not_extended(new, f"seq {tree.size + 1} is missing or out of place")
        try:
            tree.append_leaf(bytes.fromhex(record.hash))
        except ValueError:
            raise _not_extended(new, f"the hash of seq {record.seq} is not hex") from None
        if tree.size == old.tree_size and tree.root().hex() != old.root:
            raise _not_extended(old, "the Merkle root over its events differs from the signed one")
    if tree.size < new.tree_size:
        raise _not_extended(new, f"the log ends at seq {tree.size}")
    if tree.root().hex() != new.root:
        raise _not_extended(new, "the Merkle root over its events differs from the signed one")
    found = tree.found()
    return {
        "format": CONSISTENCY_FORMAT,
        "first_size": old.tree_size,
        "second_size": new.tree_size,
        "proof": [found[r].hex() for r in ranges] if old.tree_size != new.tree_size else [],
        "first": old.as_dict(),
        "second": new.as_dict(),
    }


def _not_extended(checkpoint: cp.Checkpoint, why: str) -> AuditVerificationFailed:
    return AuditVerificationFailed(
        f"the log does not extend the checkpoint of seq 1..{checkpoint.tree_size}: {why}; "
        "run `beslut audit verify --checkpoint` to find the first bad seq"
    )


# ---------------------------------------------------------------- offline verification


def load_document(data: bytes, source: str) -> dict[str, Any]:
    """Parse a proof file strictly (no duplicate keys, no floats).

    Raises:
        InvalidInput: not JSON, or not an object with a known format.
    """
    if len(data) > MAX_PROOF_FILE:
        raise InvalidInput(f"proof {source} is too large")
    document = cp.strict_json(data, f"proof {source}")
    if not isinstance(document, dict) or document.get("format") not in (INCLUSION_FORMAT, CONSISTENCY_FORMAT):
        raise InvalidInput(
            f"proof {source} is not a beslut proof (its format must be {INCLUSION_FORMAT} or {CONSISTENCY_FORMAT})"
        )
    return document


def verify_document(document: dict[str, Any], public_key: Ed25519PublicKey, source: str) -> str:
    """Check a proof offline; return a one-line statement of what it proves.

    Raises:
        InvalidInput: the proof is malformed.
        AuditVerificationFailed: it does not prove what it claims.
    """
    if document["format"] == INCLUSION_FORMAT:
        return verify_inclusion_document(document, public_key, source)
    return verify_consistency_document(document, public_key, source)


def verify_inclusion_document(document: dict[str, Any], public_key: Ed25519PublicKey, source: str) -> str:
    """Check an inclusion proof: signature, the event's own hash, the path to the signed root."""
    where = f"proof {source}"
    _fields(document, ("format", "event", "leaf_index", "tree_size", "audit_path", "checkpoint"), where)
    checkpoint = cp.from_object(document["checkpoint"], f"in {source}")
    record = _event(document["event"], where)
    index, size = document["leaf_index"], document["tree_size"]
    if not _is_int(index) or not _is_int(size):
        raise InvalidInput(f"{where}: leaf_index and tree_size must be integers")
    path = _hashes(document["audit_path"], f"{where}: audit_path")
    cp.check_signature(checkpoint, public_key, f"in {source}")
    if size != checkpoint.tree_size:
        raise AuditVerificationFailed(f"{where}: tree_size {size} is not the checkpoint's ({checkpoint.tree_size})")
    if index != record.seq - 1:
        raise AuditVerificationFailed(f"{where}: leaf_index {index} is not the event's seq {record.seq} - 1")
    try:
        recomputed = record.recompute_hash()
    except (TypeError, ValueError) as error:
        raise AuditVerificationFailed(f"{where}: the event cannot be hashed: {error}") from None
    if recomputed != record.hash:
        raise AuditVerificationFailed(f"{where}: the event's content does not give its hash: the event was altered")
    if not verify_inclusion(index, size, leaf_hash(bytes.fromhex(record.hash)), path, bytes.fromhex(checkpoint.root)):
        raise AuditVerificationFailed(
            f"{where}: the audit path does not lead from seq {record.seq} to the checkpoint's root"
        )
    return (
        f"ok: seq {record.seq} ({record.kind}, {record.stream}, valid on {record.valid_on}) is in the log "
        f"signed at seq 1..{size} on {checkpoint.created_at} by key {checkpoint.key_id[:16]}…"
    )


def verify_consistency_document(document: dict[str, Any], public_key: Ed25519PublicKey, source: str) -> str:
    """Check a consistency proof: both signatures, then the proof between the two roots."""
    where = f"proof {source}"
    _fields(document, ("format", "first_size", "second_size", "proof", "first", "second"), where)
    first = cp.from_object(document["first"], f"first in {source}")
    second = cp.from_object(document["second"], f"second in {source}")
    proof = _hashes(document["proof"], f"{where}: proof")
    cp.check_signature(first, public_key, f"first in {source}")
    cp.check_signature(second, public_key, f"second in {source}")
    if (document["first_size"], document["second_size"]) != (first.tree_size, second.tree_size):
        raise AuditVerificationFailed(f"{where}: its sizes are not the checkpoints' sizes")
    if first.log_id != second.log_id:
        raise AuditVerificationFailed(f"{where}: the two checkpoints are of different logs (seq 1 differs)")
    if not verify_consistency(
        first.tree_size, second.tree_size, bytes.fromhex(first.root), bytes.fromhex(second.root), proof
    ):
        raise AuditVerificationFailed(
            f"{where}: the log signed at seq 1..{second.tree_size} does not extend the one signed at "
            f"seq 1..{first.tree_size}"
        )
    return (
        f"ok: the log signed at seq 1..{second.tree_size} ({second.created_at}) extends the one signed at "
        f"seq 1..{first.tree_size} ({first.created_at}), key {second.key_id[:16]}…"
    )


def record_from_object(value: Any, where: str) -> AuditRecord:
    """An audit record from its `audit log --json` object, every field checked.

    Raises:
        InvalidInput: a field missing, unknown or of the wrong type.
    """
    return _event(value, where)


def _event(value: Any, where: str) -> AuditRecord:
    if not isinstance(value, dict):
        raise InvalidInput(f"{where}: the event is not a JSON object")
    _fields(value, _EVENT_FIELDS, f"{where}: the event")
    for name in ("seq", "stream_seq"):
        if not _is_int(value[name]) or value[name] < 1:
            raise InvalidInput(f"{where}: the event's {name} must be a positive integer")
    for name in ("stream", "recorded_at", "valid_on", "kind", "prev_hash", "hash"):
        if not isinstance(value[name], str):
            raise InvalidInput(f"{where}: the event's {name} must be text")
    if len(value["hash"]) != 64 or any(c not in "0123456789abcdef" for c in value["hash"]):
        raise InvalidInput(f"{where}: the event's hash must be 64 lower-case hex digits")
    try:
        payload = canonical_json(value["payload"])
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"{where}: the event's payload cannot be canonicalised: {error}") from None
    return AuditRecord(
        seq=value["seq"],
        stream=value["stream"],
        stream_seq=value["stream_seq"],
        recorded_at=value["recorded_at"],
        valid_on=value["valid_on"],
        kind=value["kind"],
        payload=payload,
        prev_hash=value["prev_hash"],
        hash=value["hash"],
    )


def _fields(value: dict[str, Any], names: tuple[str, ...], where: str) -> None:
    missing = [n for n in names if n not in value]
    unknown = sorted(set(value) - set(names))
    if missing:
        raise InvalidInput(f"{where} has no {', '.join(missing)}")
    if unknown:
        raise InvalidInput(f"{where} has unknown fields: {', '.join(unknown)}")


def _hashes(value: Any, where: str) -> list[bytes]:
    if not isinstance(value, list) or len(value) > 64:
        raise InvalidInput(f"{where} must be a list of at most 64 hashes")
    out: list[bytes] = []
    for item in value:
        if not isinstance(item, str) or len(item) != 64:
            raise InvalidInput(f"{where}: every hash is 64 hex digits")
        try:
            out.append(bytes.fromhex(item))
        except ValueError:
            raise InvalidInput(f"{where}: every hash is 64 hex digits") from None
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def dumps(document: dict[str, Any]) -> str:
    """A proof document as the text written to a file."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
