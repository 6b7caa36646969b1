"""Fixtures for the CLI tests: a database on SQLite or PostgreSQL (``store_url``) at a known starting point."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import typer.main

from tests.cli.helpers import KEY, SPEC_2022, engine

_build_command = typer.main.get_command
_built: dict[int, tuple[typer.Typer, Any]] = {}


def _get_command_once(typer_instance: typer.Typer) -> Any:
    """typer.main.get_command, built once per app as in a real process instead of once per in-process run."""
    key = id(typer_instance)
    if key not in _built:
        _built[key] = (typer_instance, _build_command(typer_instance))  # the app is kept, so its id stays its own
    return _built[key][1]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No BESLUT_DB or BESLUT_ACTOR from the environment, and a scratch working directory."""
    monkeypatch.delenv("BESLUT_DB", raising=False)
    monkeypatch.delenv("BESLUT_ACTOR", raising=False)
    monkeypatch.chdir(tmp_path)
    # A real `beslut` process turns the Typer app into a Click command once; an in-process run
    # would rebuild it on every call (half its time). Reuse it: the command tree is the same.
    monkeypatch.setattr(typer.main, "get_command", _get_command_once)


# The starting points are made through the Python API, which is what the CLI calls, in one
# connection: several times faster than three CLI runs, and TestInit, TestPropose and
# TestRecommend prove the same steps through the CLI.


@pytest.fixture
def db(store_url: str) -> str:
    """An initialised, empty database on either store."""
    with engine(store_url) as api:
        api.init()
    return store_url


@pytest.fixture
def proposed(store_url: str) -> str:
    """The 2022 Mini-Maria spec proposed on 2022-06-03."""
    with engine(store_url) as api:
        api.init()
        api.propose(SPEC_2022.read_text(encoding="utf-8"), on=date(2022, 6, 3))
    return store_url


@pytest.fixture
def recommended(store_url: str) -> str:
    """The 2022 case recommended to its parties on 2022-06-03."""
    with engine(store_url) as api:
        api.init()
        api.propose(SPEC_2022.read_text(encoding="utf-8"), on=date(2022, 6, 3))
        api.recommend(KEY, on=date(2022, 6, 3))
    return store_url


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """Write a spec text to a file in tmp_path and return its path."""

    def write(text: str, name: str = "spec.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
