"""Each role is refused (403) what it may not do, on both stores, and nothing is written.

| role        | may write                                                        |
|-------------|------------------------------------------------------------------|
| admin       | everything                                                       |
| coordinator | propose, recommend, withdraw, consolidate, contacts              |
| clerk       | its own party's steps only                                       |
| auditor     | nothing (reads and verifies)                                     |

Every role may read.
"""

from __future__ import annotations

import pytest

from tests.api.conftest import Api
from tests.conftest import KEY, spec_2022

PARTY_STEPS = {
    "prepare": {"case_number": "KS 2022/301", "on": "2022-06-20"},
    "propose": {"body": "KSAU", "paragraph": "§ 121", "on": "2022-08-23"},
    "decide": {"outcome": "approved", "paragraph": "§ 164", "on": "2022-09-05"},
    "announce": {"on": "2022-09-08"},
    "appeal": {"on": "2022-09-20"},
    "settle": {"result": "dismissed", "on": "2022-10-20"},
    "report": {"on": "2022-10-25"},
}
COORDINATOR_COMMANDS = [
    ("POST", "/recommendations", {"spec": spec_2022().replace(KEY, "other"), "on": "2022-06-03"}),
    ("POST", f"/recommendations/{KEY}/recommend", {"on": "2022-06-03"}),
    ("POST", f"/recommendations/{KEY}/withdraw", {"on": "2022-06-10", "reason": "x"}),
    ("POST", f"/recommendations/{KEY}/consolidate", {"on": "2022-10-17"}),
    ("PUT", "/contacts/c-1", {"party": "2380"}),
]
READS = [
    "/recommendations",
    f"/recommendations/{KEY}",
    f"/recommendations/{KEY}/audit",
    "/audit/log",
    "/audit/verify",
    "/deadlines",
    "/outbox",
    "/contacts",
    "/scheduler/daemons",
    "/whoami",
]


class TestClerk:
    @pytest.mark.parametrize("step", sorted(PARTY_STEPS))
    def test_a_clerk_of_krokom_cannot_act_for_ostersund(self, api: Api, step: str) -> None:
        """Every party step for 2380, by the clerk of 2309: 403, nothing written."""
        path = f"/recommendations/{KEY}/parties/2380/{step}"
        problem = api.refused("POST", path, PARTY_STEPS[step], who="clerk_2309", status=403)
        assert "a clerk of party '2309' may not act for party '2380'" == problem["detail"]
        assert "urn:beslut:problem:forbidden" == problem["type"]

    def test_the_refusal_comes_before_the_body_is_judged(self, api: Api) -> None:
        """Even a malformed body for another party is 403, not 422: nothing is revealed to a caller without the right."""
        api.refused("POST", f"/recommendations/{KEY}/parties/2380/decide", {"on": "nope"}, who="clerk_2309", status=403)

    @pytest.mark.parametrize(("method", "path", "body"), COORDINATOR_COMMANDS, ids=lambda v: str(v)[:40])
    def test_a_clerk_cannot_run_the_recommendation(self, api: Api, method: str, path: str, body: object) -> None:
        """propose, recommend, withdraw, consolidate, contacts: 403 for a clerk."""
        problem = api.refused(method, path, body, who="clerk_2380", status=403)
        assert "role 'clerk' may not do this; it needs admin or coordinator" == problem["detail"]

    def test_a_clerk_acts_for_its_own_party(self, api: Api) -> None:
        """The clerk of Krokom decides for Krokom."""
        response = api.post(f"/recommendations/{KEY}/parties/2309/decide", PARTY_STEPS["decide"], who="clerk_2309")
        assert 200 == response.status_code, response.text


class TestCoordinator:
    @pytest.mark.parametrize("step", sorted(PARTY_STEPS))
    def test_a_coordinator_cannot_record_a_party_step(self, api: Api, step: str) -> None:
        """A coordinator cannot decide (or take any step) for a party."""
        path = f"/recommendations/{KEY}/parties/2380/{step}"
        problem = api.refused("POST", path, PARTY_STEPS[step], who="coordinator", status=403)
        assert "role 'coordinator' may not record a party's steps; it needs clerk or admin" == problem["detail"]


class TestAuditor:
    @pytest.mark.parametrize("step", sorted(PARTY_STEPS))
    def test_an_auditor_cannot_record_a_party_step(self, api: Api, step: str) -> None:
        """403 for every party step."""
        api.refused("POST", f"/recommendations/{KEY}/parties/2380/{step}", PARTY_STEPS[step], who="auditor", status=403)

    @pytest.mark.parametrize(("method", "path", "body"), COORDINATOR_COMMANDS, ids=lambda v: str(v)[:40])
    def test_an_auditor_cannot_run_the_recommendation(self, api: Api, method: str, path: str, body: object) -> None:
        """403 for every coordinator command."""
        api.refused(method, path, body, who="auditor", status=403)

    def test_an_auditor_reads_and_verifies(self, api: Api) -> None:
        """Every read endpoint answers an auditor."""
        for path in READS:
            assert 200 == api.get(path, who="auditor").status_code, path


class TestAdmin:
    def test_admin_may_act_for_any_party_and_run_the_recommendation(self, api: Api) -> None:
        """The admin token decides for Östersund and consolidates."""
        assert 200 == api.post(f"/recommendations/{KEY}/parties/2380/decide", PARTY_STEPS["decide"]).status_code
        assert 200 == api.put("/contacts/c-9", {"party": "2380"}).status_code


@pytest.mark.parametrize("who", ["admin", "coordinator", "auditor", "clerk_2380", "clerk_2309"])
def test_every_role_may_read(api: Api, who: str) -> None:
    """Reads need a valid token of any role."""
    for path in READS:
        assert 200 == api.get(path, who=who).status_code, (who, path)
