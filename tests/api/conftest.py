"""Fixtures for the HTTP API tests: the app on a real SQLite file or a real PostgreSQL database.

``api`` is the 2022 Mini-Maria case proposed and recommended, with one token per role
(and clerks of Östersund 2380 and Krokom 2309), served by :func:`beslut.api.create_app`
through Starlette's TestClient (the real app, in-process: routing, dependencies,
handlers and the database are all real). The set-up goes through the Python API and the
token service; the behaviour under test always goes through HTTP.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package; the pinned httpx works the same for the TestClient.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from beslut.api import create_app
from beslut.api import tokens as token_service
from beslut.clock import STOCKHOLM, FixedClock
from beslut.persistence import Store, open_store
from beslut.workflow import Engine
from tests.conftest import KEY, spec_2022

NOW = datetime(2022, 12, 1, 12, 0, tzinfo=STOCKHOLM)
ROLES = {
    "admin": ("admin", None),
    "coordinator": ("coordinator", None),
    "auditor": ("auditor", None),
    "clerk_2380": ("clerk", "2380"),  # Östersund
    "clerk_2309": ("clerk", "2309"),  # Krokom
}


@dataclass
class Api:
    """The app under test, its database and a token per role."""

    client: TestClient
    url: str
    store: Store
    secrets: dict[str, str]
    token_ids: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Authorization for *who* (a key of ROLES), or none."""
        auth = {"Authorization": f"Bearer {self.secrets[who]}"} if who is not None else {}
        return {**auth, **(extra or {})}

    def post(
        self, path: str, body: Any, *, who: str | None = "admin", headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """POST *body* as JSON."""
        response: httpx.Response = self.client.post(path, json=body, headers=self.headers(who, headers))
        return response

    def put(self, path: str, body: Any, *, who: str | None = "admin") -> httpx.Response:
        """PUT *body* as JSON."""
        response: httpx.Response = self.client.put(path, json=body, headers=self.headers(who))
        return response

    def get(
        self, path: str, *, who: str | None = "admin", headers: dict[str, str] | None = None, **params: Any
    ) -> httpx.Response:
        """GET with query parameters."""
        response: httpx.Response = self.client.get(path, params=params or None, headers=self.headers(who, headers))
        return response

    def dump(self) -> list[tuple[str, list[tuple[object, ...]]]]:
        """Every row of every table."""
        return self.store.dump()

    def status(self, key: str = KEY) -> dict[str, Any]:
        """The status document of *key*."""
        response = self.get(f"/recommendations/{key}")
        assert 200 == response.status_code, response.text
        document: dict[str, Any] = response.json()
        return document

    def party(self, party: str, key: str = KEY) -> dict[str, Any]:
        """One party's object in the status document."""
        return next(p for p in self.status(key)["parties"] if p["key"] == party)

    def refused(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        status: int,
        who: str | None = "admin",
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Send a request that must be refused: a problem document with *status*, one line, nothing written."""
        before = self.dump()
        all_headers = self.headers(who, headers)
        if body is None:
            response = self.client.request(method, path, headers=all_headers)
        else:
            response = self.client.request(method, path, json=body, headers=all_headers)
        after = self.dump()
        assert status == response.status_code, f"{method} {path}: {response.status_code} {response.text}"
        assert response.headers["content-type"].startswith("application/problem+json"), response.headers
        problem: dict[str, Any] = response.json()
        assert status == problem["status"]
        assert problem["type"].startswith("urn:beslut:problem:")
        assert problem["title"]
        assert problem["detail"], problem
        assert "\n" not in problem["detail"], problem
        assert before == after, f"{method} {path} changed the database"
        return problem


def make_api(store_url: str) -> Iterator[Api]:
    """Set the database up, then serve it."""
    store = open_store(store_url)
    store.create_schema()
    clock = FixedClock(NOW)
    setup = Engine(store, clock=clock, actor="setup")
    setup.propose(spec_2022(), on=date(2022, 6, 3))
    setup.recommend(KEY, on=date(2022, 6, 3))
    secrets: dict[str, str] = {}
    ids: dict[str, str] = {}
    for who, (role, party) in ROLES.items():
        token, secret = token_service.issue(store, role=role, party=party, label=who, now=NOW)
        secrets[who] = secret
        ids[who] = token.id
    app = create_app(store_url, clock=clock)
    try:
        with TestClient(app) as client:
            yield Api(client=client, url=store_url, store=store, secrets=secrets, token_ids=ids)
    finally:
        store.close()


@pytest.fixture
def cli_db(store_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """For CLI runs: the 2022 case recommended, no BESLUT_DB from the environment, a scratch working directory."""
    monkeypatch.delenv("BESLUT_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    with Engine.open(store_url, clock=FixedClock(NOW), actor="setup") as setup:
        setup.init()
        setup.propose(spec_2022(), on=date(2022, 6, 3))
        setup.recommend(KEY, on=date(2022, 6, 3))
    return store_url


@pytest.fixture
def api(store_url: str) -> Iterator[Api]:
    """The 2022 case recommended on 2022-06-03, served over HTTP, with a token per role; clock 2022-12-01."""
    yield from make_api(store_url)
