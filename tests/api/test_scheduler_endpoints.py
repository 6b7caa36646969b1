"""``POST /scheduler/tick`` and ``POST /party-steps/import`` on both stores: the CLI's behaviour over HTTP.

tick: the same document as `beslut tick --json`, the same idempotence (a second tick at
the same instant fires nothing and writes nothing), the same refusals (an instant in the
future of the server's clock, a malformed one), coordinator and admin only.

import: the CLI's parser on the request body (JSON Lines or CSV by Content-Type), one
transaction through Engine.batch (a refused line, and nothing is written), and a clerk
may import only its own party's lines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import Api
from tests.cli.helpers import ok, run
from tests.conftest import KEY

TICK_AT = "2022-11-30T08:00:00+01:00"  # after the 2022-09-30 reply date; before the fixture's clock (2022-12-01)


def problem_of(api: Api, response: httpx.Response, status: int, before: Any) -> dict[str, Any]:
    """*response* is a one-line problem with *status*; the database is unchanged."""
    assert status == response.status_code, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert "\n" not in problem["detail"]
    assert before == api.dump()
    return problem


# ---------------------------------------------------------------- tick


class TestTick:
    def test_tick_fires_what_is_due_then_nothing(self, api: Api) -> None:
        """Every party that has not replied goes overdue; a second tick at that instant changes nothing."""
        assert not any(p["overdue"] for p in api.status()["parties"])
        response = api.post("/scheduler/tick", {"now": TICK_AT}, who="coordinator")
        assert 200 == response.status_code, response.text
        fired = response.json()["fired"]
        assert fired, "the reply date has passed: something is due"
        assert {"recommendation", "party", "kind", "due_at", "status", "events", "messages", "skipped"} == set(fired[0])
        assert {KEY} == {f["recommendation"] for f in fired}
        assert all(p["overdue"] for p in api.status()["parties"])
        logged = [e["kind"] for e in api.get(f"/recommendations/{KEY}/audit").json()]
        assert all(kind in logged for f in fired for kind in f["events"])
        before = api.dump()
        again = api.post("/scheduler/tick", {"now": TICK_AT}, who="coordinator")
        assert {"fired": []} == again.json()
        assert before == api.dump()
        assert ok("tick", "--now", TICK_AT, "--json", db=api.url).json() == again.json()  # and the CLI agrees

    def test_without_a_body_it_ticks_at_the_servers_clock(self, api: Api) -> None:
        response = api.client.post("/scheduler/tick", headers=api.headers("admin"))
        assert 200 == response.status_code, response.text
        assert response.json()["fired"]
        assert {"fired": []} == api.post("/scheduler/tick", {}).json()

    @pytest.mark.parametrize(
        ("now", "cli_now"),
        [("2030-01-01T00:00:00+01:00", "2030-01-01T00:00:00+01:00"), ("yesterday", "yesterday")],
        ids=["future", "malformed"],
    )
    def test_refusals_are_422_with_the_cli_line(self, api: Api, now: str, cli_now: str) -> None:
        problem = api.refused("POST", "/scheduler/tick", {"now": now}, status=422, who="coordinator")
        cli = run("tick", "--now", cli_now, db=api.url)
        assert 2 == cli.code
        assert (
            cli.stderr.strip().removeprefix("error: ").replace("--now", "now", 1).split(" (now ")[0]
            == (problem["detail"].split(" (now ")[0])
        )

    @pytest.mark.parametrize("who", ["clerk_2380", "auditor"])
    def test_only_coordinator_and_admin_may_tick(self, api: Api, who: str) -> None:
        problem = api.refused("POST", "/scheduler/tick", {"now": TICK_AT}, status=403, who=who)
        assert "urn:beslut:problem:forbidden" == problem["type"]

    def test_an_unknown_field_is_422(self, api: Api) -> None:
        problem = api.refused("POST", "/scheduler/tick", {"when": TICK_AT}, status=422)
        assert "when: Extra inputs are not permitted" == problem["detail"]


# ---------------------------------------------------------------- import


def jsonl(*steps: dict[str, Any]) -> bytes:
    return "\n".join(json.dumps(s, ensure_ascii=False) for s in steps).encode("utf-8")


DECIDE_2380 = {
    "action": "decide",
    "key": KEY,
    "party": "2380",
    "on": "2022-09-05",
    "outcome": "approved",
    "paragraph": "§ 88",
}
ANNOUNCE_2380 = {"action": "announce", "key": KEY, "party": "2380", "on": "2022-09-08"}
DECIDE_2309 = {**DECIDE_2380, "party": "2309"}


def post_import(api: Api, body: bytes, *, who: str = "admin", media: str = "application/x-ndjson") -> httpx.Response:
    response: httpx.Response = api.client.post(
        "/party-steps/import", content=body, headers=api.headers(who, {"Content-Type": media})
    )
    return response


class TestImport:
    def test_a_clerk_imports_its_partys_lines_in_one_go(self, api: Api) -> None:
        version = api.status()["version"]
        response = post_import(api, jsonl(DECIDE_2380, ANNOUNCE_2380), who="clerk_2380")
        assert 200 == response.status_code, response.text
        document = response.json()
        assert (2, 2) == (document["steps"], document["events"])
        assert [api.status()] == document["recommendations"]
        assert version + 2 == api.status()["version"]
        assert "announced" == api.party("2380")["state"]
        events = api.get(f"/recommendations/{KEY}/audit").json()
        assert f"token:{api.token_ids['clerk_2380']}" in json.dumps(events[-1])

    def test_csv_by_content_type(self, api: Api) -> None:
        body = f"action,key,party,on,outcome,paragraph\ndecide,{KEY},2309,2022-09-05,rejected,§ 12\n"
        response = post_import(api, body.encode("utf-8"), media="text/csv; charset=utf-8")
        assert 200 == response.status_code, response.text
        assert "rejected" == api.party("2309")["outcome"]

    def test_a_clerk_may_not_import_another_partys_line(self, api: Api) -> None:
        before = api.dump()
        response = post_import(api, jsonl(DECIDE_2380, DECIDE_2309), who="clerk_2380")
        problem = problem_of(api, response, 403, before)
        assert "line 2: a clerk of party '2380' may not act for party '2309'" == problem["detail"]

    @pytest.mark.parametrize("who", ["coordinator", "auditor"])
    def test_other_roles_may_not_import(self, api: Api, who: str) -> None:
        before = api.dump()
        assert (
            "urn:beslut:problem:forbidden"
            == problem_of(api, post_import(api, jsonl(DECIDE_2380), who=who), 403, before)["type"]
        )

    def test_one_refused_line_and_nothing_is_written(self, api: Api, tmp_path: Path) -> None:
        """The second line is refused by the engine (announce before a decision): 409 naming it, no step written."""
        body = jsonl(DECIDE_2380, {**ANNOUNCE_2380, "party": "2309"})
        (tmp_path / "steps.jsonl").write_bytes(body)
        cli = run("party", "import", str(tmp_path / "steps.jsonl"), db=api.url)
        assert 0 != cli.code
        before = api.dump()
        problem = problem_of(api, post_import(api, body), 409, before)
        assert problem["detail"].startswith("line 2 (announce")
        assert cli.stderr.strip().removeprefix("error: ") == problem["detail"]

    @pytest.mark.parametrize(
        ("body", "suffix"),
        [
            (b'{"action": "decide"\n', ".jsonl"),
            (jsonl({**DECIDE_2380, "conditons": "x"}), ".jsonl"),
            (jsonl({**DECIDE_2380, "on": "2022-13-01"}), ".jsonl"),
            (b"action,key,party,on\ndecide,k,p,2022-01-01,extra\n", ".csv"),
        ],
        ids=["not-json", "unknown-field", "bad-date", "csv-extra-cell"],
    )
    def test_malformed_lines_are_422_with_the_cli_line(
        self, api: Api, tmp_path: Path, body: bytes, suffix: str
    ) -> None:
        (tmp_path / f"steps{suffix}").write_bytes(body)
        cli = run("party", "import", str(tmp_path / f"steps{suffix}"), db=api.url)
        assert 2 == cli.code
        before = api.dump()
        media = "text/csv" if suffix == ".csv" else "application/x-ndjson"
        problem = problem_of(api, post_import(api, body, media=media), 422, before)
        assert cli.stderr.strip().removeprefix("error: ") == problem["detail"]

    def test_another_media_type_is_415_and_not_utf8_is_422(self, api: Api) -> None:
        before = api.dump()
        problem = problem_of(api, post_import(api, jsonl(DECIDE_2380), media="application/json"), 415, before)
        assert "send JSON Lines (application/x-ndjson) or CSV (text/csv)" in problem["detail"]
        assert "is not UTF-8" in problem_of(api, post_import(api, b"\xff\xfe"), 422, before)["detail"]


def test_tick_and_import_are_counted_in_the_metrics(api: Api) -> None:
    """beslut_commands_total{kind="tick"|"party_import"} moves with accepted and refused requests."""
    from tests.api.test_metrics_api import commands, scrape  # noqa: PLC0415 - the metrics tests' own parser

    before = scrape(api)
    assert 200 == api.post("/scheduler/tick", {"now": TICK_AT}).status_code
    assert 422 == api.post("/scheduler/tick", {"now": "yesterday"}).status_code
    assert 200 == post_import(api, jsonl(DECIDE_2380), who="clerk_2380").status_code
    assert 403 == post_import(api, jsonl(DECIDE_2309), who="clerk_2380").status_code
    after = scrape(api)
    for kind, result in [("tick", "ok"), ("tick", "invalid"), ("party_import", "ok"), ("party_import", "forbidden")]:
        assert commands(before, kind, result) + 1 == commands(after, kind, result), (kind, result)
