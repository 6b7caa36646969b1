"""Progress of a long command on stderr: silent for a short run, a line every few seconds for a long one.

Why: a tick over a recommendation with thousands of parties fires thousands of timers, each in its
own transaction; with no output it looked hung. stdout stays the command's result (the list of
fired timers, or the JSON document), so the lines go to stderr, and only once the run has taken
longer than *after* seconds: a short tick prints exactly what it printed before.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class Progress:
    """Call with the count done so far; prints ``WHAT: N handled (R/s)`` at most every *every* seconds."""

    def __init__(
        self,
        what: str,
        *,
        after: float = 2.0,
        every: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        out: TextIO | None = None,
    ) -> None:
        self.what = what
        self.every = every
        self.clock = clock
        self.out = out
        self.started = clock()
        self.next_at = self.started + after
        self.printed = False

    def __call__(self, done: int) -> None:
        now = self.clock()
        if now < self.next_at:
            return
        self.next_at = now + self.every
        rate = done / (now - self.started) if now > self.started else 0.0
        print(f"{self.what}: {done} handled ({rate:.0f}/s)", file=self.out or sys.stderr, flush=True)
        self.printed = True
