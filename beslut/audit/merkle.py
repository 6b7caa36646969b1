"""The Merkle tree of the audit log, exactly as RFC 6962 §2.1 / RFC 9162 §2.1 define it.

Leaves are the event hashes in seq order: leaf *i* (0-based) is the 32 raw bytes of
the sha256 digest stored in ``audit_event.hash`` for seq *i + 1* (the hex string
decoded, not the hex text). As in the RFCs, with SHA-256 as the hash:

- ``MTH({})`` = SHA-256 of the empty string;
- leaf hash = ``SHA-256(0x00 || leaf)``;
- node hash = ``SHA-256(0x01 || left || right)``, splitting *n* leaves at *k*, the
  largest power of two smaller than *n*.

Everything here streams: :class:`TreeBuilder` keeps one hash per set bit of the tree
size (the "compact range" of the log), so the root of a million events needs about
twenty hashes of memory. Proofs are computed by first listing which subtrees the
proof needs (their ranges follow from the sizes alone) and then computing exactly
those subtree hashes in one pass over the leaves (:func:`subtree_hashes`).

Verification follows RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) step
by step; those functions touch no database and are what an offline verifier runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Final

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()
_LEAF: Final = b"\x00"
_NODE: Final = b"\x01"

Range = tuple[int, int]  # [start, end) of 0-based leaf indexes


def leaf_hash(leaf: bytes) -> bytes:
    """``SHA-256(0x00 || leaf)``."""
    return hashlib.sha256(_LEAF + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(_NODE + left + right).digest()


def event_leaf(event_hash: str) -> bytes:
    """The leaf of one event: the 32 bytes its hex ``hash`` column spells.

    Raises:
        ValueError: *event_hash* is not 64 hex digits.
    """
    if len(event_hash) != 2 * HASH_SIZE:
        raise ValueError(f"an event hash is 64 hex digits, not {len(event_hash)} characters")
    return bytes.fromhex(event_hash)


def split_point(n: int) -> int:
    """The largest power of two smaller than *n* (n >= 2): where RFC 6962 splits a tree of n leaves."""
    if n < 2:
        raise ValueError("only a tree of two or more leaves is split")
    return 1 << ((n - 1).bit_length() - 1)


class TreeBuilder:
    """Append leaf hashes one by one; the root of what was appended is ready at any time.

    Keeps the roots of the perfect subtrees that the binary decomposition of the size
    gives (largest first), merging two equal ones as soon as they appear. Optionally
    remembers the hashes of chosen subtrees (*wanted* ranges) as they complete, which is
    how :func:`subtree_hashes` computes proofs in one pass.
    """

    __slots__ = ("_found", "_stack", "_wanted", "size")

    def __init__(self, wanted: Iterable[Range] = ()) -> None:
        self._stack: list[tuple[int, int, bytes]] = []  # (start, size, hash), sizes strictly decreasing
        self._wanted = frozenset(wanted)
        self._found: dict[Range, bytes] = {}
        self.size = 0

    @classmethod
    def resume(cls, size: int, frontier: Sequence[bytes]) -> TreeBuilder:
        """A builder that continues a tree of *size* leaves from its perfect subtrees' roots (largest first).

        This is how a signed checkpoint's ``subtrees`` let the next root be computed from
        the new leaves alone, without reading the leaves the checkpoint already covers.

        Raises:
            ValueError: *frontier* does not have one hash per set bit of *size*.
        """
        widths = [1 << bit for bit in reversed(range(size.bit_length())) if size & (1 << bit)]
        if len(frontier) != len(widths) or any(len(h) != HASH_SIZE for h in frontier):
            raise ValueError(f"a tree of {size} leaves has {len(widths)} perfect subtrees of 32-byte hashes")
        builder = cls()
        start = 0
        for width, digest in zip(widths, frontier, strict=True):
            builder._stack.append((start, width, digest))
            start += width
        builder.size = size
        return builder

    def append_leaf(self, leaf: bytes) -> None:
        """Append one leaf (its bytes; the leaf hash is computed here)."""
        self.append_hash(hashlib.sha256(_LEAF + leaf).digest())

    def append_hash(self, digest: bytes) -> None:
        """Append one leaf by its leaf hash."""
        start, width, stack = self.size, 1, self._stack
        wanted = self._wanted
        if wanted and (start, start + 1) in wanted:
            self._found[(start, start + 1)] = digest
        while stack and stack[-1][1] == width:
            start, _, left = stack.pop()
            digest = hashlib.sha256(_NODE + left + digest).digest()
            width *= 2
            if wanted and (start, start + width) in wanted:
                self._found[(start, start + width)] = digest
        stack.append((start, width, digest))
        self.size += 1

    def root(self) -> bytes:
        """``MTH`` of the leaves appended so far."""
        stack = self._stack
        if not stack:
            return EMPTY_ROOT
        digest = stack[-1][2]
        for _, _, left in reversed(stack[:-1]):
            digest = node_hash(left, digest)
        return digest

    def frontier(self) -> list[tuple[int, int, bytes]]:
        """The perfect subtrees the tree is made of, largest first: ``(start, end, hash)``."""
        return [(start, start + width, digest) for start, width, digest in self._stack]

    def found(self) -> dict[Range, bytes]:
        """The hashes of the wanted ranges, including the right-edge ones ending at the current size."""
        found = dict(self._found)
        digest: bytes | None = None
        for start, _, node in reversed(self._stack):
            digest = node if digest is None else node_hash(node, digest)
            if (start, self.size) in self._wanted:
                found[(start, self.size)] = digest
        return found


def root_of(leaf_hashes: Iterable[bytes]) -> bytes:
    """``MTH`` of the given leaf hashes, streamed."""
    builder = TreeBuilder()
    for digest in leaf_hashes:
        builder.append_hash(digest)
    return builder.root()


# ---------------------------------------------------------------- which subtrees a proof needs


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The subtrees whose hashes form the audit path of leaf *index* in a tree of *size* (RFC 6962 §2.1.1).

    Ordered from the leaf's sibling up to the root's other child, as the path is.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of {size} leaves")
    ranges: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index - start < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_ranges(first: int, second: int) -> list[Range]:
    """The subtrees whose hashes form the consistency proof from size *first* to *second* (RFC 6962 §2.1.2)."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from {first} to {second} leaves")
    ranges: list[Range] = []
    start, end, m, complete = 0, second, first, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                ranges.append((start, end))
            break
        k = split_point(n)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, complete = start + k, m - k, False
    ranges.reverse()
    return ranges


def subtree_hashes(leaf_hashes: Iterable[bytes], size: int, ranges: Iterable[Range]) -> dict[Range, bytes]:
    """The hashes of the given subtrees of the tree over the first *size* leaf hashes, in one pass.

    Raises:
        ValueError: fewer than *size* leaves were given.
    """
    builder = TreeBuilder(ranges)
    for digest in leaf_hashes:
        if builder.size == size:
            break
        builder.append_hash(digest)
    if builder.size < size:
        raise ValueError(f"the tree has {builder.size} leaves, not {size}")
    return builder.found()


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf *index* in the tree over all *leaf_hashes* (in memory; for tests and small trees)."""
    ranges = inclusion_ranges(index, len(leaf_hashes))
    found = subtree_hashes(leaf_hashes, len(leaf_hashes), ranges)
    return [found[r] for r in ranges]


def consistency_proof(leaf_hashes: Sequence[bytes], first: int) -> list[bytes]:
    """The consistency proof from the first *first* leaves to all of *leaf_hashes* (in memory)."""
    ranges = consistency_ranges(first, len(leaf_hashes))
    found = subtree_hashes(leaf_hashes, len(leaf_hashes), ranges)
    return [found[r] for r in ranges]


# ---------------------------------------------------------------- verification (RFC 9162)


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """The root that *path* proves leaf hash *leaf* at *index* into, or None if the path cannot be right.

    RFC 9162 §2.1.3.2, with every hash required to be 32 bytes.
    """
    if not 0 <= index < size or len(leaf) != HASH_SIZE:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if len(p) != HASH_SIZE or sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return None
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> bool:
    """True iff *path* proves leaf hash *leaf* is leaf *index* of the tree of *size* leaves with *root*."""
    computed = root_from_inclusion_proof(index, size, leaf, path)
    return computed is not None and len(root) == HASH_SIZE and computed == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> bool:
    """True iff *proof* shows the tree of *second* leaves with *second_root* extends the one of *first* leaves.

    RFC 9162 §2.1.4.2; a tree is consistent with itself only with an empty proof and
    equal roots, and the empty tree with any tree only with an empty proof.
    """
    if first < 0 or second < first or any(len(h) != HASH_SIZE for h in (first_root, second_root, *proof)):
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
