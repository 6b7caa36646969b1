"""The Swedish business calendar that statutory and agreed deadlines are computed in.

Why this module exists: a recommendation's reply date and a decision's appeal period (Kommunallagen
13:5) are *dates*, and Swedish law (Lag 1930:173 om beräkning av lagstadgad tid) says how such periods
are counted: a period in weeks ends on the same weekday, a period in months on the same date (or the
month's last day), and a last day that falls on a Saturday, Sunday, public holiday (Lag 1989:253),
midsommarafton, julafton or nyårsafton moves to the next working day. Getting one of these wrong makes
the project call a decision final (laga kraft) a day early, so the rules live here, pure and tested,
with no clock and no I/O: callers pass the dates in.

Holiday data comes from the ``holidays`` package (checked against 0.108):

* the ``"public"`` category for "SE" holds the Lag 1989:253 holidays that are not Sundays by rule, plus
  those that fall on a Sunday by date (Påskdagen, Pingstdagen, ...). Sundays in general appear only
  with ``include_sundays=True``; this module does not use that flag and recognises Saturdays and
  Sundays by weekday instead, so that a reason reads "Påskdagen" rather than "Påskdagen; Söndag";
* the ``"de_facto"`` category holds exactly midsommarafton (the Friday 19-25 June), julafton (24 Dec)
  and nyårsafton (31 Dec), for every supported year, and nothing else; påskafton and pingstafton are
  not in it (they are Saturdays anyway). The eves are still filtered by date, so that a later release
  adding another "de facto" day could not silently change statutory deadlines;
* names are requested in Swedish (``language="sv"``) so they do not depend on the process locale;
* the package knows Swedish holidays for 1953-2100 only (Act 1952:48 onwards) and returns *nothing*
  outside that range; this module refuses such dates rather than call every day a working day.

Time: a date deadline means the end of that local day in Europe/Stockholm, summer time included. The
day boundaries are built from the calendar date with the zone attached (midnight always exists and is
unambiguous in Stockholm, whose clocks change at 02:00/03:00), never by adding 24 hours, which would be
an hour off on the two DST change days.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "STOCKHOLM",
    "BusinessCalendar",
    "add_months",
    "add_weeks",
    "end_of_day",
    "local_date",
    "start_of_day",
]

STOCKHOLM: ZoneInfo = ZoneInfo("Europe/Stockholm")
"""The time zone every Swedish date deadline is read in."""

_FIRST_YEAR = 1953
"""First year the ``holidays`` package covers for Sweden (Act 1952:48)."""

_LAST_YEAR = 2100
"""Last year the ``holidays`` package covers for Sweden (its ``end_year``)."""

_SATURDAY = 5
_SUNDAY = 6


def _is_named_eve(day: date) -> bool:
    """Tell whether ``day`` is midsommarafton, julafton or nyårsafton, the eves Lag 1930:173 names."""
    if day.month == 12:
        return day.day in (24, 31)
    return day.month == 6 and 19 <= day.day <= 25 and day.weekday() == 4


class BusinessCalendar:
    """Swedish working days per Lag (1930:173).

    A working day is not a Saturday, not a Sunday, not a public holiday (Lag 1989:253), and not
    midsommarafton, julafton or nyårsafton. Holiday tables are built lazily per year and cached on the
    instance; the instance holds no other state, so one may be shared freely. Dates outside 1953-2100
    (the range the ``holidays`` package covers for Sweden) raise ``ValueError``.
    """

    def __init__(self) -> None:
        self._years: dict[int, dict[date, str]] = {}

    def _holidays_of(self, year: int) -> dict[date, str]:
        """Return the non-working holidays and eves of ``year``, by date, with their Swedish names."""
        cached = self._years.get(year)
        if cached is not None:
            return cached
        if not _FIRST_YEAR <= year <= _LAST_YEAR:
            raise ValueError(f"no Swedish holiday data for {year}: supported years are {_FIRST_YEAR}-{_LAST_YEAR}")
        import holidays  # noqa: PLC0415 - its tables load on the first date rolled, not on every command's start

        public = holidays.country_holidays("SE", years=year, categories=("public",), language="sv")
        eves = holidays.country_holidays("SE", years=year, categories=("de_facto",), language="sv")
        table: dict[date, str] = {day: str(name) for day, name in public.items() if day.year == year}
        for day, name in eves.items():
            if day.year == year and _is_named_eve(day):
                table.setdefault(day, str(name))
        self._years[year] = table
        return table

    def non_working_reason(self, day: date) -> str | None:
        """Say why ``day`` is not a working day, or return ``None`` if it is one.

        A holiday or eve gives its Swedish name ("Midsommarafton", "Påskdagen", "Nationaldagen;
        Pingstdagen" when two coincide); a plain weekend day gives "Saturday" or "Sunday". Meant for
        messages such as "the last day fell on Midsommarafton and was moved to ...".
        """
        name = self._holidays_of(day.year).get(day)
        if name is not None:
            return name
        if day.weekday() == _SATURDAY:
            return "Saturday"
        if day.weekday() == _SUNDAY:
            return "Sunday"
        return None

    def is_working_day(self, day: date) -> bool:
        """Tell whether ``day`` is a working day in the sense of Lag (1930:173)."""
        return self.non_working_reason(day) is None

    def roll_forward(self, day: date) -> date:
        """Return ``day`` if it is a working day, else the first working day after it (Lag 1930:173)."""
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def appeal_period_last_day(self, announced_on: date) -> date:
        """Return the last day to appeal a decision announced on the notice board on ``announced_on``.

        KL 13:5 gives three weeks from the announcement day; by Lag (1930:173) that period ends on the
        same weekday three weeks later (``announced_on + 21 days``), moved to the next working day if
        that day is not one. The appeal must reach the court by the end of the returned day.
        """
        return self.roll_forward(add_weeks(announced_on, 3))


def add_weeks(day: date, weeks: int) -> date:
    """Return the day a period of ``weeks`` weeks from ``day`` ends on: the same weekday (Lag 1930:173).

    The result is not rolled forward; use ``BusinessCalendar.roll_forward`` where the law moves it.
    """
    return day + timedelta(weeks=weeks)


def add_months(day: date, months: int) -> date:
    """Return the day a period of ``months`` months from ``day`` ends on (Lag 1930:173).

    That is the same date in the target month, or the month's last day if it has no such date
    (2022-01-31 + 1 month = 2022-02-28). ``months`` may be negative. Not rolled forward.
    """
    index = day.year * 12 + (day.month - 1) + months
    year, month_index = divmod(index, 12)
    month = month_index + 1
    last = _stdlib_calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


def start_of_day(day: date, tz: ZoneInfo = STOCKHOLM) -> datetime:
    """Return the aware instant the local day ``day`` begins: 00:00 local time in ``tz``."""
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def end_of_day(day: date, tz: ZoneInfo = STOCKHOLM) -> datetime:
    """Return the aware instant the local day ``day`` ends: 00:00 local time of the *next* day in ``tz``.

    A deadline given as a date runs to the end of that local day, so an instant is in time if it is
    strictly before this value. Built from the next calendar date, not by adding 24 hours, so it is
    right on the DST change days (which last 23 and 25 hours). Note that Python subtracts two datetimes
    sharing one ``ZoneInfo`` by wall clock (``end_of_day(d) - start_of_day(d)`` is always 24 hours);
    convert to UTC first to measure elapsed time.
    """
    return start_of_day(day + timedelta(days=1), tz)


def local_date(instant: datetime, tz: ZoneInfo = STOCKHOLM) -> date:
    """Return the local calendar date in ``tz`` of the aware ``instant``.

    Raises ``ValueError`` for a naive datetime, whose meaning as an instant would be a guess.
    """
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"local_date needs an aware datetime, got naive {instant.isoformat()}")
    return instant.astimezone(tz).date()
