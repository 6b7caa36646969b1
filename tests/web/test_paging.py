"""The matrix in pages (``?sida=N``): only that page's recommendations, in order, with Föregående / Nästa links.

On both stores, with more open recommendations than fit on one page: seven open rounds
at three a page, proposed on days that order them against their keys, and one withdrawn
round that only ``?alla=1`` shows; then the real page size (50) with 51 open rounds. The
links are plain ``<a href>``: the pages work without JavaScript.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi import FastAPI

from beslut.clock import FixedClock
from beslut.persistence import Store
from beslut.web import dashboard_router
from beslut.web.pages import MATRIX_PAGE_SIZE
from beslut.workflow import Engine
from tests.web.conftest import TOKEN, only_test_token
from tests.web.data import MUNICIPALITIES, TODAY, open_spec
from tests.web.html import Element, parse

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

ROUNDS = 7
SIZE = 3
# Proposed on 11, 10, ..., 5 January: the later the key, the earlier the day, so the order is by date first.
OPEN = [f"runda-{i:02d}" for i in range(ROUNDS, 0, -1)]
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
DASH = "\N{EN DASH}"  # between the first and the last position shown


def add_rounds(store: Store, count: int, *, withdrawn: bool = True) -> None:
    """*count* open rounds runda-01.. (runda-NN proposed on 12 - NN January 2026) all recommended, one withdrawn."""
    engine = Engine(store, clock=FixedClock(TODAY), actor="test")
    for i in range(1, count + 1):
        key = f"runda-{i:02d}"
        on = date(2026, 1, max(12 - i, 1))
        engine.propose(open_spec(key, f"Runda {i}"), on=on)
        engine.recommend(key, on=date(2026, 1, 12))
    if withdrawn:
        engine.propose(open_spec("avslutad", "Avslutad runda"), on=date(2026, 1, 2))
        engine.withdraw("avslutad", on=date(2026, 1, 3), reason="test")


def client_for(store: Store, size: int) -> TestClient:
    app = FastAPI()
    clock = FixedClock(TODAY)
    router = dashboard_router(Engine(store, clock=clock), authenticate=only_test_token, clock=clock, page_size=size)
    app.include_router(router)
    return TestClient(app, follow_redirects=False)


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    add_rounds(store, ROUNDS)
    with client_for(store, SIZE) as test_client:
        yield test_client


def page(client: TestClient, path: str) -> Element:
    response = client.get(path, headers=HEADERS)
    assert 200 == response.status_code, response.text
    return parse(response.text)


def columns(document: Element) -> list[str]:
    return [h.attrs["data-rekommendation"] for h in document.by_id("matris").find_all("th", scope="col")[1:]]


def links(document: Element) -> dict[str, dict[str, str]]:
    """Per navigation (ovan, nedan): the text of each link -> its href, and the page line."""
    found = {}
    for where in ("ovan", "nedan"):
        nav = document.by_id(f"sidor-{where}")
        found[where] = {a.words: a.attrs["href"] for a in nav.find_all("a")} | {"": nav.find("span").words}
    assert found["ovan"] == found["nedan"]
    return found


def test_each_page_shows_its_recommendations_in_order_with_the_links(client: TestClient) -> None:
    first = page(client, "/")
    assert OPEN[0:3] == columns(first)
    assert {"Nästa": "/?sida=2", "": f"Sida 1 av 3 · rekommendation 1{DASH}3 av 7"} == links(first)["ovan"]

    second = page(client, "/?sida=2")
    assert OPEN[3:6] == columns(second)
    expected = {"Föregående": "/", "Nästa": "/?sida=3", "": f"Sida 2 av 3 · rekommendation 4{DASH}6 av 7"}
    assert expected == links(second)["ovan"]

    last = page(client, "/?sida=3")
    assert OPEN[6:] == columns(last)
    assert {"Föregående": "/?sida=2", "": f"Sida 3 av 3 · rekommendation 7{DASH}7 av 7"} == links(last)["ovan"]
    # Every party row is there on every page, and the cells belong to the page's recommendations only.
    for document, keys in ((first, OPEN[0:3]), (last, OPEN[6:])):
        for party in MUNICIPALITIES:
            row = document.by_id("matris").find("tr", data_part=party)
            assert keys == [td.attrs["data-rekommendation"] for td in row.find_all("td")]


def test_following_next_visits_every_open_recommendation_once(client: TestClient) -> None:
    seen: list[str] = []
    path: str | None = "/"
    while path is not None:
        document = page(client, path)
        seen += columns(document)
        path = links(document)["ovan"].get("Nästa")
    assert OPEN == seen  # the withdrawn round is not open: on no page


def test_the_overdue_count_is_every_pages(client: TestClient) -> None:
    """On 2026-02-02 every municipality of every round is past its reply date (the Region replies later)."""
    for path in ("/", "/?sida=3"):
        document = page(client, path)
        assert f"{ROUNDS * len(MUNICIPALITIES)} försenade svar" == document.by_id("antal-forsenade").words
    row = page(client, "/?sida=3").by_id("matris").find("tr", data_part="2303")
    assert "ja" == row.find("td", data_rekommendation=OPEN[6]).attrs["data-forsenad"]


def test_all_pages_include_the_closed_and_keep_alla_in_the_links(client: TestClient) -> None:
    first = page(client, "/?alla=1")
    assert ["avslutad", *OPEN[0:2]] == columns(first)
    assert {"Nästa": "/?alla=1&sida=2", "": f"Sida 1 av 3 · rekommendation 1{DASH}3 av 8"} == links(first)["ovan"]
    last = page(client, "/?alla=1&sida=3")
    assert OPEN[5:] == columns(last)
    assert "/?alla=1&sida=2" == links(last)["ovan"]["Föregående"]


@pytest.mark.parametrize(("sida", "shown"), [("0", 1), ("-1", 1), ("x", 1), ("", 1), ("3", 3), ("99", 3)])
def test_an_odd_page_number_shows_the_nearest_page(client: TestClient, sida: str, shown: int) -> None:
    document = page(client, f"/?sida={sida}")
    assert OPEN[(shown - 1) * SIZE : shown * SIZE] == columns(document)
    assert links(document)["ovan"][""].startswith(f"Sida {shown} av 3")


def test_one_page_has_no_navigation(store: Store) -> None:
    add_rounds(store, 2, withdrawn=False)
    with client_for(store, SIZE) as client:
        document = page(client, "/")
    assert ["runda-02", "runda-01"] == columns(document)
    assert [] == document.find_all("nav")


def test_the_real_page_size_is_fifty(store: Store) -> None:
    add_rounds(store, MATRIX_PAGE_SIZE + 1, withdrawn=False)
    with client_for(store, MATRIX_PAGE_SIZE) as client:
        first, second = page(client, "/"), page(client, "/?sida=2")
    assert 50 == MATRIX_PAGE_SIZE == len(columns(first))
    assert 1 == len(columns(second))
    assert set(columns(first)).isdisjoint(columns(second))
    assert f"Sida 2 av 2 · rekommendation 51{DASH}51 av 51" == links(second)["ovan"][""]
