"""Where `beslut` gets the time: an injectable clock, never `datetime.now()` deep inside.

The domain takes dates and instants as arguments. Only the application layer asks a
:class:`Clock` for "now" (to stamp `recorded_at` and to refuse legal dates in the
future), so tests and the demo can run any calendar they like.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from beslut.errors import InvalidInput

STOCKHOLM = ZoneInfo("Europe/Stockholm")
# How far a recorded instant may run ahead of the clock that checks it (clock skew between hosts).
CLOCK_TOLERANCE = timedelta(minutes=5)


class Clock(Protocol):
    """Something that tells the current instant (aware, any zone)."""

    def now(self) -> datetime:
        """Return the current instant as an aware datetime."""
        ...


class SystemClock:
    """The real clock, in Europe/Stockholm."""

    def now(self) -> datetime:
        """Return the wall-clock instant in Europe/Stockholm."""
        return datetime.now(STOCKHOLM)


class FixedClock:
    """A clock that stands still until told to move; for tests and replays."""

    def __init__(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._instant = instant

    def now(self) -> datetime:
        """Return the instant the clock was set to."""
        return self._instant

    def set(self, instant: datetime) -> None:
        """Move the clock to *instant* (forwards or backwards)."""
        if instant.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._instant = instant

    def advance(self, delta: timedelta) -> None:
        """Move the clock forwards by *delta*."""
        self._instant = self._instant + delta


def later(instant: datetime, delta: timedelta) -> datetime:
    """*instant* plus *delta* of elapsed time, in Europe/Stockholm.

    Adding a timedelta to an aware datetime in Python is wall-clock arithmetic in its
    zone, which is wrong across a clock change (an hour too short or long, or a time
    in the repeated hour that lands before the start). Leases and retry times are
    elapsed time, so they are added in UTC.
    """
    return (instant.astimezone(UTC) + delta).astimezone(STOCKHOLM)


def today(clock: Clock) -> date:
    """Return the clock's current date in Europe/Stockholm."""
    return clock.now().astimezone(STOCKHOLM).date()


def parse_instant(value: str, option: str = "--now") -> datetime:
    """An ISO instant; without an offset it is Europe/Stockholm local time; a bare date means 00:00.

    Shared by the CLI (``--now``) and the HTTP API (``now``), so both read an instant alike; *option*
    names the argument in the refusal.
    """
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option}: {value!r} is not a date-time (YYYY-MM-DDTHH:MM[:SS][+HH:MM])") from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=STOCKHOLM)
    return instant


_LEGAL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_legal_date(value: str, option: str = "--on") -> date:
    """A legal date written exactly YYYY-MM-DD, or a one-line refusal naming *option*.

    Why strict: Python's ``date.fromisoformat`` also reads the basic form ``20260105`` and week
    dates (``2026-W02-1``), which the documented contract (YYYY-MM-DD) does not promise; a typo
    such as a missing dash must not become a date silently.
    """
    if _LEGAL_DATE.fullmatch(value) is None:
        raise InvalidInput(f"{option}: {value!r} is not a date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option}: {value!r} is not a date (YYYY-MM-DD)") from None


def legal_date_of(value: str, option: str) -> date:
    """A date (YYYY-MM-DD), or the Europe/Stockholm date of an instant (YYYY-MM-DDTHH:MM[:SS][+HH:MM]).

    Why: an option documented as DATETIME whose meaning is a legal date (``--as-of-valid``) takes an
    instant too; legal dates are Swedish calendar days, so the instant counts on its day in Stockholm.
    """
    if "T" not in value and " " not in value:
        return parse_legal_date(value, option)
    if _LEGAL_DATE.fullmatch(value[:10]) is None:
        raise InvalidInput(f"{option}: {value!r} is not a date (YYYY-MM-DD) or a date-time (YYYY-MM-DDTHH:MM[+HH:MM])")
    return parse_instant(value, option).astimezone(STOCKHOLM).date()
