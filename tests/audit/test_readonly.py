"""The auditor's commands never write: the database itself refuses, on SQLite and on PostgreSQL.

SQLite: the store opened with ``read_only=True`` connects with ``mode=ro`` and
``PRAGMA query_only``. PostgreSQL: every transaction is read-only, and under a role
that has SELECT only (the GRANTs of docs/auditor.md) even a session that switches
read-only off cannot change anything.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from sqlalchemy import text

from beslut.errors import StoreError
from beslut.persistence import open_store
from beslut.persistence.abc import Store
from beslut.states.case import Event
from tests.audit.conftest import build
from tests.cli.helpers import dump, ok
from tests.pg_server import psycopg_url

AUDITOR_GRANTS = """
CREATE ROLE {role} LOGIN;
GRANT CONNECT ON DATABASE {database} TO {role};
GRANT USAGE ON SCHEMA public TO {role};
GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role};
ALTER ROLE {role} SET default_transaction_read_only = on;
"""


def append_one(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.append_events(
            [Event(kind="recommendation.recommended", stream="x", valid_on=datetime(2022, 1, 1).date(), payload={})],
            recorded_at=datetime.now(UTC),
        )


def test_sqlite_read_only_store_refuses_writes(sqlite_log: str) -> None:
    """Through the port (a write transaction) and through raw SQL on its engine: SQLite says read-only."""
    small_log = sqlite_log
    store = open_store(small_log, read_only=True)
    before = dump(small_log)
    try:
        with pytest.raises(StoreError, match="readonly"):
            append_one(store)
        with store.engine.connect() as connection:  # type: ignore[attr-defined]
            for statement in ("DELETE FROM audit_event", "UPDATE recommendation SET state = 'x'", "CREATE TABLE t (x)"):
                with pytest.raises(Exception, match=r"readonly|read-only|query_only|attempt to write"):
                    connection.execute(text(statement))
                connection.rollback()
        with store.reader() as reader:  # reading works
            assert next(iter(reader.audit_records())).seq == 1
    finally:
        store.close()
    assert before == dump(small_log)


@pytest.fixture
def pg_log(postgres_url: str) -> str:
    """A small log on PostgreSQL."""
    return build(postgres_url, 250, group=4)


@pytest.mark.postgres
def test_postgres_read_only_store_refuses_writes(pg_log: str) -> None:
    """Every transaction of a read-only PostgreSQL store is READ ONLY: the server refuses writes."""
    small_log = pg_log
    store = open_store(small_log, read_only=True)
    try:
        with pytest.raises(StoreError, match="read-only transaction"):
            append_one(store)
        with store.reader() as reader, pytest.raises(Exception, match="read-only transaction"):
            reader.connection.execute(text("DELETE FROM audit_event"))  # type: ignore[attr-defined]
    finally:
        store.close()


@pytest.fixture
def auditor_url(pg_log: str) -> Iterator[str]:
    """A login role with SELECT only on the log's database, as docs/auditor.md says to create it."""
    small_log = pg_log
    role = f"auditor_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(small_log)
    database = parts.path.lstrip("/")
    with psycopg.connect(psycopg_url(small_log), autocommit=True) as admin:
        for statement in AUDITOR_GRANTS.format(role=role, database=database).strip().splitlines():
            admin.execute(statement)
    netloc = f"{role}@{parts.hostname}:{parts.port}"
    try:
        yield urlunsplit(parts._replace(netloc=netloc))
    finally:
        with psycopg.connect(psycopg_url(small_log), autocommit=True) as admin:
            admin.execute(f"REASSIGN OWNED BY {role} TO CURRENT_USER")
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f'REVOKE CONNECT ON DATABASE "{database}" FROM {role}')
            admin.execute(f"DROP ROLE {role}")


@pytest.mark.postgres
def test_the_auditor_commands_run_under_a_select_only_role(auditor_url: str, pg_log: str) -> None:
    """verify, log, replay --check and a checkpoint all work with SELECT alone, and change nothing."""
    before = dump(pg_log)
    assert ok("audit", "verify", "--json", db=auditor_url).json()["ok"]
    assert ok("audit", "log", "--json", db=auditor_url).json()[0]["seq"] == 1
    assert ok("audit", "replay", "--check", db=auditor_url).stdout.startswith("ok: the live tables equal")
    assert before == dump(pg_log)


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO audit_event SELECT seq + 100000, stream, stream_seq, recorded_at, valid_on, kind, payload,"
        " prev_hash, hash || 'x' FROM audit_event WHERE seq = 1",
        "UPDATE audit_event SET kind = 'x' WHERE seq = 1",
        "DELETE FROM audit_event WHERE seq = 1",
        "TRUNCATE audit_event",
        "UPDATE party_decision SET state = 'final'",
        "DROP TRIGGER audit_event_append_only ON audit_event",
        "CREATE TABLE sneaky (x int)",
    ],
)
@pytest.mark.postgres
def test_a_select_only_role_cannot_write_even_with_read_only_switched_off(
    auditor_url: str, pg_log: str, statement: str
) -> None:
    """The role's own session, read-only turned off: permission denied, for every kind of write."""
    before = dump(pg_log)
    with psycopg.connect(psycopg_url(auditor_url), autocommit=True) as session:
        session.execute("SET default_transaction_read_only = off")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            session.execute(statement)
    assert before == dump(pg_log)
