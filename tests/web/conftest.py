"""Fixtures for the dashboard: the demo data on either store, and an app serving the dashboard router.

``dashboard`` is a FastAPI app holding only the dashboard router, with a token check
that knows one token, so these tests do not depend on how the HTTP API stores its
tokens; the browser tests run the full application.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

from beslut.clock import FixedClock
from beslut.persistence import Store, open_store
from beslut.web import dashboard_router
from beslut.workflow import Engine
from tests.pg_server import ThrowawayPostgres
from tests.web.data import TODAY, load

with warnings.catch_warnings():  # starlette prefers httpx2 for its test client; the pinned httpx works
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

TOKEN = "test-read-token-0123456789"  # a test token, not a secret


def only_test_token(secret: str) -> object | None:
    """The test's token check: one known token, read role."""
    return {"role": "auditor"} if secret == TOKEN else None


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def demo_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The demo data and the open 2026 round, on SQLite or PostgreSQL, loaded once per module.

    The pages only read, so the tests of a module share one loaded database per store
    (playing the demo is most of a test's time); a test that writes uses ``store``.
    """
    if request.param == "sqlite":
        url = str(tmp_path_factory.mktemp("web") / "demo.db")
        name = None
    else:
        server: ThrowawayPostgres = request.getfixturevalue("postgres_server")
        name = f"t_{uuid.uuid4().hex[:10]}_web_demo"
        url = server.create_database(name)
    opened = open_store(url)
    try:
        opened.create_schema()
        load(opened)
        yield opened
    finally:
        opened.close()
        if name is not None:
            server.drop_database(name)


@pytest.fixture
def web_clock() -> FixedClock:
    """The dashboard's clock: 2026-02-02 12:00 in Stockholm, after the open round's reply date."""
    return FixedClock(TODAY)


def make_app(store: Store, clock: FixedClock) -> FastAPI:
    """An app with the dashboard router mounted at /."""
    app = FastAPI()
    app.include_router(dashboard_router(Engine(store, clock=clock), authenticate=only_test_token, clock=clock))
    return app


@pytest.fixture
def client(demo_store: Store, web_clock: FixedClock) -> Iterator[TestClient]:
    """A signed-out client of the dashboard over the demo data."""
    with TestClient(make_app(demo_store, web_clock), follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def signed_in(client: TestClient) -> TestClient:
    """The same client after signing in through the form."""
    response = client.post(
        "/logga-in",
        content=f"token={TOKEN}&next=%2F",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert 303 == response.status_code
    return client


__all__ = ["TOKEN", "TestClient", "make_app", "only_test_token"]  # TestClient: imported here once, warning silenced
