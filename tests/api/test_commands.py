"""Every command and read endpoint succeeds, on both stores, and does what the CLI's command does.

Each command answers with the recommendation's status document (the `status --json`
shape) and its new version as the ETag; the acting token's id is what the audit event
records as the actor.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from beslut.api import tokens as token_service
from beslut.states.records import Heartbeat
from beslut.workflow import Engine
from tests.api.conftest import NOW, Api
from tests.cli.helpers import ok
from tests.conftest import KEY, PARTIES, spec_2022

OTHER = "svom-2022-other"


def _post_ok(
    api: Api, path: str, body: Mapping[str, object], *, who: str = "admin", expected: int = 200
) -> dict[str, object]:
    response = api.post(path, body, who=who)
    assert expected == response.status_code, response.text
    document: dict[str, object] = response.json()
    assert f'"{document["version"]}"' == response.headers["etag"]
    return document


class TestPartySteps:
    def test_a_party_goes_all_the_way_through_the_api(self, api: Api) -> None:
        """prepare, propose, decide, announce, appeal, settle and report for Östersund by its own clerk."""
        base = f"/recommendations/{KEY}/parties/2380"
        steps = [
            ("prepare", {"case_number": "KS 2022/301", "on": "2022-06-20"}, "preparing"),
            ("propose", {"body": "KSAU", "paragraph": "§ 121", "on": "2022-08-23"}, "proposed"),
            ("decide", {"outcome": "approved", "paragraph": "§ 164", "on": "2022-09-05"}, "decided"),
            ("announce", {"on": "2022-09-08"}, "announced"),
            ("appeal", {"on": "2022-09-20"}, "appealed"),
        ]
        version = api.status()["version"]
        for step, body, state in steps:
            document = _post_ok(api, f"{base}/{step}", body, who="clerk_2380")
            party = next(p for p in document["parties"] if p["key"] == "2380")  # type: ignore[attr-defined]
            assert state == party["state"], step
            assert version + 1 == document["version"]
            version = document["version"]
        settled = _post_ok(api, f"{base}/settle", {"result": "dismissed", "on": "2022-10-20"}, who="clerk_2380")
        assert "final" == next(p for p in settled["parties"] if p["key"] == "2380")["state"]  # type: ignore[attr-defined]
        _post_ok(api, f"{base}/report", {"on": "2022-10-25"}, who="clerk_2380")
        party = api.party("2380")
        assert "KS 2022/301" == party["case_number"]
        assert {"body": "KSAU", "paragraph": "§ 121", "on": "2022-08-23"} == party["proposal"]
        assert "2022-10-25" == party["minute_extract_received_on"]

    def test_decide_with_conditions_and_body(self, api: Api) -> None:
        """The optional fields of decide reach the engine."""
        body = {
            "outcome": "approved_with_conditions",
            "paragraph": "§ 9",
            "on": "2022-09-01",
            "body": "KF",
            "conditions": "Kostnaden ryms i budget.",
        }
        _post_ok(api, f"/recommendations/{KEY}/parties/2309/decide", body, who="clerk_2309")
        party = api.party("2309")
        assert ("approved_with_conditions", "KF", "Kostnaden ryms i budget.") == (
            party["outcome"],
            party["deciding_body"],
            party["conditions"],
        )

    def test_the_audit_event_records_the_token_id_as_actor(self, api: Api) -> None:
        """ids only: token:<id>, never the label or a name."""
        _post_ok(
            api,
            f"/recommendations/{KEY}/parties/2380/decide",
            {"outcome": "rejected", "paragraph": "§ 2", "on": "2022-09-01"},
            who="clerk_2380",
        )
        events = api.get(f"/recommendations/{KEY}/audit").json()
        last = events[-1]
        assert "party.decided" == last["kind"]
        assert f"token:{api.token_ids['clerk_2380']}" == last["payload"]["actor"]
        assert "clerk_2380" not in json.dumps(events)  # the token's label never reaches the log

    def test_a_label_with_a_name_and_an_address_never_reaches_the_log(self, api: Api) -> None:
        """The label is user-chosen text; only the token's id (beslut's own hex) is recorded, in any column."""
        label = "Anna Andersson <anna.andersson@example.se>"
        token, secret = token_service.issue(api.store, role="clerk", party="2321", label=label, now=NOW)
        response = api.client.post(
            f"/recommendations/{KEY}/parties/2321/decide",
            json={"outcome": "approved", "paragraph": "§ 5", "on": "2022-09-01"},
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert 200 == response.status_code, response.text
        (audit_rows,) = [rows for table, rows in api.dump() if table == "audit_event"]
        text = json.dumps([[str(value) for value in row] for row in audit_rows], ensure_ascii=False)
        for part in ("Anna", "Andersson", "example.se", "@"):
            assert part not in text
        assert f"token:{token.id}" in text


class TestRecommendation:
    def test_propose_recommend_withdraw(self, api: Api) -> None:
        """A coordinator proposes (201, Location, ETag), recommends and withdraws a recommendation."""
        spec = spec_2022().replace(KEY, OTHER)
        response = api.post("/recommendations", {"spec": spec, "on": "2022-06-03"}, who="coordinator")
        assert 201 == response.status_code, response.text
        assert f"/recommendations/{OTHER}" == response.headers["location"]
        assert '"1"' == response.headers["etag"]
        assert ("proposed", 9) == (response.json()["state"], len(response.json()["parties"]))
        assert (
            "recommended"
            == _post_ok(api, f"/recommendations/{OTHER}/recommend", {"on": "2022-06-03"}, who="coordinator")["state"]
        )
        withdrawn = _post_ok(
            api, f"/recommendations/{OTHER}/withdraw", {"on": "2022-06-10", "reason": "Ersatt."}, who="coordinator"
        )
        assert ("withdrawn", "2022-06-10") == (withdrawn["state"], withdrawn["withdrawn_on"])

    def test_consolidate_after_every_party_decided(self, api: Api) -> None:
        """All nine approve (clerk or admin), then the coordinator consolidates: adopted."""
        for party in PARTIES:
            who = "clerk_2380" if party == "2380" else "admin"
            _post_ok(
                api,
                f"/recommendations/{KEY}/parties/{party}/decide",
                {"outcome": "approved", "paragraph": "§ 1", "on": "2022-09-05"},
                who=who,
            )
        document = _post_ok(api, f"/recommendations/{KEY}/consolidate", {"on": "2022-10-17"}, who="coordinator")
        assert ("consolidated", "adopted") == (document["state"], document["outcome"])
        assert "2022-10-17" == document["consolidated_on"]
        assert document == api.status()  # what the command answered is what is stored


class TestReads:
    def test_status_is_the_cli_document(self, api: Api) -> None:
        """GET /recommendations/{key} and /recommendations equal `status --json`, and the ETag is the version."""
        response = api.get(f"/recommendations/{KEY}")
        assert 200 == response.status_code
        assert ok("status", KEY, "--json", db=api.url).json() == response.json()
        assert f'"{response.json()["version"]}"' == response.headers["etag"]
        assert ok("status", "--json", db=api.url).json() == api.get("/recommendations").json()

    def test_if_none_match_gives_304(self, api: Api) -> None:
        """A client holding the current version gets 304 Not Modified; an old one gets the document."""
        etag = api.get(f"/recommendations/{KEY}").headers["etag"]
        assert 304 == api.get(f"/recommendations/{KEY}", headers={"If-None-Match": etag}).status_code
        assert 200 == api.get(f"/recommendations/{KEY}", headers={"If-None-Match": '"1"'}).status_code

    def test_deadlines_outbox_audit_are_the_cli_documents(self, api: Api) -> None:
        """deadlines, outbox, audit log (whole and per stream) are what the CLI prints with --json."""
        assert ok("deadlines", "--json", db=api.url).json() == api.get("/deadlines").json()
        assert ok("deadlines", KEY, "--json", db=api.url).json() == api.get("/deadlines", key=KEY).json()
        assert api.get("/deadlines").json(), "the recommended case has pending deadlines"
        assert ok("outbox", "--json", db=api.url).json() == api.get("/outbox").json()
        assert ok("outbox", "--status", "sent", "--json", db=api.url).json() == api.get("/outbox", status="sent").json()
        assert ok("audit", "log", "--json", db=api.url).json() == api.get("/audit/log").json()
        assert ok("audit", "log", KEY, "--json", db=api.url).json() == api.get(f"/recommendations/{KEY}/audit").json()

    def test_scheduler_daemons_is_the_cli_document(self, api: Api) -> None:
        """GET /scheduler/daemons is `scheduler status --json`, here with one daemon's heartbeat."""
        with Engine.open(api.url) as engine:
            engine.beat(Heartbeat(daemon_id="d-1", hostname="h", pid=7, started_at=NOW, last_tick_at=NOW))
        document = api.get("/scheduler/daemons", who="auditor").json()
        assert ["d-1"] == [d["daemon_id"] for d in document["daemons"]]
        assert ok("scheduler", "status", "--json", db=api.url).json() == document

    def test_verify(self, api: Api) -> None:
        """GET /audit/verify is the `audit verify --json` report."""
        response = api.get("/audit/verify", who="auditor")
        assert 200 == response.status_code
        assert ok("audit", "verify", "--json", db=api.url).json() == response.json()
        assert response.json()["ok"] is True

    def test_contacts_put_and_list(self, api: Api) -> None:
        """A coordinator saves a contact; GET /contacts is `contact list --json`."""
        response = api.put("/contacts/c-1", {"party": "2380", "email": "registrator@example.se"}, who="coordinator")
        assert 200 == response.status_code, response.text
        assert {
            "id": "c-1",
            "party": "2380",
            "name": None,
            "email": "registrator@example.se",
            "active": True,
        } == response.json()
        assert ok("contact", "list", "--json", db=api.url).json() == api.get("/contacts").json()
        assert ["c-1"] == [c["id"] for c in api.get("/contacts").json()]

    def test_whoami(self, api: Api) -> None:
        """The caller's actor id, role and party."""
        expected = {"actor": f"token:{api.token_ids['clerk_2309']}", "role": "clerk", "party": "2309"}
        assert expected == api.get("/whoami", who="clerk_2309").json()


class TestMetrics:
    def test_commands_are_counted_by_kind_and_result(self, api: Api) -> None:
        """One ok decide, one refused (conflict) decide, one forbidden: all three in /metrics."""
        path = f"/recommendations/{KEY}/parties/2380/decide"
        body = {"outcome": "approved", "paragraph": "§ 1", "on": "2022-09-05"}
        assert 200 == api.post(path, body, who="clerk_2380").status_code
        assert 409 == api.post(path, body, who="clerk_2380").status_code
        assert 403 == api.post(path, body, who="clerk_2309").status_code
        assert 422 == api.post(path, {**body, "on": "5 sept"}, who="clerk_2380").status_code
        text = api.client.get("/metrics").text
        for result in ("ok", "conflict", "forbidden", "invalid"):
            assert f'beslut_commands_total{{kind="decide",result="{result}"}} 1.0' in text, result

    def test_a_wrong_method_is_not_counted_as_a_command(self, api: Api) -> None:
        """GET on a command's path is 405 (a problem document) and no decide is counted."""
        response = api.get(f"/recommendations/{KEY}/parties/2380/decide")
        assert 405 == response.status_code
        assert response.headers["content-type"].startswith("application/problem+json")
        assert 'kind="decide"' not in api.client.get("/metrics").text
