"""Pytest fixtures for tests that need PostgreSQL (loaded via ``pytest_plugins`` in conftest).

``postgres_server``: one throwaway PostgreSQL server for the whole session. If it cannot be
started the tests that need it FAIL: they are never skipped.

``postgres_url``: a fresh, empty, uniquely named database on that server for one test (a
SQLAlchemy ``postgresql+psycopg://`` URL); it is dropped after the test.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from tests.pg_server import ThrowawayPostgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres()
    error: str | None = None
    try:
        server.start()
    except Exception as exc:  # any failure to start must fail the tests, never skip
        server.stop()
        error = f"{type(exc).__name__}: {exc}"
    if error is not None:
        pytest.fail(f"could not start the throwaway PostgreSQL server:\n{error}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: ThrowawayPostgres, request: pytest.FixtureRequest) -> Iterator[str]:
    slug = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")
    name = f"t_{uuid.uuid4().hex[:10]}_{slug}"[:63].rstrip("_")
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)
