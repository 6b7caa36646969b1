"""Signed checkpoints: a small JSON file that pins the audit log's head, kept outside the database.

A checkpoint states, for the first ``tree_size`` events (seq 1 … ``tree_size``): the
hash of seq 1 (``log_id``, which log this is), the head's seq and hash, the RFC 6962
Merkle root of all their hashes, and the roots of the perfect subtrees the tree is made
of (``subtrees``, largest first: they fold into the root, and they let a verifier say
which part of a rewritten log changed). It is signed with Ed25519 over the RFC 8785
canonical JSON of every field but ``signature``; ``key_id`` names the signing key.

Whoever holds a checkpoint and the public key can later prove that the log still
extends it (:mod:`beslut.audit.verify`), and that a single event is in it
(:mod:`beslut.audit.proofs`), without trusting the database or its operator.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from beslut.audit.keys import key_id
from beslut.audit.merkle import node_hash
from beslut.clock import STOCKHOLM
from beslut.errors import AuditVerificationFailed, InvalidInput
from beslut.states.audit_chain import canonical_json

FORMAT: Final = "beslut-checkpoint/1"
TREE: Final = "RFC 6962 SHA-256 Merkle tree; leaf i is the 32 bytes of audit_event.hash of seq i+1"
MAX_FILE: Final = 1_000_000
MAX_SIZE: Final = 2**53 - 1
_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_FIELDS: Final = (
    "format",
    "tree",
    "log_id",
    "tree_size",
    "head_seq",
    "head_hash",
    "root",
    "subtrees",
    "created_at",
    "key_id",
    "signature",
)


def subtree_ranges(size: int) -> list[tuple[int, int]]:
    """The perfect subtrees a tree of *size* leaves is made of, largest first, as [start, end) leaf ranges."""
    ranges: list[tuple[int, int]] = []
    start = 0
    for bit in reversed(range(size.bit_length())):
        width = 1 << bit
        if size & width:
            ranges.append((start, start + width))
            start += width
    return ranges


def fold(subtrees: list[bytes]) -> bytes:
    """The root the perfect subtrees (largest first) make: folded from the right, as RFC 6962's split does."""
    digest = subtrees[-1]
    for left in reversed(subtrees[:-1]):
        digest = node_hash(left, digest)
    return digest


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """A signed statement of the log's first ``tree_size`` events."""

    log_id: str
    tree_size: int
    head_hash: str
    root: str
    subtrees: tuple[str, ...]
    created_at: str
    key_id: str
    signature: str = ""

    @property
    def head_seq(self) -> int:
        """The seq of the last event covered (seq is gap-free from 1, so the tree size)."""
        return self.tree_size

    def body(self) -> dict[str, Any]:
        """Every field but the signature: what is signed."""
        return {
            "format": FORMAT,
            "tree": TREE,
            "log_id": self.log_id,
            "tree_size": self.tree_size,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "root": self.root,
            "subtrees": list(self.subtrees),
            "created_at": self.created_at,
            "key_id": self.key_id,
        }

    def signed_bytes(self) -> bytes:
        """The RFC 8785 canonical JSON of :meth:`body`, UTF-8: the bytes the signature covers."""
        return canonical_json(self.body()).encode("utf-8")

    def as_dict(self) -> dict[str, Any]:
        """The whole checkpoint as a JSON object."""
        return {**self.body(), "signature": self.signature}

    def to_text(self) -> str:
        """The checkpoint file's text."""
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n"

    def describe(self) -> str:
        """A one-line description for people."""
        return (
            f"checkpoint of seq 1..{self.tree_size} (head {self.head_hash[:12]}…, root {self.root[:12]}…) "
            f"made {self.created_at}, key {self.key_id[:12]}…"
        )


def sign(
    *,
    private_key: Ed25519PrivateKey,
    log_id: str,
    tree_size: int,
    head_hash: str,
    subtrees: list[bytes],
    created_at: datetime,
) -> Checkpoint:
    """Sign a checkpoint of the log's first *tree_size* events."""
    unsigned = Checkpoint(
        log_id=log_id,
        tree_size=tree_size,
        head_hash=head_hash,
        root=fold(subtrees).hex(),
        subtrees=tuple(s.hex() for s in subtrees),
        created_at=created_at.astimezone(STOCKHOLM).isoformat(timespec="seconds"),
        key_id=key_id(private_key.public_key()),
    )
    signature = base64.b64encode(private_key.sign(unsigned.signed_bytes())).decode("ascii")
    return Checkpoint(**{**unsigned.__dict__, "signature": signature})


def load(path: Path) -> Checkpoint:
    """Read and parse a checkpoint file.

    Raises:
        InvalidInput: unreadable or malformed (names the file and what is wrong).
    """
    try:
        if path.stat().st_size > MAX_FILE:
            raise InvalidInput(f"checkpoint {path} is too large to be a checkpoint")
        data = path.read_bytes()
    except OSError as error:
        raise InvalidInput(f"cannot read checkpoint {path}: {error.strerror or error}") from None
    return parse(data, str(path))


def parse(data: bytes | str, source: str) -> Checkpoint:
    """Parse checkpoint JSON text, strictly.

    Raises:
        InvalidInput: not a well-formed checkpoint.
    """
    return from_object(strict_json(data, f"checkpoint {source}"), source)


def from_object(value: Any, source: str) -> Checkpoint:
    """A checkpoint from its parsed JSON object, checked field by field.

    Raises:
        InvalidInput: a field is missing, unknown, of the wrong type, or inconsistent.
    """
    where = f"checkpoint {source}"
    _check_shape(value, where)
    size = value["tree_size"]
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_SIZE:
        raise InvalidInput(f"{where}: tree_size must be a positive integer")
    if value["head_seq"] != size or isinstance(value["head_seq"], bool):
        raise InvalidInput(f"{where}: head_seq must equal tree_size")
    for name in ("log_id", "head_hash", "root", "key_id"):
        _hex(value[name], f"{where}: {name}")
    subtrees = value["subtrees"]
    if not isinstance(subtrees, list) or len(subtrees) != len(subtree_ranges(size)):
        raise InvalidInput(f"{where}: subtrees must list {len(subtree_ranges(size))} hashes for tree_size {size}")
    for index, item in enumerate(subtrees):
        _hex(item, f"{where}: subtrees[{index}]")
    if fold([bytes.fromhex(s) for s in subtrees]).hex() != value["root"]:
        raise InvalidInput(f"{where} is inconsistent: its subtrees do not make its root")
    created = value["created_at"]
    if not isinstance(created, str) or not _is_instant(created):
        raise InvalidInput(f"{where}: created_at must be an ISO 8601 date-time with an offset")
    signature = value["signature"]
    if not isinstance(signature, str) or len(_b64(signature, where)) != 64:
        raise InvalidInput(f"{where}: signature must be a base64 Ed25519 signature (64 bytes)")
    return Checkpoint(
        log_id=value["log_id"],
        tree_size=size,
        head_hash=value["head_hash"],
        root=value["root"],
        subtrees=tuple(subtrees),
        created_at=created,
        key_id=value["key_id"],
        signature=signature,
    )


def _check_shape(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise InvalidInput(f"{where} is not a JSON object")
    missing = [name for name in _FIELDS if name not in value]
    unknown = sorted(set(value) - set(_FIELDS))
    if missing:
        raise InvalidInput(f"{where} has no {', '.join(missing)}: is it a checkpoint?")
    if unknown:
        raise InvalidInput(f"{where} has unknown fields: {', '.join(unknown)}")
    if value["format"] != FORMAT:
        raise InvalidInput(f"{where}: format is {value['format']!r}, not {FORMAT!r}")
    if value["tree"] != TREE:
        raise InvalidInput(f"{where}: tree is {value['tree']!r}, not this log's tree definition")


def check_signature(checkpoint: Checkpoint, public_key: Ed25519PublicKey, source: str) -> None:
    """Refuse unless *checkpoint* was signed, unaltered, by *public_key*.

    Raises:
        AuditVerificationFailed: signed by another key, or altered after signing.
    """
    given = key_id(public_key)
    if checkpoint.key_id != given:
        raise AuditVerificationFailed(
            f"checkpoint {source} was signed by key {checkpoint.key_id[:16]}…, not by the given public key "
            f"({given[:16]}…)"
        )
    try:
        public_key.verify(_b64(checkpoint.signature, source), checkpoint.signed_bytes())
    except InvalidSignature:
        raise AuditVerificationFailed(
            f"checkpoint {source}: the signature does not verify: the checkpoint was altered after it was signed"
        ) from None


def strict_json(data: bytes | str, where: str) -> Any:
    """Parse JSON refusing duplicate keys, floats and non-standard constants.

    Raises:
        InvalidInput: not such JSON (names *where*).
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_no_float, parse_constant=_no_float)
    except UnicodeDecodeError:
        raise InvalidInput(f"{where} is not UTF-8 text") from None
    except _Malformed as error:
        raise InvalidInput(f"{where}: {error}") from None
    except (ValueError, RecursionError) as error:
        raise InvalidInput(f"{where} is not valid JSON: {_first_line(error)}") from None


class _Malformed(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in pairs:
        if key in out:
            raise _Malformed(f"the key {key!r} appears twice")
        out[key] = item
    return out


def _no_float(text: str) -> Any:
    raise _Malformed(f"unexpected number {text}: no fractions or constants here")


def _hex(value: Any, where: str) -> None:
    if not isinstance(value, str) or _HEX64.fullmatch(value) is None:
        raise InvalidInput(f"{where} must be 64 lower-case hex digits")


def _b64(value: str, where: str) -> bytes:
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise InvalidInput(f"{where}: signature is not base64") from None


def _is_instant(text: str) -> bool:
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
