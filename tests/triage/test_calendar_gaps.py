"""A year whose holidays nobody has entered (chinesecalendar covers only the years the State
Council has announced) is named on every staff page while deadlines can reach it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from tests.triage.casework import at, frozen
from triage.models import CalendarOverride
from triage.workdays import calendar_gaps, calendar_gaps_cached, forget_calendar_gaps, year_known

pytestmark = pytest.mark.django_db


def _first_in_february(year: int, *, weekdays: set[int]) -> date:
    day = date(year, 2, 1)
    while day.weekday() not in weekdays:
        day += timedelta(days=1)
    return day


def _weekday_in(year: int) -> date:
    return _first_in_february(year, weekdays={0, 1, 2, 3, 4})


def _saturday_in(year: int) -> date:
    return _first_in_february(year, weekdays={5})


def test_a_year_is_known_from_chinesecalendar_or_from_an_entered_weekday_holiday() -> None:
    assert year_known(2025)  # in chinesecalendar
    assert not year_known(2099)
    CalendarOverride.objects.create(date=_saturday_in(2099), is_workday=True, note="调休上班")
    CalendarOverride.objects.create(date=_weekday_in(2099) + timedelta(days=7), is_workday=True, note="")
    assert not year_known(2099)  # make-up working days alone are not the year's notice
    CalendarOverride.objects.create(date=_weekday_in(2099), is_workday=False, note="春节")
    assert year_known(2099)


def test_the_gaps_are_the_unknown_years_deadlines_started_today_can_reach() -> None:
    assert calendar_gaps(date(2025, 3, 1)) == []
    assert calendar_gaps(date(2099, 1, 10)) == [2099]
    assert calendar_gaps(date(2099, 10, 1)) == [2099, 2100]  # a handling period crosses into the next year
    CalendarOverride.objects.create(date=_weekday_in(2100), is_workday=False, note="春节")
    assert calendar_gaps(date(2099, 10, 1)) == [2099]


def test_staff_pages_name_the_missing_year_until_its_holidays_are_entered(
    clerk: Any, django_capture_on_commit_callbacks: Any,
) -> None:
    forget_calendar_gaps()
    client = Client()
    with frozen(at(2099, 1, 10, 9)):  # signed in then: a session idle for years has ended
        client.force_login(clerk)
        page = client.get(reverse("staff-home")).content.decode()
        assert 'id="calendar-gap"' in page and "2099 年的法定节假日尚未录入" in page
        assert "录入节假日调整" not in page  # a clerk cannot enter them
        with django_capture_on_commit_callbacks(execute=True):
            CalendarOverride.objects.create(date=_weekday_in(2099), is_workday=False, note="春节")
        assert 'id="calendar-gap"' not in client.get(reverse("staff-home")).content.decode()
    clerk.user_permissions.add(Permission.objects.get(codename="add_calendaroverride"))
    clerk = type(clerk).objects.get(pk=clerk.pk)  # permissions are cached on the object
    with frozen(at(2099, 12, 1, 9)):
        client.force_login(clerk)
        page = client.get(reverse("staff-home")).content.decode()
    assert "2100 年的法定节假日尚未录入" in page
    assert reverse("admin:triage_calendaroverride_changelist") in page
    forget_calendar_gaps()


def test_citizen_pages_never_show_it() -> None:
    forget_calendar_gaps()
    with frozen(at(2099, 1, 10, 9)):
        assert 'id="calendar-gap"' not in Client().get(reverse("home")).content.decode()


def test_without_the_cache_the_notice_is_computed(caplog: Any) -> None:
    from django.test import override_settings

    unreachable = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                               "LOCATION": "redis://127.0.0.1:1/0"}}
    # Changing CACHES makes Django build its caches anew (the setting_changed receiver).
    with override_settings(CACHES=unreachable), frozen(at(2099, 1, 10, 9)):
        assert calendar_gaps_cached() == [2099]
        forget_calendar_gaps()  # logs, does not raise
    assert "Could not drop the cached calendar gaps" in caplog.text
