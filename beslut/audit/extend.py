"""The next checkpoint after a signed one, checking only what is new: cheap on a log of millions of events.

`audit checkpoint` verifies the whole log before it signs. A daemon that signs every few
minutes cannot do that on a large log, and need not: the previous checkpoint (its
signature checked with the signing key's own public half) already states the hash of
seq ``N`` and the roots of the perfect Merkle subtrees over seq 1..N. So :func:`extend`

1. re-reads seq 1 and seq N and requires their hashes to be the signed ``log_id`` and
   ``head_hash``, and seq N's content to still hash to it (the anchor is where the
   checkpoint says it is);
2. checks the chain of every event after N (seq gap-free, ``prev_hash`` links back to
   the signed head, canonical payload, hash matches content), exactly as ``audit verify``
   does, and appends their hashes to the Merkle tree resumed from the signed subtrees
   (:meth:`~beslut.audit.merkle.TreeBuilder.resume`);
3. replays every stream those events touch, from its first event, through the same
   machines and command rules ``audit verify`` uses (plus the streams a revision or a
   supersession refers to), so each new event is a legal transition with the right
   ``stream_seq``; the older events of those streams must still hash to their ``hash``;
4. signs a checkpoint of seq 1..M, whose subtrees are the resumed tree's.

What the new checkpoint asserts about seq 1..N is only what the previous one already
signed (its roots are folded in, not recomputed from rows an attacker could have
changed), and about seq N+1..M only what was checked here. A change to an old row
(seq <= N) after the previous checkpoint is therefore not *signed*, but neither is it
*noticed* by this path (step 3 takes the older events of the streams it replays as they
are read, hashing each but not re-checking its place in the chain, which would mean reading
the log from there): `audit verify --checkpoint` notices it, and so does the full
verification (:func:`full`) that the daemon runs at its start and at least every
``full_verify_hours``. docs/auditor.md has the whole argument.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from beslut.audit import checkpoint as cp
from beslut.audit.merkle import TreeBuilder
from beslut.audit.verify import Verifier
from beslut.errors import AuditVerificationFailed
from beslut.persistence import Reader, Store
from beslut.states.audit_chain import AuditRecord, ChainChecker, Row
from beslut.states.replay import Replayer
from beslut.workflow.audit_log import read_log

MAX_STREAMS: Final = 500  # more touched streams than this: the full verification is about as cheap
_STOP_EVERY: Final = 1000  # rows between two looks at the stop flag


class Stopped(Exception):
    """The daemon is stopping: the check was abandoned and nothing was signed."""


class Broken(AuditVerificationFailed):
    """The log does not verify: nothing is signed. ``seq`` is the first bad one."""

    def __init__(self, seq: int, problem: str) -> None:
        self.seq = seq
        self.problem = problem
        super().__init__(f"refusing to sign: audit log broken at seq {seq}: {problem}")


@dataclass(frozen=True, kw_only=True)
class Extension:
    """What one checkpoint run did.

    ``mode``: ``incremental`` (from the previous checkpoint), ``full`` (the whole log) or
    ``unchanged`` (the head has not moved since the previous checkpoint: nothing signed).
    """

    mode: str
    checkpoint: cp.Checkpoint | None
    checked: int  # events whose chain was checked
    replayed: int  # events replayed through the machines
    streams: int  # streams replayed


def extend(
    store: Store,
    private_key: Ed25519PrivateKey,
    previous: cp.Checkpoint,
    *,
    now: datetime,
    source: str = "",
    should_stop: Callable[[], bool] = lambda: False,
    max_streams: int = MAX_STREAMS,
) -> Extension | None:
    """Check what is new since *previous* (signature already checked by the caller) and sign the next checkpoint.

    Returns None when so many streams were touched that :func:`full` is the better way.

    Raises:
        Broken: the log does not extend *previous*, or a new event does not verify.
        Stopped: *should_stop* said so.
    """
    size = previous.tree_size
    with store.reader() as reader:
        _check_log_id(read_log(reader), previous, source)
        with contextlib.closing(read_log(reader, after_seq=size - 1)) as rows:
            anchor = next(rows, None)
            _check_anchor(anchor, previous, source)
            chain = ChainChecker.resume(size, previous.head_hash)
            tree = TreeBuilder.resume(size, [bytes.fromhex(s) for s in previous.subtrees])
            head_hash = previous.head_hash
            for row in _stoppable(rows, should_stop):
                if row.problem is not None:
                    raise Broken(chain.expected_seq, f"the row cannot be read: {row.problem}")
                record = row.record
                # A stream's head before this part is not read here (resume): step 3 replays the whole stream.
                problem, _ = chain.check(record)
                if problem is not None:
                    raise Broken(chain.expected_seq, problem)
                tree.append_leaf(bytes.fromhex(record.hash))
                chain.accept(record)
                head_hash = record.hash
        if chain.count == 0:
            return Extension(mode="unchanged", checkpoint=None, checked=0, replayed=0, streams=0)
        if len(chain.stream_heads) > max_streams:
            return None
        replayed, streams = _replay_streams(reader, set(chain.stream_heads), size, tree.size, should_stop)
    signed = cp.sign(
        private_key=private_key,
        log_id=previous.log_id,
        tree_size=tree.size,
        head_hash=head_hash,
        subtrees=[digest for _, _, digest in tree.frontier()],
        created_at=now,
    )
    return Extension(mode="incremental", checkpoint=signed, checked=chain.count, replayed=replayed, streams=streams)


def full(
    store: Store,
    private_key: Ed25519PrivateKey,
    previous: cp.Checkpoint | None,
    *,
    now: datetime,
    source: str = "",
    should_stop: Callable[[], bool] = lambda: False,
) -> Extension:
    """Verify the whole log as `audit verify` does (against *previous* when given), then sign its head.

    Raises:
        Broken: the log does not verify, or does not extend *previous*.
        Stopped: *should_stop* said so.
    """
    verifier = Verifier(checkpoint=previous, checkpoint_source=source)
    with store.reader() as reader, contextlib.closing(read_log(reader)) as rows:
        report = verifier.run(_stoppable(rows, should_stop))
    if not report.ok:
        raise Broken(report.first_bad_seq or 0, report.problem or "")
    if (
        verifier.tree.size == 0
        or verifier.log_id is None
        or (previous is not None and verifier.tree.size == previous.tree_size)
    ):  # an empty log, or one that has not moved: nothing to sign
        return Extension(mode="unchanged", checkpoint=None, checked=report.events, replayed=report.events, streams=0)
    signed = cp.sign(
        private_key=private_key,
        log_id=verifier.log_id,
        tree_size=verifier.tree.size,
        head_hash=verifier.head_hash,
        subtrees=[digest for _, _, digest in verifier.tree.frontier()],
        created_at=now,
    )
    return Extension(
        mode="full", checkpoint=signed, checked=report.events, replayed=report.events, streams=report.streams
    )


# ---------------------------------------------------------------- steps


def _check_log_id(rows: Generator[Row, None, None], previous: cp.Checkpoint, source: str) -> None:
    with contextlib.closing(rows):
        first = next(rows, None)
    if first is None or first.problem is not None or first.record.seq != 1 or first.record.hash != previous.log_id:
        raise Broken(
            1,
            f"seq 1 is not the event checkpoint {source} starts from: the log was rewritten from its first event, "
            "or the checkpoint directory belongs to another database",
        )


def _check_anchor(anchor: Row | None, previous: cp.Checkpoint, source: str) -> None:
    size = previous.tree_size
    if anchor is None or anchor.record.seq > size:
        raise Broken(size, f"the log ends before seq {size}, which checkpoint {source} signed: it was truncated")
    if anchor.problem is not None:
        raise Broken(size, f"the row cannot be read: {anchor.problem}")
    if anchor.record.seq != size:
        raise Broken(size, f"expected seq {size} (the head checkpoint {source} signed), found seq {anchor.record.seq}")
    if anchor.record.hash != previous.head_hash or _hash_or_none(anchor.record) != previous.head_hash:
        raise Broken(size, f"seq {size} is not the event checkpoint {source} signed: the log was changed")


def _replay_streams(
    reader: Reader, touched: set[str], size: int, head: int, should_stop: Callable[[], bool]
) -> tuple[int, int]:
    """Replay whole streams through the machines; return (events replayed, streams)."""
    needed = set(touched)
    while True:  # widen to the streams the events refer to, until nothing new is referred to
        records: list[AuditRecord] = []
        referred: set[str] = set()
        with contextlib.closing(read_log(reader, streams=needed)) as rows:
            for row in _stoppable(rows, should_stop):
                if row.record.seq > head:  # appended after step 2 read the head (not in this snapshot, but be sure)
                    break
                if row.problem is not None:
                    raise Broken(row.record.seq, f"the row cannot be read: {row.problem}")
                records.append(row.record)
                referred.update(_refers_to(row.record))
        if referred <= needed:
            break
        needed |= referred
    replayer = Replayer(check_rules=True)
    for record in records:
        if record.seq <= size and _hash_or_none(record) != record.hash:
            raise Broken(record.seq, "hash does not match the event's content")
        problem = replayer.feed(record)
        if problem is not None:
            raise Broken(record.seq, problem)
    return len(records), len(needed)


def _refers_to(record: AuditRecord) -> set[str]:
    """The other streams an event's check needs: what a revision supersedes, and the revision that supersedes."""
    if record.kind not in ("recommendation.proposed", "recommendation.superseded"):
        return set()
    try:
        payload = json.loads(record.payload)
    except ValueError:
        return set()  # the replay names what is wrong with it
    if not isinstance(payload, dict):
        return set()
    spec = payload.get("spec")
    found = {payload.get("by"), spec.get("supersedes") if isinstance(spec, dict) else None}
    return {s for s in found if isinstance(s, str)}


def _hash_or_none(record: AuditRecord) -> str | None:
    try:
        return record.recompute_hash()
    except (TypeError, ValueError):
        return None


def _stoppable(rows: Iterable[Row], should_stop: Callable[[], bool]) -> Iterator[Row]:
    for count, row in enumerate(rows):
        if count % _STOP_EVERY == 0 and should_stop():
            raise Stopped
        yield row
