"""A decision counts only while it stands, over HTTP on both stores: annulled after consolidation, decided anew.

The clock of the API is 2022-12-01: consolidated on 2022-10-17, the agreement waits for 2023-01-01.
"""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api
from tests.conftest import KEY, PARTIES

BASE = f"/recommendations/{KEY}"


def _post(api: Api, path: str, body: dict[str, object], who: str = "admin") -> dict[str, Any]:
    response = api.post(path, body, who=who)
    assert 200 == response.status_code, response.text
    document: dict[str, Any] = response.json()
    return document


def _in_force_timers(api: Api) -> list[dict[str, Any]]:
    return [d for d in api.get("/deadlines").json() if d["kind"] == "in_force"]


def test_an_annulment_after_consolidation_is_recounted_and_the_party_decides_anew(api: Api) -> None:
    for party in PARTIES:
        _post(api, f"{BASE}/parties/{party}/decide", {"outcome": "approved", "paragraph": "§ 1", "on": "2022-09-05"})
    _post(api, f"{BASE}/parties/2380/announce", {"on": "2022-09-08"})
    _post(api, f"{BASE}/parties/2380/appeal", {"on": "2022-09-20"})
    consolidated = _post(api, f"{BASE}/consolidate", {"on": "2022-10-17"}, who="coordinator")
    assert ("consolidated", "adopted", []) == (
        consolidated["state"],
        consolidated["outcome"],
        consolidated["contested"],
    )
    assert 1 == len(_in_force_timers(api))

    annulled = _post(api, f"{BASE}/parties/2380/settle", {"result": "annulled", "on": "2022-11-01"}, who="clerk_2380")
    assert ("consolidated", "not_adopted", ["2380"]) == (annulled["state"], annulled["outcome"], annulled["contested"])
    assert {"0"} == {p["amount"] for p in annulled["parties"]}
    assert [] == _in_force_timers(api)  # not adopted: it does not come into force on 2023-01-01
    assert "recommendation.recounted" == api.get(f"{BASE}/audit").json()[-1]["kind"]

    again = _post(
        api,
        f"{BASE}/parties/2380/decide",
        {"outcome": "approved", "paragraph": "§ 80", "on": "2022-11-20"},
        who="clerk_2380",
    )
    assert ("consolidated", "adopted", [], PARTIES) == (
        again["state"],
        again["outcome"],
        again["contested"],
        again["participants"],
    )
    assert 5_000_000 == sum(int(p["amount"]) for p in again["parties"])
    late = next(p for p in again["parties"] if p["key"] == "2380")
    assert (True, 51) == (late["late"], late["days_late"])  # reply by 2022-09-30
    assert 1 == len(_in_force_timers(api))
