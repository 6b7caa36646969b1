"""Shared fixtures: a store on a real SQLite file and on a real throwaway PostgreSQL server.

Every test that takes ``store`` (or ``engine``) runs twice, once per database, with
the ids ``sqlite`` and ``postgres``: one contract, two stores. PostgreSQL tests are
never skipped; a server that cannot start fails the run (see tests/pg_fixtures.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from beslut.clock import STOCKHOLM, FixedClock
from beslut.persistence import Store, open_store
from beslut.workflow import Engine

pytest_plugins = ["tests.pg_fixtures"]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
KEY = "svom-2022-mini-maria"
MUNICIPALITIES = ["2380", "2309", "2321", "2313", "2361", "2326", "2305", "2303"]
PARTIES = [*MUNICIPALITIES, "region-jh"]


def spec_2022() -> str:
    """The shipped 2022 example spec."""
    return (EXAMPLES / "mini-maria-2022.toml").read_text(encoding="utf-8")


def spec_2025() -> str:
    """The shipped 2025 revision spec."""
    return (EXAMPLES / "mini-maria-2025.toml").read_text(encoding="utf-8")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL: an SQLite file in tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "beslut.db")
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An initialised store on either database."""
    opened = open_store(store_url)
    opened.create_schema()
    yield opened
    opened.close()


@pytest.fixture
def clock() -> FixedClock:
    """A clock standing at 2022-12-01 12:00 in Stockholm (after the 2022 case's dates)."""
    return FixedClock(datetime(2022, 12, 1, 12, 0, tzinfo=STOCKHOLM))


@pytest.fixture
def engine(store: Store, clock: FixedClock) -> Engine:
    """An engine over the store with the fixed clock."""
    return Engine(store, clock=clock, actor="test")


@pytest.fixture
def recommended(engine: Engine) -> Engine:
    """The 2022 case proposed and recommended on 2022-06-03."""
    engine.propose(spec_2022(), on=date(2022, 6, 3))
    engine.recommend(KEY, on=date(2022, 6, 3))
    return engine
