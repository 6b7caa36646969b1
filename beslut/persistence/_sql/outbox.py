"""The outbox port over SQL: the ``outbox`` table of messages to parties' contacts, with workers' leases."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update

from beslut.persistence import _tables as t
from beslut.persistence._sql.base import SqlPart, SqlWritePart
from beslut.states.audit_chain import canonical_json
from beslut.states.records import OutboxEntry, OutboxRecord
from beslut.workflow.ports import OutboxReads, OutboxWrites

_O = t.OUTBOX
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
_OUTBOX_BY_STATUS = select(_O.c.status, func.count()).group_by(_O.c.status)
_OLDEST_QUEUED = select(func.min(_O.c.created_at)).where(_O.c.status == "queued")


class SqlOutboxReads(SqlPart, OutboxReads):
    """The outbox read."""

    def outbox(self, *, status: str | None = None, limit: int | None = None) -> list[OutboxRecord]:
        """Outbox rows by due_at then id, optionally of one status."""
        query = select(t.OUTBOX)
        if status is not None:
            query = query.where(t.OUTBOX.c.status == status)
        query = query.order_by(t.OUTBOX.c.due_at, t.OUTBOX.c.id)
        if limit is not None:
            query = query.limit(limit)
        return [_outbox_record(row) for row in self.connection.execute(query).mappings().all()]

    def outbox_counts(self) -> dict[str, int]:
        """Outbox messages per status (ix_outbox_status_next)."""
        return {str(status): int(count) for status, count in self.connection.execute(_OUTBOX_BY_STATUS).all()}

    def oldest_queued_message(self) -> datetime | None:
        """created_at of the oldest queued message."""
        value: datetime | None = self.connection.execute(_OLDEST_QUEUED).scalar_one_or_none()
        return value


class SqlOutboxWrites(SqlWritePart, OutboxWrites):
    """Messages queued, leased and finished."""

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
