"""An attacker with write access to the database: drops the append-only triggers and edits audit_event.

Everything goes through plain SQL on a connection of its own, as someone with the
database file (or a superuser login) would do it; hashes are recomputed with the log's
own definition when the attack is meant to keep the chain consistent.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from beslut.persistence import AUDIT_COLUMNS, open_store
from beslut.states.audit_chain import AuditRecord, compute_hash
from beslut.workflow.audit_log import read_log

COLUMNS = AUDIT_COLUMNS


class Attacker:
    """Raw SQL on one database URL (an SQLite path or a PostgreSQL URL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = "://" not in url
        self.engine: Engine = create_engine(f"sqlite:///{url}" if self.sqlite else url)

    def close(self) -> None:
        self.engine.dispose()

    def sql(self, statement: str, params: dict[str, Any] | None = None) -> int:
        """Run one statement in its own transaction; return the rows it changed."""
        with self.engine.begin() as connection:
            return connection.execute(text(statement), params or {}).rowcount

    def drop_triggers(self) -> None:
        """What an attacker does first: the append-only triggers go."""
        if self.sqlite:
            self.sql("DROP TRIGGER audit_event_no_update")
            self.sql("DROP TRIGGER audit_event_no_delete")
        else:
            self.sql("DROP TRIGGER audit_event_append_only ON audit_event")
            self.sql("DROP TRIGGER audit_event_no_truncate ON audit_event")

    def drop_constraints(self) -> None:
        """Remove the primary key and unique constraints (SQLite: rebuild the table without them)."""
        if self.sqlite:
            self.sql(
                "CREATE TABLE audit_copy (seq INTEGER, stream VARCHAR, stream_seq INTEGER, recorded_at VARCHAR,"
                " valid_on DATE, kind VARCHAR, payload TEXT, prev_hash VARCHAR, hash VARCHAR)"
            )
            self.sql(f"INSERT INTO audit_copy SELECT {', '.join(COLUMNS)} FROM audit_event")
            self.sql("DROP TABLE audit_event")
            self.sql("ALTER TABLE audit_copy RENAME TO audit_event")
        else:
            with self.engine.begin() as connection:
                names = connection.execute(
                    text(
                        "SELECT conname FROM pg_constraint WHERE conrelid = 'audit_event'::regclass"
                        " AND contype IN ('p', 'u')"
                    )
                ).scalars()
                for name in list(names):
                    connection.execute(text(f'ALTER TABLE audit_event DROP CONSTRAINT "{name}"'))

    def row(self, seq: int) -> dict[str, Any]:
        """The stored values of row *seq* (driver types)."""
        with self.engine.connect() as connection:
            found = connection.execute(text("SELECT * FROM audit_event WHERE seq = :seq"), {"seq": seq}).mappings()
            return dict(found.one())

    def set(self, seq: int, column: str, value: Any) -> None:
        """UPDATE one column of row *seq*."""
        assert column in COLUMNS
        changed = self.sql(f"UPDATE audit_event SET {column} = :value WHERE seq = :seq", {"value": value, "seq": seq})
        assert changed == 1

    def records(self) -> list[AuditRecord]:
        """The log as the verifier reads it."""
        store = open_store(self.url)
        try:
            with store.reader() as reader:
                return [row.record for row in read_log(reader)]
        finally:
            store.close()

    def head(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(text("SELECT max(seq) FROM audit_event")).scalar_one())

    def rehash_from(self, seq: int) -> None:
        """Recompute prev_hash and hash from *seq* to the end, so the chain is consistent again."""
        records = self.records()
        prev = records[seq - 2].hash if seq > 1 else "0" * 64
        with self.engine.begin() as connection:
            for record in records[seq - 1 :]:
                digest = compute_hash(
                    seq=record.seq,
                    stream=record.stream,
                    stream_seq=record.stream_seq,
                    recorded_at=record.recorded_at,
                    valid_on=record.valid_on,
                    kind=record.kind,
                    payload=record.payload,
                    prev_hash=prev,
                )
                connection.execute(
                    text("UPDATE audit_event SET prev_hash = :prev, hash = :hash WHERE seq = :seq"),
                    {"prev": prev, "hash": digest, "seq": record.seq},
                )
                prev = digest

    def make_room(self, seq: int, stream: str, stream_seq: int) -> None:
        """Shift seq >= *seq* up by one, and the stream's stream_seq >= *stream_seq*, to insert a row there."""
        big = 10_000_000
        self.sql("UPDATE audit_event SET seq = seq + :big WHERE seq >= :seq", {"big": big, "seq": seq})
        self.sql("UPDATE audit_event SET seq = seq - :back WHERE seq >= :big", {"back": big - 1, "big": big})
        params = {"big": big, "stream": stream, "from": stream_seq}
        self.sql(
            "UPDATE audit_event SET stream_seq = stream_seq + :big WHERE stream = :stream AND stream_seq >= :from",
            params,
        )
        self.sql(
            "UPDATE audit_event SET stream_seq = stream_seq - :back WHERE stream = :stream AND stream_seq >= :big",
            {"back": big - 1, "big": big, "stream": stream},
        )

    def insert(self, values: dict[str, Any]) -> None:
        """INSERT one row as given."""
        names = ", ".join(values)
        marks = ", ".join(f":{n}" for n in values)
        self.sql(f"INSERT INTO audit_event ({names}) VALUES ({marks})", values)

    def try_sql(self, statement: str, params: dict[str, Any] | None = None) -> str | None:
        """Run a statement that a constraint or a column type may refuse; return the refusal, or None if it ran."""
        try:
            self.sql(statement, params)
        except DBAPIError as error:
            return str(error.orig)
        return None


def flipped(value: Any) -> Any:
    """*value* with one bit changed: a character of text, the low bit of a number, a microsecond, a day."""
    if isinstance(value, bool):
        raise TypeError("no booleans in audit_event")
    if isinstance(value, int):
        return value ^ 1
    if isinstance(value, str):
        i = len(value) // 2
        return value[:i] + chr(ord(value[i]) ^ 1) + value[i + 1 :]
    if isinstance(value, datetime):
        return value + timedelta(microseconds=1 if value.microsecond % 2 == 0 else -1)
    if isinstance(value, date):
        return value + timedelta(days=1 if value.toordinal() % 2 == 0 else -1)
    raise TypeError(f"cannot flip {type(value).__name__}")
