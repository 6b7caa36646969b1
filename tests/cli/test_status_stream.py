"""`status` of every recommendation is streamed a page at a time, with the same bytes as before.

Why: it used to hold every status document at once (7.4 GiB at a million party cases in
bench/bench_scale.py); now `Engine.iter_cases` reads keyset pages from one snapshot and the CLI
writes each document as it comes. These tests pin that nothing visible changed.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from beslut.errors import InvalidInput
from beslut.states.views import case_status
from tests.cli.helpers import KEY, SPEC_2022, engine, ok

SPEC_TEXT = SPEC_2022.read_text(encoding="utf-8")


def _with_key(key: str) -> str:
    """The 2022 spec under another key (and so another recommendation)."""
    assert f'key = "{KEY}"' in SPEC_TEXT
    return SPEC_TEXT.replace(f'key = "{KEY}"', f'key = "{key}"', 1)


@pytest.fixture
def five(store_url: str) -> str:
    """Five recommendations on three proposal dates (ties broken by key), two of them recommended."""
    with engine(store_url) as api:
        api.init()
        for n, on in ((3, date(2022, 6, 3)), (1, date(2022, 6, 3)), (5, date(2022, 6, 1)), (2, date(2022, 6, 7)),
                      (4, date(2022, 6, 1))):
            api.propose(_with_key(f"rec-{n}"), on=on)
        api.recommend("rec-3", on=date(2022, 6, 8))
        api.recommend("rec-5", on=date(2022, 6, 8))
    return store_url


@pytest.mark.parametrize("page_size", [1, 2, 3, 5, 6, 200])
def test_iter_cases_equals_cases_at_every_page_size(five: str, page_size: int) -> None:
    """Pages of any size give the same cases in the same order as reading them all at once."""
    with engine(five) as api:
        assert [c.key for c in api.cases()] == ["rec-4", "rec-5", "rec-1", "rec-3", "rec-2"]
        assert api.cases() == list(api.iter_cases(page_size=page_size))


def test_iter_cases_refuses_an_empty_page(five: str) -> None:
    with engine(five) as api, pytest.raises(InvalidInput, match="page size"):
        next(api.iter_cases(page_size=0))


def test_streamed_json_has_the_bytes_of_one_dump(five: str) -> None:
    """`status --json` of everything is byte for byte `json.dumps({"recommendations": [...]}, indent=2)`."""
    with engine(five) as api:
        expected = json.dumps({"recommendations": [case_status(c) for c in api.cases()]}, ensure_ascii=False,
                              indent=2) + "\n"
    assert expected == ok("status", "--json", db=five).stdout


def test_streamed_json_of_an_empty_database(db: str) -> None:
    result = ok("status", "--json", db=db)
    assert json.dumps({"recommendations": []}, indent=2) + "\n" == result.stdout
    assert {"recommendations": []} == result.json()


def test_overview_table_lists_every_recommendation(five: str) -> None:
    """The text overview still shows one row per recommendation."""
    out = ok("status", db=five).stdout
    for n in range(1, 6):
        assert f"rec-{n}" in out
    assert "no recommendations yet" not in out


def test_overview_of_an_empty_database(db: str) -> None:
    assert "no recommendations yet" in ok("status", db=db).stdout
