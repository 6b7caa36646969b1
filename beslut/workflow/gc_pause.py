"""Pause Python's cyclic garbage collector while a batch runs.

Why: a batch of 10,000 decisions allocates a few hundred thousand small objects (events, payload
dicts, party rows, statement parameters) that stay alive until the transaction ends. Every 700
allocations the collector scans the young ones, and as they survive it scans the older generations
too, over objects that are never garbage: ~18 % of a 10,000-decision batch's CPU time on SQLite
(bench/bench_batch.py, docs/performance.md "Batch"). Reference counting still frees everything
that is not in a cycle, so pausing the cycle collector for the few seconds of a batch costs at most
the cyclic garbage made meanwhile, collected as usual once it is switched back on.

The collector is one switch for the whole process (an API server runs batches on several threads),
so pauses are counted: the first pause switches it off only if it was on, the last one to end
switches it back on, and a collector someone else switched off is left off.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]

_lock = threading.Lock()
_active = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the cyclic garbage collector off (reentrant, thread-safe, restored on any exit)."""
    global _active, _was_enabled  # noqa: PLW0603 - the process-wide collector switch is process-wide state
    with _lock:
        if _active == 0:
            _was_enabled = gc.isenabled()
            if _was_enabled:
                gc.disable()
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _was_enabled:
                gc.enable()
