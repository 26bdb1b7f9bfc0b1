"""The deadline scan in this process under a moved clock: 临期 and 超期 across the 2026
National Day, once per step and recipient, however often the scan runs."""

from __future__ import annotations

import pytest

from notifications.models import Channel, Kind, Notification
from tests.notifications.helpers import Office, clock, scan_at
from tests.triage.casework import at, new_case
from triage.models import DeadlineKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def office(demo_org: None) -> Office:
    return Office()


def _per_recipient(kind: str) -> dict[str, int]:
    rows = Notification.objects.filter(kind=kind, channel=Channel.EMAIL).values_list("recipient__username", flat=True)
    out: dict[str, int] = {}
    for name in rows:
        out[name] = out.get(name, 0) + 1
    return out


def test_a_case_goes_due_soon_then_overdue_across_national_day_once_per_step(office: Office) -> None:
    with clock(at(2026, 9, 28, 10)):
        case = new_case()
    deadline = case.deadlines.get(kind=DeadlineKind.ACCEPTANCE_NOTICE)
    # 15 working days from Mon 28 Sep skip 1–7 Oct and count Sat 10 Oct: due Fri 23 Oct.
    assert deadline.due_at == at(2026, 10, 23, 23, 59, 59)

    assert scan_at(at(2026, 10, 16, 12)).due_soon == 0  # would be due that day without the holiday
    first = scan_at(at(2026, 10, 20, 9))
    assert first.due_soon == 3  # e-mail to handler, drafter and head (in-app rows are not sends)
    assert scan_at(at(2026, 10, 20, 15)).due_soon == 0
    names = {u.username: 1 for u in office.department_staff}
    assert _per_recipient(Kind.DUE_SOON) == names
    # One row per recipient: in the centre at once, and e-mailed.
    assert Notification.objects.filter(kind=Kind.DUE_SOON, in_app=True).count() == 3
    assert not Notification.objects.filter(kind=Kind.DUE_SOON).exclude(channel=Channel.EMAIL).exists()

    assert scan_at(at(2026, 10, 24, 9)).overdue == 3
    assert scan_at(at(2026, 10, 24, 9, 5)).overdue == 0
    assert _per_recipient(Kind.OVERDUE) == names
    assert _per_recipient(Kind.DUE_SOON) == names



def test_the_scan_skips_paused_clocks_and_cases_without_a_department(office: Office) -> None:
    with clock(at(2026, 9, 28, 10)):
        case = new_case()
        waiting = new_case(department=None, route=False)
    with clock(at(2026, 10, 12, 10)):
        from triage import workflow

        workflow.case_accept(case=case, user=office.team.handler)
        workflow.case_ask_question(case=case, user=office.team.handler, text="请补充具体楼栋号。")
    result = scan_at(at(2027, 3, 1, 9))
    assert result.overdue == 0
    assert not Notification.objects.filter(case=waiting).exists()
