"""The domain's verification of an audit log: read, chain and transition, one row at a time.

What `beslut audit verify` checks of the log itself, and what ``Engine.verify_audit`` answers: for each
row in seq order, stopping at the first that fails,

1. **read**: the row could be made into a record at all (the reader says what is wrong with one that
   could not, :mod:`beslut.workflow.audit_log`);
2. **chain**: :class:`~beslut.states.audit_chain.ChainChecker`, the one check of the hash chain;
3. **transition**: the event folded by the one replay (:class:`~beslut.states.replay.Replayer`) must be a
   legal transition and what its command would have recorded from that state.

The auditor's tool adds what needs more than the log (the Merkle tree and a signed checkpoint,
:mod:`beslut.audit.verify`) around the same :meth:`LogVerifier.step`, so both give one verdict on
every log. Pure: the rows, and the loader that reads a dropped stream again, come from the caller.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from beslut.states.audit_chain import GENESIS_HASH, ChainChecker, ChainReport, Row
from beslut.states.calendar import BusinessCalendar
from beslut.states.replay import Loader, Replayer


@dataclass
class Failure:
    """The first row that failed: its seq, which check (``read``, ``chain``, ``transition``, ``checkpoint``), why."""

    seq: int
    check: str
    problem: str
    bad_range: tuple[int, int] | None = None


@dataclass(frozen=True, kw_only=True)
class Verdict(ChainReport):
    """A chain report's attributes, and which check failed, how many streams were replayed, what was checked.

    :class:`~beslut.states.audit_chain.ChainReport`'s attributes stay as they were; the others are the keys
    `audit verify --json` has of the log alone.
    """

    failed_check: str | None = None
    streams: int = 0
    checks: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The chain report's keys first, then these."""
        return {
            **super().as_dict(),
            "failed_check": self.failed_check,
            "streams": self.streams,
            "checks": list(self.checks),
        }


class LogVerifier:
    """Feed rows in seq order to :meth:`step` (or all of them to :meth:`run`); the first failure stops it.

    Args:
        calendar: the business calendar the commands used (the default one unless told otherwise).
        check_transitions: False checks read and chain only.
        loader: with it, at most 512 cases stay in memory and a dropped one is folded again from its rows.
    """

    def __init__(
        self, calendar: BusinessCalendar | None = None, *, check_transitions: bool = True, loader: Loader | None = None
    ) -> None:
        self.chain = ChainChecker()
        self.replayer = Replayer(calendar, check_rules=True, loader=loader)
        self.check_transitions = check_transitions
        self.log_id: str | None = None  # the hash of seq 1, once it verified

    @property
    def head_hash(self) -> str:
        """The hash of the last event that verified (the genesis hash before any)."""
        return self.chain.prev_hash

    @property
    def events(self) -> int:
        """How many events verified."""
        return self.chain.count

    @property
    def checks(self) -> tuple[str, ...]:
        """What this verifier checks."""
        return ("read", "chain", "transition") if self.check_transitions else ("read", "chain")

    def step(self, row: Row) -> Failure | None:
        """Check *row* as the next event; accept it (None) or say why not."""
        chain = self.chain
        if row.problem is not None:
            return Failure(chain.expected_seq, "read", f"the row cannot be read: {row.problem}")
        record = row.record
        problem, payload = chain.check(record)
        if problem is not None:
            return Failure(chain.expected_seq, "chain", problem)
        if self.check_transitions:
            problem = self.replayer.feed(record, payload)
            if problem is not None:
                return Failure(record.seq, "transition", problem)
        chain.accept(record)
        if record.seq == 1:
            self.log_id = record.hash
        return None

    def run(self, rows: Iterable[Row]) -> Verdict:
        """Verify *rows* (in seq order, as the store holds them) and give the verdict."""
        failure: Failure | None = None
        for row in rows:
            failure = self.step(row)
            if failure is not None:
                break
        return self.verdict(failure)

    def verdict(self, failure: Failure | None) -> Verdict:
        """The verdict after the events that verified, and *failure* if one stopped it."""
        count = self.chain.count
        return Verdict(
            ok=failure is None,
            events=count,
            head_seq=count,
            head_hash=self.head_hash if count else GENESIS_HASH,
            first_bad_seq=failure.seq if failure is not None else None,
            problem=failure.problem if failure is not None else None,
            failed_check=failure.check if failure is not None else None,
            streams=self.replayer.streams,
            checks=self.checks,
        )
