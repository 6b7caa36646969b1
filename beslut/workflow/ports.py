"""The store's ports: what the application layer needs from a database, one concern per protocol.

The ports belong to the application layer (the engine, the daemon and the faces talk to them);
the adapters of :mod:`beslut.persistence` implement them, and import this module, never the other
way round. Each concern is a pair of small protocols, what a read-only snapshot may ask and what a
write transaction adds: cases, the audit log, timers, the outbox, the directory (contacts and API
tokens) and heartbeats. :class:`Reader` and :class:`UnitOfWork` compose them, and are what callers
hold; :class:`Store` opens them. ``tests/persistence/test_ports_contract.py`` runs one test class
per concern against both databases and checks that every method here is exercised.

The docstrings are the contract: what each method raises and in what order it returns things.

:func:`open_store` opens a store by URL through the opener the persistence package registers when
it is imported (``beslut/__init__.py`` imports it, so importing anything of ``beslut`` registers
it): the application layer names no adapter.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from beslut.errors import StoreError

if TYPE_CHECKING:  # annotations only: opening the port (the CLI's start) does not load the domain model
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
class DashboardSession:
    """A dashboard sign-in as stored: the SHA-256 of its secret (the cookie), never the secret, and its token's id."""

    id: str
    session_sha256: str
    token_id: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class OverdueParty:
    """One party past its reply date without a decision, on a recommendation still open for decisions."""

    recommendation: str
    party: str
    deadline: date


class CaseReads(Protocol):
    """The recommendations and their parties, read; and the operators' counts over them."""

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
    def known_parties(self) -> set[str]:
        """Every party key that some recommendation names (as a party or as its coordinator)."""

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


class CaseWrites(Protocol):
    """The recommendations, written: a command holds its case, then inserts or saves it."""

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


AUDIT_COLUMNS: Final = (
    "seq",
    "stream",
    "stream_seq",
    "recorded_at",
    "valid_on",
    "kind",
    "payload",
    "prev_hash",
    "hash",
)
"""The columns of ``audit_event`` in the order :meth:`AuditLogReads.audit_rows_as_stored` gives them."""


class AuditLogReads(Protocol):
    """The hash-chained audit log, read in seq order."""

    @abstractmethod
    def audit_records(self, stream: str | None = None) -> Iterator[AuditRecord]:
        """The audit log (or one stream of it), ordered by seq, streamed without loading it all."""

    @abstractmethod
    def audit_head_seq(self) -> int:
        """The seq of the last audit event, 0 for an empty log."""

    @abstractmethod
    def audit_rows_as_stored(
        self, *, stream: str | None = None, streams: Collection[str] | None = None, after_seq: int = 0
    ) -> Iterator[tuple[object, ...]]:
        """Every row of ``audit_event`` (or of one stream, or several, or after a seq) in seq order, as stored.

        For the auditor, who must see a tampered table as it is: no column converted, no row skipped,
        columns in the order of :data:`AUDIT_COLUMNS`; streamed with flat memory.
        """


class AuditLogWrites(Protocol):
    """The audit log, appended to (never changed: the tables' triggers refuse it)."""

    @abstractmethod
    def append_events(self, events: Sequence[Event], *, recorded_at: datetime) -> list[AuditRecord]:
        """Append *events* to the audit log, in order, after the current head.

        Assigns gap-free global seqs and per-stream stream_seqs, chains the hashes,
        and serialises concurrent writers so seq order is commit order.
        """


class TimerReads(Protocol):
    """The deadline rows (timers), read."""

    @abstractmethod
    def deadlines(self, *, status: str | None = None, recommendation: str | None = None) -> list[DeadlineRow]:
        """Deadline rows, ordered by due_at then id."""

    @abstractmethod
    def oldest_due_timer(self, now: datetime) -> datetime | None:
        """The due instant of the oldest pending timer due by *now* (one no tick has fired yet), or None."""


class TimerWrites(Protocol):
    """The timers, kept equal to the domain's wanted deadlines, and leased, fired and closed by tick."""

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
    def close_deadline(self, deadline_id: int, *, status: str, now: datetime) -> None:
        """Mark a pending deadline ``done`` or ``cancelled``."""

    @abstractmethod
    def add_deadline(self, deadline: Deadline) -> None:
        """Insert one pending timer (the next occurrence of a series).

        Nothing refuses a repeat (no unique key on a timer's identity): the caller adds a series' next
        occurrence once, in the transaction that fires the previous one while holding it.
        """

    @abstractmethod
    def later_ladder_rows(self, recommendation: str, party: str, *, after: datetime, until: datetime) -> int:
        """Count the party's pending reminder-ladder timers due in (*after*, *until*]."""


class OutboxReads(Protocol):
    """The outbox of messages to parties' contacts, read."""

    @abstractmethod
    def outbox(self, *, status: str | None = None, limit: int | None = None) -> list[OutboxRecord]:
        """Outbox rows, ordered by due_at then id."""

    @abstractmethod
    def outbox_counts(self) -> dict[str, int]:
        """How many outbox messages have each status; statuses with none are left out."""

    @abstractmethod
    def oldest_queued_message(self) -> datetime | None:
        """When the oldest message still ``queued`` (never tried) was queued, or None."""


class OutboxWrites(Protocol):
    """The outbox, written: queued by commands and tick, leased and finished by the delivery."""

    @abstractmethod
    def queue_messages(self, messages: Sequence[OutboxEntry], *, now: datetime) -> int:
        """Insert outbox rows; one that repeats (recommendation, party, kind, due_at, contact) is ignored.

        Returns how many were inserted.
        """

    @abstractmethod
    def claim_outbox(self, now: datetime, *, worker: str, lease_until: datetime, limit: int) -> list[OutboxRecord]:
        """Lease up to *limit* queued or failed messages whose next attempt is due, oldest first."""

    @abstractmethod
    def renew_outbox(self, outbox_id: int, *, worker: str, now: datetime, lease_until: datetime) -> bool:
        """Extend *worker*'s unexpired lease on an unsent message; False if it no longer holds it.

        Called just before sending, so a worker whose lease ran out never sends what
        another worker has taken over.
        """

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
    def close_outbox(self, outbox_id: int, *, worker: str, now: datetime, status: str, reason: str) -> bool:
        """Close an unsent message *worker* holds (unexpired) without sending it; False if it no longer holds it.

        *status* is ``skipped`` (no longer due) or ``failed`` (cannot be sent, e.g. no contact);
        either way there is no next attempt, and *reason* is kept in ``last_error`` for the
        coordinator. Attempts are not counted: nothing was tried.
        """

    @abstractmethod
    def release_claims(self, worker: str) -> int:
        """Drop *worker*'s leases on pending timers and unsent messages (it is stopping); return how many."""


class DirectoryReads(Protocol):
    """Who is who: the parties' contacts and the API tokens, read."""

    @abstractmethod
    def contact(self, contact_id: str) -> Contact | None:
        """One contact by id, or None."""

    @abstractmethod
    def list_contacts(self) -> list[Contact]:
        """Every contact, by party then id."""

    @abstractmethod
    def api_tokens(self) -> list[ApiToken]:
        """Every API token (revoked ones too), by creation time then id."""

    @abstractmethod
    def api_token_by_hash(self, token_sha256: str) -> ApiToken | None:
        """The token whose secret hashes to *token_sha256* (revoked or not), or None."""

    @abstractmethod
    def session_by_hash(self, session_sha256: str) -> tuple[DashboardSession, ApiToken] | None:
        """The dashboard session whose secret hashes to *session_sha256* and the token it was opened with, or None."""


class DirectoryWrites(Protocol):
    """The contacts and API tokens, written (and a party's contacts read inside the transaction that mails them)."""

    @abstractmethod
    def contacts_of(self, party: str) -> list[Contact]:
        """The party's active contacts, by id."""

    @abstractmethod
    def put_contact(self, contact: Contact) -> None:
        """Insert or replace a contact."""

    @abstractmethod
    def add_api_token(self, token: ApiToken) -> None:
        """Insert a new API token.

        Raises:
            Duplicate: a token with that id or hash exists.
        """

    @abstractmethod
    def revoke_api_token(self, token_id: str, *, now: datetime) -> bool:
        """Mark the token revoked at *now*; False (and nothing changed) if unknown or already revoked."""

    @abstractmethod
    def add_session(self, session: DashboardSession, *, now: datetime) -> None:
        """Insert a new dashboard session, and delete the sessions that ended (expired or revoked) before *now*."""

    @abstractmethod
    def revoke_session(self, session_sha256: str, *, now: datetime) -> bool:
        """End the unrevoked session with this secret hash at *now*; False if there is none."""


class HeartbeatReads(Protocol):
    """The daemons' heartbeats, read."""

    @abstractmethod
    def heartbeats(self) -> list[Heartbeat]:
        """Every daemon's last heartbeat, most recent tick first."""


class HeartbeatWrites(Protocol):
    """A daemon's heartbeat, written."""

    @abstractmethod
    def beat(self, heartbeat: Heartbeat) -> None:
        """Write a daemon's heartbeat row."""


class Reader(CaseReads, AuditLogReads, TimerReads, OutboxReads, DirectoryReads, HeartbeatReads, Protocol):
    """Read-only queries, inside one consistent snapshot: every concern's reads."""


class UnitOfWork(
    Reader, CaseWrites, AuditLogWrites, TimerWrites, OutboxWrites, DirectoryWrites, HeartbeatWrites, Protocol
):
    """One write transaction: everything done through it commits together or not at all."""


#: The ports of each concern, in the order the contract tests and docs/architecture.md list them.
PORTS: dict[str, tuple[type, ...]] = {
    "cases": (CaseReads, CaseWrites),
    "audit log": (AuditLogReads, AuditLogWrites),
    "timers": (TimerReads, TimerWrites),
    "outbox": (OutboxReads, OutboxWrites),
    "directory": (DirectoryReads, DirectoryWrites),
    "heartbeats": (HeartbeatReads, HeartbeatWrites),
}


def port_methods(port: type) -> list[str]:
    """The methods *port* itself declares (not those of the protocols it composes), in declaration order."""
    return [name for name, value in vars(port).items() if callable(value) and not name.startswith("_")]


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


#: Opens a store from a file path or URL (None: the default); ``read_only`` asks the database to refuse writes.
StoreOpener = Callable[..., Store]
_openers: list[StoreOpener] = []


def register_opener(opener: StoreOpener) -> None:
    """Make *opener* the one :func:`open_store` uses (the persistence package registers its own on import)."""
    _openers[:] = [opener]


def open_store(target: str | Path | None = None, *, read_only: bool = False) -> Store:
    """Open a store through the registered opener (see :func:`beslut.persistence.open_store`).

    Raises:
        StoreError: no opener is registered (only when this module is used without the ``beslut`` package).
    """
    if not _openers:
        raise StoreError("no store adapter is registered: import beslut.persistence before opening a store")
    return _openers[0](target, read_only=read_only)


__all__ = [
    "AUDIT_COLUMNS",
    "PORTS",
    "ApiToken",
    "AuditLogReads",
    "AuditLogWrites",
    "CaseReads",
    "CaseWrites",
    "DashboardSession",
    "DirectoryReads",
    "DirectoryWrites",
    "HeartbeatReads",
    "HeartbeatWrites",
    "OutboxReads",
    "OutboxWrites",
    "OverdueParty",
    "Reader",
    "Store",
    "StoreOpener",
    "TimerReads",
    "TimerWrites",
    "UnitOfWork",
    "open_store",
    "port_methods",
    "register_opener",
]
