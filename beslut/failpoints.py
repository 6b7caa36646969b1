"""Failpoints: make the process kill itself at a named point, to prove a crash there loses nothing.

``BESLUT_FAILPOINT=<name>`` (or ``<name>:<n>`` for the *n*-th time the point is reached,
or several such, comma-separated) makes the process send itself ``SIGKILL`` exactly at
that point: no ``finally`` block, no rollback, no flush runs, as when the machine loses
power or the OOM killer strikes. The crash tests (tests/reliability/test_crash.py) use
it to kill a child inside a transaction, between commit and reply, between sending a
message and recording it, and then check that the database is whole.

The variable is read once, when this module is imported (a process's start-up);
:func:`arm` replaces the setting, for a test driver that forks its children. When
nothing is armed, :func:`hit` costs one dict lookup: the call sites stay in production
code, as in FreeBSD's and TiKV's fail points, so what is tested is what runs.
:data:`POINTS` names every point (docs/reliability.md lists them too).
"""

from __future__ import annotations

import os
import signal

ENV = "BESLUT_FAILPOINT"

#: Every failpoint name, with where it is; :func:`arm` refuses any other name (a typo would test nothing).
POINTS: dict[str, str] = {
    "engine.after_save_case": "a command's case and party rows are updated, nothing else yet",
    "engine.after_sync_deadlines": "its deadline rows are synced too; a command's events not yet appended",
    "engine.after_append_events": "its audit events are appended too: a command is complete, not committed",
    "uow.before_commit": "any write transaction, just before COMMIT",
    "uow.after_commit": "any write transaction, just after COMMIT, before the caller sees the result",
    "engine.tick_after_claim": "tick has committed its lease on a batch of timers and fired none of them",
    "engine.tick_after_fire": "tick has committed one timer's transaction and not yet started the next",
    "outbox.after_send": "a message has been handed to the notifier and `sent` is not yet recorded",
}

_armed: dict[str, int] = {}
_hits: dict[str, int] = {}


def parse(value: str) -> dict[str, int]:
    """``"a,b:3"`` -> ``{"a": 1, "b": 3}``; raises ValueError naming a bad or unknown point."""
    armed: dict[str, int] = {}
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        name, _, count = item.partition(":")
        if name not in POINTS:
            raise ValueError(f"{ENV}: unknown failpoint {name!r}; known: {', '.join(POINTS)}")
        if count and (not count.isdigit() or int(count) < 1):
            raise ValueError(f"{ENV}: {item!r}: the count after ':' must be a whole number from 1")
        armed[name] = int(count) if count else 1
    return armed


def arm(value: str) -> None:
    """Replace the armed failpoints with *value* (the variable's syntax; "" disarms) and reset the counts."""
    parsed = parse(value)
    _armed.clear()
    _armed.update(parsed)
    _hits.clear()


def hit(name: str) -> None:
    """Reached point *name*: if it is armed and this is its *n*-th hit, die here with SIGKILL."""
    if name not in _armed:
        return
    count = _hits.get(name, 0) + 1
    _hits[name] = count
    if count >= _armed[name]:
        os.kill(os.getpid(), signal.SIGKILL)


arm(os.environ.get(ENV, ""))
