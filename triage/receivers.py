"""Receivers for intake's signals and the case summary the citizen pages show."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from intake.handoff import CaseSummary
from intake.models import Feedback, Message, MessageKind, Report, ReviewRequest
from triage.models import CLOSED_STATES, Case, CaseStatus
from triage.workflow import (
    MAX_REVIEW_ROUNDS,
    case_citizen_answered,
    case_rate,
    case_register,
    case_review_request,
)


def create_case(sender: Any, *, report: Report, **kwargs: Any) -> None:
    """Called inside the submission transaction: the case commits with its report."""
    case_register(case=Case.objects.create(report=report, status=CaseStatus.RECEIVED))


def _case_of(report_id: uuid.UUID) -> Case | None:
    return Case.objects.filter(report_id=report_id).order_by("pk").first()


def reporter_answered(sender: Any, *, message: Message, **kwargs: Any) -> None:
    """The reporter wrote back: a case waiting for their answer resumes its clocks."""
    case = _case_of(message.report_id)
    if case is not None and message.kind == MessageKind.ANSWER:
        case_citizen_answered(case=case, message_id=str(message.pk))


def reporter_rated(sender: Any, *, feedback: Feedback, **kwargs: Any) -> None:
    case = _case_of(feedback.report_id)
    if case is not None:
        case_rate(case=case, rating=feedback.rating)


def reporter_requested_review(sender: Any, *, review_request: ReviewRequest, **kwargs: Any) -> None:
    case = _case_of(review_request.report_id)
    if case is not None:
        case_review_request(case=case, request_id=str(review_request.pk))


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
        can_request_review=closed and in_window and case.status != CaseStatus.ARCHIVED
        and case.review_round < MAX_REVIEW_ROUNDS,
    )
