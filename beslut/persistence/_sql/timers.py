"""The timers port over SQL: the ``deadline`` table (pending, leased, done or cancelled timers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy import case as sql_case

from beslut.persistence import _tables as t
from beslut.persistence._sql.base import SqlPart, SqlWritePart, _unstorable
from beslut.states.deadlines import LADDER_KINDS, TRANSITION_KINDS, Deadline, DeadlineRow
from beslut.workflow.ports import TimerReads, TimerWrites

_D = t.DEADLINE
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
_OLDEST_DUE_TIMER = select(func.min(_D.c.due_at)).where(and_(_D.c.status == "pending", _D.c.due_at <= bindparam("now")))


class SqlTimerReads(SqlPart, TimerReads):
    """Timers read."""

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

    def oldest_due_timer(self, now: datetime) -> datetime | None:
        """due_at of the oldest pending timer due by *now* (ix_deadline_status_due_id)."""
        value: datetime | None = self.connection.execute(_OLDEST_DUE_TIMER, {"now": now}).scalar_one_or_none()
        return value


class SqlTimerWrites(SqlWritePart, TimerWrites):
    """Timers synced with the domain's, leased, fired and closed."""

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
