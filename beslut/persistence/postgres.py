"""The PostgreSQL adapter: for a county or a national body, with several processes on one database.

Rows a command changes are locked with ``SELECT … FOR UPDATE``. Audit appends take
a transaction-scoped advisory lock before reading the head, so global ``seq`` is
assigned in commit order and readers never see seq N+1 before N (the problem
eventsourcing solves with an EXCLUSIVE table lock in ``PostgresApplicationRecorder``);
the lock is taken last in a command, after its row locks, so it cannot deadlock
with them.

Every read (:meth:`PostgresStore.begin_read`) is ``REPEATABLE READ, READ ONLY``: one consistent
snapshot that the server refuses to write in. ``read_only=True`` (the auditor's commands) also
sets ``default_transaction_read_only`` on every connection. Connect as a role that has SELECT only
(docs/auditor.md lists the GRANTs) and even a session that turned read-only off cannot write.
"""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy import Connection, Table, create_engine, text
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.exc import DBAPIError

from beslut.persistence._sql import SqlStore, raw_sql

AUDIT_APPEND_LOCK = 0x6265736C7574  # "beslut" as a 48-bit number: the advisory lock key for audit appends
_TAKE_APPEND_LOCK = "SELECT pg_advisory_xact_lock(%s)"
_AUDIT_HEAD = "SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1"

_TRIGGERS = (
    """CREATE OR REPLACE FUNCTION beslut_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP; END $$""",
    """CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
       FOR EACH ROW EXECUTE FUNCTION beslut_audit_append_only()""",
    """CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
       FOR EACH STATEMENT EXECUTE FUNCTION beslut_audit_append_only()""",
)


class PostgresStore(SqlStore):
    """A store in a PostgreSQL database (psycopg 3)."""

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        self.read_only = read_only
        if read_only:
            engine = create_engine(
                url, pool_size=5, max_overflow=10, connect_args={"options": "-c default_transaction_read_only=on"}
            )
        else:
            engine = create_engine(url, pool_size=5, max_overflow=10)
        super().__init__(engine, url)

    def begin_read(self, connection: Connection) -> None:
        """A read snapshot: REPEATABLE READ, READ ONLY, so every statement of the read sees the same commits.

        READ COMMITTED (the server's default) takes a new snapshot per statement, and a case is
        read in two statements (its row, then its parties' rows): a command committing in
        between gave a case torn between two versions, its parties one step ahead of it
        (found by tests/reliability/test_races.py). A read-only transaction never fails to
        serialise, so this costs nothing but the snapshot.
        """
        connection.begin()
        connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")

    def serialise_appends(self, connection: Connection) -> None:
        """Take the audit-append advisory lock until commit."""
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_APPEND_LOCK})

    def lock_audit_head(self, connection: Connection) -> tuple[int, str] | None:
        """Take the audit-append lock and read the chain head in ONE round trip (psycopg's pipeline mode).

        Every writer waits for this lock and holds it until COMMIT, so each round trip made while
        holding it is paid by every writer queued behind: with several writers the lock's hold
        bounds throughput (bench/bench_writers.py --phases). Pipelined, both statements reach the
        server together and it runs them in order; under READ COMMITTED (a write transaction's
        level here) the head query takes its snapshot only when it starts, after the lock is
        granted, so it sees every append committed before, as it did in two round trips. A driver
        error is raised as SQLAlchemy would, so the store translates it as any other.
        """
        driver = connection.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        try:
            with driver.pipeline():
                driver.execute(_TAKE_APPEND_LOCK, (AUDIT_APPEND_LOCK,))
                cursor = driver.execute(_AUDIT_HEAD)
            head = cursor.fetchone()
        except psycopg.Error as error:
            raise DBAPIError.instance(_AUDIT_HEAD, None, error, psycopg.Error) from error
        return (int(head[0]), str(head[1])) if head is not None else None

    def install_triggers(self, connection: Connection) -> None:
        """Refuse UPDATE, DELETE and TRUNCATE on audit_event."""
        for statement in _TRIGGERS:
            raw_sql(connection, statement)

    def insert_ignoring_duplicates(self, connection: Connection, table: Table, rows: list[dict[str, Any]]) -> int:
        """INSERT … ON CONFLICT DO NOTHING."""
        # psycopg reports rowcount -1 for an executemany; count the rows RETURNING gives back instead.
        statement = postgres_insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)
        return len(connection.execute(statement, rows).all())
