"""A verifier of a beslut audit log written only from docs/audit.md and docs/auditor.md.

It uses nothing of beslut: sqlite3 to read ``audit_event``, hashlib, the ``jcs`` library for
RFC 8785 (not the ``rfc8785`` package beslut uses), and ``cryptography`` for Ed25519. What each
check follows is quoted from the docs in its docstring. It raises :class:`Invalid` naming the
first thing that does not hold.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jcs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

STOCKHOLM = ZoneInfo("Europe/Stockholm")
ZERO = "0" * 64
CHECKPOINT_FORMAT = "beslut-checkpoint/1"
PROOF_FORMAT = "beslut-inclusion-proof/1"
TREE = "RFC 6962 SHA-256 Merkle tree; leaf i is the 32 bytes of audit_event.hash of seq i+1"


class Invalid(Exception):
    """The log, checkpoint or proof does not verify; the message says where."""


@dataclass(frozen=True)
class Event:
    seq: int
    stream: str
    stream_seq: int
    recorded_at: str  # as stored (SQLite: UTC text)
    valid_on: str
    kind: str
    payload: str
    prev_hash: str
    hash: str


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON, UTF-8."""
    data: bytes = jcs.canonicalize(value)
    return data


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hashed_instant(stored: str) -> str:
    """docs/audit.md: the instant in Europe/Stockholm, ``YYYY-MM-DDTHH:MM:SS.ffffff+HH:MM``, never ``Z``."""
    instant = datetime.fromisoformat(stored)
    if instant.tzinfo is None:
        raise Invalid(f"recorded_at {stored!r} has no offset")
    return instant.astimezone(STOCKHOLM).isoformat(timespec="microseconds")


def event_hash(event: Event | dict[str, Any]) -> str:
    """docs/audit.md: sha256 hex of the RFC 8785 JSON of the eight fields, payload as the parsed object."""
    row = event if isinstance(event, dict) else event.__dict__
    payload = row["payload"] if isinstance(row["payload"], dict) else json.loads(row["payload"])
    content = {
        "seq": row["seq"],
        "stream": row["stream"],
        "stream_seq": row["stream_seq"],
        "recorded_at": hashed_instant(row["recorded_at"]),
        "valid_on": row["valid_on"],
        "kind": row["kind"],
        "payload": payload,
        "prev_hash": row["prev_hash"],
    }
    return hashlib.sha256(canonical(content)).hexdigest()


def read_log(path: Path) -> list[Event]:
    """Every row of ``audit_event`` in seq order, read-only."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT seq, stream, stream_seq, recorded_at, valid_on, kind, payload, prev_hash, hash"
            " FROM audit_event ORDER BY seq"
        ).fetchall()
    finally:
        connection.close()
    return [Event(*row) for row in rows]


def verify_chain(events: list[Event]) -> None:
    """docs/audit.md: seq gap-free from 1, stream_seq gap-free per stream, payload canonical, prev_hash, hash."""
    previous = ZERO
    streams: dict[str, int] = {}
    for number, event in enumerate(events, start=1):
        if event.seq != number:
            raise Invalid(f"seq {event.seq}: expected seq {number} (a gap)")
        expected_stream_seq = streams.get(event.stream, 0) + 1
        if event.stream_seq != expected_stream_seq:
            raise Invalid(f"seq {event.seq}: stream_seq {event.stream_seq}, expected {expected_stream_seq}")
        streams[event.stream] = event.stream_seq
        if canonical(json.loads(event.payload)) != event.payload.encode("utf-8"):
            raise Invalid(f"seq {event.seq}: payload is not RFC 8785 canonical")
        if event.prev_hash != previous:
            raise Invalid(f"seq {event.seq}: prev_hash is not the previous event's hash")
        if event_hash(event) != event.hash:
            raise Invalid(f"seq {event.seq}: hash does not match its content")
        previous = event.hash


# ---------------------------------------------------------------- RFC 6962 / RFC 9162 section 2.1


def leaf_hash(hex_hash: str) -> bytes:
    """docs/auditor.md: leaf i is the 32 raw bytes of seq i+1's hash; leaf hash = SHA-256(0x00 || leaf)."""
    return sha256(b"\x00" + bytes.fromhex(hex_hash))


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def merkle_root(leaves: list[bytes]) -> bytes:
    """MTH of RFC 6962 2.1: split at k, the largest power of two smaller than n."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def perfect_subtrees(leaves: list[bytes]) -> list[bytes]:
    """The perfect subtrees the tree is made of, largest first (docs/auditor.md's ``subtrees``)."""
    roots, start, size = [], 0, len(leaves)
    while size:
        k = 1 << (size.bit_length() - 1)
        roots.append(merkle_root(leaves[start : start + k]))
        start, size = start + k, size - k
    return roots


def verify_inclusion(leaf: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2, as written there."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# ---------------------------------------------------------------- checkpoints and proofs


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise Invalid("the public key is not Ed25519")
    return key


def verify_checkpoint_signature(checkpoint: dict[str, Any], key: Ed25519PublicKey) -> None:
    """docs/auditor.md: the signature covers the RFC 8785 JSON of every field but ``signature``; key_id."""
    if checkpoint.get("format") != CHECKPOINT_FORMAT or checkpoint.get("tree") != TREE:
        raise Invalid("not a beslut-checkpoint/1 over the documented tree")
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    if checkpoint["key_id"] != hashlib.sha256(raw).hexdigest():
        raise Invalid("the checkpoint was signed by another key")
    signed = {name: value for name, value in checkpoint.items() if name != "signature"}
    try:
        key.verify(base64.b64decode(checkpoint["signature"], validate=True), canonical(signed))
    except InvalidSignature:
        raise Invalid("the checkpoint's signature does not verify") from None


def verify_checkpoint(events: list[Event], checkpoint: dict[str, Any], key: Ed25519PublicKey) -> None:
    """The log extends the checkpoint: its first tree_size events give the signed root, subtrees and head."""
    verify_checkpoint_signature(checkpoint, key)
    size = checkpoint["tree_size"]
    if len(events) < size:
        raise Invalid(f"the log has {len(events)} events, the checkpoint covers {size}")
    leaves = [leaf_hash(e.hash) for e in events[:size]]
    if events[0].hash != checkpoint["log_id"]:
        raise Invalid("log_id is not the hash of seq 1: another log")
    if (checkpoint["head_seq"], checkpoint["head_hash"]) != (size, events[size - 1].hash):
        raise Invalid("head_seq / head_hash are not the log's event at tree_size")
    subtrees = [s.hex() for s in perfect_subtrees(leaves)]
    if subtrees != checkpoint["subtrees"]:
        first = next(i for i, (a, b) in enumerate(zip(subtrees, checkpoint["subtrees"], strict=False)) if a != b)
        raise Invalid(f"subtree {first} of the log differs from the signed one")
    if merkle_root(leaves).hex() != checkpoint["root"]:
        raise Invalid("the log's Merkle root is not the signed root")


def verify_proof(proof: dict[str, Any], key: Ed25519PublicKey) -> int:
    """docs/auditor.md: the checkpoint's signature, the event's hash from the event shown, leaf_index = seq - 1,
    tree_size the checkpoint's, and the audit path folded from SHA-256(0x00 || hash bytes) to the signed root.

    Returns the proven seq.
    """
    if proof.get("format") != PROOF_FORMAT:
        raise Invalid("not a beslut-inclusion-proof/1")
    checkpoint, event = proof["checkpoint"], proof["event"]
    verify_checkpoint_signature(checkpoint, key)
    if event_hash(event) != event["hash"]:
        raise Invalid(f"seq {event['seq']}: the event shown does not hash to its hash")
    if proof["leaf_index"] != event["seq"] - 1 or proof["tree_size"] != checkpoint["tree_size"]:
        raise Invalid("leaf_index or tree_size do not match the event and checkpoint")
    path = [bytes.fromhex(h) for h in proof["audit_path"]]
    root = bytes.fromhex(checkpoint["root"])
    if not verify_inclusion(leaf_hash(event["hash"]), proof["leaf_index"], proof["tree_size"], path, root):
        raise Invalid(f"seq {event['seq']}: the audit path does not lead to the signed root")
    seq: int = event["seq"]
    return seq
