"""The audit log port over SQL: the append-only, hash-chained ``audit_event`` table."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import date, datetime
from typing import cast

from sqlalchemy import bindparam, func, insert, select

from beslut.persistence import _tables as t
from beslut.persistence._sql.base import SqlPart, SqlWritePart, _unstorable
from beslut.states.audit_chain import GENESIS_HASH, AuditRecord, format_instant, seal
from beslut.states.case import Event
from beslut.workflow.ports import AuditLogReads, AuditLogWrites, Reader

_AUDIT_BATCH = 2000
_A = t.AUDIT_EVENT
_AUDIT_HEAD = select(_A.c.seq, _A.c.hash).order_by(_A.c.seq.desc()).limit(1)
_STREAM_HEAD = select(func.coalesce(func.max(_A.c.stream_seq), 0)).where(_A.c.stream == bindparam("stream"))
_INSERT_AUDIT = insert(_A)


class SqlAuditReads(SqlPart, AuditLogReads):
    """The audit log read in seq order."""

    def audit_rows_as_stored(
        self, *, stream: str | None = None, streams: Collection[str] | None = None, after_seq: int = 0
    ) -> Iterator[tuple[object, ...]]:
        """The rows as the database holds them (:func:`beslut.persistence.audit_rows`)."""
        from beslut.persistence import audit_rows  # noqa: PLC0415 - the package imports this module's store

        reader = cast("Reader", self)  # a part of the SqlReader it is mixed into
        return audit_rows(reader, stream=stream, streams=streams, after_seq=after_seq)

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

    def audit_head_seq(self) -> int:
        """max(seq) of audit_event (its primary key), 0 when empty."""
        head = self.connection.execute(_AUDIT_HEAD).first()
        return int(head[0]) if head is not None else 0


class SqlAuditWrites(SqlWritePart, AuditLogWrites):
    """Appends chained after the head, in one write transaction."""

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
