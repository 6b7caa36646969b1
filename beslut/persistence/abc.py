"""The store port: what the application layer needs from a database, and nothing more.

Two adapters implement it (:mod:`beslut.persistence.sqlite` and
:mod:`beslut.persistence.postgres`); one contract test suite runs against both.
The docstrings below are the contract: what each method raises and in what order
it returns things.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime

from beslut.scheduler.deadlines import Deadline, DeadlineRow
from beslut.states.audit_chain import AuditRecord
from beslut.states.case import Case, Event


class Reader(ABC):
    """Read-only queries, inside one consistent snapshot."""

    @abstractmethod
    def load_case(self, key: str) -> Case | None:
        """The recommendation *key* as stored, or None."""

    @abstractmethod
    def list_cases(self) -> list[Case]:
        """Every recommendation, ordered by the day it was proposed, then key."""

    @abstractmethod
    def audit_records(self, stream: str | None = None) -> Iterator[AuditRecord]:
        """The audit log (or one stream of it), ordered by seq, streamed without loading it all."""

    @abstractmethod
    def deadlines(self, *, status: str | None = None, recommendation: str | None = None) -> list[DeadlineRow]:
        """Deadline rows, ordered by due_at then id."""


class UnitOfWork(Reader):
    """One write transaction: everything done through it commits together or not at all."""

    @abstractmethod
    def load_case_for_update(self, key: str) -> Case | None:
        """Like :meth:`load_case`, but holds the row so no other writer changes it before commit."""

    @abstractmethod
    def add_case(self, case: Case, *, now: datetime) -> None:
        """Insert a new recommendation with its parties.

        Raises:
            Duplicate: a recommendation with that key exists.
        """

    @abstractmethod
    def save_case(self, case: Case, *, expected_version: int, now: datetime) -> None:
        """Write the case's new state.

        Raises:
            ConcurrencyConflict: the stored version is not *expected_version*.
        """

    @abstractmethod
    def append_events(self, events: Sequence[Event], *, recorded_at: datetime) -> list[AuditRecord]:
        """Append *events* to the audit log, in order, after the current head.

        Assigns gap-free global seqs and per-stream stream_seqs, chains the hashes,
        and serialises concurrent writers so seq order is commit order.
        """

    @abstractmethod
    def sync_deadlines(self, recommendation: str, wanted: Sequence[Deadline], *, now: datetime) -> None:
        """Make the recommendation's pending deadline rows equal *wanted*.

        Pending rows not wanted are cancelled; wanted deadlines with no pending or
        done row are inserted as pending.
        """

    @abstractmethod
    def due_deadlines(self, now: datetime, *, limit: int) -> list[DeadlineRow]:
        """Pending deadlines with ``due_at <= now``, oldest first, at most *limit*."""

    @abstractmethod
    def close_deadline(self, deadline_id: int, *, status: str, now: datetime) -> None:
        """Mark a pending deadline ``done`` or ``cancelled``."""


class Store(ABC):
    """A database that holds recommendations, deadlines and the audit log."""

    url: str

    @abstractmethod
    def create_schema(self) -> bool:
        """Create tables and append-only triggers if missing; return True if anything was created."""

    @abstractmethod
    def is_initialised(self) -> bool:
        """True when the schema exists."""

    @abstractmethod
    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]:
        """Open a write transaction; it commits when the block ends normally and rolls back otherwise."""

    @abstractmethod
    def reader(self) -> AbstractContextManager[Reader]:
        """Open a read-only snapshot."""

    @abstractmethod
    def close(self) -> None:
        """Release every connection."""

    def dump(self) -> list[tuple[str, list[tuple[object, ...]]]]:
        """Every row of every table, ordered: two dumps compare equal iff the data is the same."""
        raise NotImplementedError


__all__ = ["Reader", "Store", "UnitOfWork"]
