"""Receivers for intake's signals and the case summary the citizen pages show."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from intake.handoff import CaseSummary
from intake.models import Report
from triage.models import CLOSED_STATES, Case, CaseStatus


def create_case(sender: Any, *, report: Report, **kwargs: Any) -> None:
    """Called inside the submission transaction: the case commits with its report."""
    Case.objects.create(report=report, status=CaseStatus.RECEIVED)


def case_summary_for_report(report_id: uuid.UUID) -> CaseSummary | None:
    case = Case.objects.select_related("department").filter(report_id=report_id).first()
    if case is None:
        return None
    closed = case.status in CLOSED_STATES
    in_window = bool(
        case.closed_at and timezone.now() <= case.closed_at + timedelta(days=settings.REVIEW_REQUEST_WINDOW_DAYS)
    )
    return CaseSummary(
        number=case.number,
        status=case.status,
        status_label=str(case.get_status_display()),
        department=case.department.name if case.department else None,
        deadline=timezone.localdate(case.due_at) if case.due_at else None,
        closed_at=case.closed_at,
        accepts_messages=case.status != CaseStatus.ARCHIVED,
        can_rate=case.status == CaseStatus.CLOSED,
        can_request_review=closed and in_window and case.status != CaseStatus.ARCHIVED,
    )


def routing_edited(sender: Any, **kwargs: Any) -> None:
    """A rule, category or department changed: this process forgets its routing snapshot
    now, and every worker once the change has committed."""
    from triage.decide import routing_changed

    routing_changed()
    transaction.on_commit(routing_changed)
