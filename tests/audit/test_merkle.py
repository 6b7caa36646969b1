"""The Merkle tree against published RFC 6962 test vectors, and against a naive reading of the RFC.

The vectors (leaves, roots for sizes 1-8, inclusion and consistency proofs) are the
Certificate Transparency ones, as published in transparency-dev/merkle
``proof/verify_test.go`` (and google/certificate-transparency before it); they are data
here, and the corruptions follow the same test's probes. The naive implementation below
transcribes RFC 6962 §2.1, §2.1.1 and §2.1.2 recursively, with no shared code, and
hypothesis compares it with the streamed one on every size and index.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beslut.audit import merkle

LEAVES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                      "606162636465666768696a6b6c6d6e6f"]]  # fmt: skip
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
# (leaf number from 1, tree size, audit path)
INCLUSION = [
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (2, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
HASHES = [merkle.leaf_hash(leaf) for leaf in LEAVES]


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# ---------------------------------------------------------------- the RFC, read naively


def naive_mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1: MTH of raw leaves, recursively."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + naive_mth(leaves[:k]) + naive_mth(leaves[k:])).digest()


def naive_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(m, D[n])."""
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*naive_path(m, leaves[:k]), naive_mth(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), naive_mth(leaves[:k])]


def naive_subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    """RFC 6962 §2.1.2 SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if complete else [naive_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*naive_subproof(m, leaves[:k], complete), naive_mth(leaves[k:])]
    return [*naive_subproof(m - k, leaves[k:], False), naive_mth(leaves[:k])]


# ---------------------------------------------------------------- published vectors


def test_roots_of_the_published_vectors() -> None:
    """MTH of the first n reference leaves, n = 0..8, is the published root; the split is RFC 6962's."""
    assert EMPTY == merkle.root_of([]).hex()
    for n in range(1, 9):
        assert ROOTS[n - 1] == merkle.root_of(HASHES[:n]).hex()
    assert [1, 2, 2, 4, 4, 4, 4, 8] == [merkle.split_point(n) for n in range(2, 10)]
    assert 512 == merkle.split_point(1000)


@pytest.mark.parametrize(("leaf", "size", "path"), INCLUSION)
def test_inclusion_proofs_of_the_published_vectors(leaf: int, size: int, path: list[str]) -> None:
    """The audit path made here is the published one, and it verifies against the published root."""
    assert path == [p.hex() for p in merkle.inclusion_proof(HASHES[:size], leaf - 1)]
    assert merkle.verify_inclusion(leaf - 1, size, HASHES[leaf - 1], [h(p) for p in path], h(ROOTS[size - 1]))


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
def test_consistency_proofs_of_the_published_vectors(first: int, second: int, proof: list[str]) -> None:
    """The consistency proof made here is the published one, and it verifies between the published roots."""
    assert proof == [p.hex() for p in merkle.consistency_proof(HASHES[:second], first)]
    assert merkle.verify_consistency(first, second, h(ROOTS[first - 1]), h(ROOTS[second - 1]), [h(p) for p in proof])


@pytest.mark.parametrize(("leaf", "size", "path"), INCLUSION)
def test_corrupted_inclusion_proofs_are_refused(leaf: int, size: int, path: list[str]) -> None:
    """Wrong index, wrong size, wrong leaf or root, garbage before or after, a flipped bit, a missing or extra hash."""
    index, root, digest, proof = leaf - 1, h(ROOTS[size - 1]), HASHES[leaf - 1], [h(p) for p in path]
    probes = [
        (index - 1, size, digest, proof, root),
        (index + 1, size, digest, proof, root),
        (index ^ 2, size, digest, proof, root),
        (index, size * 2, digest, proof, root),
        (index, size // 2, digest, proof, root),
        (index, size, b"WrongLeaf", proof, root),
        (index, size, digest, proof, h(EMPTY)),
        (index, size, digest, proof, SOME_HASH),
        (index, size, digest, [*proof, b""], root),
        (index, size, digest, [*proof, root], root),
        (index, size, digest, [b"", *proof], root),
        (index, size, digest, [root, *proof], root),
        (index, size, digest, proof[:-1], root),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        probes.append((index, size, digest, bad, root))
    if len(proof) > 1:
        probes.append((index, size, digest, [proof[0], SOME_HASH, *proof[1:]], root))
    for probe in probes:
        if probe[0] < 0:
            continue
        assert not merkle.verify_inclusion(*probe), probe


@pytest.mark.parametrize(("first", "second", "proof"), [c for c in CONSISTENCY if c[2]])
def test_corrupted_consistency_proofs_are_refused(first: int, second: int, proof: list[str]) -> None:
    """Wrong sizes, wrong or swapped roots, an empty proof, garbage, a truncated proof, a flipped bit."""
    r1, r2, p = h(ROOTS[first - 1]), h(ROOTS[second - 1]), [h(x) for x in proof]
    probes = [
        (first - 1, second, r1, r2, p),
        (first + 1, second, r1, r2, p),
        (first ^ 2, second, r1, r2, p),
        (first, second * 2, r1, r2, p),
        (first, second // 2, r1, r2, p),
        (first, second, b"WrongRoot", r2, p),
        (first, second, r1, b"WrongRoot", p),
        (first, second, r2, r1, p),
        (first, second, r1, r2, []),
        (first, second, r1, r2, [*p, b""]),
        (first, second, r1, r2, [*p, r1]),
        (first, second, r1, r2, [*p, r2]),
        (first, second, r1, r2, [b"", *p]),
        (first, second, r1, r2, [r1, *p]),
        (first, second, r1, r2, [r2, *p]),
        (first, second, r1, r2, [p[0], *p]),
        (first, second, r1, r2, p[:-1]),
    ]
    for i in range(len(p)):
        bad = list(p)
        bad[i] = bytes([bad[i][0] ^ 16]) + bad[i][1:]
        probes.append((first, second, r1, r2, bad))
    for probe in probes:
        assert not merkle.verify_consistency(*probe), probe[:2]


def test_trivial_consistency() -> None:
    """Equal sizes need equal roots and an empty proof; the empty tree is consistent with any (empty proof)."""
    root = h(ROOTS[0])
    assert merkle.verify_consistency(1, 1, root, root, [])
    assert not merkle.verify_consistency(1, 1, root, h(ROOTS[1]), [])
    assert not merkle.verify_consistency(1, 1, root, root, [root])
    assert merkle.verify_consistency(0, 1, h(EMPTY), root, [])
    assert not merkle.verify_consistency(0, 1, h(EMPTY), root, [h(EMPTY)])
    assert not merkle.verify_consistency(2, 1, root, root, [])


# ---------------------------------------------------------------- the streamed tree against the naive one


leaves_strategy = st.lists(st.binary(max_size=12), min_size=1, max_size=70)


@settings(max_examples=60, deadline=None)
@given(leaves=leaves_strategy)
def test_streamed_root_and_frontier_equal_the_naive_tree(leaves: list[bytes]) -> None:
    """The builder's root after every append is RFC 6962's MTH; its frontier folds into that root."""
    builder = merkle.TreeBuilder()
    for n, leaf in enumerate(leaves, start=1):
        builder.append_leaf(leaf)
        assert naive_mth(leaves[:n]) == builder.root()
    frontier = builder.frontier()
    assert [end - start for start, end, _ in frontier] == sorted(
        (end - start for start, end, _ in frontier), reverse=True
    )
    for start, end, digest in frontier:
        assert naive_mth(leaves[start:end]) == digest


@settings(max_examples=60, deadline=None)
@given(leaves=leaves_strategy, data=st.data())
def test_inclusion_paths_equal_the_naive_ones_and_verify(leaves: list[bytes], data: st.DataObject) -> None:
    """For a random leaf of a random tree: the same path as the RFC's recursion, and it verifies only there."""
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    index = data.draw(st.integers(0, len(leaves) - 1))
    path = merkle.inclusion_proof(hashes, index)
    assert naive_path(index, leaves) == path
    root = naive_mth(leaves)
    assert merkle.verify_inclusion(index, len(leaves), hashes[index], path, root)
    if len(leaves) > 1:
        other = (index + 1) % len(leaves)
        assert hashes[other] == hashes[index] or not merkle.verify_inclusion(
            other, len(leaves), hashes[index], path, root
        )


@settings(max_examples=60, deadline=None)
@given(leaves=leaves_strategy, data=st.data())
def test_consistency_proofs_equal_the_naive_ones_and_verify(leaves: list[bytes], data: st.DataObject) -> None:
    """For a random earlier size: the same proof as the RFC's recursion, verifying between the two roots."""
    first = data.draw(st.integers(1, len(leaves)))
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    proof = merkle.consistency_proof(hashes, first)
    assert (naive_subproof(first, leaves, True) if first < len(leaves) else []) == proof
    assert merkle.verify_consistency(first, len(leaves), naive_mth(leaves[:first]), naive_mth(leaves), proof)


def test_many_proofs_in_one_pass() -> None:
    """subtree_hashes gives, in one pass, every subtree the proofs of many leaves need."""
    leaves = [bytes([i % 256, i // 256]) for i in range(1000)]
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    wanted = {i: merkle.inclusion_ranges(i, 777) for i in (0, 1, 400, 511, 512, 776)}
    found = merkle.subtree_hashes(iter(hashes), 777, [r for rs in wanted.values() for r in rs])
    root = naive_mth(leaves[:777])
    for index, ranges in wanted.items():
        assert merkle.verify_inclusion(index, 777, hashes[index], [found[r] for r in ranges], root)
    with pytest.raises(ValueError, match="not 2000"):
        merkle.subtree_hashes(iter(hashes), 2000, [])


def test_event_leaf_is_the_hash_bytes() -> None:
    """The leaf of an event is the 32 bytes its hex hash spells, and nothing else is accepted."""
    digest = hashlib.sha256(b"x").hexdigest()
    assert bytes.fromhex(digest) == merkle.event_leaf(digest)
    with pytest.raises(ValueError, match="64 hex digits"):
        merkle.event_leaf(digest[:-2])
