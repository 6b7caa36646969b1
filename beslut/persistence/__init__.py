"""Persistence: the store port and its SQLite and PostgreSQL adapters."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Collection, Iterator
from pathlib import Path

from beslut.errors import InvalidInput
from beslut.persistence.abc import Reader, Store, UnitOfWork

DEFAULT_DATABASE = "beslut.db"


def open_store(target: str | Path | None = None, *, read_only: bool = False) -> Store:
    """Open the store named by *target*: a file path or an SQLAlchemy URL.

    With no target, ``BESLUT_DB`` is used, and failing that ``beslut.db`` in the
    current directory. ``read_only=True`` opens it so that the database itself
    refuses writes (SQLite ``mode=ro``; PostgreSQL read-only transactions).
    """
    target = str(target) if target is not None else os.environ.get("BESLUT_DB") or DEFAULT_DATABASE
    if target.startswith(("postgresql", "postgres://")):
        from beslut.persistence.postgres import PostgresStore  # noqa: PLC0415 - psycopg only when asked for

        return PostgresStore(target, read_only=read_only)
    if target.startswith("sqlite:///"):
        target = target.removeprefix("sqlite:///")
    elif "://" in target:
        raise InvalidInput(f"unsupported database URL {target.split('://')[0]!r}: use a file path or postgresql://")
    from beslut.persistence.sqlite import SQLiteStore  # noqa: PLC0415 - keep import cost where it is used

    return SQLiteStore(target, read_only=read_only)


AUDIT_COLUMNS = ("seq", "stream", "stream_seq", "recorded_at", "valid_on", "kind", "payload", "prev_hash", "hash")


_CURSOR_NUMBERS = itertools.count(1)
"""Names for server-side cursors: a verifier may hold two at once (the log and a stream read again)."""


def audit_rows(
    reader: Reader,
    *,
    stream: str | None = None,
    streams: Collection[str] | None = None,
    after_seq: int = 0,
    batch: int = 2000,
) -> Iterator[tuple[object, ...]]:
    """Every row of ``audit_event`` (or of one stream) ordered by seq, as the database holds it, streamed.

    For the auditor, who must see a tampered table as it is: no column is converted
    (a value that is not what the schema says it should be is handed over as it is, so
    the caller can name it instead of failing), no row is skipped (one cursor, not
    pages by seq, so even a duplicated seq shows), and memory stays flat (the driver
    fetches *batch* rows at a time; a server-side cursor on PostgreSQL). On SQLite the
    text columns come as bytes, since a tampered row may hold text that is not UTF-8.
    Columns in the order of :data:`AUDIT_COLUMNS`. *streams* (several streams) and
    *after_seq* (only rows with a greater seq) let the scheduler's checkpoint job check
    what is new since its last checkpoint without reading the whole log.
    """
    from beslut.persistence._sql import SqlReader, _unstorable  # noqa: PLC0415

    if not isinstance(reader, SqlReader):
        raise TypeError("audit_rows needs a reader of an SQL store")
    if _unstorable(stream):  # no row has it, and PostgreSQL cannot compare it (see _unstorable)
        return
    connection = reader.connection
    if connection.dialect.name == "sqlite":
        columns = ", ".join(
            f"CASE WHEN typeof({name}) = 'integer' THEN {name} ELSE CAST({name} AS BLOB) END AS {name}"
            if name in ("seq", "stream_seq")
            else f"CAST({name} AS BLOB) AS {name}"
            for name in AUDIT_COLUMNS
        )
    else:
        columns = ", ".join(AUDIT_COLUMNS)
    sqlite = connection.dialect.name == "sqlite"
    conditions = []
    parameters: dict[str, object] = {}
    if stream is not None:
        conditions.append("stream = :stream" if sqlite else "stream = %(stream)s")
        parameters["stream"] = stream
    if streams is not None:
        names = sorted(streams)
        if sqlite:  # one named parameter per stream: sqlite3 has no array type
            parameters.update({f"s{i}": name for i, name in enumerate(names)})
            conditions.append(f"stream IN ({', '.join(f':s{i}' for i in range(len(names)))})" if names else "0")
        else:
            conditions.append("stream = ANY(%(streams)s)")
            parameters["streams"] = names
    if after_seq:
        conditions.append("seq > :after_seq" if sqlite else "seq > %(after_seq)s")
        parameters["after_seq"] = after_seq
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    query = f"SELECT {columns} FROM audit_event{where} ORDER BY seq"  # noqa: S608 - fixed column names
    # The driver's own cursor on the reader's connection (so inside its read snapshot), fetched in big
    # chunks: a SQLAlchemy result builds a Row per row and runs its processors, a visible share of a
    # million-row verify, for rows that are taken as the driver gives them anyway. PostgreSQL: a named
    # (server-side) cursor, so memory stays flat.
    driver = connection.connection.driver_connection
    dbapi = connection.dialect.dbapi
    assert driver is not None
    assert dbapi is not None
    cursor = driver.cursor() if sqlite else driver.cursor(name=f"beslut_audit_rows_{next(_CURSOR_NUMBERS)}")
    try:
        cursor.execute(query, parameters)
        fetch = cursor.fetchmany
        while rows := fetch(batch):
            yield from rows
    finally:
        # A generator collected after its connection closed: the cursor went with it, nothing to free.
        with contextlib.suppress(dbapi.Error):
            cursor.close()


__all__ = ["AUDIT_COLUMNS", "DEFAULT_DATABASE", "Reader", "Store", "UnitOfWork", "audit_rows", "open_store"]
