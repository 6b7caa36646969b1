"""`audit replay --into`: a fresh database rebuilt from the log alone verifies and shows the same state.

Source and target are the same kind of store (SQLite file to a new SQLite file,
PostgreSQL database to a new empty PostgreSQL database), plus one cross-store run.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from beslut.demo import play
from beslut.persistence import open_store
from beslut.workflow import Engine
from tests.audit.conftest import build
from tests.audit.test_replay import Scenario, late_registration
from tests.cli.helpers import ok, refused, run, tamper_audit


def _new_database(request: pytest.FixtureRequest) -> Iterator[str]:
    server = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex[:10]}_into"
    url: str = server.create_database(name)
    try:
        yield url
    finally:
        server.drop_database(name)


@pytest.fixture
def target(store_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """Where the rebuild goes: a new file beside a SQLite source, a new empty database beside a PostgreSQL one."""
    if "://" not in store_url:
        yield str(tmp_path / "rebuilt.db")
        return
    yield from _new_database(request)


def demo(url: str) -> str:
    """The demo's two recommendations (the 2025 revision supersedes 2022) played into *url*, on either store."""
    engine = Engine.open(url, actor="demo")
    try:
        engine.init()
        play(engine)
    finally:
        engine.close()
    return url


def pending_timers(url: str) -> list[tuple[Any, ...]]:
    store = open_store(url, read_only=True)
    try:
        with store.reader() as reader:
            rows = reader.deadlines(status="pending")
    finally:
        store.close()
    return sorted((r.recommendation, r.party or "", r.kind, r.due_at) for r in rows)


def assert_same_database(source: str, target: str) -> None:
    """The target verifies with the source's head, holds the same log rows, statuses and pending timers."""
    report = ok("audit", "verify", "--json", db=target).json()
    assert report["ok"], report
    assert report == ok("audit", "verify", "--json", db=source).json()
    assert ok("audit", "log", "--json", db=target).json() == ok("audit", "log", "--json", db=source).json()
    keys = [r["key"] for r in ok("status", "--json", db=source).json()["recommendations"]]
    assert keys, "the source has recommendations"
    for key in keys:
        assert ok("status", key, "--json", db=target).json() == ok("status", key, "--json", db=source).json()
    assert ok("status", "--json", db=target).json() == ok("status", "--json", db=source).json()
    assert ok("audit", "replay", "--check", db=target).stdout.startswith("ok: the live tables equal the replay")
    assert pending_timers(target) == pending_timers(source)


def test_the_demo_with_its_revision_is_rebuilt(store_url: str, target: str) -> None:
    """Two recommendations, the 2025 revision superseding 2022: every row the log implies comes back."""
    demo(store_url)
    result = ok("audit", "replay", "--into", target, db=store_url)
    assert result.stdout.startswith(f"rebuilt {target}: ")
    assert_same_database(store_url, target)


def test_a_late_registration_after_tick_is_rebuilt(mini_maria: Scenario, target: str) -> None:
    """Overdue parties marked by tick, a decision registered late: the same status, verbatim events."""
    db = late_registration(mini_maria)
    document = ok("audit", "replay", "--into", target, "--json", db=db).json()
    assert document == {"into": target, "events": 15, "recommendations": 1, "deadlines": document["deadlines"]}
    assert document["deadlines"] == len(pending_timers(target))
    report = ok("audit", "verify", "--json", db=target).json()
    assert (report["ok"], report["events"], report["head_seq"]) == (True, 15, 15)
    assert ok("audit", "log", "--json", db=target).json() == ok("audit", "log", "--json", db=db).json()
    assert ok("status", "--json", db=target).json() == ok("status", "--json", db=db).json()


def test_a_synthetic_interleaved_log_is_rebuilt(store_url: str, target: str) -> None:
    """Many recommendations interleaved in the log, appeals, annulments, withdrawals: verbatim and equal."""
    build(store_url, 600, group=5)
    ok("audit", "replay", "--into", target, db=store_url)
    report = ok("audit", "verify", "--json", db=target).json()
    assert report == ok("audit", "verify", "--json", db=store_url).json()
    assert ok("audit", "log", "--json", db=target).json() == ok("audit", "log", "--json", db=store_url).json()
    assert ok("status", "--json", db=target).json() == ok("status", "--json", db=store_url).json()


@pytest.mark.postgres
def test_sqlite_to_postgresql(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Across stores too: the hashes cover the instant as the log formats it, not as a database stores it."""
    source = str(tmp_path / "source.db")
    demo(source)
    for url in _new_database(request):
        ok("audit", "replay", "--into", url, db=source)
        assert_same_database(source, url)


def test_a_target_that_holds_anything_is_refused(store_url: str, target: str, tmp_path: Path) -> None:
    """An existing file (even empty), a database with tables (the source itself): exit 2, one line, nothing written."""
    demo(store_url)
    assert (
        "leave out --as-of"
        in refused("audit", "replay", "--into", target, "--as-of", "2030-01-01", db=store_url).stderr
    )
    assert "leave out --as-of" in refused("audit", "replay", "--into", target, "--check", db=store_url).stderr
    if "://" not in store_url:
        empty = tmp_path / "empty.db"
        empty.touch()
        assert "already exists" in refused("audit", "replay", "--into", str(empty), db=store_url).stderr
        assert empty.read_bytes() == b""
        assert "already exists" in refused("audit", "replay", "--into", store_url, db=store_url).stderr
        missing = tmp_path / "no" / "such" / "dir.db"
        assert "does not exist" in refused("audit", "replay", "--into", str(missing), db=store_url).stderr
        assert not missing.parent.exists()
        assert not Path(target).exists()
    else:
        assert "is not empty" in refused("audit", "replay", "--into", store_url, db=store_url).stderr
        ok("audit", "replay", "--into", target, db=store_url)
        second = refused("audit", "replay", "--into", target, db=store_url)
        assert "is not empty" in second.stderr
        assert ok("audit", "verify", db=target).stdout.startswith("ok:")


def test_a_broken_source_writes_nothing(mini_maria: Scenario, target: str) -> None:
    """The source is checked whole before the target is touched: exit 4 naming the seq, and no target at all."""
    db = late_registration(mini_maria)
    tamper_audit(db, seq=4)
    result = run("audit", "replay", "--into", target, db=db)
    assert 4 == result.code
    assert result.stderr.startswith("error: audit log broken at seq 4")
    if "://" not in target:
        assert not Path(target).exists()
    else:
        with pytest.raises(AssertionError):  # no table, so there is nothing to verify
            ok("audit", "verify", db=target)
        assert "not initialised" in run("audit", "verify", db=target).stderr


def test_the_rebuilt_database_takes_new_commands(mini_maria: Scenario, target: str) -> None:
    """The rebuild is a working database: the next command appends after the copied head and verifies."""
    db = late_registration(mini_maria)
    ok("audit", "replay", "--into", target, db=db)
    day = date(2022, 10, 21).isoformat()
    ok("party", "decide", "svom-2022-mini-maria", "2313", "--outcome", "approved", "--paragraph", "§ 9", "--on", day,
       db=target)  # fmt: skip
    report = ok("audit", "verify", "--json", db=target).json()
    assert (report["ok"], report["events"]) == (True, 16)


def test_the_streamed_json_is_the_document_emit_json_would_print(store_url: str) -> None:
    """`audit replay --json` writes the recommendations one at a time, byte for byte as one json.dumps would."""
    demo(store_url)
    for args in ((), ("--check",), ("--as-of-valid", "2023-01-05")):
        out = ok("audit", "replay", "--json", *args, db=store_url).stdout
        document = json.loads(out)
        assert out == json.dumps(document, ensure_ascii=False, indent=2) + "\n"
        assert [r["key"] for r in document["recommendations"]] == [
            r["key"] for r in ok("status", "--json", db=store_url).json()["recommendations"]
        ][: len(document["recommendations"])]
