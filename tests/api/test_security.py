"""Security rules of the HTTP API and the dashboard, against `beslut serve` as a real process on both stores.

Personal data on a need-to-know basis (contacts and the outbox), the API's documentation
pages off by default, the dashboard's own short-lived sessions (stored hashed, ended by a
POST to /logga-ut, Secure with ``--secure-cookies``), and a write authenticated by that
cookie refused from another origin (CSRF).
"""

from __future__ import annotations

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
        assert own and {"2380"} == {r["party"] for r in own}
        audited = self.get(contacts, "/outbox", "auditor")
        assert [r["id"] for r in everyone] == [r["id"] for r in audited]
        assert {None} == {r["last_error"] for r in audited}
        assert "anna@" not in str(audited)
