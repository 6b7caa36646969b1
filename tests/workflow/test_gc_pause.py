"""The GC pause: opt-in, so an embedding host's collector is never touched by a default batch.

collector_paused itself: off inside, exactly as before afterwards. The engine: a default batch runs
with the host's collector as the host left it; ``pause_gc=True`` (the `party import` process) pauses it.
What the collector was during a batch is seen by the engine's own clock, which the batch reads inside
its transaction.
"""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from pathlib import Path

import pytest

from beslut.clock import STOCKHOLM, FixedClock
from beslut.errors import BeslutError
from beslut.persistence import Store
from beslut.workflow import BatchResult, Engine, PartyStep
from beslut.workflow._gc_pause import collector_paused
from tests.cli import helpers as cli
from tests.conftest import KEY, PARTIES, spec_2022


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    was = gc.isenabled()
    yield
    (gc.enable if was else gc.disable)()


def test_off_inside_and_on_again_after() -> None:
    gc.enable()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # nested (reentrant)
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()


def test_restored_when_the_block_raises() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("refused")
    assert gc.isenabled()


def test_a_collector_switched_off_by_someone_else_stays_off() -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_overlapping_pauses_on_threads_switch_it_on_only_when_the_last_ends() -> None:
    gc.enable()
    first_in, second_in, first_may_end, first_done = (threading.Event() for _ in range(4))
    seen: list[bool] = []

    def first() -> None:
        with collector_paused():
            first_in.set()
            first_may_end.wait(10)
        first_done.set()

    thread = threading.Thread(target=first)
    thread.start()
    assert first_in.wait(10)
    with collector_paused():
        second_in.set()
        first_may_end.set()
        assert first_done.wait(10)
        seen.append(gc.isenabled())  # the first pause ended, this one has not: still off
    thread.join(10)
    assert seen == [False]
    assert gc.isenabled()


class _GcWatchingClock(FixedClock):
    """A fixed clock that notes, each time the engine asks the time, whether the collector is on."""

    def __init__(self) -> None:
        super().__init__(datetime(2022, 12, 1, 12, 0, tzinfo=STOCKHOLM))
        self.seen: list[bool] = []

    def now(self) -> datetime:
        self.seen.append(gc.isenabled())
        return super().now()


def _batch_seeing_gc(store: Store, *, host_enabled: bool, pause_gc: bool = False) -> tuple[list[bool], bool]:
    """Run one accepted batch with the host's collector on or off; what the batch saw, and what is left after."""
    clock = _GcWatchingClock()
    engine = Engine(store, clock=clock, actor="test", pause_gc=pause_gc)
    engine.propose(spec_2022(), on=date(2022, 6, 3))
    engine.recommend(KEY, on=date(2022, 6, 3))
    (gc.enable if host_enabled else gc.disable)()
    clock.seen.clear()
    result = engine.batch(
        [PartyStep(action="prepare", key=KEY, party=PARTIES[0], on=date(2022, 6, 10), case_number="1")]
    )
    assert len(result.records) == 1  # the step did run
    return clock.seen, gc.isenabled()


@pytest.mark.parametrize("host_enabled", [True, False])
def test_a_default_batch_leaves_the_hosts_collector_as_it_is(store: Store, *, host_enabled: bool) -> None:
    """An embedding host's collector, on or off, is the same during and after a default batch."""
    seen, after = _batch_seeing_gc(store, host_enabled=host_enabled)
    assert seen  # the batch asked the time inside its transaction
    assert set(seen) == {host_enabled}
    assert after is host_enabled


def test_pause_gc_pauses_it_during_the_batch_and_restores_it(store: Store) -> None:
    seen, after = _batch_seeing_gc(store, host_enabled=True, pause_gc=True)
    assert seen
    assert set(seen) == {False}
    assert after is True


def test_a_refused_batch_with_pause_gc_switches_it_back_on(store: Store) -> None:
    engine = Engine(store, actor="test", pause_gc=True)
    gc.enable()
    with pytest.raises(BeslutError):
        engine.batch([PartyStep(action="prepare", key="no-such", party="x", on=date(2022, 6, 1), case_number="1")])
    assert gc.isenabled()


def test_party_import_runs_its_batch_with_the_collector_paused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's `party import` (a process of its own) is the caller that turns the pause on."""
    database = str(tmp_path / "beslut.db")
    with Engine.open(database, actor="test") as setup:
        setup.init()
        setup.propose(spec_2022(), on=date(2022, 6, 3))
        setup.recommend(KEY, on=date(2022, 6, 3))
    steps = tmp_path / "steps.jsonl"
    line = {"action": "prepare", "key": KEY, "party": PARTIES[0], "on": "2022-06-10", "case_number": "KS 1"}
    steps.write_text(json.dumps(line) + "\n", encoding="utf-8")
    seen: list[bool] = []
    run_batch = Engine._batch

    def watched(engine: Engine, batch: Sequence[PartyStep]) -> BatchResult:
        seen.append(gc.isenabled())
        return run_batch(engine, batch)

    monkeypatch.setattr(Engine, "_batch", watched)
    gc.enable()
    cli.ok("party", "import", str(steps), db=database)
    assert seen == [False]
    assert gc.isenabled()
