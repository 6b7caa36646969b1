"""Tokens, the schema's revision and the diagrams over HTTP, on both stores: the CLI's documents and refusals.

Tokens are admin-only: a created token works at once and is shown once (never by
``GET /tokens``), a revoked one is 401 on the next request, and revoking twice or an
unknown id is refused with the CLI's line. ``/db/current`` and ``/db/history`` are
what ``beslut db current|history --json`` print; ``/diagrams/{machine}`` what
``beslut diagram`` prints.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.api.conftest import NOW, Api
from tests.cli.helpers import ok, run

ADMIN_ONLY = [
    ("POST", "/tokens", {"role": "auditor"}),
    ("GET", "/tokens", None),
    ("DELETE", "/tokens/abc", None),
    ("GET", "/db/current", None),
    ("GET", "/db/history", None),
]


class TestTokens:
    def test_create_shows_the_secret_once_and_it_works(self, api: Api) -> None:
        response = api.post("/tokens", {"role": "clerk", "party": "2321", "label": "Åre registrator"})
        assert 201 == response.status_code, response.text
        assert "no-store" == response.headers["cache-control"]
        created = response.json()
        secret = created.pop("token")
        assert 43 == len(secret)
        assert {"role": "clerk", "party": "2321", "label": "Åre registrator", "revoked_at": None} == {
            k: created[k] for k in ("role", "party", "label", "revoked_at")
        }
        listed = api.get("/tokens").json()
        assert created in listed
        assert secret not in api.client.get("/tokens", headers=api.headers("admin")).text
        assert ok("token", "list", "--json", db=api.url).json() == listed
        whoami = api.client.get("/whoami", headers={"Authorization": f"Bearer {secret}"}).json()
        assert {"actor": f"token:{created['id']}", "role": "clerk", "party": "2321"} == whoami

    def test_revoke_then_401_then_409(self, api: Api) -> None:
        token_id = api.token_ids["clerk_2309"]
        response = api.client.delete(f"/tokens/{token_id}", headers=api.headers("admin"))
        assert 200 == response.status_code, response.text
        assert NOW == datetime.fromisoformat(response.json()["revoked_at"])  # the app's clock, not just "set"
        listed = next(t for t in api.get("/tokens").json() if t["id"] == token_id)
        assert NOW == datetime.fromisoformat(listed["revoked_at"])  # and that is what was stored
        assert 401 == api.get("/whoami", who="clerk_2309").status_code
        cli = run("token", "revoke", token_id, db=api.url)
        assert 2 == cli.code
        problem = api.refused("DELETE", f"/tokens/{token_id}", status=409)
        assert cli.stderr.strip().removeprefix("error: ") == problem["detail"]

    def test_an_unknown_id_is_404(self, api: Api) -> None:
        problem = api.refused("DELETE", "/tokens/000000000000", status=404)
        assert "no API token '000000000000'" == problem["detail"]

    @pytest.mark.parametrize(
        ("body", "cli"),
        [
            ({"role": "clerk"}, ["--role", "clerk"]),
            ({"role": "king"}, ["--role", "king"]),
            ({"role": "auditor", "party": "2380"}, ["--role", "auditor", "--party", "2380"]),
            ({"role": "clerk", "party": "9999"}, ["--role", "clerk", "--party", "9999"]),
        ],
        ids=["clerk-without-party", "unknown-role", "party-on-auditor", "unknown-party"],
    )
    def test_bad_tokens_are_refused_with_the_cli_line(self, api: Api, body: dict[str, str], cli: list[str]) -> None:
        expected = run("token", "create", *cli, db=api.url)
        assert 2 == expected.code
        status = 404 if "9999" in cli else 422
        problem = api.refused("POST", "/tokens", body, status=status)
        assert expected.stderr.strip().removeprefix("error: ") == problem["detail"]

    @pytest.mark.parametrize("who", ["coordinator", "auditor", "clerk_2380"])
    @pytest.mark.parametrize(("method", "path", "body"), ADMIN_ONLY, ids=[f"{m} {p}" for m, p, _ in ADMIN_ONLY])
    def test_admin_only(self, api: Api, who: str, method: str, path: str, body: object) -> None:
        problem = api.refused(method, path, body, status=403, who=who)
        assert "urn:beslut:problem:forbidden" == problem["type"]


class TestSchema:
    def test_current_and_history_are_the_cli_documents(self, api: Api) -> None:
        current = api.get("/db/current")
        assert 200 == current.status_code, current.text
        assert ok("db", "current", "--json", db=api.url).json() == current.json()
        assert "current" == current.json()["status"]
        history = api.get("/db/history").json()
        assert ok("db", "history", "--json", db=api.url).json() == history
        assert history["revisions"][-1]["current"] is True


class TestDiagrams:
    @pytest.mark.parametrize("machine", ["recommendation", "party"])
    def test_mermaid_is_the_cli_text(self, api: Api, machine: str) -> None:
        response = api.get(f"/diagrams/{machine}", who="clerk_2380")
        assert 200 == response.status_code, response.text
        assert response.headers["content-type"].startswith("text/plain")
        assert ok("diagram", machine, db=None).stdout == response.text

    def test_svg(self, api: Api) -> None:
        response = api.get("/diagrams/party", who="auditor", format="svg")
        assert 200 == response.status_code, response.text
        assert "image/svg+xml" == response.headers["content-type"]
        assert "<svg" in response.text
        assert ok("diagram", "party", "--format", "svg", db=None).stdout == response.text

    def test_unknown_machine_404_and_format_422(self, api: Api) -> None:
        assert "unknown machine 'nope'" in api.refused("GET", "/diagrams/nope", status=404)["detail"]
        cli = run("diagram", "party", "--format", "png", db=None)
        problem = api.refused("GET", "/diagrams/party?format=png", status=422)
        assert cli.stderr.strip().removeprefix("error: ") == problem["detail"]
        assert 401 == api.get("/diagrams/party", who=None).status_code
