"""Every refusal, on both stores: the right status, a one-line problem document, and the database unchanged.

422 bad input, 404 unknown key or party, 409 wrong state / duplicate / stale version,
401 no or bad token (403 role refusals are in test_roles.py). Where the CLI refuses
the same thing, the problem's ``detail`` is exactly the line the CLI prints after
``error:`` (the CLI runs here against the same database, in-process).
"""

from __future__ import annotations

import threading
from datetime import date

import pytest

from tests.api.conftest import Api
from tests.cli.helpers import run, tamper_audit
from tests.conftest import KEY, spec_2022

PARTY = f"/recommendations/{KEY}/parties/2380"
DECIDE = {"outcome": "approved", "paragraph": "§ 1", "on": "2022-09-05"}


def cli_error(api: Api, *args: str) -> str:
    """The one line the CLI prints for the same refused command, without ``error: ``."""
    result = run(*args, db=api.url)
    assert 0 != result.code, result
    return result.stderr.strip().removeprefix("error: ")


class TestBadInput:
    @pytest.mark.parametrize(
        ("body", "detail"),
        [
            ({"outcome": "approved", "paragraph": "§ 1"}, "on: is required"),
            ({**DECIDE, "on": "2022-13-01"}, "on: '2022-13-01' is not a date (YYYY-MM-DD)"),
            ({**DECIDE, "on": 20220905}, "on: 20220905 is not a date (YYYY-MM-DD)"),
            ({**DECIDE, "color": "red"}, "color: Extra inputs are not permitted"),
            ({**DECIDE, "expected_version": -1}, "expected_version: Input should be greater than or equal to 0"),
            ({"on": "2022-09-05", "paragraph": "§ 1"}, "outcome: is required"),
        ],
        ids=["missing-on", "bad-date", "number-date", "unknown-field", "negative-version", "missing-outcome"],
    )
    def test_a_malformed_body_is_422(self, api: Api, body: dict[str, object], detail: str) -> None:
        """The body's shape is checked before the engine runs; the message names the field."""
        problem = api.refused("POST", f"{PARTY}/decide", body, status=422)
        assert detail == problem["detail"]
        assert "urn:beslut:problem:invalid-input" == problem["type"]

    def test_not_json_is_422(self, api: Api) -> None:
        """A body that is not JSON."""
        before = api.dump()
        response = api.client.post(
            f"{PARTY}/decide",
            content=b"{not json",
            headers={**api.headers("admin"), "Content-Type": "application/json"},
        )
        assert 422 == response.status_code
        assert "the request body is not valid JSON" == response.json()["detail"]
        assert before == api.dump()

    @pytest.mark.parametrize(
        ("path", "body", "cli"),
        [
            (
                f"{PARTY}/decide",
                {**DECIDE, "outcome": "maybe"},
                ["party", "decide", KEY, "2380", "--outcome", "maybe", "--paragraph", "§ 1", "--on", "2022-09-05"],
            ),
            (
                f"{PARTY}/decide",
                {**DECIDE, "outcome": "approved_with_conditions"},
                [
                    "party",
                    "decide",
                    KEY,
                    "2380",
                    "--outcome",
                    "approved_with_conditions",
                    "--paragraph",
                    "§ 1",
                    "--on",
                    "2022-09-05",
                ],
            ),
            (
                f"{PARTY}/decide",
                {**DECIDE, "paragraph": ""},
                ["party", "decide", KEY, "2380", "--outcome", "approved", "--paragraph", "", "--on", "2022-09-05"],
            ),
            (
                f"{PARTY}/settle",
                {"result": "pardoned", "on": "2022-09-05"},
                ["party", "settle", KEY, "2380", "--result", "pardoned", "--on", "2022-09-05"],
            ),
        ],
        ids=["bad-outcome", "conditions-missing", "empty-paragraph", "bad-result"],
    )
    def test_the_engine_refuses_bad_values_with_the_cli_message(
        self, api: Api, path: str, body: dict[str, object], cli: list[str]
    ) -> None:
        """Values only the domain can judge: 422 with the CLI's own line, a field named as the API names it."""
        problem = api.refused("POST", path, body, status=422)
        expected = cli_error(api, *cli).replace("--paragraph", "paragraph").replace("--conditions", "conditions")
        assert expected == problem["detail"]

    def test_a_refused_field_is_named_as_the_api_names_it(self, api: Api) -> None:
        """The body's key (case_number), not the command line's option (--case), in the API's answer."""
        problem = api.refused("POST", f"{PARTY}/prepare", {"case_number": " ", "on": "2022-06-20"}, status=422)
        assert "case_number must not be empty" == problem["detail"]
        cli = ["party", "prepare", KEY, "2380", "--case", " ", "--on", "2022-06-20"]
        assert "--case must not be empty" == cli_error(api, *cli)

    def test_a_legal_date_in_the_future_is_422(self, api: Api) -> None:
        """The clock (2022-12-01) makes 2023-01-02 the future."""
        problem = api.refused("POST", f"{PARTY}/decide", {**DECIDE, "on": "2023-01-02"}, status=422)
        assert "the legal date 2023-01-02 is after today (2022-12-01)" == problem["detail"]

    def test_a_bad_spec_is_422(self, api: Api) -> None:
        """A spec that does not parse: the message names the field."""
        spec = spec_2022().replace("reply_by = 2022-09-30", 'reply_by = "soon"').replace(KEY, "other")
        problem = api.refused("POST", "/recommendations", {"spec": spec, "on": "2022-06-03"}, status=422)
        assert "reply_by" in problem["detail"]

    def test_bad_if_match_is_422(self, api: Api) -> None:
        """If-Match must be a version ETag, and must agree with expected_version when both are sent."""
        problem = api.refused("POST", f"{PARTY}/decide", DECIDE, status=422, headers={"If-Match": "abc"})
        assert "If-Match: 'abc' is not a version ETag such as \"7\"" == problem["detail"]
        problem = api.refused(
            "POST", f"{PARTY}/decide", {**DECIDE, "expected_version": 3}, status=422, headers={"If-Match": '"2"'}
        )
        assert "If-Match 2 and expected_version 3 disagree" == problem["detail"]

    def test_bad_query_is_422(self, api: Api) -> None:
        """outbox --status with an unknown status, as the CLI refuses it."""
        response = api.get("/outbox", status="lost")
        assert 422 == response.status_code
        assert cli_error(api, "outbox", "--status", "lost") == response.json()["detail"]

    def test_a_bad_contact_is_422(self, api: Api) -> None:
        """An e-mail address without @."""
        problem = api.refused("PUT", "/contacts/c-1", {"party": "2380", "email": "nobody"}, status=422)
        assert cli_error(api, "contact", "add", "2380", "--id", "c-1", "--email", "nobody") == problem["detail"]


class TestNotFound:
    def test_unknown_recommendation(self, api: Api) -> None:
        """404 for commands and reads on a key that does not exist, with the CLI's line."""
        problem = api.refused("POST", "/recommendations/nope/recommend", {"on": "2022-06-03"}, status=404)
        assert cli_error(api, "recommend", "nope", "--on", "2022-06-03") == problem["detail"]
        assert "urn:beslut:problem:not-found" == problem["type"]
        for path in ("/recommendations/nope", "/recommendations/nope/audit"):
            assert problem["detail"] == api.refused("GET", path, status=404)["detail"]
        assert 404 == api.get("/deadlines", key="nope").status_code

    def test_a_key_holding_nul_is_unknown_on_both_stores(self, api: Api) -> None:
        """NUL in a key is a 404 for reads and commands, on SQLite and PostgreSQL alike.

        PostgreSQL cannot compare text holding NUL: the status read was a 503 store error there;
        the SQL readers now answer "no such row" for such a key without a query.
        """
        for path in ("/recommendations/nope%00", "/recommendations/nope%00/audit"):
            assert "no recommendation 'nope\\x00'" == api.refused("GET", path, status=404)["detail"]
        api.refused("POST", "/recommendations/nope%00/recommend", {"on": "2022-06-03"}, status=404)
        assert 404 == api.get("/deadlines", key="nope\x00").status_code

    def test_unknown_party(self, api: Api) -> None:
        """404 for a party the recommendation does not have (an admin may act for any party)."""
        problem = api.refused("POST", f"/recommendations/{KEY}/parties/9999/decide", DECIDE, status=404)
        cli = ["party", "decide", KEY, "9999", "--outcome", "approved", "--paragraph", "§ 1", "--on", "2022-09-05"]
        assert cli_error(api, *cli) == problem["detail"]

    def test_unknown_route(self, api: Api) -> None:
        """Even an unknown path is a problem document."""
        problem = api.refused("GET", "/nowhere", status=404)
        assert "no such resource: GET /nowhere" == problem["detail"]


class TestConflict:
    def test_wrong_state(self, api: Api) -> None:
        """Announcing a decision that was never made: 409 with the CLI's line."""
        problem = api.refused("POST", f"{PARTY}/announce", {"on": "2022-09-08"}, status=409)
        assert cli_error(api, "party", "announce", KEY, "2380", "--on", "2022-09-08") == problem["detail"]
        assert "urn:beslut:problem:wrong-state" == problem["type"]

    def test_recommending_twice(self, api: Api) -> None:
        """The recommendation was already sent."""
        problem = api.refused(
            "POST", f"/recommendations/{KEY}/recommend", {"on": "2022-06-03"}, who="coordinator", status=409
        )
        assert cli_error(api, "recommend", KEY, "--on", "2022-06-03") == problem["detail"]

    def test_duplicate_decision_and_duplicate_key(self, api: Api) -> None:
        """A second decision, and proposing a key that exists: 409 duplicate."""
        assert 200 == api.post(f"{PARTY}/decide", DECIDE).status_code
        problem = api.refused("POST", f"{PARTY}/decide", DECIDE, status=409)
        assert "urn:beslut:problem:duplicate" == problem["type"]
        cli = ["party", "decide", KEY, "2380", "--outcome", "approved", "--paragraph", "§ 1", "--on", "2022-09-05"]
        assert cli_error(api, *cli) == problem["detail"]
        problem = api.refused("POST", "/recommendations", {"spec": spec_2022(), "on": "2022-06-03"}, status=409)
        assert f"recommendation {KEY!r} already exists" == problem["detail"]

    def test_stale_version_in_the_body_and_in_if_match(self, api: Api) -> None:
        """A version that is not the current one is refused (409 stale-version), whichever way it is sent."""
        version = api.status()["version"]
        cli = cli_error(
            api, "party", "decide", KEY, "2380", "--outcome", "approved", "--paragraph", "§ 1", "--on", "2022-09-05",
            "--expect-version", str(version - 1),
        )  # fmt: skip
        by_body = api.refused("POST", f"{PARTY}/decide", {**DECIDE, "expected_version": version - 1}, status=409)
        by_header = api.refused("POST", f"{PARTY}/decide", DECIDE, status=409, headers={"If-Match": f'"{version - 1}"'})
        assert cli == by_body["detail"] == by_header["detail"]
        assert "urn:beslut:problem:stale-version" == by_header["type"]

    def test_if_match_with_the_current_etag_goes_through(self, api: Api) -> None:
        """GET, then a conditional POST with the ETag: done, and the new ETag is one higher; the old one is stale."""
        etag = api.get(f"/recommendations/{KEY}").headers["etag"]
        response = api.post(f"{PARTY}/decide", DECIDE, headers={"If-Match": etag})
        assert 200 == response.status_code, response.text
        assert f'"{int(etag.strip(chr(34))) + 1}"' == response.headers["etag"]
        api.refused(
            "POST", f"/recommendations/{KEY}/parties/2309/decide", DECIDE, status=409, headers={"If-Match": etag}
        )
        assert (
            200
            == api.post(f"/recommendations/{KEY}/parties/2309/decide", DECIDE, headers={"If-Match": "*"}).status_code
        )

    def test_consolidating_too_early(self, api: Api) -> None:
        """Parties still undecided before their reply date: 409 with the CLI's line."""
        problem = api.refused(
            "POST", f"/recommendations/{KEY}/consolidate", {"on": "2022-07-01"}, who="coordinator", status=409
        )
        assert cli_error(api, "consolidate", KEY, "--on", "2022-07-01") == problem["detail"]


class TestUnauthorized:
    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Authorization": "Bearer not-a-token"},
            {"Authorization": "Basic dXNlcjpwYXNz"},
            {"Cookie": "beslut_token=wrong"},
        ],
        ids=["none", "unknown-bearer", "basic", "bad-cookie"],
    )
    def test_no_or_bad_token_is_401(self, api: Api, headers: dict[str, str]) -> None:
        """Reads and commands alike; the challenge names Bearer."""
        for method, path, body in (("GET", f"/recommendations/{KEY}", None), ("POST", f"{PARTY}/decide", DECIDE)):
            before = api.dump()
            response = api.client.request(method, path, json=body, headers=headers)
            assert 401 == response.status_code, response.text
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert "urn:beslut:problem:unauthorized" == response.json()["type"]
            assert before == api.dump()

    def test_the_cookie_authenticates(self, api: Api) -> None:
        """The dashboard's cookie (a session opened with a token at sign-in) acts as that token."""
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        body = f"token={api.secrets['auditor']}"
        assert 303 == api.client.post("/logga-in", content=body, headers=form, follow_redirects=False).status_code
        try:
            response = api.client.get("/whoami")
        finally:
            api.client.cookies.clear()
        assert 200 == response.status_code
        assert "auditor" == response.json()["role"]

    def test_a_revoked_token_is_401(self, api: Api) -> None:
        """Revoked with the CLI: the very next request is refused."""
        assert 200 == api.get("/whoami", who="clerk_2380").status_code
        assert 0 == run("token", "revoke", api.token_ids["clerk_2380"], db=api.url).code
        problem = api.refused("POST", f"{PARTY}/decide", DECIDE, who="clerk_2380", status=401)
        assert "the API token is unknown or revoked" == problem["detail"]
        assert 401 == api.get("/whoami", who="clerk_2380").status_code


def test_refused_commands_leave_no_audit_event(api: Api) -> None:
    """After a string of refusals the audit log is as it was (the dump check, seen from the API)."""
    before = api.get("/audit/log").json()
    api.post(f"{PARTY}/announce", {"on": "2022-09-08"})
    api.post(f"{PARTY}/decide", {**DECIDE, "on": str(date(2023, 1, 1))})
    api.post(f"{PARTY}/decide", DECIDE, who="clerk_2309")
    assert before == api.get("/audit/log").json()


def test_two_clients_with_the_same_etag_one_wins(api: Api) -> None:
    """Two decisions sent at once with the same If-Match: exactly one is recorded, the other is 409 stale."""
    etag = api.get(f"/recommendations/{KEY}").headers["etag"]
    barrier = threading.Barrier(2)
    codes: dict[str, int] = {}

    def send(party: str) -> None:
        barrier.wait()
        path = f"/recommendations/{KEY}/parties/{party}/decide"
        codes[party] = api.post(path, DECIDE, headers={"If-Match": etag}).status_code

    threads = [threading.Thread(target=send, args=(p,)) for p in ("2380", "2309")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [200, 409] == sorted(codes.values()), codes
    assert int(etag.strip('"')) + 1 == api.status()["version"]


def test_a_tampered_log_fails_verification(api: Api) -> None:
    """GET /audit/verify on a tampered log: 409 audit-broken (not a 5xx: the server works), the CLI's line as detail, the full report attached."""
    tamper_audit(api.url, seq=1)
    response = api.get("/audit/verify", who="auditor")
    assert 409 == response.status_code
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert "urn:beslut:problem:audit-broken" == problem["type"]
    assert cli_error(api, "audit", "verify") == problem["detail"]
    assert (False, 1) == (problem["report"]["ok"], problem["report"]["first_bad_seq"])
