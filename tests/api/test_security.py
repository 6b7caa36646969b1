"""Security rules of the HTTP API and the dashboard, against `beslut serve` as a real process on both stores.

Personal data on a need-to-know basis (contacts and the outbox), the API's documentation
pages off by default, the dashboard's own short-lived sessions (stored hashed, ended by a
POST to /logga-ut, Secure with ``--secure-cookies``), and a write authenticated by that
cookie refused from another origin (CSRF).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.api.served import Served, serve
from tests.cli.helpers import ok
from tests.conftest import KEY


@pytest.fixture
def served(cli_db: str, tmp_path: Path) -> Iterator[Served]:
    """`beslut serve` on the 2022 case, with a token per role."""
    with serve(cli_db, tmp_path) as server:
        yield server


def sql(db: str, statement: str) -> None:
    """Run one statement on the test's database (to set up what only a failed delivery would write)."""
    engine = create_engine(db if "://" in db else f"sqlite:///{db}")
    try:
        with engine.begin() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


class TestNeedToKnow:
    @pytest.fixture
    def contacts(self, served: Served) -> Served:
        """A contact of Östersund (2380) and of Krokom (2309), and reminders queued for both."""
        ok("contact", "add", "2380", "--id", "c-anna", "--name", "Anna Andersson", "--email", "anna@ostersund.example", db=served.db)
        ok("contact", "add", "2309", "--id", "c-bo", "--name", "Bo Berg", "--email", "bo@krokom.example", db=served.db)
        ok("tick", "--now", "2022-10-20T08:00:00+02:00", db=served.db)
        sql(served.db, "UPDATE outbox SET last_error = '550 <anna@ostersund.example>: no such user'")
        return served

    def get(self, served: Served, path: str, who: str) -> list[dict[str, object]]:
        response = httpx.get(f"{served.base}{path}", headers=served.auth(who), timeout=20)
        assert 200 == response.status_code, response.text
        rows: list[dict[str, object]] = response.json()
        return rows

    def test_contacts(self, contacts: Served) -> None:
        """Coordinator and admin read every contact; a clerk its own party's; the auditor ids only."""
        everyone = self.get(contacts, "/contacts", "coordinator")
        assert {"2380", "2309"} == {c["party"] for c in everyone}
        assert {"anna@ostersund.example", "bo@krokom.example"} == {c["email"] for c in everyone}
        assert everyone == self.get(contacts, "/contacts", "admin")
        assert everyone == ok("contact", "list", "--json", db=contacts.db).json()
        own = self.get(contacts, "/contacts", "clerk_2309")
        assert [("2309", "Bo Berg", "bo@krokom.example")] == [(c["party"], c["name"], c["email"]) for c in own]
        ids_only = self.get(contacts, "/contacts", "auditor")
        assert [c["id"] for c in everyone] == [c["id"] for c in ids_only]
        assert {(None, None)} == {(c["name"], c["email"]) for c in ids_only}
        assert set(everyone[0]) == set(ids_only[0])  # the same keys: the document's contract holds

    def test_outbox(self, contacts: Served) -> None:
        """The outbox likewise: a clerk its own party's rows; the auditor every row without the error text."""
        everyone = self.get(contacts, "/outbox", "coordinator")
        assert {"2380", "2309"} <= {r["party"] for r in everyone}
        assert all("anna@ostersund.example" in str(r["last_error"]) for r in everyone)
        own = self.get(contacts, "/outbox", "clerk_2380")
        assert own
        assert {"2380"} == {r["party"] for r in own}
        audited = self.get(contacts, "/outbox", "auditor")
        assert [r["id"] for r in everyone] == [r["id"] for r in audited]
        assert {None} == {r["last_error"] for r in audited}
        assert "anna@" not in str(audited)


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def sign_in(served: Served, who: str) -> str:
    """Sign in through the dashboard's form with *who*'s token; the cookie's value (the session's secret)."""
    response = httpx.post(f"{served.base}/logga-in", content=f"token={served.tokens[who]}", headers=FORM, timeout=20)
    assert 303 == response.status_code, response.text
    cookie = response.cookies["beslut_token"]
    assert cookie
    return cookie


def rows(db: str, table: str) -> list[tuple[object, ...]]:
    """Every row of *table*."""
    engine = create_engine(db if "://" in db else f"sqlite:///{db}")
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(text(f"SELECT * FROM {table}"))]
    finally:
        engine.dispose()


class TestSessions:
    def test_sign_in_opens_a_session_of_its_own_stored_hashed(self, served: Served) -> None:
        """The cookie is not the token; the database keeps the session's SHA-256 and token id, never the secret."""
        cookie = sign_in(served, "auditor")
        assert cookie != served.tokens["auditor"]
        [stored] = rows(served.db, "dashboard_session")
        assert hashlib.sha256(cookie.encode()).hexdigest() in stored
        assert cookie not in str(stored)
        assert served.tokens["auditor"] not in str(stored)
        whoami = httpx.get(f"{served.base}/whoami", cookies={"beslut_token": cookie}, timeout=20)
        assert "auditor" == whoami.json()["role"]
        assert whoami.json()["actor"].startswith("token:")  # the session acts as its token, by id

    def test_the_token_itself_in_the_cookie_is_refused(self, served: Served) -> None:
        """A cookie carrying an API token (as before sessions) authenticates nothing."""
        response = httpx.get(f"{served.base}/whoami", cookies={"beslut_token": served.tokens["admin"]}, timeout=20)
        assert 401 == response.status_code
        assert "dashboard session" in response.json()["detail"]

    def test_logout_is_a_post_and_ends_the_session_everywhere(self, served: Served) -> None:
        """GET /logga-ut is 405; after POST /logga-ut a copy of the cookie reads nothing, pages or API."""
        cookie = sign_in(served, "auditor")
        jar = {"beslut_token": cookie}
        assert 405 == httpx.get(f"{served.base}/logga-ut", cookies=jar, timeout=20).status_code
        assert 200 == httpx.get(f"{served.base}/", cookies=jar, timeout=20).status_code
        out = httpx.post(f"{served.base}/logga-ut", cookies=jar, timeout=20)
        assert 303 == out.status_code
        assert 401 == httpx.get(f"{served.base}/whoami", cookies=jar, timeout=20).status_code
        assert 303 == httpx.get(f"{served.base}/", cookies=jar, timeout=20).status_code  # to the sign-in form
        [stored] = rows(served.db, "dashboard_session")
        assert stored[-1] is not None  # revoked_at

    def test_revoking_the_token_ends_its_sessions(self, served: Served) -> None:
        cookie = sign_in(served, "clerk_2380")
        jar = {"beslut_token": cookie}
        assert 200 == httpx.get(f"{served.base}/whoami", cookies=jar, timeout=20).status_code
        token_id = httpx.get(f"{served.base}/whoami", cookies=jar, timeout=20).json()["actor"].removeprefix("token:")
        ok("token", "revoke", token_id, db=served.db)
        assert 401 == httpx.get(f"{served.base}/whoami", cookies=jar, timeout=20).status_code

    def test_without_secure_cookies_the_cookie_is_not_secure(self, served: Served) -> None:
        response = httpx.post(f"{served.base}/logga-in", content=f"token={served.token}", headers=FORM, timeout=20)
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "Secure" not in cookie


def test_serve_secure_cookies_marks_the_cookie_secure(cli_db: str, tmp_path: Path) -> None:
    """`beslut serve --secure-cookies`: the session cookie is Secure (sent over HTTPS only), HttpOnly, Strict."""
    with serve(cli_db, tmp_path, "--secure-cookies") as server:
        response = httpx.post(f"{server.base}/logga-in", content=f"token={server.token}", headers=FORM, timeout=20)
        assert 303 == response.status_code
        cookie = response.headers["set-cookie"]
        assert "; Secure" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        logout = httpx.post(
            f"{server.base}/logga-ut", cookies={"beslut_token": response.cookies["beslut_token"]}, timeout=20
        )
        assert "; Secure" in logout.headers["set-cookie"]


class TestCsrf:
    """A write authenticated by the cookie needs an Origin naming this host; the bearer header does not."""

    def tick(self, served: Served, headers: dict[str, str], cookie: str | None) -> httpx.Response:
        jar = {"beslut_token": cookie} if cookie is not None else None
        body = {"now": "2022-10-20T08:00:00+02:00"}
        return httpx.post(f"{served.base}/scheduler/tick", json=body, headers=headers, cookies=jar, timeout=20)

    @pytest.mark.parametrize(
        "origin", ["https://sibling.example", "null", None, "http://127.0.0.1.evil.example"], ids=str
    )
    def test_a_cookie_write_from_elsewhere_is_403_and_changes_nothing(self, served: Served, origin: str | None) -> None:
        cookie = sign_in(served, "coordinator")
        before = rows(served.db, "audit_event"), rows(served.db, "deadline")
        response = self.tick(served, {"Origin": origin} if origin is not None else {}, cookie)
        assert 403 == response.status_code, response.text
        assert "urn:beslut:problem:forbidden" == response.json()["type"]
        assert before == (rows(served.db, "audit_event"), rows(served.db, "deadline"))

    def test_a_cookie_write_from_this_origin_goes_through(self, served: Served) -> None:
        cookie = sign_in(served, "coordinator")
        response = self.tick(served, {"Origin": served.base}, cookie)
        assert 200 == response.status_code, response.text

    def test_a_cookie_read_needs_no_origin(self, served: Served) -> None:
        cookie = sign_in(served, "coordinator")
        assert 200 == httpx.get(f"{served.base}/recommendations/{KEY}", cookies={"beslut_token": cookie}).status_code

    def test_the_bearer_header_is_not_a_cookie(self, served: Served) -> None:
        """A client sending its token in the header is no browser riding on a cookie: any Origin is fine."""
        response = self.tick(served, {**served.auth("coordinator"), "Origin": "https://sibling.example"}, None)
        assert 200 == response.status_code, response.text


class TestApiDocs:
    def test_off_by_default(self, served: Served) -> None:
        """/docs and /redoc are not served (they would load script from a CDN); /openapi.json still is."""
        for path in ("/docs", "/redoc"):
            assert 404 == httpx.get(f"{served.base}{path}", timeout=20).status_code
        assert 200 == httpx.get(f"{served.base}/openapi.json", timeout=20).status_code

    def test_on_with_api_docs(self, cli_db: str, tmp_path: Path) -> None:
        with serve(cli_db, tmp_path, "--api-docs") as server:
            for path in ("/docs", "/redoc"):
                assert 200 == httpx.get(f"{server.base}{path}", timeout=20).status_code
