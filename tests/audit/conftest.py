"""Fixtures for the auditor's tests: logs on SQLite and PostgreSQL, a key pair, the CLI in-process.

``store_url`` (from tests/conftest.py) runs each test on both databases. The logs are
made through the store's own ``append_events`` (bench/bench_audit.py's builder) or
through the Engine, so every row, hash and chain is the real thing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import typer.main

from bench.bench_audit import build_log
from beslut.audit import checkpoint as checkpoints
from beslut.audit import keys, service
from beslut.clock import STOCKHOLM, FixedClock
from beslut.persistence import open_store
from beslut.workflow import Engine
from tests.cli.helpers import KEY, SPEC_2022, SPEC_2025

_build_command = typer.main.get_command
_built: dict[int, tuple[typer.Typer, Any]] = {}


def _get_command_once(typer_instance: typer.Typer) -> Any:
    key = id(typer_instance)
    if key not in _built:
        _built[key] = (typer_instance, _build_command(typer_instance))
    return _built[key][1]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No BESLUT_DB from the environment, a scratch working directory, the Typer app built once."""
    monkeypatch.delenv("BESLUT_DB", raising=False)
    monkeypatch.delenv("BESLUT_ACTOR", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(typer.main, "get_command", _get_command_once)


@pytest.fixture
def key_pair(tmp_path: Path) -> tuple[Path, Path]:
    """A fresh Ed25519 key pair: (private key file, public key file)."""
    private, public = tmp_path / "signing.pem", tmp_path / "signing.pub"
    keys.generate(private, public)
    return private, public


@pytest.fixture
def other_key_pair(tmp_path: Path) -> tuple[Path, Path]:
    """A second, unrelated key pair."""
    private, public = tmp_path / "other.pem", tmp_path / "other.pub"
    keys.generate(private, public)
    return private, public


def build(url: str, events: int, *, group: int = 20) -> str:
    """Initialise *url* and fill it with at least *events* synthetic events (*group* recommendations at a time)."""
    store = open_store(url)
    try:
        store.create_schema()
        build_log(store, events, group=group)
    finally:
        store.close()
    return url


def sign(url: str, tmp_path: Path) -> checkpoints.Checkpoint:
    """A checkpoint of the log in *url* as it is now (before an attack), signed with a key pair in *tmp_path*."""
    private, public = tmp_path / "k.pem", tmp_path / "k.pub"
    if not private.exists():
        keys.generate(private, public)
    store = open_store(url, read_only=True)
    try:
        return service.make_checkpoint(store, keys.load_private(private), now=datetime.now(STOCKHOLM))
    finally:
        store.close()


@pytest.fixture
def small_log(store_url: str) -> str:
    """A log of a few hundred events (a handful of recommendations, interleaved) on either store."""
    return build(store_url, 250, group=4)


@pytest.fixture
def sqlite_log(tmp_path: Path) -> str:
    """The same on SQLite only: for what does not depend on the database (parsing files, keys)."""
    return build(str(tmp_path / "log.db"), 250, group=4)


@pytest.fixture
def big_log(store_url: str) -> str:
    """A log of a few thousand events on either store."""
    return build(store_url, 3000)


@pytest.fixture
def clock() -> FixedClock:
    """A clock standing at 2022-06-03 09:00, moved on by the scenarios."""
    return FixedClock(datetime(2022, 6, 3, 9, 0, tzinfo=STOCKHOLM))


@pytest.fixture
def mini_maria(store_url: str, clock: FixedClock) -> Iterator[tuple[str, Engine, FixedClock]]:
    """The 2022 case run through the Engine with the clock moving with the legal dates (late registrations too)."""
    engine = Engine(open_store(store_url), clock=clock, actor="registry")
    engine.init()
    try:
        yield store_url, engine, clock
    finally:
        engine.close()


def at(clock: FixedClock, day: str, hour: int = 10) -> date:
    """Move the clock to *day* at *hour* and return the day."""
    when = date.fromisoformat(day)
    clock.set(datetime(when.year, when.month, when.day, hour, 0, tzinfo=STOCKHOLM))
    return when


__all__ = ["KEY", "SPEC_2022", "SPEC_2025", "at", "build", "sign"]
