"""What the SQL adapter's parts share: the transaction's connection, the NUL-key rule, the driver's executemany."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text
from sqlalchemy.sql.dml import UpdateBase

from beslut.states.case import Case

if TYPE_CHECKING:
    from beslut.persistence._sql.store import SqlStore


def _unstorable(key: str | None) -> bool:
    """A key holding NUL, which no row can have: the readers answer "no such row" without a query.

    Why: PostgreSQL cannot even compare text holding NUL (the driver raises, a store error: exit 1,
    HTTP 503) where SQLite answers "no row"; one check here gives every caller, the engine, the
    audit service and the HTTP reads alike, the same answer on both stores (unknown: exit 2, 404).
    """
    return key is not None and "\x00" in key


class SqlPart:
    """A part of a reader: the SQLAlchemy connection of the open transaction it queries."""

    connection: Connection


class SqlWritePart(SqlPart):
    """A part of a unit of work: also the store (its hooks) and what this transaction has loaded and appended.

    The cases and the audit log share ``_loaded`` and ``_stream_starts``: a case loaded or added here tells
    the audit log where its stream stands, without a query (see ``SqlAuditWrites._stream_head``).
    """

    _store: SqlStore
    _loaded: dict[str, Case]
    _stream_starts: dict[str, int]


_DriverPlan = tuple[str, list[str], list[Any], list[bool], list[bool], bool]
MAX_DRIVER_PLANS = 128
"""Compiled plans kept by :func:`driver_executemany` (least recently used first out): a few statements times
their column sets, so the bound is never reached in practice, and memory stays flat if it is."""

# (statement id, dialect, column keys) -> (the statement, (SQL text, bind names in order, their bind processors,
# None skipped?, remembering?, positional?)). The statement is held so its id cannot be reused while cached.
_DRIVER_PLANS: OrderedDict[tuple[int, str, tuple[str, ...]], tuple[UpdateBase, _DriverPlan]] = OrderedDict()
_DRIVER_PLANS_LOCK = threading.Lock()


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

    Why: a batch writes a party row and an audit row per decision, and
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
    with _DRIVER_PLANS_LOCK:
        cached = _DRIVER_PLANS.get(plan_key)
        if cached is not None:
            _DRIVER_PLANS.move_to_end(plan_key)
    plan = cached[1] if cached is not None and cached[0] is statement else None
    if plan is None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        by_name = {name: bind for bind, name in compiled.bind_names.items()}
        names = list(compiled.positiontup or ()) if compiled.positional else list(by_name)
        processors = [by_name[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names]
        # A processor that writes None as NULL need not be called for None: most of a party row's dates
        # are None (a processor call per date column and row, for nothing). Checked per
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
        with _DRIVER_PLANS_LOCK:
            _DRIVER_PLANS[plan_key] = (statement, plan)
            while len(_DRIVER_PLANS) > MAX_DRIVER_PLANS:
                _DRIVER_PLANS.popitem(last=False)
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
