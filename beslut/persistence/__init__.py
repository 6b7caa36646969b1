"""Persistence: the store port and its SQLite and PostgreSQL adapters."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import os
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from beslut.errors import InvalidInput
from beslut.workflow.ports import AUDIT_COLUMNS, Reader, Store, UnitOfWork, register_opener

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


register_opener(open_store)  # the application layer opens stores by URL through this (Engine.open)



_CURSOR_NUMBERS = itertools.count(1)
"""Names for server-side cursors: a verifier may hold two at once (the log and a stream read again)."""


def audit_rows(
    reader: Reader,
    *,
    stream: str | None = None,
    streams: Collection[str] | None = None,
    after_seq: int = 0,
    up_to_seq: int | None = None,
    kind: str | None = None,
    scanned_streams: Collection[str] | None = None,
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

    *up_to_seq* (rows with a seq no greater), *kind* (rows of one kind) and *scanned_streams* serve a part of
    a parallel replay (:mod:`beslut.audit.parallel`), which wants the rows of a share of the streams, often
    thousands: the table is read in seq order and the database, not Python, leaves the other rows out
    (*streams* looks each stream up in the stream index instead, right for a few streams).
    """
    from beslut.persistence._sql import _unstorable  # noqa: PLC0415

    connection = _sql_connection(reader)
    if _unstorable(stream):  # no row has it, and PostgreSQL cannot compare it (see _unstorable)
        return
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        columns = ", ".join(
            f"CASE WHEN typeof({name}) = 'integer' THEN {name} ELSE CAST({name} AS BLOB) END AS {name}"
            if name in ("seq", "stream_seq")
            else f"CAST({name} AS BLOB) AS {name}"
            for name in AUDIT_COLUMNS
        )
    else:
        columns = ", ".join(AUDIT_COLUMNS)
    conditions, parameters = _audit_conditions(
        sqlite,
        stream=stream,
        streams=streams,
        after_seq=after_seq,
        up_to_seq=up_to_seq,
        kind=kind,
        scanned_streams=scanned_streams,
    )
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    yield from _streamed(reader, f"SELECT {columns} FROM audit_event{where} ORDER BY seq", parameters, batch)  # noqa: S608


def audit_hashes_digest(reader: Reader, *, up_to_seq: int, scanned_streams: Collection[str]) -> tuple[int, str]:
    """How many rows *scanned_streams* have up to *up_to_seq*, and the sha256 of their ``hash`` column.

    The hashes as stored (their bytes: SQLite's whatever type they have, PostgreSQL's text as UTF-8), one after
    the other in seq order: what a parallel replay compares with the rows its helper checked. SQLite feeds
    them to the digest itself (an aggregate function, no Python row per hash);
    PostgreSQL's rows come through a server-side cursor.
    """
    connection = _sql_connection(reader)
    sqlite = connection.dialect.name == "sqlite"
    conditions, parameters = _audit_conditions(sqlite, up_to_seq=up_to_seq, scanned_streams=scanned_streams)
    where = " AND ".join(conditions)
    if not sqlite:
        digest = hashlib.sha256()
        count = 0
        for (value,) in _streamed(reader, f"SELECT hash FROM audit_event WHERE {where} ORDER BY seq", parameters, 5000):  # noqa: S608
            digest.update(value.encode("utf-8", "surrogatepass"))
            count += 1
        return count, digest.hexdigest()
    driver = connection.connection.driver_connection
    name = f"beslut_sha256_{next(_CURSOR_NUMBERS)}"
    driver.create_aggregate(name, 1, _Sha256)
    try:
        # The rows come in seq order (the table is read along its rowid, "+stream" keeps the stream index out);
        # the digest still proves it: the helper's is taken in seq order, so any other order would differ.
        query = f"SELECT {name}(CAST(hash AS BLOB)) FROM audit_event WHERE {where}"  # noqa: S608
        (answer,) = _one(reader, query, parameters)
    finally:
        driver.create_aggregate(name, 1, None)
    rows, hexdigest = str(answer).split(" ")
    return int(rows), hexdigest


class _Sha256:
    """SQLite aggregate: the count and sha256 of its (bytes) arguments, as ``"COUNT HEX"``."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.count = 0

    def step(self, value: bytes) -> None:
        self.digest.update(value)
        self.count += 1

    def finalize(self) -> str:
        return f"{self.count} {self.digest.hexdigest()}"


@dataclasses.dataclass(frozen=True)
class ChainSummary:
    """What the database itself says of the rows up to a seq: enough to know seq and links whole.

    The rows are exactly 1..*up_to_seq*, each once, when ``rows == distinct == up_to_seq``, ``first == 1``
    and ``last == up_to_seq`` (and, on SQLite, every seq an integer: ``integers == rows``); every link holds
    when ``linked == up_to_seq - 1`` (the rows whose ``prev_hash`` equals the ``hash`` of the row before,
    compared as stored: text that differs in type or a byte is not equal) and ``first_prev_hash`` is the
    genesis hash.
    """

    rows: int
    distinct: int
    integers: int
    first: object
    last: object
    linked: int
    first_prev_hash: object


def audit_chain_summary(reader: Reader, *, up_to_seq: int) -> ChainSummary:
    """Count and compare the rows up to *up_to_seq* in the database (three queries, no row fetched but one).

    Why: a parallel replay checks seq and links of every row here, in the database's own loops, and reads
    in Python only the rows of its own streams (docs/performance.md).
    """
    connection = _sql_connection(reader)
    sqlite = connection.dialect.name == "sqlite"
    last_mark = _mark(sqlite, "last")
    integers = "sum(typeof(seq) = 'integer')" if sqlite else "count(seq)"  # PostgreSQL: the column is typed
    parameters: dict[str, object] = {"last": up_to_seq}
    counts = f"SELECT count(*), {integers}, min(seq), max(seq) FROM audit_event WHERE seq <= {last_mark}"  # noqa: S608
    rows, whole, first, last = _one(reader, counts, parameters)
    # Apart: with the others, SQLite would build a temporary B-tree for it even where seq is the rowid.
    distinct_seqs = f"SELECT count(DISTINCT seq) FROM audit_event WHERE seq <= {last_mark}"  # noqa: S608
    (distinct,) = _one(reader, distinct_seqs, parameters)
    # SQLite: "+a.hash" so that the row before is found by its seq (the rowid), not looked up in the hash index
    # (far slower); PostgreSQL plans a join of its own.
    before = "+a.hash" if sqlite else "a.hash"
    (linked,) = _one(
        reader,
        "SELECT count(*) FROM audit_event AS b JOIN audit_event AS a ON a.seq = b.seq - 1"  # noqa: S608
        f" WHERE b.seq <= {last_mark} AND b.prev_hash = {before}",
        parameters,
    )
    prev_hash = "CAST(prev_hash AS BLOB)" if sqlite else "prev_hash"
    first_prev = _one(reader, f"SELECT {prev_hash} FROM audit_event WHERE seq = 1", {})  # noqa: S608
    return ChainSummary(
        rows=int(rows),
        distinct=int(distinct),
        integers=int(whole or 0),
        first=first,
        last=last,
        linked=int(linked),
        first_prev_hash=first_prev[0] if first_prev else None,
    )


def _sql_connection(reader: Reader) -> Any:
    from beslut.persistence._sql import SqlReader  # noqa: PLC0415

    if not isinstance(reader, SqlReader):
        raise TypeError("the audit queries need a reader of an SQL store")
    return reader.connection


def _one(reader: Reader, query: str, parameters: dict[str, object]) -> tuple[Any, ...]:
    """The first row of *query* (an empty tuple when there is none), on the driver's own cursor."""
    for row in _streamed(reader, query, parameters, 1):
        return tuple(row)
    return ()


def _streamed(reader: Reader, query: str, parameters: dict[str, object], batch: int) -> Iterator[Any]:
    """Rows of *query* on the reader's connection (inside its snapshot), fetched *batch* at a time.

    The driver's own cursor, fetched in big chunks: a SQLAlchemy result builds a Row per row and runs its
    processors, a visible share of verifying a long log, for rows that are taken as the driver gives them
    anyway. PostgreSQL: a named (server-side) cursor, so memory stays flat.
    """
    connection = _sql_connection(reader)
    sqlite = connection.dialect.name == "sqlite"
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


def _mark(sqlite: bool, name: str) -> str:
    """A named parameter in the driver's style (sqlite3: ``:name``; psycopg: ``%(name)s``)."""
    return f":{name}" if sqlite else f"%({name})s"


def _audit_conditions(
    sqlite: bool,
    *,
    stream: str | None = None,
    streams: Collection[str] | None = None,
    after_seq: int = 0,
    up_to_seq: int | None = None,
    kind: str | None = None,
    scanned_streams: Collection[str] | None = None,
) -> tuple[list[str], dict[str, object]]:
    """The WHERE conditions of :func:`audit_rows` and their parameters, in the driver's parameter style."""

    def mark(name: str) -> str:
        return _mark(sqlite, name)

    conditions: list[str] = []
    parameters: dict[str, object] = {}
    if stream is not None:
        conditions.append(f"stream = {mark('stream')}")
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
        conditions.append(f"seq > {mark('after_seq')}")
        parameters["after_seq"] = after_seq
    if up_to_seq is not None:
        conditions.append(f"seq <= {mark('up_to_seq')}")
        parameters["up_to_seq"] = up_to_seq
    if kind is not None:
        conditions.append(f"kind = {mark('kind')}")
        parameters["kind"] = kind
    if scanned_streams is not None:
        if sqlite:  # "+stream": not through the stream index (then a sort by seq), but along the table in seq order
            conditions.append("+stream IN (SELECT value FROM json_each(:scanned))")
            parameters["scanned"] = json.dumps(sorted(scanned_streams), ensure_ascii=False)
        else:  # a large array is hashed (PostgreSQL 14+)
            conditions.append("stream = ANY(%(scanned)s)")
            parameters["scanned"] = sorted(scanned_streams)
    return conditions, parameters


__all__ = [
    "AUDIT_COLUMNS",
    "DEFAULT_DATABASE",
    "ChainSummary",
    "Reader",
    "Store",
    "UnitOfWork",
    "audit_chain_summary",
    "audit_hashes_digest",
    "audit_rows",
    "open_store",
]
