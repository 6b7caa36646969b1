"""The progress lines of a long command: none for a short run, then one every few seconds, on the given stream."""

from __future__ import annotations

import io

from beslut.cli._progress import Progress


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_silent_while_short_then_a_line_every_interval() -> None:
    clock, out = Clock(), io.StringIO()
    progress = Progress("tick: timers", after=2.0, every=2.0, clock=clock, out=out)
    for done in range(1, 50):
        clock.now += 0.01
        progress(done)
    assert "" == out.getvalue()  # 0.49 s: a short tick prints nothing extra
    clock.now = 102.5
    progress(250)
    clock.now = 103.0
    progress(300)  # within two seconds of the last line: nothing
    clock.now = 104.6
    progress(460)
    assert ["tick: timers: 250 handled (100/s)", "tick: timers: 460 handled (100/s)"] == out.getvalue().splitlines()
