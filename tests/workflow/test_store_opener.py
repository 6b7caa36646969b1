"""``Engine.open`` opens a store through the opener the persistence package registers with the ports."""

from __future__ import annotations

from pathlib import Path

import pytest

from beslut import Engine, persistence
from beslut.errors import StoreError
from beslut.workflow import ports


def test_the_persistence_package_registers_its_opener(tmp_path: Path) -> None:
    """Importing beslut registers persistence's open_store; Engine.open uses it to make an SQLite file."""
    assert [persistence.open_store] == ports._openers
    with Engine.open(tmp_path / "b.db") as engine:
        assert engine.init()
    assert (tmp_path / "b.db").is_file()


def test_without_an_opener_opening_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no adapter registered, opening names what is missing and creates nothing."""
    monkeypatch.setattr(ports, "_openers", [])
    with pytest.raises(StoreError, match="no store adapter is registered"):
        Engine.open(tmp_path / "b.db")
    assert not (tmp_path / "b.db").exists()


def test_a_registered_opener_replaces_the_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """register_opener keeps one opener, the last; it is given the target and read_only."""
    monkeypatch.setattr(ports, "_openers", [])
    seen: list[tuple[object, bool]] = []

    def opener(target: object, *, read_only: bool = False) -> ports.Store:
        seen.append((target, read_only))
        return persistence.open_store(tmp_path / "c.db", read_only=read_only)

    ports.register_opener(persistence.open_store)
    ports.register_opener(opener)
    with Engine.open("somewhere") as engine:
        engine.init()
    assert [("somewhere", False)] == seen
