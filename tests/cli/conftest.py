"""Fixtures for the CLI tests: a database (SQLite or PostgreSQL) brought to a known step by the CLI itself."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.helpers import KEY, SPEC_2022, ok


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No BESLUT_DB or BESLUT_ACTOR from the environment, and a scratch working directory."""
    monkeypatch.delenv("BESLUT_DB", raising=False)
    monkeypatch.delenv("BESLUT_ACTOR", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def db(store_url: str) -> str:
    """An initialised, empty database on either store."""
    ok("init", db=store_url)
    return store_url


@pytest.fixture
def proposed(db: str) -> str:
    """The 2022 Mini-Maria spec proposed on 2022-06-03."""
    ok("propose", str(SPEC_2022), "--on", "2022-06-03", db=db)
    return db


@pytest.fixture
def recommended(proposed: str) -> str:
    """The 2022 case recommended to its parties on 2022-06-03."""
    ok("recommend", KEY, "--on", "2022-06-03", db=proposed)
    return proposed


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """Write a spec text to a file in tmp_path and return its path."""

    def write(text: str, name: str = "spec.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
