"""Paging of ``GET /recommendations`` (limit and cursor), the Reader's page read behind it, and the fast status read.

On both stores: the pages, followed by their ``next`` cursors, are exactly the unpaged list
in its order; the default answer keeps its old shape (no ``next``); a bad cursor or limit is
a 422 that changes nothing. The status and list reads check the token inside their own read
transaction (docs/performance.md), so a token revoked by another process (as
``beslut token revoke`` does) is refused on the very next request.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from beslut.api import tokens as token_service
from beslut.clock import FixedClock
from beslut.persistence import Store
from beslut.workflow import Engine
from tests.api.conftest import NOW, Api
from tests.conftest import KEY, spec_2022

# (key, proposed on): two on one day so the key breaks the tie, one earlier than the fixture's case.
EXTRA = [
    ("b-later", date(2022, 6, 4)),
    ("a-later", date(2022, 6, 4)),
    ("early", date(2022, 6, 1)),
    ("z-same-day", date(2022, 6, 3)),
    ("withdrawn", date(2022, 6, 2)),
]
ORDER = ["early", "withdrawn", KEY, "z-same-day", "a-later", "b-later"]


def add_cases(engine: Engine) -> None:
    """The extra recommendations of EXTRA; 'withdrawn' is withdrawn, the others recommended or proposed."""
    for key, on in EXTRA:
        engine.propose(spec_2022().replace(KEY, key), on=on)
    engine.recommend("early", on=date(2022, 6, 1))
    engine.withdraw("withdrawn", on=date(2022, 6, 2), reason="test")


def keys(document: dict[str, Any]) -> list[str]:
    return [r["key"] for r in document["recommendations"]]


# ---------------------------------------------------------------- the Reader port, both adapters


def test_cases_page_is_a_slice_of_list_cases(store: Store, engine: Engine) -> None:
    engine.propose(spec_2022(), on=date(2022, 6, 3))
    add_cases(engine)
    with store.reader() as reader:
        every = reader.list_cases()
        assert ORDER == [c.key for c in every]
        assert ORDER == [c.key for c in reader.cases_page()]
        assert ORDER[:2] == [c.key for c in reader.cases_page(limit=2)]
        assert ORDER[2:5] == [c.key for c in reader.cases_page(offset=2, limit=3)]
        assert ORDER[4:] == [c.key for c in reader.cases_page(offset=4, limit=10)]
        assert [] == reader.cases_page(offset=6, limit=10)
        # The keyset: strictly after (proposed_on, key), across the same-day tie and across days.
        assert ["z-same-day", "a-later", "b-later"] == [c.key for c in reader.cases_page(after=(date(2022, 6, 3), KEY))]
        assert ["a-later"] == [c.key for c in reader.cases_page(after=(date(2022, 6, 3), "z-same-day"), limit=1)]
        # Only the given states; the cases are whole (every party loaded), equal to list_cases' ones.
        opened = reader.cases_page(states={"proposed", "recommended"}, limit=10)
        assert [k for k in ORDER if k != "withdrawn"] == [c.key for c in opened]
        assert {c.key: c for c in every if c.key != "withdrawn"} == {c.key: c for c in opened}
        assert ["withdrawn"] == [c.key for c in reader.cases_page(states={"withdrawn"})]
        assert [] == reader.cases_page(states={"in_force"})


# ---------------------------------------------------------------- GET /recommendations?limit&cursor


def test_pages_followed_by_next_are_the_whole_list_in_order(api: Api) -> None:
    add_cases(Engine(api.store, clock=FixedClock(NOW), actor="setup"))
    whole = api.get("/recommendations").json()
    assert ["recommendations"] == list(whole)  # the unpaged answer keeps its old shape: no `next`
    assert ORDER == keys(whole)
    seen: list[dict[str, Any]] = []
    pages = 0
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 4} if cursor is None else {"limit": 4, "cursor": cursor}
        response = api.get("/recommendations", **params)
        assert 200 == response.status_code, response.text
        page = response.json()
        assert {"recommendations", "next"} == set(page)
        assert len(page["recommendations"]) <= 4
        seen += page["recommendations"]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert 2 == pages
    assert whole["recommendations"] == seen  # the same documents, in the same order, none twice


def test_a_limit_that_fits_everything_has_no_next(api: Api) -> None:
    page = api.get("/recommendations", limit=1).json()
    assert [KEY] == keys(page)
    assert page["next"] is None
    assert api.status() == page["recommendations"][0]


def test_a_cursor_without_a_limit_gives_the_rest(api: Api) -> None:
    add_cases(Engine(api.store, clock=FixedClock(NOW), actor="setup"))
    first = api.get("/recommendations", limit=3).json()
    assert ORDER[:3] == keys(first)
    rest = api.get("/recommendations", cursor=first["next"]).json()
    assert ORDER[3:] == keys(rest)
    assert rest["next"] is None


def test_a_bad_cursor_or_limit_is_refused(api: Api) -> None:
    for cursor in ("nonsense!", "bm90IGpzb24", "WyIyMDIyLTEzLTAxIiwia2V5Il0", "WzEsMl0"):
        problem = api.refused("GET", f"/recommendations?limit=2&cursor={cursor}", status=422)
        assert "cursor" in problem["detail"]
    for limit in ("0", "-1", "1001", "x"):
        problem = api.refused("GET", f"/recommendations?limit={limit}", status=422)
        assert "limit" in problem["detail"]


def test_paging_still_needs_a_valid_token(api: Api) -> None:
    api.refused("GET", "/recommendations?limit=2", status=401, who=None)
    # Authenticated before the cursor is even looked at: a stranger cannot probe cursors.
    problem = api.refused(
        "GET", "/recommendations?limit=2&cursor=junk", status=401, who=None, headers={"Authorization": "Bearer junk"}
    )
    assert "unknown or revoked" in problem["detail"]


def test_the_openapi_document_describes_the_paging(api: Api) -> None:
    operation = api.client.get("/openapi.json").json()["paths"]["/recommendations"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert {"limit", "cursor"} <= set(parameters)
    assert 1000 == parameters["limit"]["schema"]["anyOf"][0]["maximum"]
    assert operation["security"]  # still a secured operation
    status = api.client.get("/openapi.json").json()["paths"]["/recommendations/{key}"]["get"]
    assert {"HTTPBearer", "APIKeyCookie"} <= {name for s in status["security"] for name in s}


# ---------------------------------------------------------------- the fast read: token and case in one transaction


def test_a_revoked_token_is_refused_on_the_very_next_read(api: Api) -> None:
    assert 200 == api.get(f"/recommendations/{KEY}", who="auditor").status_code
    assert 200 == api.get("/recommendations", who="auditor", limit=1).status_code
    token_service.revoke(api.store, api.token_ids["auditor"], now=NOW)  # as `beslut token revoke` does
    for path in (f"/recommendations/{KEY}", "/recommendations", "/recommendations?limit=1", "/whoami"):
        problem = api.refused("GET", path, status=401, who="auditor")
        assert "unknown or revoked" in problem["detail"], path
    assert 200 == api.get(f"/recommendations/{KEY}", who="admin").status_code  # other tokens unaffected


def test_status_of_an_unknown_key_is_404_after_the_token_check(api: Api) -> None:
    problem = api.refused("GET", "/recommendations/no-such-key", status=404)
    assert "no recommendation 'no-such-key'" == problem["detail"]
    api.refused("GET", "/recommendations/no-such-key", status=401, who=None, headers={"Authorization": "Bearer x"})


def test_status_still_answers_304_and_etag(api: Api) -> None:
    response = api.get(f"/recommendations/{KEY}")
    etag = response.headers["etag"]
    assert f'"{response.json()["version"]}"' == etag
    again = api.get(f"/recommendations/{KEY}", headers={"If-None-Match": etag})
    assert 304 == again.status_code
    assert etag == again.headers["etag"]
