"""The SQLAlchemy implementation of the store's ports, shared by the SQLite and PostgreSQL adapters.

One module per port (:mod:`.cases`, :mod:`.audit`, :mod:`.timers`, :mod:`.outbox`, :mod:`.directory`,
:mod:`.heartbeats`), each a read part and a write part over the same connection; :mod:`.store` composes
them into the reader and the unit of work and holds the store; :mod:`.base` is what they share.

Statements are SQLAlchemy Core on the SQLModel tables (no ORM session): a command
touches a handful of rows, and Core keeps the per-command overhead close to a raw
driver. Statements are built once, at import: SQLAlchemy then reuses their compiled form and
cache key, which is most of the per-command overhead of building them anew. What differs per
database (connection set-up, how a transaction starts, how audit appends are serialised, the
append-only triggers) is left to the subclasses in :mod:`~beslut.persistence.sqlite` and
:mod:`~beslut.persistence.postgres`.
"""

from __future__ import annotations

from beslut.persistence._sql.base import _unstorable, driver_executemany, raw_sql
from beslut.persistence._sql.cases import _PARTY_NAMES, _party_decision
from beslut.persistence._sql.store import SqlReader, SqlStore, SqlUnitOfWork

__all__ = [
    "_PARTY_NAMES",
    "SqlReader",
    "SqlStore",
    "SqlUnitOfWork",
    "_party_decision",
    "_unstorable",
    "driver_executemany",
    "raw_sql",
]
