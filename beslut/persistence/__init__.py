"""Persistence: the store port and its SQLite and PostgreSQL adapters."""

from __future__ import annotations

import os
from pathlib import Path

from beslut.errors import InvalidInput
from beslut.persistence.abc import Reader, Store, UnitOfWork

DEFAULT_DATABASE = "beslut.db"


def open_store(target: str | Path | None = None) -> Store:
    """Open the store named by *target*: a file path or an SQLAlchemy URL.

    With no target, ``BESLUT_DB`` is used, and failing that ``beslut.db`` in the
    current directory.
    """
    target = str(target) if target is not None else os.environ.get("BESLUT_DB") or DEFAULT_DATABASE
    if target.startswith(("postgresql", "postgres://")):
        from beslut.persistence.postgres import PostgresStore  # noqa: PLC0415 - psycopg only when asked for

        return PostgresStore(target)
    if target.startswith("sqlite:///"):
        target = target.removeprefix("sqlite:///")
    elif "://" in target:
        raise InvalidInput(f"unsupported database URL {target.split('://')[0]!r}: use a file path or postgresql://")
    from beslut.persistence.sqlite import SQLiteStore  # noqa: PLC0415 - keep import cost where it is used

    return SQLiteStore(target)


__all__ = ["DEFAULT_DATABASE", "Reader", "Store", "UnitOfWork", "open_store"]
