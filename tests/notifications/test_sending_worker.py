"""With a real Celery worker: reminders across the National Day reach each recipient once
per step however often the scan runs; quiet hours hold e-mail except for urgent cases."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from notifications.models import Channel, Delivery, Kind, Notification, NotificationPreference, Status
from notifications.services import notification_send
from tests.conftest import wait_for
from tests.notifications.helpers import Office, clock, mails_in, routed_case, scan_at
from tests.triage.casework import at

pytestmark = [pytest.mark.worker]


def _all_sent() -> bool:
    return not Notification.objects.filter(status=Status.PENDING).exists()


def test_each_recipient_gets_one_message_per_step_across_the_holiday(
        demo_org: None, notify_worker: Callable[[], Any], outbox_dirs: dict[str, Path]) -> None:
    office = Office()
    with clock(at(2026, 9, 28, 10)):
        case = routed_case()
    assert case.due_at == at(2026, 10, 23, 23, 59, 59)  # 1–7 Oct are not working days
    worker = notify_worker()
    for moment in (at(2026, 10, 16, 12), at(2026, 10, 20, 9), at(2026, 10, 20, 9, 30),
                   at(2026, 10, 24, 9), at(2026, 10, 24, 10)):
        scan_at(moment)
        assert wait_for(_all_sent, timeout=30), worker.log_text()[-3000:]

    messages = mails_in(outbox_dirs["mail"])
    got = Counter((m["To"], str(make_header(decode_header(m["Subject"])))) for m in messages)
    assert all(n == 1 for n in got.values()), got
    for user in office.department_staff:
        mine = {subject for to, subject in got if to == user.email}
        assert mine == {f"【清风】案件 {case.number}：{label}" for label in ("新案件交办", "临期提醒", "超期提醒")} | (
            {f"【清风】案件 {case.number}：超期督促"} if user == office.team.head else set())
    sent = Notification.objects.filter(channel=Channel.EMAIL)
    assert sent.count() == len(messages) == 3 * 3 + 1
    assert all(n.status == Status.SENT for n in sent)
    assert Delivery.objects.filter(ok=True).count() == len(messages)  # one attempt each, none twice


def test_quiet_hours_hold_email_except_for_urgent_cases(
        demo_org: None, notify_worker: Callable[[], Any], outbox_dirs: dict[str, Path]) -> None:
    office = Office()
    now = timezone.localtime()
    NotificationPreference.objects.create(user=office.team.handler, quiet_start=(now - timedelta(hours=1)).time(),
                                          quiet_end=(now + timedelta(hours=1)).time())
    ordinary, urgent = routed_case(), routed_case(urgent=True)
    notify_worker()
    assert wait_for(_all_sent, timeout=30)

    def mail_for(case_number: str) -> set[str]:
        return {m["To"] for m in mails_in(outbox_dirs["mail"])
                if case_number in str(make_header(decode_header(m["Subject"])))}

    assert office.team.handler.email in mail_for(urgent.number)
    assert office.team.handler.email not in mail_for(ordinary.number)
    assert office.team.head.email in mail_for(ordinary.number)  # no quiet hours set
    held = Notification.objects.get(case=ordinary, recipient=office.team.handler, channel=Channel.EMAIL)
    assert held.status == Status.HELD and held.next_attempt_at is not None
    assert held.in_app  # held e-mail; the notice is in the centre already

    with clock(held.next_attempt_at + timedelta(minutes=1)):
        assert notification_send(held.pk).status == Status.SENT
    assert [m.to for m in mail.outbox] == [[office.team.handler.email]]
    assert Notification.objects.get(pk=held.pk).kind == Kind.CASE_ASSIGNED
