"""`/healthz` and `/readyz` as a load balancer sees them, on both stores, with the database really gone.

Liveness never asks the database; readiness is 200 only while the store answers and its
schema is the one this code needs, and says why not in a problem+json 503 otherwise.
"""

from __future__ import annotations

import socket
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from starlette.exceptions import StarletteDeprecationWarning

from beslut.api.metrics import install_metrics
from beslut.clock import FixedClock
from beslut.persistence import Store, open_store
from beslut.persistence.schema import head_revision
from tests.pg_server import ThrowawayPostgres

with warnings.catch_warnings():  # starlette warns that it prefers httpx2; its test client works with httpx
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


def client_for(store: Store, clock: FixedClock) -> TestClient:
    app = FastAPI()
    install_metrics(app, store, clock=clock)
    return TestClient(app)


@pytest.fixture
def client(store: Store, clock: FixedClock) -> Iterator[TestClient]:
    with client_for(store, clock) as test_client:
        yield test_client


def run_sql(store_url: str, statement: str) -> None:
    """Change the database behind the app's back, through a connection of its own."""
    url = store_url if "://" in store_url else f"sqlite:///{store_url}"
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def assert_not_ready(client: TestClient, reason: str) -> None:
    response = client.get("/readyz")
    assert 503 == response.status_code
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert 503 == body["status"]
    assert reason in body["detail"]
    assert "\n" not in body["detail"]


class TestReady:
    def test_ready_and_alive_on_a_current_database(self, client: TestClient) -> None:
        """Both probes 200 while the store answers and the schema is current."""
        assert {"status": "ok"} == client.get("/healthz").json()
        response = client.get("/readyz")
        assert 200 == response.status_code
        assert {"status": "ready"} == response.json()

    def test_not_ready_when_the_schema_is_behind_or_ahead(self, store_url: str, client: TestClient) -> None:
        """A database behind or ahead of this code's head revision is not ready, and ready again at head."""
        head = head_revision()
        run_sql(store_url, "UPDATE alembic_version SET version_num = '0001'")
        assert_not_ready(client, f"database schema is at 0001, this beslut needs {head}: run `beslut db upgrade`")
        assert 200 == client.get("/healthz").status_code
        run_sql(store_url, "UPDATE alembic_version SET version_num = '9999'")
        assert_not_ready(client, f"database schema is at 9999, newer than this beslut ({head})")
        run_sql(store_url, f"UPDATE alembic_version SET version_num = '{head}'")
        assert 200 == client.get("/readyz").status_code

    def test_not_ready_before_init(self, store_url: str, clock: FixedClock) -> None:
        """An empty database (no `beslut init` yet) is not ready."""
        if "://" not in store_url:
            Path(store_url).touch()  # an empty file: SQLite's "database" with no tables
        store = open_store(store_url)
        try:
            with client_for(store, clock) as client:
                assert_not_ready(client, "the database has no beslut schema: run `beslut init`")
                store.create_schema()
                assert 200 == client.get("/readyz").status_code
        finally:
            store.close()


class TestDatabaseGone:
    def test_sqlite_file_removed(self, tmp_path: Path, clock: FixedClock) -> None:
        """Removing the file makes the process unready at once, though pooled connections could still read it."""
        path = tmp_path / "beslut.db"
        store = open_store(path)
        store.create_schema()
        try:
            with client_for(store, clock) as client:
                assert 200 == client.get("/readyz").status_code
                path.unlink()
                assert_not_ready(client, f"the database file {path} does not exist")
                assert 200 == client.get("/healthz").status_code
                assert not path.exists(), "readiness must not create an empty database"
        finally:
            store.close()

    @pytest.mark.postgres
    def test_postgres_database_dropped(
        self, postgres_server: ThrowawayPostgres, postgres_url: str, clock: FixedClock
    ) -> None:
        """Dropping the database (its connections terminated) makes the process unready; liveness stays 200."""
        store = open_store(postgres_url)
        store.create_schema()
        try:
            with client_for(store, clock) as client:
                assert 200 == client.get("/readyz").status_code
                postgres_server.drop_database(postgres_url.rsplit("/", 1)[1])
                assert_not_ready(client, "the database does not answer")
                assert_not_ready(client, "does not exist")  # the next attempt reconnects and finds no database
                assert 200 == client.get("/healthz").status_code
        finally:
            store.close()

    def test_postgres_server_unreachable(self, clock: FixedClock) -> None:
        """A server nobody listens for is unready with the driver's reason, not a hang or a 500."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        store = open_store(f"postgresql+psycopg://beslut@127.0.0.1:{port}/beslut")
        try:
            with client_for(store, clock) as client:
                assert_not_ready(client, "the database does not answer")
                assert 200 == client.get("/healthz").status_code
        finally:
            store.close()
