"""The SQLite adapter: the embedded default.

WAL with ``synchronous=FULL`` (a committed command survives a power cut), foreign
keys on, and write transactions opened with ``BEGIN IMMEDIATE`` so two writers
queue on the busy timeout instead of failing half-way with "database is locked"
(SQLAlchemy's pysqlite notes, "Serializable isolation / Savepoints / Transactional
DDL", explain why the driver's own BEGIN handling must be switched off).
SQLite has one writer at a time, so audit appends need no extra lock.

``read_only=True`` (the auditor's commands) opens the file through an SQLite URI with
``mode=ro`` and ``PRAGMA query_only``: SQLite itself refuses every write, whatever
the caller does, and nothing about the file (not even its journal mode) is changed.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import URL, Connection, Table, create_engine, event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import UpdateBase

from beslut.persistence._sql import SqlStore, driver_executemany, raw_sql

BUSY_TIMEOUT_MS = 30_000
BUSY_TIMEOUT_ENV = "BESLUT_SQLITE_BUSY_TIMEOUT_MS"  # how long a writer waits for the lock (tests shorten it)


def busy_timeout_ms() -> int:
    """How long SQLite retries a locked database before a command gives up (its busy handler)."""
    return int(os.environ.get(BUSY_TIMEOUT_ENV) or BUSY_TIMEOUT_MS)


def switch_to_wal(cursor: sqlite3.Cursor, *, deadline: float) -> None:
    """``PRAGMA journal_mode=WAL``, tried again until *deadline* (a monotonic reading) while the file is locked.

    Switching a rollback-journal file (a new, empty one) to WAL needs its exclusive
    lock, and SQLite does not call the busy handler when another connection holds the
    write lock in rollback mode, which is what a second process's switch of the same
    new file does for a moment: the pragma fails at once with "database is locked"
    whatever busy_timeout says. Two `beslut db upgrade` runs on one new file met this
    under load. So the wait the busy timeout promises is done here, in short sleeps.
    """
    pause = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
        else:
            return
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: DELETE refused'); END""",
)


def _immutable_if_unwritable(path: Path) -> dict[str, str]:
    """``immutable=1`` when nobody can write beside *path* (a read-only mount or directory), else nothing.

    Why: a WAL database is read through its ``-shm`` file, which SQLite must create next to the
    database; in a directory nobody can write it cannot, and even ``mode=ro`` fails with "unable to
    open database file". Where nothing can be created, nothing can change the file either, so
    SQLite may read it as immutable (no locks, no ``-shm``): the auditor reads a read-only copy.
    """
    return {} if os.access(path.resolve().parent, os.W_OK) else {"immutable": "1"}


class SQLiteStore(SqlStore):
    """A store in one SQLite file."""

    row_locks = False  # BEGIN IMMEDIATE already holds the only write lock

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        url = f"sqlite:///{self.path}"
        if read_only:
            # file:/abs/path?mode=ro, the path percent-encoded as SQLite URIs want it.
            location = URL.create(
                "sqlite",
                database="file:" + quote(str(self.path.resolve()), safe="/"),
                query={"mode": "ro", "uri": "true", **_immutable_if_unwritable(self.path)},
            )
            engine = create_engine(location, connect_args={"timeout": busy_timeout_ms() / 1000})
        else:
            engine = create_engine(url, connect_args={"timeout": busy_timeout_ms() / 1000})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            if read_only:
                cursor.execute("PRAGMA query_only=ON")
            else:
                switch_to_wal(cursor, deadline=time.monotonic() + busy_timeout_ms() / 1000)
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms()}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            default = "DEFERRED" if read_only else "IMMEDIATE"  # a read-only file cannot take the write lock
            mode = connection.get_execution_options().get("beslut_begin", default)
            connection.exec_driver_sql(f"BEGIN {mode}")

        super().__init__(engine, url)

    def begin_write(self, connection: Connection) -> None:
        """BEGIN IMMEDIATE: take the write lock now, not at the first write."""
        connection.execution_options(beslut_begin="IMMEDIATE")
        connection.begin()

    def begin_read(self, connection: Connection) -> None:
        """BEGIN DEFERRED: a read snapshot that never blocks writers (WAL)."""
        connection.execution_options(beslut_begin="DEFERRED")
        connection.begin()

    def readiness_problem(self) -> str | None:
        """A removed file is not ready, even while pooled connections still read its unlinked inode.

        Checked before any query, because connecting to a missing path would create an
        empty database there.
        """
        if not self.path.is_file():
            return f"the database file {self.path} does not exist"
        return super().readiness_problem()

    def executemany(self, connection: Connection, statement: UpdateBase, rows: list[dict[str, Any]]) -> None:
        """Through the sqlite3 cursor: SQLAlchemy's per-row parameter building cost more than SQLite's work."""
        driver_executemany(connection, statement, rows)

    def install_triggers(self, connection: Connection) -> None:
        """Refuse UPDATE and DELETE on audit_event."""
        for statement in _TRIGGERS:
            raw_sql(connection, statement)

    def insert_ignoring_duplicates(self, connection: Connection, table: Table, rows: list[dict[str, Any]]) -> int:
        """INSERT … ON CONFLICT DO NOTHING."""
        result = connection.execute(sqlite_insert(table).on_conflict_do_nothing(), rows)
        return max(result.rowcount, 0)
