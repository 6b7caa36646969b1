"""The auditor's verification: everything that can be checked from the log alone, in one streamed pass.

Steps 1-3 are the domain's (:class:`beslut.states.verification.LogVerifier`, which
``Engine.verify_audit`` runs too: one verdict); this module adds step 4 and the Merkle tree.
For each row, in seq order, stopping at the first that fails:

1. **read**: the row can be read as an event at all (no NULLs, numbers where numbers
   belong, UTF-8 text);
2. **chain**: seq gap-free from 1, ``prev_hash`` links to the previous event, the payload
   is RFC 8785 canonical JSON, the hash matches the content, ``stream_seq`` gap-free per
   stream (:class:`beslut.states.audit_chain.ChainChecker`);
3. **transition**: the event is a legal transition from the state its stream was in,
   replayed through the same machines, and is what its command would have recorded
   from that state (:mod:`beslut.states.replay`);
4. **checkpoint** (when one is given, after its signature was checked): when the log
   reaches the checkpoint's size, the Merkle subtrees over seq 1..tree_size equal the
   signed ones; a log that ends before it was truncated.

The report names the first bad seq and what is wrong. A rewrite that re-hashed the
chain consistently is only visible against a checkpoint, which pins subtree roots, not
each event: the report then names the first signed subtree that differs, so every seq
before it is proven unchanged and the first changed event lies in that range
(``first_bad_range``; ``first_bad_seq`` is its start).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from beslut.audit.checkpoint import Checkpoint, subtree_ranges
from beslut.audit.merkle import TreeBuilder
from beslut.states.audit_chain import GENESIS_HASH, Row
from beslut.states.calendar import BusinessCalendar
from beslut.states.replay import Loader, Replayer
from beslut.states.verification import Failure, LogVerifier

CHECKS = ("read", "chain", "transition", "checkpoint")


@dataclass(frozen=True, kw_only=True)
class Report:
    """What the verification found; ``as_dict`` is the `audit verify --json` document."""

    ok: bool
    events: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None
    failed_check: str | None = None
    first_bad_range: tuple[int, int] | None = None
    streams: int = 0
    merkle_root: str = ""
    checks: tuple[str, ...] = ()
    checkpoint: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON report: the chain report's keys first, then the auditor's."""
        return {
            "ok": self.ok,
            "events": self.events,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
            "failed_check": self.failed_check,
            "first_bad_range": list(self.first_bad_range) if self.first_bad_range is not None else None,
            "streams": self.streams,
            "merkle_root": self.merkle_root,
            "checks": list(self.checks),
            "checkpoint": self.checkpoint,
        }


@dataclass
class Verifier:
    """Run :meth:`run` once over the log's rows; afterwards the tree and head describe what verified.

    The log's own checks are the domain's (:class:`~beslut.states.verification.LogVerifier`, which
    ``Engine.verify_audit`` runs too); this adds the Merkle tree over the events that verified and the
    comparison with a signed checkpoint.
    """

    checkpoint: Checkpoint | None = None
    checkpoint_source: str = ""
    calendar: BusinessCalendar | None = None
    check_transitions: bool = True
    loader: Loader | None = None  # with it, the transition check keeps few cases in memory (see Replayer)
    tree: TreeBuilder = field(init=False)
    log_id: str | None = field(init=False, default=None)
    head_hash: str = field(init=False, default=GENESIS_HASH)

    def __post_init__(self) -> None:
        wanted = subtree_ranges(self.checkpoint.tree_size) if self.checkpoint is not None else []
        self.tree = TreeBuilder(wanted)
        self.log = LogVerifier(self.calendar, check_transitions=self.check_transitions, loader=self.loader)
        self.replayer: Replayer = self.log.replayer

    def run(self, rows: Iterable[Row]) -> Report:
        """Verify *rows* (in seq order, as the store holds them)."""
        log = self.log
        failure: Failure | None = None
        cp = self.checkpoint
        append_leaf = self.tree.append_leaf
        for row in rows:
            failure = log.step(row)
            if failure is not None:
                break
            head = row.record.hash
            append_leaf(bytes.fromhex(head))
            self.head_hash = head
            if self.log_id is None:
                self.log_id = head
            if cp is not None and self.tree.size == cp.tree_size:
                failure = self.against_checkpoint(cp)
                if failure is not None:
                    break
        if failure is None and cp is not None and self.tree.size < cp.tree_size:
            failure = self.against_checkpoint(cp)
        elif failure is not None and cp is not None and failure.check != "checkpoint":
            # The checkpoint may prove an earlier change than the first event that fails on its own
            # (a rewrite that stays legal until a later event no longer adds up): name the earliest.
            earlier = self.against_checkpoint(cp, partial=True)
            if earlier is not None and earlier.seq < failure.seq:
                earlier.problem += f"; and seq {failure.seq}: {failure.problem}"
                failure = earlier
        return self.report(log.events, failure)

    def against_checkpoint(
        self, cp: Checkpoint, *, partial: bool = False, head_hash: str | None = None
    ) -> Failure | None:
        """Compare the signed subtrees with the log's (at or before the checkpoint's size).

        *partial*: the log was not read to its end (a failure stopped it); compare only the
        subtrees read so far, and do not call the rest missing. *head_hash*: the hash at the checkpoint's
        size, when the log was read past it (default: the head so far).
        """
        size = self.tree.size
        found = self.tree.found()
        source = self.checkpoint_source
        for (start, end), signed in zip(subtree_ranges(cp.tree_size), cp.subtrees, strict=True):
            if end > size:
                break
            if found[(start, end)].hex() != signed:
                if start == 0 and self.log_id != cp.log_id:
                    what = "seq 1 is not the event the checkpoint starts from: it is of another log, or the log was "
                    what += f"rewritten from its first event (the first changed event is within seq 1..{end})"
                else:
                    what = (
                        f"the events seq {start + 1}..{end} differ from what the checkpoint signed "
                        f"(seq 1..{start} are as signed; the first changed event is within seq {start + 1}..{end})"
                    )
                return Failure(start + 1, "checkpoint", f"the log does not extend checkpoint {source}: {what}",
                                (start + 1, end))  # fmt: skip
        if partial:
            return None
        if size < cp.tree_size:
            return Failure(
                size + 1,
                "checkpoint",
                f"the log does not extend checkpoint {source}: it ends at seq {size}, but the checkpoint signed "
                f"seq 1..{cp.tree_size} (seq {size + 1}..{cp.tree_size} were removed)",
                (size + 1, cp.tree_size),
            )
        head = self.head_hash if head_hash is None else head_hash
        if head != cp.head_hash:  # implied by the subtrees; kept as a plain second statement
            return Failure(cp.tree_size, "checkpoint", f"seq {cp.tree_size} is not the head the checkpoint signed")
        return None

    def report(self, count: int, failure: Failure | None = None, *, streams: int | None = None) -> Report:
        """The report after *count* good events (and *failure*, if any); *streams* when not all were replayed here."""
        checks = list(self.log.checks)
        checkpoint_info: dict[str, Any] | None = None
        if self.checkpoint is not None:
            checks.append("checkpoint")
            cp = self.checkpoint
            checkpoint_info = {
                "file": self.checkpoint_source,
                "tree_size": cp.tree_size,
                "root": cp.root,
                "key_id": cp.key_id,
                "created_at": cp.created_at,
                "extended": failure is None or failure.check != "checkpoint",
            }
            if failure is not None and failure.check != "checkpoint" and failure.seq <= cp.tree_size:
                checkpoint_info["extended"] = False
        return Report(
            ok=failure is None,
            events=count,
            head_seq=count,
            head_hash=self.head_hash,
            first_bad_seq=failure.seq if failure is not None else None,
            problem=failure.problem if failure is not None else None,
            failed_check=failure.check if failure is not None else None,
            first_bad_range=failure.bad_range if failure is not None else None,
            streams=self.replayer.streams if streams is None else streams,
            merkle_root=self.tree.root().hex(),
            checks=tuple(checks),
            checkpoint=checkpoint_info,
        )
