"""The SQLAlchemy implementation of the store port, shared by the SQLite and PostgreSQL adapters.

Statements are SQLAlchemy Core on the SQLModel tables (no ORM session): a command
touches a handful of rows, and Core keeps the per-command overhead close to a raw
driver. What differs per database (connection set-up, how a transaction starts,
how audit appends are serialised, the append-only triggers) is left to the
subclasses in :mod:`~beslut.persistence.sqlite` and :mod:`~beslut.persistence.postgres`.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import case as sql_case
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.sql.dml import UpdateBase

from beslut import failpoints
from beslut.errors import ConcurrencyConflict, Duplicate, StoreError, StoreUnavailable
from beslut.persistence import _tables as t
from beslut.persistence.abc import ApiToken, OverdueParty, Reader, Store, UnitOfWork
from beslut.persistence.schema import schema_state
from beslut.states.audit_chain import GENESIS_HASH, AuditRecord, canonical_json, format_instant, seal
from beslut.states.case import UNDECIDED, Case, Event, PartyDecision, changed_party_indexes
from beslut.states.deadlines import LADDER_KINDS, TRANSITION_KINDS, Deadline, DeadlineRow
from beslut.states.records import Contact, Heartbeat, OutboxEntry, OutboxRecord
from beslut.states.spec import RecommendationSpec, spec_to_data
from beslut.states.spec_cache import parse_spec_json

_PARTY_FIELDS = [f.name for f in fields(PartyDecision) if f.name != "key"]
_party_field_values = operator.attrgetter(*_PARTY_FIELDS)  # one C call per party row, not a getattr per field
_AUDIT_BATCH = 2000
# Columns of `recommendation` a command may change; the rest are fixed when it is proposed.
_MUTABLE_CASE_COLUMNS = (
    "state", "outcome", "version", "participants", "recommended_on", "consolidated_on", "in_force_since",
    "withdrawn_on", "withdraw_reason", "superseded_on", "superseded_by", "contested", "recounted_on", "readopted_on",
    "updated_at",
)  # fmt: skip

# Statements are built once: SQLAlchemy then reuses their compiled form and cache key, which is most of
# the per-command overhead of building them anew (measured with bench/bench_commands.py).
_R, _P, _A, _D = t.RECOMMENDATION, t.PARTY_DECISION, t.AUDIT_EVENT, t.DEADLINE
_SELECT_CASE = select(_R).where(_R.c.key == bindparam("key"))
# A party row's columns in PartyDecision's field order, read as plain tuples: building 300 PartyDecisions
# from mappings (a dict per row) was a visible share of a status read and of loading a batch's cases.
_PARTY_NAMES = ("key", *_PARTY_FIELDS)
_PARTY_COLUMNS = (_P.c.party_key, *(_P.c[name] for name in _PARTY_FIELDS))
_new_object = object.__new__


def _party_decision(row: Sequence[Any]) -> PartyDecision:
    """``PartyDecision(**columns)`` for a stored row, without the frozen dataclass's ``__init__``.

    Why: that ``__init__`` sets each of the 24 fields through ``object.__setattr__``; loading a 300-party
    case built 300 of them, most of a reminder's CPU in a national-scale tick (docs/performance.md).
    Valid because PartyDecision has no ``__post_init__`` and no slots and every field is a column
    (tests/persistence/test_party_rows.py keeps that true).
    """
    party: PartyDecision = _new_object(PartyDecision)
    party.__dict__.update(zip(_PARTY_NAMES, row, strict=True))
    return party


_SELECT_PARTIES = select(*_PARTY_COLUMNS).where(_P.c.recommendation_key == bindparam("key")).order_by(_P.c.position)
_CASE_VERSION = select(_R.c.version).where(_R.c.key == bindparam("key"))
_LOCK_CASE = select(_R.c.key).where(_R.c.key == bindparam("key")).with_for_update()
_UPDATE_CASE = (
    update(_R)
    .where(and_(_R.c.key == bindparam("b_key"), _R.c.version == bindparam("b_expected")))
    .values({name: bindparam(name) for name in _MUTABLE_CASE_COLUMNS})
)


@functools.lru_cache(maxsize=64)  # a handful of column sets: one per kind of party step
def _update_party(columns: tuple[str, ...]) -> UpdateBase:
    """UPDATE of one party row's *columns* (built once per column set, so its compiled form is reused)."""
    return (
        update(_P)
        .where(and_(_P.c.recommendation_key == bindparam("b_key"), _P.c.party_key == bindparam("b_party")))
        .values({name: bindparam(name) for name in columns})
    )


_AUDIT_HEAD = select(_A.c.seq, _A.c.hash).order_by(_A.c.seq.desc()).limit(1)
_STREAM_HEAD = select(func.coalesce(func.max(_A.c.stream_seq), 0)).where(_A.c.stream == bindparam("stream"))
_INSERT_AUDIT = insert(_A)
_CASE_DEADLINES = select(_D).where(_D.c.recommendation_key == bindparam("key")).order_by(_D.c.due_at, _D.c.id)
_PARTIES_DEADLINES = (
    select(_D)
    .where(
        and_(
            _D.c.recommendation_key == bindparam("key"),
            _D.c.party_key.in_(bindparam("b_parties", expanding=True)),
        )
    )
    .order_by(_D.c.due_at, _D.c.id)
)
_PARTIES_DEADLINES_AND_CASE = (  # and the recommendation's own timers (party null: in force)
    select(_D)
    .where(
        and_(
            _D.c.recommendation_key == bindparam("key"),
            or_(_D.c.party_key.in_(bindparam("b_parties", expanding=True)), _D.c.party_key.is_(None)),
        )
    )
    .order_by(_D.c.due_at, _D.c.id)
)
_DUE = (
    select(_D)
    .where(and_(_D.c.status == "pending", _D.c.due_at <= bindparam("now")))
    .order_by(_D.c.due_at, _D.c.id)
    .limit(bindparam("limit"))
)
_INSERT_DEADLINE = insert(_D)
_CLAIMABLE = (
    select(_D)
    .where(
        and_(
            _D.c.status == "pending",
            _D.c.due_at <= bindparam("due_by"),
            or_(
                _D.c.claimed_until.is_(None),
                _D.c.claimed_until < bindparam("now"),
                _D.c.claimed_by == bindparam("worker"),
            ),
        )
    )
    .order_by(_D.c.due_at, _D.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_CLAIM_DEADLINE = (
    update(_D)
    .where(_D.c.id == bindparam("b_id"))
    .values(claimed_by=bindparam("claimed_by"), claimed_until=bindparam("claimed_until"))
)
_DEADLINE_BY_ID = select(_D).where(_D.c.id == bindparam("b_id"))
_DEADLINE_BY_ID_LOCKED = _DEADLINE_BY_ID.with_for_update()
# By (recommendation, party) alone, counted in Python: a party has a handful of timer rows, and with the
# status and due_at conditions in SQL, SQLite (no statistics) chose the (status, due_at) index and read every
# party's pending timers instead.
_PARTY_TIMERS = select(_D.c.kind, _D.c.status, _D.c.due_at).where(
    and_(_D.c.recommendation_key == bindparam("key"), _D.c.party_key == bindparam("party"))
)
_O, _C = t.OUTBOX, t.CONTACT
_CONTACTS_OF = select(_C).where(and_(_C.c.party_key == bindparam("party"), _C.c.active.is_(True))).order_by(_C.c.id)
_OUTBOX_CLAIMABLE = (
    select(_O)
    .where(
        and_(
            _O.c.status.in_(["queued", "failed"]),
            _O.c.next_attempt_at.is_not(None),
            _O.c.next_attempt_at <= bindparam("now"),
            or_(
                _O.c.claimed_until.is_(None),
                _O.c.claimed_until < bindparam("now"),
                _O.c.claimed_by == bindparam("worker"),
            ),
        )
    )
    .order_by(_O.c.next_attempt_at, _O.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_CLAIM_OUTBOX = (
    update(_O)
    .where(_O.c.id == bindparam("b_id"))
    .values(claimed_by=bindparam("claimed_by"), claimed_until=bindparam("claimed_until"))
)
_FINISH_OUTBOX = (
    update(_O)
    .where(and_(_O.c.id == bindparam("b_id"), _O.c.claimed_by == bindparam("b_worker"), _O.c.status != "sent"))
    .values(
        status=bindparam("status"),
        sent_at=bindparam("sent_at"),
        last_error=bindparam("last_error"),
        next_attempt_at=bindparam("next_attempt_at"),
        attempts=_O.c.attempts + 1,
        claimed_by=None,
        claimed_until=None,
    )
)
_CLOSE_OUTBOX = (  # a message no longer due, or with no one to send it to: closed unsent, never retried
    update(_O)
    .where(
        and_(
            _O.c.id == bindparam("b_id"),
            _O.c.claimed_by == bindparam("b_worker"),
            _O.c.claimed_until >= bindparam("b_now"),
            _O.c.status.in_(["queued", "failed"]),
        )
    )
    .values(
        status=bindparam("status"),
        last_error=bindparam("last_error"),
        next_attempt_at=None,
        claimed_by=None,
        claimed_until=None,
    )
)
_TOKEN_BY_HASH = select(t.API_TOKEN).where(t.API_TOKEN.c.token_sha256 == bindparam("digest"))
_CLOSE_DEADLINE = (
    update(_D)
    .where(and_(_D.c.id == bindparam("b_id"), _D.c.status == "pending"))
    .values(status=bindparam("status"), closed_at=bindparam("closed_at"))
)
# By id alone: the ids were read as pending in this transaction with the case held, and a status test here
# made SQLite's planner scan the pending-status index instead of looking the ids up.
_CANCEL_DEADLINES = (
    update(_D)
    .where(_D.c.id.in_(bindparam("b_ids", expanding=True)))
    .values(status="cancelled", closed_at=bindparam("closed_at"))
)
# A party with no timers left (it decided): all its pending rows go. The status test is in SET, not in WHERE,
# so that SQLite's planner finds the rows by the recommendation's index and not the (status, due_at) one; a
# done or cancelled row is written back unchanged.
_IS_PENDING = _D.c.status == "pending"
_CANCEL_PARTIES = (
    update(_D)
    .where(
        and_(
            _D.c.recommendation_key == bindparam("key"),
            _D.c.party_key.in_(bindparam("b_parties", expanding=True)),
        )
    )
    .values(
        status=sql_case((_IS_PENDING, "cancelled"), else_=_D.c.status),
        closed_at=sql_case((_IS_PENDING, bindparam("closed_at", type_=_D.c.closed_at.type)), else_=_D.c.closed_at),
    )
)
_CANCEL_CHUNK = 1000  # ids per statement: well under SQLite's and PostgreSQL's bound-parameter limits
# Aggregates for operators' metrics (read at every scrape, so each must stay cheap).
_CASES_BY_STATE = select(_R.c.state, func.count()).group_by(_R.c.state)
_OVERDUE_PARTIES = (
    select(func.count())
    .select_from(_P.join(_R, _R.c.key == _P.c.recommendation_key))
    .where(and_(_P.c.overdue.is_(True), _R.c.state == "recommended"))
)
# "All overdue parties": the (state, deadline) index gives the undecided rows past their date, not the table.
_OVERDUE_LIST = (
    select(_P.c.recommendation_key, _P.c.party_key, _P.c.deadline)
    .select_from(_P.join(_R, _R.c.key == _P.c.recommendation_key))
    .where(and_(_P.c.state.in_(sorted(UNDECIDED)), _P.c.deadline < bindparam("today"), _R.c.state == "recommended"))
    .order_by(_P.c.deadline, _P.c.recommendation_key, _P.c.party_key)
)
_OUTBOX_BY_STATUS = select(_O.c.status, func.count()).group_by(_O.c.status)
_OLDEST_QUEUED = select(func.min(_O.c.created_at)).where(_O.c.status == "queued")
_OLDEST_DUE_TIMER = select(func.min(_D.c.due_at)).where(and_(_D.c.status == "pending", _D.c.due_at <= bindparam("now")))


def _unstorable(key: str | None) -> bool:
    """A key holding NUL, which no row can have: the readers answer "no such row" without a query.

    Why: PostgreSQL cannot even compare text holding NUL (the driver raises, a store error: exit 1,
    HTTP 503) where SQLite answers "no row"; one check here gives every caller, the engine, the
    audit service and the HTTP reads alike, the same answer on both stores (unknown: exit 2, 404).
    """
    return key is not None and "\x00" in key


class SqlReader(Reader):
    """Queries over one SQLAlchemy connection inside an open transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def load_case(self, key: str) -> Case | None:
        """The recommendation *key*, or None."""
        if _unstorable(key):
            return None
        row = self.connection.execute(_SELECT_CASE, {"key": key}).mappings().first()
        if row is None:
            return None
        return self._case(row, self.connection.execute(_SELECT_PARTIES, {"key": key}).all())

    def list_cases(self) -> list[Case]:
        """Every recommendation, by proposal date then key."""
        rows = (
            self.connection.execute(
                select(t.RECOMMENDATION).order_by(t.RECOMMENDATION.c.proposed_on, t.RECOMMENDATION.c.key)
            )
            .mappings()
            .all()
        )
        parties = self._party_rows(None)
        return [self._case(row, parties.get(row["key"], [])) for row in rows]

    def cases_page(
        self,
        *,
        limit: int | None = None,
        states: Collection[str] | None = None,
        after: tuple[date, str] | None = None,
        offset: int = 0,
    ) -> list[Case]:
        """A page of cases by proposal date then key; the party rows of that page only (see the port)."""
        query = select(_R)
        if states is not None:
            query = query.where(_R.c.state.in_(sorted(states)))
        if after is not None:  # keyset: (proposed_on, key) > after, spelled out for both databases
            day, key = after
            query = query.where(or_(_R.c.proposed_on > day, and_(_R.c.proposed_on == day, _R.c.key > key)))
        query = query.order_by(_R.c.proposed_on, _R.c.key).offset(offset).limit(limit)
        rows = self.connection.execute(query).mappings().all()
        if not rows:
            return []
        parties = self._party_rows([row["key"] for row in rows])
        return [self._case(row, parties.get(row["key"], [])) for row in rows]

    def audit_records(self, stream: str | None = None) -> Iterator[AuditRecord]:
        """The audit log ordered by seq, fetched in batches by seq range."""
        if _unstorable(stream):
            return
        after = 0
        while True:
            query = select(t.AUDIT_EVENT).where(t.AUDIT_EVENT.c.seq > after)
            if stream is not None:
                query = query.where(t.AUDIT_EVENT.c.stream == stream)
            rows = self.connection.execute(query.order_by(t.AUDIT_EVENT.c.seq).limit(_AUDIT_BATCH)).mappings().all()
            for row in rows:
                yield AuditRecord(
                    seq=row["seq"],
                    stream=row["stream"],
                    stream_seq=row["stream_seq"],
                    recorded_at=format_instant(row["recorded_at"]),
                    valid_on=row["valid_on"].isoformat(),
                    kind=row["kind"],
                    payload=row["payload"],
                    prev_hash=row["prev_hash"],
                    hash=row["hash"],
                )
            if len(rows) < _AUDIT_BATCH:
                return
            after = rows[-1]["seq"]

    def deadlines(self, *, status: str | None = None, recommendation: str | None = None) -> list[DeadlineRow]:
        """Deadline rows by due_at then id."""
        if _unstorable(recommendation):
            return []
        query = select(t.DEADLINE)
        if status is not None:
            query = query.where(t.DEADLINE.c.status == status)
        if recommendation is not None:
            query = query.where(t.DEADLINE.c.recommendation_key == recommendation)
        rows = self.connection.execute(query.order_by(t.DEADLINE.c.due_at, t.DEADLINE.c.id)).mappings().all()
        return [_deadline_row(row) for row in rows]

    def outbox(self, *, status: str | None = None, limit: int | None = None) -> list[OutboxRecord]:
        """Outbox rows by due_at then id, optionally of one status."""
        query = select(t.OUTBOX)
        if status is not None:
            query = query.where(t.OUTBOX.c.status == status)
        query = query.order_by(t.OUTBOX.c.due_at, t.OUTBOX.c.id)
        if limit is not None:
            query = query.limit(limit)
        return [_outbox_record(row) for row in self.connection.execute(query).mappings().all()]

    def contact(self, contact_id: str) -> Contact | None:
        """One contact by id (active or not)."""
        row = self.connection.execute(select(t.CONTACT).where(t.CONTACT.c.id == contact_id)).mappings().first()
        return _contact(row) if row is not None else None

    def list_contacts(self) -> list[Contact]:
        """Every contact, by party then id."""
        rows = self.connection.execute(select(t.CONTACT).order_by(t.CONTACT.c.party_key, t.CONTACT.c.id)).mappings()
        return [_contact(row) for row in rows.all()]

    def heartbeats(self) -> list[Heartbeat]:
        """Every daemon's last heartbeat, newest first."""
        rows = self.connection.execute(select(t.HEARTBEAT).order_by(t.HEARTBEAT.c.last_tick_at.desc())).mappings()
        return [Heartbeat(**dict(row)) for row in rows.all()]

    # -- aggregates for operators' metrics: each a single statement the indexes answer

    def recommendation_counts(self) -> dict[str, int]:
        """Recommendations per state (ix on recommendation.state)."""
        return {str(state): int(count) for state, count in self.connection.execute(_CASES_BY_STATE).all()}

    def overdue_party_count(self) -> int:
        """Overdue parties of recommended cases (ix_party_decision_overdue, then the recommendation's key)."""
        count: int = self.connection.execute(_OVERDUE_PARTIES).scalar_one()
        return count

    def overdue_parties(self, today: date, *, limit: int | None = None) -> list[OverdueParty]:
        """Undecided parties past their reply date on recommended recommendations; see the port."""
        query = _OVERDUE_LIST if limit is None else _OVERDUE_LIST.limit(limit)
        rows = self.connection.execute(query, {"today": today}).all()
        return [OverdueParty(recommendation=key, party=party, deadline=deadline) for key, party, deadline in rows]

    def outbox_counts(self) -> dict[str, int]:
        """Outbox messages per status (ix_outbox_status_next)."""
        return {str(status): int(count) for status, count in self.connection.execute(_OUTBOX_BY_STATUS).all()}

    def oldest_queued_message(self) -> datetime | None:
        """created_at of the oldest queued message."""
        value: datetime | None = self.connection.execute(_OLDEST_QUEUED).scalar_one_or_none()
        return value

    def oldest_due_timer(self, now: datetime) -> datetime | None:
        """due_at of the oldest pending timer due by *now* (ix_deadline_status_due_id)."""
        value: datetime | None = self.connection.execute(_OLDEST_DUE_TIMER, {"now": now}).scalar_one_or_none()
        return value

    def audit_head_seq(self) -> int:
        """max(seq) of audit_event (its primary key), 0 when empty."""
        head = self.connection.execute(_AUDIT_HEAD).first()
        return int(head[0]) if head is not None else 0

    def api_tokens(self) -> list[ApiToken]:
        """Every API token, by creation time then id."""
        query = select(t.API_TOKEN).order_by(t.API_TOKEN.c.created_at, t.API_TOKEN.c.id)
        return [ApiToken(**dict(row)) for row in self.connection.execute(query).mappings().all()]

    def api_token_by_hash(self, token_sha256: str) -> ApiToken | None:
        """The token with this secret hash, or None."""
        row = self.connection.execute(_TOKEN_BY_HASH, {"digest": token_sha256}).mappings().first()
        return ApiToken(**dict(row)) if row is not None else None

    def known_parties(self) -> set[str]:
        """Party keys named by any recommendation, as a party or as its coordinator."""
        parties = self.connection.execute(select(t.PARTY_DECISION.c.party_key).distinct()).scalars().all()
        coordinators = self.connection.execute(select(t.RECOMMENDATION.c.coordinator).distinct()).scalars().all()
        return {*parties, *coordinators}

    def _party_rows(self, keys: list[str] | None) -> dict[str, list[Any]]:
        """The party rows (PartyDecision field order) of the recommendations *keys* (None: all), by recommendation."""
        query = select(_P.c.recommendation_key, *_PARTY_COLUMNS)
        if keys is not None:
            query = query.where(_P.c.recommendation_key.in_(keys))
        rows = self.connection.execute(query.order_by(_P.c.recommendation_key, _P.c.position)).all()
        grouped: dict[str, list[Any]] = {}
        for row in rows:
            grouped.setdefault(row[0], []).append(row[1:])
        return grouped

    @staticmethod
    def _case(row: Any, party_rows: Sequence[Any]) -> Case:
        spec = _spec_from_text(row["spec"])
        parties = tuple(map(_party_decision, party_rows))
        participants = row["participants"]
        contested = row["contested"]
        return Case(
            spec=spec,
            state=row["state"],
            version=row["version"],
            reply_deadline=row["reply_deadline"],
            proposed_on=row["proposed_on"],
            parties=parties,
            outcome=row["outcome"],
            participants=tuple(json.loads(participants)) if participants is not None else None,
            recommended_on=row["recommended_on"],
            consolidated_on=row["consolidated_on"],
            in_force_since=row["in_force_since"],
            withdrawn_on=row["withdrawn_on"],
            withdraw_reason=row["withdraw_reason"],
            superseded_on=row["superseded_on"],
            superseded_by=row["superseded_by"],
            contested=tuple(json.loads(contested)) if contested is not None else (),
            recounted_on=row["recounted_on"],
            readopted_on=row["readopted_on"],
        )


class SqlUnitOfWork(SqlReader, UnitOfWork):
    """Writes inside one transaction; the store commits or rolls back around it."""

    def __init__(self, connection: Connection, store: SqlStore) -> None:
        super().__init__(connection)
        self._store = store
        self._loaded: dict[str, Case] = {}
        self._stream_starts: dict[str, int] = {}

    def load_case_for_update(self, key: str, *, known: Case | None = None) -> Case | None:
        """Load and hold the recommendation row until commit (FOR UPDATE where the database has it).

        *known* at the stored version is taken as it is (see :meth:`UnitOfWork.load_case_for_update`).
        """
        if _unstorable(key):
            return None
        if self._store.row_locks:
            self.connection.execute(_LOCK_CASE, {"key": key}).first()
        case: Case | None = None
        if known is not None and known.key == key:
            version = self.connection.execute(_CASE_VERSION, {"key": key}).scalar_one_or_none()
            case = known if version == known.version else None
        if case is None:
            case = self.load_case(key)
        if case is not None:
            self._loaded[key] = case
            self._stream_starts.setdefault(key, case.version)
        return case

    def add_case(self, case: Case, *, now: datetime) -> None:
        """Insert the recommendation and its parties."""
        self._stream_starts[case.key] = 0
        try:
            self.connection.execute(insert(t.RECOMMENDATION).values(**_case_values(case, now)))
        except IntegrityError as error:
            raise Duplicate(f"recommendation {case.key!r} already exists") from error
        self.connection.execute(
            insert(t.PARTY_DECISION), [_party_values(case.key, i, p) for i, p in enumerate(case.parties)]
        )

    def save_case(self, case: Case, *, expected_version: int, now: datetime) -> None:
        """Update the recommendation if still at *expected_version*, and the parties that changed."""
        params = _mutable_case_values(case, now)
        params.update(b_key=case.key, b_expected=expected_version)
        result = self.connection.execute(_UPDATE_CASE, params)
        if result.rowcount != 1:
            raise ConcurrencyConflict(
                f"recommendation {case.key!r} changed since version {expected_version}: reload and try again"
            )
        before = self._loaded.get(case.key)
        # Each changed party row gets an UPDATE of only the columns that changed (a decision sets ~5 of
        # 30), grouped by that column set so each group is one executemany.
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        # Unchanged parties are the same objects: only the changed ones are looked at (a tick saves one of 10,000).
        for index in range(len(case.parties)) if before is None else changed_party_indexes(before, case):
            party = case.parties[index]
            new = _party_field_values(party)
            if before is None:
                columns = tuple(_PARTY_FIELDS)
                values = new
            else:
                old_party = before.parties[index]
                old = _party_field_values(old_party)
                if old == new:
                    continue
                changed = [(name, b) for name, a, b in zip(_PARTY_FIELDS, old, new, strict=True) if a != b]
                columns = tuple(name for name, _ in changed)
                values = tuple(value for _, value in changed)
            row = dict(zip(columns, values, strict=True), b_key=case.key, b_party=party.key)
            by_columns.setdefault(columns, []).append(row)
        for columns, rows in by_columns.items():
            self._store.executemany(self.connection, _update_party(columns), rows)
        self._loaded[case.key] = case

    def append_events(self, events: Sequence[Event], *, recorded_at: datetime) -> list[AuditRecord]:
        """Chain *events* after the head; see :meth:`UnitOfWork.append_events`."""
        if not events:
            return []
        head = self._store.lock_audit_head(self.connection)
        seq, prev_hash = (head[0], head[1]) if head is not None else (0, GENESIS_HASH)
        stream_heads: dict[str, int] = {}
        stamp = format_instant(recorded_at)
        records: list[AuditRecord] = []
        for event in events:
            if event.stream not in stream_heads:
                stream_heads[event.stream] = self._stream_head(event.stream)
            stream_heads[event.stream] += 1
            seq += 1
            record = seal(
                seq=seq,
                stream=event.stream,
                stream_seq=stream_heads[event.stream],
                recorded_at=stamp,
                valid_on=event.valid_on.isoformat(),
                kind=event.kind,
                payload=dict(event.payload),
                prev_hash=prev_hash,
            )
            prev_hash = record.hash
            records.append(record)
        self._stream_starts.update(stream_heads)
        self._store.executemany(
            self.connection,
            _INSERT_AUDIT,
            [
                {
                    "seq": r.seq,
                    "stream": r.stream,
                    "stream_seq": r.stream_seq,
                    "recorded_at": recorded_at,
                    "valid_on": date.fromisoformat(r.valid_on),
                    "kind": r.kind,
                    "payload": r.payload,
                    "prev_hash": r.prev_hash,
                    "hash": r.hash,
                }
                for r in records
            ],
        )
        return records

    def _stream_head(self, stream: str) -> int:
        """The stream's last stream_seq before this transaction's events.

        A case loaded or added here knows it without a query: its version counted the
        events already in its stream before this command's events (the case saved
        here is already at its new version, so count back by the events applied).
        """
        start = self._stream_starts.get(stream)
        if start is not None:
            return start
        head: int = self.connection.execute(_STREAM_HEAD, {"stream": stream}).scalar_one()
        return head

    def sync_deadlines(self, recommendation: str, wanted: Sequence[Deadline], *, now: datetime) -> None:
        """Cancel unwanted pending rows and insert missing wanted ones; keep the later rows of a wanted series."""
        rows = self.connection.execute(_CASE_DEADLINES, {"key": recommendation}).mappings().all()
        self._reconcile_deadlines(rows, wanted, now=now)

    def sync_party_deadlines(
        self, recommendation: str, wanted: Mapping[str | None, Sequence[Deadline]], *, now: datetime
    ) -> None:
        """Sync only the named parties' rows; a party with nothing wanted is cancelled without a read."""
        emptied = sorted(party for party, timers in wanted.items() if not timers and party is not None)
        for first in range(0, len(emptied), _CANCEL_CHUNK):
            parties = emptied[first : first + _CANCEL_CHUNK]
            self.connection.execute(_CANCEL_PARTIES, {"key": recommendation, "b_parties": parties, "closed_at": now})
        rest = {party for party, timers in wanted.items() if timers or party is None}
        if not rest:
            return
        parties = sorted(party for party in rest if party is not None)
        if len(parties) <= _CANCEL_CHUNK:  # the named parties' rows only, by the (recommendation, party) index
            query = _PARTIES_DEADLINES_AND_CASE if None in rest else _PARTIES_DEADLINES
            found = self.connection.execute(query, {"key": recommendation, "b_parties": parties}).mappings().all()
        else:  # a batch touching most parties: one read of the recommendation's rows is cheaper
            found = self.connection.execute(_CASE_DEADLINES, {"key": recommendation}).mappings().all()
        rows = [row for row in found if row["party_key"] in rest]
        timers = [d for party, party_timers in wanted.items() if party in rest for d in party_timers]
        self._reconcile_deadlines(rows, timers, now=now)

    def _reconcile_deadlines(self, rows: Sequence[Any], wanted: Sequence[Deadline], *, now: datetime) -> None:
        """Make the pending ones of *rows* equal *wanted* (the rules of :meth:`UnitOfWork.sync_deadlines`)."""
        existing = [_deadline_row(row) for row in rows if row["status"] in ("pending", "done")]
        wanted_ids = {d.identity for d in wanted}
        series_start = {d.series: d.due_at for d in wanted if d.series is not None}
        cancelled: list[int] = []
        for row in existing:
            if row.status != "pending" or row.identity in wanted_ids:
                continue
            start = series_start.get(row.series) if row.series is not None else None
            if start is None or row.due_at < start:
                cancelled.append(row.id)
        # One UPDATE ... WHERE id IN (...): a batch of decisions cancels thousands of reminder timers at once.
        for first in range(0, len(cancelled), _CANCEL_CHUNK):
            ids = cancelled[first : first + _CANCEL_CHUNK]
            self.connection.execute(_CANCEL_DEADLINES, {"b_ids": ids, "closed_at": now})
        # A done reminder is never queued again, but a done transition may be wanted again: a party whose
        # decision was annulled is undecided past its reply date once more, and a re-announced decision has
        # a new appeal period that may end on the same day. Firing a transition is idempotent (the domain
        # returns no event when there is nothing to do), so only pending rows count for those.
        have = {row.identity for row in existing if row.status == "pending" or row.kind not in TRANSITION_KINDS}
        missing = [d for d in wanted if d.identity not in have]
        if missing:
            self.connection.execute(
                _INSERT_DEADLINE,
                [
                    {
                        "recommendation_key": d.recommendation,
                        "party_key": d.party,
                        "kind": d.kind,
                        "due_at": d.due_at,
                        "status": "pending",
                    }
                    for d in missing
                ],
            )

    def add_deadline(self, deadline: Deadline) -> None:
        """Insert one pending timer (the next occurrence of a series)."""
        row = {"recommendation_key": deadline.recommendation, "party_key": deadline.party, "kind": deadline.kind}
        self._store.insert_ignoring_duplicates(
            self.connection, t.DEADLINE, [{**row, "due_at": deadline.due_at, "status": "pending"}]
        )

    def due_deadlines(self, now: datetime, *, limit: int) -> list[DeadlineRow]:
        """Pending deadlines due at *now*, oldest first."""
        rows = self.connection.execute(_DUE, {"now": now, "limit": limit}).mappings().all()
        return [_deadline_row(row) for row in rows]

    def claim_due_deadlines(
        self, due_by: datetime, *, now: datetime, worker: str, lease_until: datetime, limit: int
    ) -> list[DeadlineRow]:
        """Claim up to *limit* due, pending timers not leased by another worker; see the port."""
        params = {"due_by": due_by, "now": now, "worker": worker, "limit": limit}
        rows = self.connection.execute(_CLAIMABLE, params).mappings().all()
        claimed = [_deadline_row(row) for row in rows]
        if claimed:
            self.connection.execute(
                _CLAIM_DEADLINE,
                [{"b_id": row.id, "claimed_by": worker, "claimed_until": lease_until} for row in claimed],
            )
        return claimed

    def deadline_for_update(self, deadline_id: int) -> DeadlineRow | None:
        """Re-read one timer inside the transaction that will fire it (locking it where rows are locked)."""
        query = _DEADLINE_BY_ID_LOCKED if self._store.row_locks else _DEADLINE_BY_ID
        row = self.connection.execute(query, {"b_id": deadline_id}).mappings().first()
        return _deadline_row(row) if row is not None else None

    def later_ladder_rows(self, recommendation: str, party: str, *, after: datetime, until: datetime) -> int:
        """How many pending reminder rows of the party's ladder fall due after *after* and by *until*."""
        rows = self.connection.execute(_PARTY_TIMERS, {"key": recommendation, "party": party}).all()
        return sum(
            1
            for kind, status, due_at in rows
            if kind in LADDER_KINDS and status in ("pending", "done") and after < due_at <= until
        )

    def close_deadline(self, deadline_id: int, *, status: str, now: datetime) -> None:
        """Mark one pending deadline done or cancelled."""
        self.connection.execute(_CLOSE_DEADLINE, {"b_id": deadline_id, "status": status, "closed_at": now})

    # -- contacts and the outbox

    def contacts_of(self, party: str) -> list[Contact]:
        """The active contacts of a party, by id."""
        rows = self.connection.execute(_CONTACTS_OF, {"party": party}).mappings().all()
        return [_contact(row) for row in rows]

    def queue_messages(self, messages: Sequence[OutboxEntry], *, now: datetime) -> int:
        """Insert outbox rows, ignoring ones whose (recommendation, party, kind, due_at, contact) exists."""
        if not messages:
            return 0
        values = [
            {
                "recommendation_key": m.recommendation,
                "party_key": m.party,
                "kind": m.kind,
                "due_at": m.due_at,
                "contact_id": m.contact_id,
                "status": m.status,
                "details": canonical_json(dict(m.details)),
                "created_at": now,
                "attempts": 0,
                "next_attempt_at": now if m.status == "queued" else None,
            }
            for m in messages
        ]
        return self._store.insert_ignoring_duplicates(self.connection, t.OUTBOX, values)

    def claim_outbox(self, now: datetime, *, worker: str, lease_until: datetime, limit: int) -> list[OutboxRecord]:
        """Claim up to *limit* messages ready to be tried, not leased by another worker."""
        rows = (
            self.connection.execute(_OUTBOX_CLAIMABLE, {"now": now, "worker": worker, "limit": limit}).mappings().all()
        )
        if rows:
            self.connection.execute(
                _CLAIM_OUTBOX,
                [{"b_id": row["id"], "claimed_by": worker, "claimed_until": lease_until} for row in rows],
            )
        return [_outbox_record(row) for row in rows]

    def release_claims(self, worker: str) -> int:
        """Drop *worker*'s leases on pending timers and unsent messages; return how many."""
        released = 0
        for table, open_statuses in ((t.DEADLINE, ["pending"]), (t.OUTBOX, ["queued", "failed"])):
            result = self.connection.execute(
                update(table)
                .where(and_(table.c.claimed_by == worker, table.c.status.in_(open_statuses)))
                .values(claimed_by=None, claimed_until=None)
            )
            released += max(result.rowcount, 0)
        return released

    def renew_outbox(self, outbox_id: int, *, worker: str, now: datetime, lease_until: datetime) -> bool:
        """Extend the lease on a message if *worker* still holds it unexpired and it is not sent."""
        result = self.connection.execute(
            update(t.OUTBOX)
            .where(
                and_(
                    t.OUTBOX.c.id == outbox_id,
                    t.OUTBOX.c.claimed_by == worker,
                    t.OUTBOX.c.claimed_until >= now,
                    t.OUTBOX.c.status.in_(["queued", "failed"]),
                )
            )
            .values(claimed_until=lease_until)
        )
        return bool(result.rowcount == 1)

    def close_outbox(self, outbox_id: int, *, worker: str, now: datetime, status: str, reason: str) -> bool:
        """Close a message this worker holds unexpired as *status* with *reason*, without a next attempt."""
        assert status in ("skipped", "failed"), status
        values = {"b_id": outbox_id, "b_worker": worker, "b_now": now, "status": status, "last_error": reason}
        result = self.connection.execute(_CLOSE_OUTBOX, values)
        return bool(result.rowcount == 1)

    def finish_outbox(
        self,
        outbox_id: int,
        *,
        worker: str,
        sent_at: datetime | None,
        error: str | None,
        next_attempt_at: datetime | None,
    ) -> bool:
        """Record a delivery attempt of a message this worker holds; False if it no longer holds it."""
        values = {
            "b_id": outbox_id,
            "b_worker": worker,
            "status": "sent" if sent_at is not None else "failed",
            "sent_at": sent_at,
            "last_error": error,
            "next_attempt_at": next_attempt_at,
        }
        result = self.connection.execute(_FINISH_OUTBOX, values)
        return bool(result.rowcount == 1)

    def put_contact(self, contact: Contact) -> None:
        """Insert or replace a contact."""
        self.connection.execute(delete(t.CONTACT).where(t.CONTACT.c.id == contact.id))
        self.connection.execute(
            insert(t.CONTACT).values(
                id=contact.id, party_key=contact.party, name=contact.name, email=contact.email, active=contact.active
            )
        )

    def beat(self, heartbeat: Heartbeat) -> None:
        """Write the daemon's heartbeat row."""
        self.connection.execute(delete(t.HEARTBEAT).where(t.HEARTBEAT.c.daemon_id == heartbeat.daemon_id))
        self.connection.execute(insert(t.HEARTBEAT).values(**asdict(heartbeat)))

    def add_api_token(self, token: ApiToken) -> None:
        """Insert a token row (only its hash)."""
        try:
            self.connection.execute(insert(t.API_TOKEN).values(**asdict(token)))
        except IntegrityError as error:
            raise Duplicate(f"API token {token.id!r} already exists") from error

    def revoke_api_token(self, token_id: str, *, now: datetime) -> bool:
        """Set revoked_at on an unrevoked token."""
        result = self.connection.execute(
            update(t.API_TOKEN)
            .where(and_(t.API_TOKEN.c.id == token_id, t.API_TOKEN.c.revoked_at.is_(None)))
            .values(revoked_at=now)
        )
        return bool(result.rowcount == 1)


class SqlStore(Store):
    """A store over one SQLAlchemy engine; subclasses set the engine up for their database."""

    #: Whether rows must be locked with SELECT … FOR UPDATE (not on SQLite, whose write transaction locks all).
    row_locks = True

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url

    # -- hooks for the adapters

    def serialise_appends(self, connection: Connection) -> None:
        """Make concurrent audit appends take turns (no-op where the database has one writer)."""

    def lock_audit_head(self, connection: Connection) -> tuple[int, str] | None:
        """Take this transaction's turn to append (:meth:`serialise_appends`), then read the chain head.

        Returns (seq, hash) of the last event, None when the log is empty. One hook for both, so that an
        adapter can send them in one round trip (PostgreSQL does).
        """
        self.serialise_appends(connection)
        head = connection.execute(_AUDIT_HEAD).first()
        return (int(head[0]), str(head[1])) if head is not None else None

    def executemany(self, connection: Connection, statement: UpdateBase, rows: list[dict[str, Any]]) -> None:
        """Run *statement* once per row of *rows* (the many party and audit rows of a batch).

        SQLAlchemy's own executemany here; SQLite overrides it with :func:`driver_executemany`.
        PostgreSQL keeps SQLAlchemy's: its psycopg dialect sends an INSERT's rows as multi-row
        VALUES pages, and the driver's executemany (one statement per row) measured slower.
        """
        connection.execute(statement, rows)

    def install_triggers(self, connection: Connection) -> None:
        """Install the append-only triggers on audit_event."""
        raise NotImplementedError

    def insert_ignoring_duplicates(self, connection: Connection, table: Table, rows: list[dict[str, Any]]) -> int:
        """Insert *rows*, skipping any that hit a unique constraint; return how many were inserted."""
        raise NotImplementedError

    def begin_write(self, connection: Connection) -> None:
        """Start a write transaction."""
        connection.begin()

    def begin_read(self, connection: Connection) -> None:
        """Start a read-only transaction."""
        connection.begin()

    # -- the port

    def create_schema(self) -> bool:
        """Create the tables and triggers at the newest schema revision; an existing database is left alone.

        An existing database is changed only by `beslut db upgrade` (Alembic), never here:
        see :mod:`beslut.persistence.schema` for why a new one is made with create_all + stamp.
        """
        from beslut.persistence.schema import stamp_head  # noqa: PLC0415 - Alembic only when creating

        with self._translated(), self.engine.connect() as connection:
            self.begin_write(connection)
            existed = inspect(connection).has_table("audit_event")
            if not existed:
                t.METADATA.create_all(connection, checkfirst=True)
                self.install_triggers(connection)
                connection.execute(insert(t.META).values(key="schema_version", value=t.SCHEMA_VERSION))
                stamp_head(connection)
            connection.commit()
            return not existed

    def is_initialised(self) -> bool:
        """True when audit_event exists."""
        with self._translated(), self.engine.connect() as connection:
            return inspect(connection).has_table("audit_event")

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """One write transaction; commit on success, roll back on any exception."""
        with self._translated(), self.engine.connect() as connection:
            self.begin_write(connection)
            try:
                yield SqlUnitOfWork(connection, self)
            except BaseException:
                connection.rollback()
                raise
            failpoints.hit("uow.before_commit")
            connection.commit()
            failpoints.hit("uow.after_commit")

    @contextmanager
    def reader(self) -> Iterator[Reader]:
        """One read-only snapshot."""
        with self._translated(), self.engine.connect() as connection:
            self.begin_read(connection)
            try:
                yield SqlReader(connection)
            finally:
                connection.rollback()

    def readiness_problem(self) -> str | None:
        """None when the database answers and its schema is at this code's head revision; else why not."""
        try:
            with self._translated(), self.engine.connect() as connection:
                self.begin_read(connection)
                try:
                    state = schema_state(connection)
                finally:
                    connection.rollback()
        except StoreError as error:
            return " ".join(f"the database does not answer: {error}".split())  # drivers' messages span lines
        if state.status == "current":
            return None
        if state.status == "empty":
            return "the database has no beslut schema: run `beslut init`"
        if state.status == "ahead":
            return f"database schema is at {state.shown}, newer than this beslut ({state.head})"
        return f"database schema is at {state.shown}, this beslut needs {state.head}: run `beslut db upgrade`"

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.engine.dispose()

    def dump(self) -> list[tuple[str, list[tuple[object, ...]]]]:
        """Every row of every table in primary-key order."""
        out: list[tuple[str, list[tuple[object, ...]]]] = []
        with self.engine.connect() as connection:
            for table in t.METADATA.sorted_tables:
                order = list(table.primary_key.columns) or list(table.columns)
                rows = connection.execute(select(table).order_by(*order)).all()
                out.append((table.name, [tuple(r) for r in rows]))
        return out

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Translate driver errors into `beslut` errors, in one place."""
        try:
            yield
        except IntegrityError as error:
            if "uq_audit_event_stream_seq" in str(error) or "audit_event" in str(error):
                raise ConcurrencyConflict("another writer appended to the audit log first; try again") from error
            raise StoreError(f"database integrity error: {error.orig}") from error
        except OperationalError as error:
            if "locked" in str(error.orig) or "could not serialize" in str(error.orig):
                raise ConcurrencyConflict(f"the database is busy: {error.orig}") from error
            raise _unavailable(error) or StoreError(f"database error: {error.orig}") from error
        except DBAPIError as error:
            raise _unavailable(error) or StoreError(f"database error: {error.orig}") from error
        except SQLAlchemyError as error:
            raise StoreError(f"database error: {error}") from error


# What SQLite says when the file itself is unusable, and how the refusal names it (exit 5).
_UNAVAILABLE = (
    ("file is not a database", "the file is not a beslut database (not SQLite)"),
    ("unable to open database file", "the database file cannot be opened (a directory, or a read-only mount)"),
    ("readonly database", "the database is read-only (file or mount)"),
    ("read-only file system", "the database is on a read-only mount"),
)


def _unavailable(error: DBAPIError) -> StoreUnavailable | None:
    """The driver error as :class:`StoreUnavailable` when the file cannot be used at all, else None.

    Why here: the store adapter is the one place that knows the driver's words; the CLI only maps
    the class to its exit code. The driver's own text is kept after the explanation.
    """
    text = str(error.orig)
    for needle, meaning in _UNAVAILABLE:
        if needle in text.lower():
            return StoreUnavailable(f"{meaning}: {text}")
    return None


@functools.lru_cache(maxsize=128)  # bounded: memory stays flat however many cases exist
def _spec_from_text(text_value: str) -> RecommendationSpec:
    """Parse a stored spec once: specs never change after a proposal, and parsing validates every field.

    This exact-text cache answers a command that reloads the same few cases; behind it the shared
    spec cache (:mod:`beslut.states.spec_cache`) answers the cases proposed from one template, so a
    batch touching more than 128 recommendations (an import in party order) does not re-parse each.
    """
    return parse_spec_json(text_value)


def _case_values(case: Case, now: datetime) -> dict[str, Any]:
    spec = case.spec
    return {
        "key": case.key,
        "title": spec.title,
        "issuer": spec.issuer,
        "coordinator": spec.coordinator,
        "consolidation": str(spec.consolidation),
        "reply_by": spec.reply_by,
        "reply_deadline": case.reply_deadline,
        "in_force_on": spec.in_force_on,
        "supersedes": spec.supersedes,
        "proposed_on": case.proposed_on,
        "spec": canonical_json(spec_to_data(spec)),
        **_mutable_case_values(case, now),
    }


def _mutable_case_values(case: Case, now: datetime) -> dict[str, Any]:
    return {
        "state": case.state,
        "outcome": case.outcome,
        "version": case.version,
        "participants": json.dumps(list(case.participants)) if case.participants is not None else None,
        "recommended_on": case.recommended_on,
        "consolidated_on": case.consolidated_on,
        "in_force_since": case.in_force_since,
        "withdrawn_on": case.withdrawn_on,
        "withdraw_reason": case.withdraw_reason,
        "superseded_on": case.superseded_on,
        "superseded_by": case.superseded_by,
        "contested": json.dumps(list(case.contested)) if case.contested else None,
        "recounted_on": case.recounted_on,
        "readopted_on": case.readopted_on,
        "updated_at": now,
    }


def _party_values(key: str, position: int, party: PartyDecision) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(party, name) for name in _PARTY_FIELDS}
    values.update(recommendation_key=key, party_key=party.key, position=position)
    return values


def _deadline_row(row: Any) -> DeadlineRow:
    return DeadlineRow(
        id=row["id"],
        recommendation=row["recommendation_key"],
        party=row["party_key"],
        kind=row["kind"],
        due_at=row["due_at"],
        status=row["status"],
        closed_at=row["closed_at"],
        claimed_by=row["claimed_by"],
        claimed_until=row["claimed_until"],
    )


def _contact(row: Any) -> Contact:
    return Contact(id=row["id"], party=row["party_key"], name=row["name"], email=row["email"], active=row["active"])


def _outbox_record(row: Any) -> OutboxRecord:
    return OutboxRecord(
        id=row["id"],
        recommendation=row["recommendation_key"],
        party=row["party_key"],
        kind=row["kind"],
        due_at=row["due_at"],
        contact_id=row["contact_id"],
        status=row["status"],
        details=json.loads(row["details"]),
        created_at=row["created_at"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        claimed_by=row["claimed_by"],
        sent_at=row["sent_at"],
        last_error=row["last_error"],
    )


# (statement id, dialect, column keys) -> (SQL text, bind names in order, their bind processors, positional?)
_DRIVER_PLANS: dict[
    tuple[int, str, tuple[str, ...]], tuple[str, list[str], list[Any], list[bool], list[bool], bool]
] = {}


def _python_type(column_type: Any) -> type | None:
    """The Python type a column type holds, or None when the type does not say."""
    try:
        python_type: type = column_type.python_type
    except NotImplementedError:
        return None
    return python_type


def _remembering(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """*processor* with a memory of the values it converted (for one executemany: bounded by its rows)."""
    memory: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return memory[value]
        except KeyError:
            memory[value] = converted = processor(value)
            return converted
        except TypeError:  # unhashable: convert it every time
            return processor(value)

    return convert


def driver_executemany(connection: Connection, statement: UpdateBase, rows: list[dict[str, Any]]) -> None:
    """Run *statement* once per row through the DBAPI cursor's ``executemany``, in the connection's transaction.

    Why: a batch of 10,000 decisions writes 10,000 party rows and 10,000 audit rows, and
    SQLAlchemy's per-row parameter building (``construct_params`` and the processors it
    looks up per row) cost more than the database's own work (bench/bench_batch.py). Here
    the statement is compiled once per dialect and its column set, the bind processors
    (the column types' own: :class:`~beslut.persistence._types.AwareDateTime`'s text on
    SQLite, dates) are looked up once, and each row is only converted. Errors come back
    wrapped as any SQLAlchemy execution's, so the store translates them the same way.
    All rows must have the same keys.
    """
    if not rows:
        return
    dialect = connection.dialect
    keys = tuple(rows[0])
    plan_key = (id(statement), dialect.name, keys)
    plan = _DRIVER_PLANS.get(plan_key)
    if plan is None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        by_name = {name: bind for bind, name in compiled.bind_names.items()}
        names = list(compiled.positiontup or ()) if compiled.positional else list(by_name)
        processors = [by_name[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names]
        # A processor that writes None as NULL need not be called for None: most of a party row's dates
        # are None (12 date columns, ~120,000 processor calls in a 10,000-decision batch). Checked per
        # type, not assumed: a type writing None otherwise (JSON's "null") is always called.
        skips_none = [p is None or p(None) is None for p in processors]
        # A date or instant column's processor may remember its answers for one call: a batch's rows
        # repeat a few dates and one recorded_at instant thousands of times, and equal dates (or equal
        # aware instants, stored in UTC) give equal text. Not for numbers (0.0 == -0.0, Decimal scales).
        remembers = [
            p is not None and _python_type(by_name[n].type) in (date, datetime)
            for n, p in zip(names, processors, strict=True)
        ]
        plan = (compiled.string, names, processors, skips_none, remembers, bool(compiled.positional))
        _DRIVER_PLANS[plan_key] = plan
    sql, names, processors, skips_none, remembers, positional = plan
    steps = [
        (n, _remembering(p) if remember and p is not None else p, skip)
        for n, p, skip, remember in zip(names, processors, skips_none, remembers, strict=True)
    ]
    converted = [
        [row[n] if p is None or (skip and row[n] is None) else p(row[n]) for n, p, skip in steps] for row in rows
    ]
    if positional:
        connection.exec_driver_sql(sql, [tuple(values) for values in converted])
    else:
        connection.exec_driver_sql(sql, [dict(zip(names, values, strict=True)) for values in converted])


def raw_sql(connection: Connection, statement: str) -> None:
    """Run one DDL statement (used by the adapters for triggers)."""
    connection.execute(text(statement))
