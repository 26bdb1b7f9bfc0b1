"""Helpers for the notification tests: a department's staff with e-mail addresses, the
clock moved with time-machine around in-process calls, and reading what was sent."""

from __future__ import annotations

import contextlib
import email
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import time_machine
from django.contrib.auth.models import User

from notifications.models import Notification
from notifications.services import ScanResult, deadline_scan
from tests.triage.casework import Team, staff
from triage.models import Case


def with_email(user: User) -> User:
    user.email = f"{user.username}@example.gov.cn"
    user.save(update_fields=["email"])
    return user


class Office:
    """The 东城区住建局 team, the city 住建局's head (one level up) and a city leader."""

    def __init__(self) -> None:
        self.team = Team("379901-zj", "zj")
        for user in (self.team.handler, self.team.drafter, self.team.head):
            with_email(user)
        self.city_head = with_email(staff("city-zj-head", "department_head", "379900-zj"))
        self.leader = with_email(staff("city-leader", "leadership", "379900-gov"))

    @property
    def department_staff(self) -> list[User]:
        return [self.team.handler, self.team.drafter, self.team.head]


@contextlib.contextmanager
def clock(moment: datetime) -> Iterator[None]:
    """Everything in this process sees `moment` (and time stands still)."""
    with time_machine.travel(moment, tick=False):
        yield


def scan_at(moment: datetime) -> ScanResult:
    with clock(moment):
        return deadline_scan()


def keys(**filters: object) -> list[str]:
    return sorted(Notification.objects.filter(**filters).values_list("key", flat=True))


def mails_in(directory: Path) -> list[email.message.Message]:
    """Messages the file e-mail backend wrote (one or more per file)."""
    out = []
    for path in sorted(directory.glob("*.log")):
        for chunk in path.read_text().split("-" * 79):
            if chunk.strip():
                out.append(email.message_from_string(chunk.strip()))
    return out


def routed_case(*, urgent: bool = False, department: str = "379901-zj", **report: object) -> Case:
    """A submitted report's case routed to `department` (urgent if asked) by the system."""
    from django.db import transaction
    from django.utils import timezone

    from tests.factories import submit
    from triage import workflow
    from triage.deadlines import seed_deadline_policies
    from triage.models import CaseStatus, Department

    seed_deadline_policies()
    result = submit(**report)
    with transaction.atomic():
        case = Case.objects.select_for_update().get(report=result.report)
        case.department = Department.objects.get(code=department)
        case.status, case.urgent, case.triaged_at = CaseStatus.ASSIGNED, urgent, timezone.now()
        case.save()
        workflow.case_routed(case=case)
    case = Case.objects.get(pk=case.pk)
    case.receipt_for_test = result.receipt  # type: ignore[attr-defined]
    return case
