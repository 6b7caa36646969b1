"""The SQL store: the reader and unit of work composed of the ports' parts, and the store that opens them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Table, insert, inspect, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.sql.dml import UpdateBase

from beslut import failpoints
from beslut.errors import ConcurrencyConflict, StoreError, StoreUnavailable
from beslut.persistence import _tables as t
from beslut.persistence._sql.audit import _AUDIT_HEAD, SqlAuditReads, SqlAuditWrites
from beslut.persistence._sql.cases import SqlCaseReads, SqlCaseWrites
from beslut.persistence._sql.directory import SqlDirectoryReads, SqlDirectoryWrites
from beslut.persistence._sql.heartbeats import SqlHeartbeatReads, SqlHeartbeatWrites
from beslut.persistence._sql.outbox import SqlOutboxReads, SqlOutboxWrites
from beslut.persistence._sql.timers import SqlTimerReads, SqlTimerWrites
from beslut.persistence.schema import schema_state
from beslut.states.case import Case
from beslut.workflow.ports import Reader, Store, UnitOfWork


class SqlReader(
    SqlCaseReads, SqlAuditReads, SqlTimerReads, SqlOutboxReads, SqlDirectoryReads, SqlHeartbeatReads, Reader
):
    """Queries over one SQLAlchemy connection inside an open transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection


class SqlUnitOfWork(
    SqlReader,
    SqlCaseWrites,
    SqlAuditWrites,
    SqlTimerWrites,
    SqlOutboxWrites,
    SqlDirectoryWrites,
    SqlHeartbeatWrites,
    UnitOfWork,
):
    """Writes inside one transaction; the store commits or rolls back around it."""

    def __init__(self, connection: Connection, store: SqlStore) -> None:
        super().__init__(connection)
        self._store = store
        self._loaded: dict[str, Case] = {}
        self._stream_starts: dict[str, int] = {}


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
