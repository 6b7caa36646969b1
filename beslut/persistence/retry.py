"""Exponential backoff for a long-lived process whose database goes away (a restart, a fail-over, a network cut).

The scheduler daemon ticks every few seconds. When the database is down every tick fails;
retrying at the tick rate would fill the log with one traceback per tick and hammer a server
that is starting up. :class:`Backoff` spaces the attempts out instead (1 s, 2 s, 4 s, … up to a
cap), and the first attempt that succeeds resets it, so the daemon carries on at its own pace
as soon as the database is back. Nothing is lost meanwhile: timers and messages stay in their
tables until a tick that works fires them (each once, under the usual leases).

Time is passed in (a monotonic clock reading), so the policy is tested without sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Backoff:
    """When to try again after consecutive failures: *initial* seconds, times *factor* each time, at most *cap*."""

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 30.0
    failures: int = field(default=0, init=False)
    _next_at: float = field(default=0.0, init=False)

    def ready(self, now: float) -> bool:
        """True when an attempt may be made at monotonic time *now*."""
        return now >= self._next_at

    def failed(self, now: float) -> float:
        """Record a failed attempt at *now*; return the seconds until the next one may be made."""
        self.failures += 1
        delay = min(self.cap, self.initial * self.factor ** (self.failures - 1))
        self._next_at = now + delay
        return delay

    def succeeded(self) -> int:
        """Record a successful attempt; return how many failures came before it (0 if none)."""
        failures, self.failures, self._next_at = self.failures, 0, 0.0
        return failures
