"""Chinese working days: the admin's overrides first, then `chinesecalendar` (statutory
holidays and make-up working days), then Monday–Friday for years neither covers."""

from __future__ import annotations

import contextlib
import functools
import logging
from datetime import date, datetime, time, timedelta

import chinese_calendar
from django.utils import timezone

from triage.workflow_models import CalendarOverride

logger = logging.getLogger(__name__)

DAY_SECONDS = 86400
_warned_years: set[int] = set()


class WorkCalendar:
    """Answers "is this a working day?"; loads each year's overrides once (one query)."""

    def __init__(self) -> None:
        self._overrides: dict[int, dict[date, bool]] = {}

    def _year(self, year: int) -> dict[date, bool]:
        if year not in self._overrides:
            rows = CalendarOverride.objects.filter(date__year=year).values_list("date", "is_workday")
            self._overrides[year] = dict(rows)
        return self._overrides[year]

    def is_workday(self, day: date) -> bool:
        override = self._year(day.year).get(day)
        if override is not None:
            return override
        statutory = _statutory_workday(day)
        if statutory is not None:
            return statutory
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            logger.warning(
                "chinesecalendar has no data for %d and no override covers %s: counting Monday-Friday as "
                "working days. Add that year's holidays in the admin (节假日调整).", day.year, day,
            )
        return day.weekday() < 5

    def next_workday(self, day: date) -> date:
        """The day itself if it is a working day, else the next one."""
        while not self.is_workday(day):
            day += timedelta(days=1)
        return day

    def add_workdays(self, day: date, n: int) -> date:
        """The n-th working day after `day` (the day itself does not count)."""
        while n > 0:
            day += timedelta(days=1)
            if self.is_workday(day):
                n -= 1
        return day

    def working_seconds_between(self, start: datetime, end: datetime) -> int:
        """Seconds of [start, end) that fall on working days (whole days count, 24 h each)."""
        if end <= start:
            return 0
        start, end = timezone.localtime(start), timezone.localtime(end)
        total = 0
        cursor = start
        while cursor < end:
            next_midnight = local_midnight(cursor.date() + timedelta(days=1))
            piece_end = min(end, next_midnight)
            if self.is_workday(cursor.date()):
                total += int((piece_end - cursor).total_seconds())
            cursor = piece_end
        return total

    def add_working_seconds(self, start: datetime, seconds: int) -> datetime:
        """The instant at which `seconds` of working-day time after `start` have passed."""
        cursor = timezone.localtime(start)
        remaining = seconds
        while remaining > 0:
            next_midnight = local_midnight(cursor.date() + timedelta(days=1))
            if self.is_workday(cursor.date()):
                room = int((next_midnight - cursor).total_seconds())
                if remaining <= room:
                    return cursor + timedelta(seconds=remaining)
                remaining -= room
            cursor = next_midnight
        return cursor


@functools.lru_cache(maxsize=8192)
def _statutory_workday(day: date) -> bool | None:
    """chinesecalendar's answer for a day, None for a year it has no data for. Cached: the
    package's tables never change in a process, and each call cost ~40 us (it takes the
    minimum and maximum of all its holidays every time), most of a triage batch's
    deadlines."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


def local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def end_of_day(day: date) -> datetime:
    """The last second of a local day: a deadline "within N days" ends then."""
    return timezone.make_aware(datetime.combine(day, time(23, 59, 59)))


def is_workday(day: date) -> bool:
    return WorkCalendar().is_workday(day)


# How far ahead working days must be known: the 60-working-day handling period plus the
# longest extension (30) of a case registered today end within about 130 calendar days.
CALENDAR_HORIZON_DAYS = 130
CALENDAR_GAPS_CACHE_KEY = "triage:calendar-gaps"


def year_known(year: int) -> bool:
    """Whether a year's working days are known: chinesecalendar has the year, or an admin
    has entered at least one holiday on a weekday of it (the year's State Council notice)."""
    if _statutory_workday(date(year, 7, 1)) is not None:
        return True
    # Django's week_day: 1 is Sunday, 7 Saturday.
    return CalendarOverride.objects.filter(date__year=year, is_workday=False).exclude(date__week_day__in=[1, 7]).exists()


def calendar_gaps(today: date | None = None) -> list[int]:
    """The years between today and CALENDAR_HORIZON_DAYS ahead whose working days are not
    known: deadlines that reach into them count Monday to Friday until their holidays are
    entered (an entry moves the running deadlines, see receivers.calendar_edited)."""
    today = today or timezone.localdate()
    last = today + timedelta(days=CALENDAR_HORIZON_DAYS)
    return [year for year in range(today.year, last.year + 1) if not year_known(year)]


def calendar_gaps_cached() -> list[int]:
    """calendar_gaps for today, kept in the shared cache for an hour (staff pages show it);
    dropped when an override changes. Without the cache it is computed (a notice must not
    break the page it is on)."""
    from django.core.cache import cache

    today = timezone.localdate()
    try:
        cached = cache.get(CALENDAR_GAPS_CACHE_KEY)
    except Exception:  # noqa: BLE001 - any cache failure: compute instead
        cached = None
    if isinstance(cached, dict) and cached.get("day") == today.isoformat():
        return list(cached["years"])
    years = calendar_gaps(today)
    with contextlib.suppress(Exception):
        cache.set(CALENDAR_GAPS_CACHE_KEY, {"day": today.isoformat(), "years": years}, timeout=3600)
    return years


def forget_calendar_gaps() -> None:
    from django.core.cache import cache

    try:
        cache.delete(CALENDAR_GAPS_CACHE_KEY)
    except Exception:  # noqa: BLE001 - an answer left in the cache ends with its hour
        logger.warning("Could not drop the cached calendar gaps; they refresh within the hour.")
