"""The store port: what the application layer needs from a database, and nothing more.

Two adapters implement it (:mod:`beslut.persistence.sqlite` and
:mod:`beslut.persistence.postgres`); one contract test suite runs against both.
The docstrings below are the contract: what each method raises and in what order
it returns things.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime

from beslut.states.audit_chain import AuditRecord
from beslut.states.case import Case, Event
from beslut.states.deadlines import Deadline, DeadlineRow
from beslut.states.records import Contact, Heartbeat, OutboxEntry, OutboxRecord


@dataclass(frozen=True, kw_only=True)
class ApiToken:
    """An API token as stored: its id and the SHA-256 of its secret, never the secret itself."""

    id: str
    token_sha256: str
    role: str
    party: str | None
    label: str | None
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class OverdueParty:
    """One party past its reply date without a decision, on a recommendation still open for decisions."""

    recommendation: str
    party: str
    deadline: date


class Reader(ABC):
    """Read-only queries, inside one consistent snapshot."""

    @abstractmethod
    def load_case(self, key: str) -> Case | None:
        """The recommendation *key* as stored, or None."""

    @abstractmethod
    def list_cases(self) -> list[Case]:
        """Every recommendation, ordered by the day it was proposed, then key."""

    @abstractmethod
    def cases_page(
        self,
        *,
        limit: int | None = None,
        states: Collection[str] | None = None,
        after: tuple[date, str] | None = None,
        offset: int = 0,
    ) -> list[Case]:
        """One page of :meth:`list_cases`: in the same order, loading only the cases it returns.

        Only recommendations whose state is in *states* (all when None), strictly after the
        position *after* (a ``(proposed_on, key)`` pair, the keyset cursor of the HTTP API),
        skipping *offset* of them (the dashboard's page numbers), at most *limit* (None: no limit).
        """

    @abstractmethod
    def audit_records(self, stream: str | None = None) -> Iterator[AuditRecord]:
        """The audit log (or one stream of it), ordered by seq, streamed without loading it all."""

    @abstractmethod
    def deadlines(self, *, status: str | None = None, recommendation: str | None = None) -> list[DeadlineRow]:
        """Deadline rows, ordered by due_at then id."""

    @abstractmethod
    def outbox(self, *, status: str | None = None, limit: int | None = None) -> list[OutboxRecord]:
        """Outbox rows, ordered by due_at then id."""

    @abstractmethod
    def contact(self, contact_id: str) -> Contact | None:
        """One contact by id, or None."""

    @abstractmethod
    def list_contacts(self) -> list[Contact]:
        """Every contact, by party then id."""

    @abstractmethod
    def heartbeats(self) -> list[Heartbeat]:
        """Every daemon's last heartbeat, most recent tick first."""

    @abstractmethod
    def api_tokens(self) -> list[ApiToken]:
        """Every API token (revoked ones too), by creation time then id."""

    @abstractmethod
    def api_token_by_hash(self, token_sha256: str) -> ApiToken | None:
        """The token whose secret hashes to *token_sha256* (revoked or not), or None."""

    @abstractmethod
    def known_parties(self) -> set[str]:
        """Every party key that some recommendation names (as a party or as its coordinator)."""

    # -- cheap aggregate queries for operators' metrics (each one indexed or over a tiny table)

    @abstractmethod
    def recommendation_counts(self) -> dict[str, int]:
        """How many recommendations are in each state; states with none are left out."""

    @abstractmethod
    def overdue_party_count(self) -> int:
        """How many parties of recommendations still open for decisions (``recommended``) are overdue."""

    @abstractmethod
    def overdue_parties(self, today: date, *, limit: int | None = None) -> list[OverdueParty]:
        """Parties overdue on *today*: undecided, reply date before *today*, recommendation ``recommended``.

        The same rule as the dashboard's overdue mark (computed from the date, not from the
        flag that ``tick`` sets), ordered by deadline, recommendation, party; at most *limit*.
        Indexed on ``party_decision (state, deadline)``: it reads the overdue rows, not the table.
        """

    @abstractmethod
    def outbox_counts(self) -> dict[str, int]:
        """How many outbox messages have each status; statuses with none are left out."""

    @abstractmethod
    def oldest_queued_message(self) -> datetime | None:
        """When the oldest message still ``queued`` (never tried) was queued, or None."""

    @abstractmethod
    def oldest_due_timer(self, now: datetime) -> datetime | None:
        """The due instant of the oldest pending timer due by *now* (one no tick has fired yet), or None."""

    @abstractmethod
    def audit_head_seq(self) -> int:
        """The seq of the last audit event, 0 for an empty log."""


class UnitOfWork(Reader):
    """One write transaction: everything done through it commits together or not at all."""

    @abstractmethod
    def load_case_for_update(self, key: str, *, known: Case | None = None) -> Case | None:
        """Like :meth:`load_case`, but holds the row so no other writer changes it before commit.

        *known*, a case this caller loaded or saved earlier, is returned as it is when the stored
        recommendation is still at its version (every change of a party row bumps the version): only
        the recommendation row is read, not its parties. Why: a tick fires thousands of one party's
        timers on one recommendation, and reading every party for each made the tick quadratic.
        """

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

        Pending rows not wanted are cancelled; wanted deadlines with no pending row
        are inserted as pending, except a reminder that is already done (a reminder
        is never queued twice). A done transition that is wanted again is re-armed:
        the case went back (an annulled decision), and firing it is idempotent.
        """

    @abstractmethod
    def sync_party_deadlines(
        self, recommendation: str, wanted: Mapping[str | None, Sequence[Deadline]], *, now: datetime
    ) -> None:
        """:meth:`sync_deadlines` for only the parties in *wanted* (None: the recommendation's own timers).

        Each named party's pending rows are made equal to its wanted timers, by the same rules;
        the other parties' rows are left alone. For a caller that knows which parties changed
        (``deadline_changes``): a party with no timers left, as after a decision, is cancelled
        without reading its rows back, which is most of what a batch of decisions writes.
        """

    @abstractmethod
    def due_deadlines(self, now: datetime, *, limit: int) -> list[DeadlineRow]:
        """Pending deadlines with ``due_at <= now``, oldest first, at most *limit*."""

    @abstractmethod
    def close_deadline(self, deadline_id: int, *, status: str, now: datetime) -> None:
        """Mark a pending deadline ``done`` or ``cancelled``."""

    @abstractmethod
    def add_deadline(self, deadline: Deadline) -> None:
        """Insert one pending timer (the next occurrence of a series); a duplicate is ignored."""

    @abstractmethod
    def claim_due_deadlines(
        self, due_by: datetime, *, now: datetime, worker: str, lease_until: datetime, limit: int
    ) -> list[DeadlineRow]:
        """Lease up to *limit* pending timers due by *due_by*, oldest first, to *worker* until *lease_until*.

        *due_by* is the instant being ticked; *now* is the wall clock the leases are
        measured against. Eligible: not leased, a lease that ran out before *now* (a crashed worker's), or
        already leased to *worker*. Rows another transaction holds are skipped, not
        waited for (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one writer).
        """

    @abstractmethod
    def deadline_for_update(self, deadline_id: int) -> DeadlineRow | None:
        """Re-read one timer in the transaction that fires it, holding it where rows are locked."""

    @abstractmethod
    def later_ladder_rows(self, recommendation: str, party: str, *, after: datetime, until: datetime) -> int:
        """Count the party's pending reminder-ladder timers due in (*after*, *until*]."""

    @abstractmethod
    def contacts_of(self, party: str) -> list[Contact]:
        """The party's active contacts, by id."""

    @abstractmethod
    def queue_messages(self, messages: Sequence[OutboxEntry], *, now: datetime) -> int:
        """Insert outbox rows; one that repeats (recommendation, party, kind, due_at, contact) is ignored.

        Returns how many were inserted.
        """

    @abstractmethod
    def claim_outbox(self, now: datetime, *, worker: str, lease_until: datetime, limit: int) -> list[OutboxRecord]:
        """Lease up to *limit* queued or failed messages whose next attempt is due, oldest first."""

    @abstractmethod
    def finish_outbox(
        self,
        outbox_id: int,
        *,
        worker: str,
        sent_at: datetime | None,
        error: str | None,
        next_attempt_at: datetime | None,
    ) -> bool:
        """Record one delivery attempt by the worker holding the message: sent, or failed with a retry time.

        Returns False (and changes nothing) if the worker no longer holds it.
        """

    @abstractmethod
    def release_claims(self, worker: str) -> int:
        """Drop *worker*'s leases on pending timers and unsent messages (it is stopping); return how many."""

    @abstractmethod
    def renew_outbox(self, outbox_id: int, *, worker: str, now: datetime, lease_until: datetime) -> bool:
        """Extend *worker*'s unexpired lease on an unsent message; False if it no longer holds it.

        Called just before sending, so a worker whose lease ran out never sends what
        another worker has taken over.
        """

    @abstractmethod
    def close_outbox(self, outbox_id: int, *, worker: str, now: datetime, status: str, reason: str) -> bool:
        """Close an unsent message *worker* holds (unexpired) without sending it; False if it no longer holds it.

        *status* is ``skipped`` (no longer due) or ``failed`` (cannot be sent, e.g. no contact);
        either way there is no next attempt, and *reason* is kept in ``last_error`` for the
        coordinator. Attempts are not counted: nothing was tried.
        """

    @abstractmethod
    def put_contact(self, contact: Contact) -> None:
        """Insert or replace a contact."""

    @abstractmethod
    def beat(self, heartbeat: Heartbeat) -> None:
        """Write a daemon's heartbeat row."""

    @abstractmethod
    def add_api_token(self, token: ApiToken) -> None:
        """Insert a new API token.

        Raises:
            Duplicate: a token with that id or hash exists.
        """

    @abstractmethod
    def revoke_api_token(self, token_id: str, *, now: datetime) -> bool:
        """Mark the token revoked at *now*; False (and nothing changed) if unknown or already revoked."""


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

    def readiness_problem(self) -> str | None:
        """Why the store cannot serve commands now, in one line, or None when it can.

        Asks cheap questions (which tables exist, which schema revision is recorded) and
        never creates anything: not a missing SQLite file, not a table. For readiness
        probes and metrics scrapes.
        """
        raise NotImplementedError

    def dump(self) -> list[tuple[str, list[tuple[object, ...]]]]:
        """Every row of every table, ordered: two dumps compare equal iff the data is the same."""
        raise NotImplementedError


__all__ = ["ApiToken", "OverdueParty", "Reader", "Store", "UnitOfWork"]
