"""Helpers for the workflow tests: staff of each role, cases brought to a state through
the real services, and a clock that stands still."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone

from tests.factories import submit
from triage import workflow
from triage.deadlines import seed_deadline_policies
from triage.models import Case, CaseStatus, Department, StaffProfile

SHANGHAI = ZoneInfo("Asia/Shanghai")
S = CaseStatus


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=SHANGHAI)


@contextlib.contextmanager
def frozen(moment: datetime) -> Iterator[None]:
    """`timezone.now()` returns `moment` (services and deadlines read it through the module)."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def staff(username: str, group: str, department_code: str) -> User:
    user = get_user_model().objects.create_user(username, password="x-password-123")
    user.groups.add(Group.objects.get(name=group))
    StaffProfile.objects.create(user=user, department=Department.objects.get(code=department_code))
    return User.objects.get(pk=user.pk)


def fresh(user: User) -> User:
    """A new instance, so cached roles and permissions are read again."""
    return User.objects.get(pk=user.pk)


def new_case(*, department: str | None = "379901-zj", route: bool = True, **report: Any) -> Case:
    """A submitted report's case, routed by the (simulated) triage worker."""
    seed_deadline_policies()
    result = submit(**report)
    with transaction.atomic():
        case = Case.objects.select_for_update().get(report=result.report)
        case.department = Department.objects.get(code=department) if department else None
        case.status = CaseStatus.ASSIGNED if route else CaseStatus.AWAITING_TRIAGE
        case.triaged_at = timezone.now()
        case.save()
        workflow.case_routed(case=case)
    return Case.objects.get(pk=case.pk)


class Team:
    """The staff a case passes through: a handler and a head of one department, and a
    second handler who drafts (so the head never approves their own draft)."""

    def __init__(self, code: str, prefix: str) -> None:
        self.handler = staff(f"{prefix}-handler", "handler", code)
        self.drafter = staff(f"{prefix}-drafter", "handler", code)
        self.head = staff(f"{prefix}-head", "department_head", code)


def bring_to(case: Case, state: str, team: Team) -> Case:
    """Walk a freshly assigned case to `state` through the services."""
    path: list[str] = [S.ACCEPTED, S.IN_PROGRESS, S.DRAFTED, S.IN_REVIEW, S.CLOSED]
    for step in path:
        if case.status == state:
            break
        if case.status in path and path.index(case.status) >= path.index(step):
            continue
        if step == S.ACCEPTED:
            case = workflow.case_accept(case=case, user=team.handler)
        elif step == S.IN_PROGRESS:
            case = workflow.case_start(case=case, user=team.handler)
        elif step == S.DRAFTED:
            case = workflow.case_draft_reply(case=case, user=team.drafter, text="经核查，已督促物业清理楼道杂物。")
        elif step == S.IN_REVIEW:
            case = workflow.case_submit_for_review(case=case, user=team.drafter)
        elif step == S.CLOSED:
            case = workflow.case_approve(case=case, user=team.head)
    assert case.status == state, (case.status, state)
    return case
