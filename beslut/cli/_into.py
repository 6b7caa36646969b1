"""The target of `audit replay --into`: a new SQLite file or an empty PostgreSQL database, and nothing else.

Why so strict: the rebuild writes a whole database from the log. Written over anything
that is already there (a previous rebuild, the live database by a slip of the finger)
it would mix two histories, so anything that holds a table is refused (exit 2) before
a byte is written, and a new SQLite file that a failed rebuild created is removed again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from beslut.errors import InvalidInput
from beslut.persistence import open_store

if TYPE_CHECKING:
    from beslut.persistence import Store


def _sqlite_path(target: str) -> Path | None:
    """The file a SQLite target names; None for a PostgreSQL URL."""
    if target.startswith("sqlite:///"):
        return Path(target.removeprefix("sqlite:///"))
    if "://" in target:
        return None
    return Path(target)


@contextmanager
def empty_target(target: str) -> Iterator[Store]:
    """Open *target* for writing after making sure it holds nothing; closed (and a new file removed on failure) after.

    Raises:
        InvalidInput: the target exists or holds a table (nothing is written); not a supported URL.
    """
    path = _sqlite_path(target)
    if path is not None:
        if path.exists() or path.is_symlink():
            raise InvalidInput(f"--into {target}: the file already exists; --into writes a new database only")
        if not path.parent.is_dir():
            raise InvalidInput(f"--into {target}: directory {path.parent} does not exist")
    store = open_store(target)
    try:
        if path is None:
            _refuse_unless_empty(store)
        yield store
    except BaseException:
        store.close()
        if path is not None:
            for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                leftover.unlink(missing_ok=True)
        raise
    store.close()


def _refuse_unless_empty(store: Store) -> None:
    tables = _tables(store)
    if tables:
        shown = ", ".join(tables[:3]) + (", …" if len(tables) > 3 else "")
        raise InvalidInput(
            f"--into: the target database is not empty ({len(tables)} table(s): {shown}); "
            "--into writes into an empty database only"
        )


def _tables(store: Store) -> list[str]:
    """Every table and view in the target's default schema."""
    from sqlalchemy import inspect  # noqa: PLC0415 - loaded by `audit replay --into`, not by every command
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    from beslut.persistence._sql import SqlStore  # noqa: PLC0415

    if not isinstance(store, SqlStore):  # pragma: no cover - every store is an SQL store today
        raise InvalidInput("--into needs an SQL database")
    try:
        inspector = inspect(store.engine)
        return sorted([*inspector.get_table_names(), *inspector.get_view_names()])
    except SQLAlchemyError as error:
        reason = " ".join(str(getattr(error, "orig", None) or error).split())
        raise InvalidInput(f"--into: cannot read the target database: {reason}") from None
    finally:
        store.engine.dispose()
