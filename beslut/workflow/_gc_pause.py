"""Pause Python's cyclic garbage collector while a batch runs (opt-in: ``Engine(..., pause_gc=True)``).

Why: a large batch allocates many small objects (events, payload dicts, party rows, statement
parameters) that all stay alive until the transaction ends, and the collector keeps scanning them
although none is garbage (docs/performance.md, bench_batch). Reference counting still frees everything
that is not in a cycle, so pausing the cycle collector for a batch costs at most the cyclic garbage
made meanwhile, collected as usual once it is switched back on.

Why opt-in: the collector is one switch for the whole process, so a library must not touch it for a
host that embeds it (a web service, a notebook); only a process of its own, such as
``beslut party import``, asks for the pause. Pauses are counted (an API server may run batches on
several threads): the first switches it off only if it was on, the last to end switches it back on,
and a collector someone else switched off is left off.
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
