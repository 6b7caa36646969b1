"""Switching a new SQLite file to WAL waits for another connection's lock instead of failing at once.

SQLite does not call the busy handler for this switch while another connection holds the
write lock in rollback mode (two processes opening one new file at once): see
:func:`beslut.persistence.sqlite.switch_to_wal`. A real file and real connections here.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from beslut.persistence.sqlite import SQLiteStore, switch_to_wal

HOLD_S = 0.5


@pytest.fixture
def writer_in_rollback_mode(tmp_path: Path) -> Iterator[tuple[Path, sqlite3.Connection]]:
    """A new file whose write lock another connection holds in rollback-journal mode."""
    path = tmp_path / "new.db"
    path.touch()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE t (x)")
    yield path, holder
    if holder.in_transaction:
        holder.rollback()
    holder.close()


def _release_later(holder: sqlite3.Connection) -> threading.Timer:
    timer = threading.Timer(HOLD_S, holder.rollback)
    timer.start()
    return timer


def test_a_store_opened_while_another_connection_holds_the_lock_waits_and_gets_wal(
    writer_in_rollback_mode: tuple[Path, sqlite3.Connection],
) -> None:
    path, holder = writer_in_rollback_mode
    timer = _release_later(holder)
    started = time.monotonic()
    store = SQLiteStore(path)
    try:
        with store.engine.connect() as connection:
            mode = connection.execute(text("PRAGMA journal_mode")).scalar_one()
    finally:
        timer.join()
        store.engine.dispose()
    assert "wal" == mode
    assert time.monotonic() - started >= HOLD_S * 0.8  # it waited for the holder, then switched


def test_the_switch_gives_up_at_its_deadline_with_sqlites_own_error(
    writer_in_rollback_mode: tuple[Path, sqlite3.Connection],
) -> None:
    path, _holder = writer_in_rollback_mode
    connection = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    try:
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            switch_to_wal(connection.cursor(), deadline=started + 0.3)
        assert 0.3 <= time.monotonic() - started < 5  # tried until the deadline, not once, not forever
        assert "delete" == connection.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        connection.close()


def test_other_errors_are_not_retried(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    cursor = connection.cursor()
    cursor.close()
    started = time.monotonic()
    with pytest.raises(sqlite3.ProgrammingError):
        switch_to_wal(cursor, deadline=started + 5)
    assert time.monotonic() - started < 1
    connection.close()
