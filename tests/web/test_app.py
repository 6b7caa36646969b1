"""The dashboard inside the real application (`create_app`), with real API tokens, on both stores.

The other dashboard tests mount the router alone with a stand-in token check; these prove
the wiring of `beslut serve`'s app: the pages are at `/`, a token made by the token
module signs in (any role may read), a revoked token reads nothing, and the cookie the
login form sets is accepted by the JSON API too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from beslut.api import create_app, tokens
from beslut.clock import FixedClock
from beslut.persistence import Store
from tests.web.conftest import TestClient
from tests.web.data import OPEN_KEY, TODAY
from tests.web.html import parse

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def app_client(demo_store: Store) -> Iterator[TestClient]:
    """A signed-out client of the whole application over the demo data, its clock at 2026-02-02."""
    with TestClient(create_app(demo_store, clock=FixedClock(TODAY)), follow_redirects=False) as client:
        yield client


@pytest.mark.parametrize(("role", "party"), [("auditor", None), ("clerk", "2309"), ("coordinator", None)])
def test_any_role_signs_in_and_reads(app_client: TestClient, demo_store: Store, role: str, party: str | None) -> None:
    """A token of any role signs in through the form; the matrix shows Ragunda overdue on the app's clock."""
    _, secret = tokens.issue(demo_store, role=role, party=party, label="web test", now=TODAY)
    assert 303 == app_client.get("/").status_code
    response = app_client.post("/logga-in", content=f"token={secret}&next=%2F", headers=FORM)
    assert 303 == response.status_code
    assert "HttpOnly" in response.headers["set-cookie"]
    document = parse(app_client.get("/").text)
    ragunda = document.by_id("matris").find("tr", data_part="2303").find("td", data_rekommendation=OPEN_KEY)
    assert "ja" == ragunda.attrs["data-forsenad"]
    assert 200 == app_client.get(f"/rekommendationer/{OPEN_KEY}").status_code


def test_the_dashboard_cookie_reads_the_json_api(app_client: TestClient, demo_store: Store) -> None:
    """The cookie set by /logga-in is accepted by the API's own routes (current_principal reads it)."""
    _, secret = tokens.issue(demo_store, role="auditor", party=None, label=None, now=TODAY)
    assert 401 == app_client.get(f"/recommendations/{OPEN_KEY}").status_code
    app_client.post("/logga-in", content=f"token={secret}", headers=FORM)
    response = app_client.get(f"/recommendations/{OPEN_KEY}")
    assert 200 == response.status_code
    assert OPEN_KEY == response.json()["key"]


def test_a_revoked_token_reads_nothing(app_client: TestClient, demo_store: Store) -> None:
    """Revoking a token ends its dashboard session at the next page, and it cannot sign in again."""
    token, secret = tokens.issue(demo_store, role="auditor", party=None, label=None, now=TODAY)
    app_client.post("/logga-in", content=f"token={secret}", headers=FORM)
    assert 200 == app_client.get("/").status_code
    tokens.revoke(demo_store, token.id, now=TODAY + timedelta(minutes=1))
    assert 303 == app_client.get("/").status_code
    assert 401 == app_client.post("/logga-in", content=f"token={secret}", headers=FORM).status_code


def test_the_dashboard_is_not_in_the_openapi_document(app_client: TestClient) -> None:
    """The pages are HTML for people, not API operations: /openapi.json does not list them."""
    # "/diagram/" is the dashboard's picture; "/diagrams/{machine}" is an API operation (beslut/api/admin.py)
    paths = app_client.get("/openapi.json").json()["paths"]
    assert not any(p.startswith(("/logga-in", "/rekommendationer", "/diagram/")) for p in paths)
    assert "/" not in paths
