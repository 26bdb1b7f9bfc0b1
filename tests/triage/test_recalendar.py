"""A calendar edit after clocks started (a local holiday announced, a make-up working day,
an override removed) moves the running deadlines it concerns, and nothing else."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import pytest
from django.test import Client

from tests.auth import otp_login
from tests.triage.casework import at, frozen, new_case
from triage.deadlines import deadlines_recalendar
from triage.models import CalendarOverride, Case, Deadline, DeadlineKind

WD = "working_days"


def _clock(case: Case) -> Deadline:
    return Deadline.objects.get(case=case, kind=DeadlineKind.ACCEPTANCE_NOTICE)


@pytest.mark.django_db
def test_a_new_holiday_pushes_running_clocks_and_a_make_up_day_pulls_them_back(demo_org: None) -> None:
    with frozen(at(2026, 11, 2, 10)):  # Monday
        case = new_case()
    clock = _clock(case)
    # 15 working days after Mon Nov 2 (the day itself does not count): Mon Nov 23.
    assert clock.unit == WD and clock.due_at == at(2026, 11, 23, 23, 59, 59)
    assert Case.objects.get(pk=case.pk).due_at == clock.due_at

    override = CalendarOverride.objects.create(date=date(2026, 11, 10), is_workday=False, note="本地节日")
    assert deadlines_recalendar([override.date]) == 1
    assert _clock(case).due_at == at(2026, 11, 24, 23, 59, 59)
    assert Case.objects.get(pk=case.pk).due_at == at(2026, 11, 24, 23, 59, 59)
    assert deadlines_recalendar([override.date]) == 0  # idempotent

    CalendarOverride.objects.create(date=date(2026, 11, 14), is_workday=True, note="调休上班")  # a Saturday
    deadlines_recalendar([date(2026, 11, 14)])
    assert _clock(case).due_at == at(2026, 11, 23, 23, 59, 59)

    CalendarOverride.objects.filter(date=date(2026, 11, 10)).delete()
    deadlines_recalendar([date(2026, 11, 10)])
    assert _clock(case).due_at == at(2026, 11, 20, 23, 59, 59)


@pytest.mark.django_db
def test_clocks_the_change_cannot_touch_stay_as_they_are(demo_org: None) -> None:
    with frozen(at(2026, 11, 2, 10)):
        running = new_case()
        finished = new_case()
    with frozen(at(2026, 11, 3, 9)):
        Deadline.objects.filter(case=finished).update(met_at=at(2026, 11, 3, 9))
    with frozen(at(2026, 11, 25, 10)):
        later = new_case()  # starts after the changed day
    before = {d.pk: d.due_at for d in Deadline.objects.all()}

    CalendarOverride.objects.create(date=date(2026, 11, 18), is_workday=False, note="本地节日")
    assert deadlines_recalendar([date(2026, 11, 18)]) == 1
    assert _clock(running).due_at != before[_clock(running).pk]
    assert _clock(finished).due_at == before[_clock(finished).pk]
    assert _clock(later).due_at == before[_clock(later).pk]


@pytest.mark.django_db(transaction=True)
def test_an_admin_edit_moves_the_deadline_through_the_worker(demo_org: None, celery_worker: Any,
                                                              admin_user: Any) -> None:
    admin_client = otp_login(Client(), admin_user)
    with frozen(at(2026, 11, 2, 10)):
        case = new_case()
    response = admin_client.post("/admin/triage/calendaroverride/add/",
                                 {"date": "2026-11-10", "is_workday": "", "note": "本地节日"})
    assert response.status_code == 302, response.content.decode()[:2000]
    deadline = time.time() + 30
    while time.time() < deadline and _clock(case).due_at != at(2026, 11, 24, 23, 59, 59):
        time.sleep(0.2)
    assert _clock(case).due_at == at(2026, 11, 24, 23, 59, 59), celery_worker.log_text()[-3000:]

    # Moving the override to another day recomputes both the old and the new day.
    override = CalendarOverride.objects.get(date=date(2026, 11, 10))
    response = admin_client.post(f"/admin/triage/calendaroverride/{override.pk}/change/",
                                 {"date": "2026-12-01", "is_workday": "", "note": "本地节日"})
    assert response.status_code == 302
    deadline = time.time() + 30
    while time.time() < deadline and _clock(case).due_at != at(2026, 11, 23, 23, 59, 59):
        time.sleep(0.2)
    assert _clock(case).due_at == at(2026, 11, 23, 23, 59, 59)


@pytest.mark.django_db
def test_the_command_recomputes_a_range_and_rejects_bad_dates(demo_org: None) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    with frozen(at(2026, 11, 2, 10)):
        case = new_case()
    # As after a package upgrade: the calendar changed without an override being saved.
    CalendarOverride.objects.bulk_create([CalendarOverride(date=date(2026, 11, 10), is_workday=False)])
    out = StringIO()
    call_command("recalendar_deadlines", "--from", "2026-11-09", "--to", "2026-11-11", stdout=out)
    assert out.getvalue().startswith("1 running deadlines moved")
    assert _clock(case).due_at == at(2026, 11, 24, 23, 59, 59)
    for bad in (["--from", "2026-13-01"], ["--from", "2026-11-10", "--to", "2026-11-01"], ["--from", "0001-01-01"],
                ["--from", "9999-12-31"], ["--from", "2026-11-10", "--to", "9999-12-31"]):
        with pytest.raises(CommandError):
            call_command("recalendar_deadlines", *bad)
