"""collector_paused: the cyclic collector is off inside a batch and exactly as before afterwards."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from beslut.workflow.gc_pause import collector_paused


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


def test_a_batch_runs_with_the_collector_off_and_leaves_it_on(engine: object) -> None:
    """Engine.batch pauses it (a refused batch too) and switches it back on."""
    from datetime import date  # noqa: PLC0415

    from beslut.errors import BeslutError  # noqa: PLC0415
    from beslut.workflow import Engine, PartyStep  # noqa: PLC0415

    assert isinstance(engine, Engine)
    gc.enable()
    with pytest.raises(BeslutError):
        engine.batch([PartyStep(action="prepare", key="no-such", party="x", on=date(2022, 6, 1), case_number="1")])
    assert gc.isenabled()
