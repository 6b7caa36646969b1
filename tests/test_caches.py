"""Every cache in `beslut` has a bound, and docs/architecture.md's "Caches" section lists each one.

A host that embeds the library runs for months: a cache that grows with the data it sees (specs,
statements, dates) would be a leak there. Found, not listed by hand: every ``functools`` cache in
every module, so a new unbounded one fails here by name; the hand-written caches (dicts with an
eviction rule) are filled past their bound on a real SQLite connection and a real machine.
"""

from __future__ import annotations

import functools
import importlib
import json
import pkgutil
import re
import sys
import tomllib
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert

import beslut
from beslut.persistence._sql import base as _sql
from beslut.states import machines, spec_cache
from beslut.states.calendar import BusinessCalendar
from beslut.states.spec_cache import parse_spec_data
from tests.conftest import spec_2022

DOCS = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def _modules() -> Iterator[Any]:
    for info in pkgutil.walk_packages(beslut.__path__, "beslut."):
        if ".migrations" in info.name:  # Alembic's scripts run inside Alembic, not as modules of the package
            continue
        if info.name.endswith(".__main__"):  # `python -m beslut.cli` runs the command line when imported
            continue
        yield importlib.import_module(info.name)


def _functools_caches() -> dict[str, Any]:
    """Every functools cache object defined in a module of `beslut`, by ``module.name``."""
    found: dict[str, Any] = {}
    for module in _modules():
        for name, value in vars(module).items():
            if not isinstance(value, functools._lru_cache_wrapper):  # what lru_cache and cache make
                continue
            home = sys.modules.get(value.__module__)
            if value.__module__ != module.__name__ and getattr(home, value.__name__, None) is value:
                continue  # imported from elsewhere (the standard library's urlsplit), not a cache of ours
            found[f"{module.__name__}.{name}"] = value
    return found


def _caches_section() -> str:
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(r"^## Caches\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, "docs/architecture.md has no '## Caches' section"
    return match.group(1)


def test_the_scan_finds_the_known_caches() -> None:
    """The probe does see functools caches (else the next tests would pass on nothing)."""
    assert {"beslut.states.case._allocation", "beslut.persistence._sql.cases._spec_from_text"} <= set(_functools_caches())


def test_every_functools_cache_has_a_maxsize() -> None:
    unbounded = [name for name, cache in _functools_caches().items() if cache.cache_parameters()["maxsize"] is None]
    assert unbounded == []


def test_no_unbounded_cache_decorator_in_the_source() -> None:
    """``functools.cache`` and ``lru_cache(maxsize=None)`` on a method or in a closure escape the module scan."""
    root = Path(beslut.__file__).parent
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for path in root.rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"functools\.cache\b|@cache\b|maxsize=None|cached_property", line)
    ]
    assert offenders == []


def test_the_docs_list_every_cache() -> None:
    section = _caches_section()
    hand_written = ["spec_cache", "_DRIVER_PLANS", "_moves", "_years"]
    missing = [name for name in [*_functools_caches(), *hand_written] if name.rsplit(".", 1)[-1] not in section]
    assert missing == []


def test_the_spec_cache_keeps_at_most_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spec_cache, "MAX_ENTRIES", 3)
    spec_cache.clear()
    base = json.loads(json.dumps(tomllib.loads(spec_2022()), default=str))  # JSON data, as a payload holds it
    try:
        for number in range(6):
            parse_spec_data({**base, "title": f"T {number}"})
        assert len(spec_cache._cache) == 3
    finally:
        spec_cache.clear()


def test_the_driver_plans_keep_at_most_their_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plans of statements that come and go do not pile up, and a plan is never taken for another statement."""
    monkeypatch.setattr(_sql, "MAX_DRIVER_PLANS", 2)
    table = Table("t", MetaData(), Column("a", Integer), Column("b", String))
    engine = create_engine("sqlite://")
    with engine.begin() as connection:
        table.metadata.create_all(connection)
        for number in range(5):
            statement = insert(table)  # a new statement object each time
            _sql.driver_executemany(connection, statement, [{"a": number, "b": str(number)}])
            assert len(_sql._DRIVER_PLANS) <= 2
        rows = connection.execute(table.select().order_by(table.c.a)).all()
    engine.dispose()
    assert rows == [(n, str(n)) for n in range(5)]


def test_a_machine_remembers_at_most_max_moves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machines, "MAX_MOVES", 1)
    machine = machines.MachineDefinition(machines.RECOMMENDATION)
    assert machine.fire("proposed", "recommend", subject="x") == "recommended"
    assert machine.fire("proposed", "withdraw", subject="x") == "withdrawn"
    assert len(machine._moves) == 1


def test_a_calendar_keeps_only_the_years_it_has_data_for() -> None:
    """Its per-year tables are bounded by the years the holiday data covers (1953-2100): others are refused."""
    calendar = BusinessCalendar()
    calendar.is_working_day(date(2022, 6, 6))
    with pytest.raises(ValueError, match="no Swedish holiday data"):
        calendar.is_working_day(date(2200, 1, 1))
    assert list(calendar._years) == [2022]


def test_functools_is_what_the_scan_relies_on() -> None:
    """A bounded lru_cache shows its maxsize where the scan reads it."""

    @functools.lru_cache(maxsize=7)
    def probe(value: int) -> int:
        return value

    assert probe.cache_parameters()["maxsize"] == 7
