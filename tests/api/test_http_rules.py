"""HTTP as its users expect: 415 for a body of another media type, If-Match compared strongly.

On both stores; every refusal is one problem document and leaves the database as it was.
"""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import Api
from tests.conftest import KEY

PARTY = f"/recommendations/{KEY}/parties/2380"
DECIDE = {"outcome": "approved", "paragraph": "§ 7", "on": "2022-09-01"}


class TestMediaType:
    @pytest.mark.parametrize("media", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
    def test_a_json_body_sent_as_another_media_type_is_415(self, api: Api, media: str) -> None:
        """The same JSON text under another Content-Type: 415 unsupported-media-type, not 422 about fields."""
        before = api.dump()
        response = api.client.post(
            f"{PARTY}/decide", content=json.dumps(DECIDE), headers=api.headers("admin", {"Content-Type": media})
        )
        assert 415 == response.status_code, response.text
        problem = response.json()
        assert "urn:beslut:problem:unsupported-media-type" == problem["type"]
        assert f"Content-Type '{media}': this operation takes application/json" == problem["detail"]
        assert before == api.dump()

    @pytest.mark.parametrize("media", ["application/json", "application/json; charset=utf-8", "application/x+json"])
    def test_json_media_types_go_through(self, api: Api, media: str) -> None:
        response = api.client.post(
            f"{PARTY}/decide", content=json.dumps(DECIDE), headers=api.headers("admin", {"Content-Type": media})
        )
        assert 200 == response.status_code, response.text

    def test_the_415_is_documented_on_every_json_body_operation(self, api: Api) -> None:
        """Each operation with a JSON request body lists 415 among its responses; the import keeps its own."""
        document = api.client.get("/openapi.json").json()
        for path, methods in document["paths"].items():
            for method, operation in methods.items():
                content = operation.get("requestBody", {}).get("content", {})
                if "application/json" in content:
                    assert "415" in operation["responses"], (method, path)

    def test_a_form_post_to_the_dashboard_is_not_judged_as_json(self, api: Api) -> None:
        """The dashboard's login form reads its own body: a form post there is never 415."""
        response = api.client.post(
            "/logga-in", content="token=nope", headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert 415 != response.status_code


class TestIfMatch:
    def test_a_weak_etag_never_matches_if_match(self, api: Api) -> None:
        """RFC 9110: If-Match compares strongly; W/"<current version>" is refused as stale (409), nothing written."""
        etag = api.get(f"/recommendations/{KEY}").headers["etag"]
        problem = api.refused("POST", f"{PARTY}/decide", DECIDE, status=409, headers={"If-Match": f"W/{etag}"})
        assert "urn:beslut:problem:stale-version" == problem["type"]
        assert "weak ETag" in problem["detail"]
        assert 200 == api.post(f"{PARTY}/decide", DECIDE, headers={"If-Match": etag}).status_code
