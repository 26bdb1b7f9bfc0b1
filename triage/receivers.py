"""Receivers for intake's signals and the case summary the citizen pages show."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from intake.handoff import CasePart, CaseSummary
from intake.models import Feedback, Message, MessageKind, Report, ReviewRequest
from triage import deadlines
from triage.models import CLOSED_STATES, Case, CaseStatus
from triage.workflow import (
    MAX_REVIEW_ROUNDS,
    case_citizen_answered,
    case_rate,
    case_register,
    case_review_request,
)

logger = logging.getLogger(__name__)


def create_case(sender: Any, *, report: Report, **kwargs: Any) -> None:
    """Called inside the submission transaction: the case commits with its report."""
    case_register(case=Case.objects.create(report=report, status=CaseStatus.RECEIVED))


def _case_of(report_id: uuid.UUID) -> Case | None:
    return Case.objects.filter(report_id=report_id, split_from__isnull=True).first()


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
    cases = list(Case.objects.select_related("department").filter(report_id=report_id).order_by("pk"))
    case = next((c for c in cases if c.split_from_id is None), None)
    if case is None:
        return None
    others = [c for c in cases if c is not case]
    # A split report is rated, and may be reviewed, once every one of its cases is closed.
    all_closed = all(c.status in CLOSED_STATES for c in cases)
    last_closed = max((c.closed_at for c in cases if c.closed_at), default=None)
    review_until = deadlines.review_request_until(last_closed) if last_closed else None
    in_window = bool(review_until and timezone.now() <= review_until)
    can_request_review = (all_closed and in_window and case.status != CaseStatus.ARCHIVED
                          and case.review_round < MAX_REVIEW_ROUNDS)
    return CaseSummary(
        number=case.number,
        status=case.status,
        status_label=str(case.get_status_display()),
        department=case.department.name if case.department else None,
        deadline=timezone.localdate(case.due_at) if case.due_at else None,
        closed_at=_closed_at(case),
        accepts_messages=case.status != CaseStatus.ARCHIVED,
        can_rate=case.status == CaseStatus.CLOSED and all_closed,
        can_request_review=can_request_review,
        review_until=timezone.localdate(review_until) if can_request_review and review_until else None,
        parts=tuple(_part(c) for c in [case, *others]) if others else (),
    )


def _closed_at(case: Case) -> datetime | None:
    """When the case was closed, if it is closed now: a case reopened for review (复查)
    keeps the earlier `closed_at` for the review window, but is not closed."""
    return case.closed_at if case.status in CLOSED_STATES else None


def _part(case: Case) -> CasePart:
    return CasePart(
        number=case.number,
        status=case.status,
        status_label=str(case.get_status_display()),
        department=case.department.name if case.department else None,
        deadline=timezone.localdate(case.due_at) if case.due_at else None,
        closed_at=_closed_at(case),
    )


def routing_edited(sender: Any, **kwargs: Any) -> None:
    """A rule, category or department changed: this process forgets its routing snapshot
    now, and every worker once the change has committed."""
    from triage.decide import forget_routing, routing_changed

    forget_routing()  # local only: the shared cache is not touched inside the transaction
    transaction.on_commit(routing_changed)


def calendar_edited(sender: Any, **kwargs: Any) -> None:
    """A holiday override changed: drop the dashboards' working-day index (the next dashboard
    request rebuilds it from the calendar); then, after commit, move the running deadlines
    whose period holds the changed day (old and new date of an edit) and recompute the
    per-case figures, whose working-day durations may have moved (tasks: a minute or two at
    a million cases)."""
    from triage.models import WorkdayIndex
    from triage.workdays import forget_calendar_gaps

    transaction.on_commit(lambda: WorkdayIndex.objects.all().delete())
    transaction.on_commit(forget_calendar_gaps)
    instance = kwargs.get("instance")
    days = {instance.date, getattr(instance, "_date_before_edit", None) or instance.date} if instance else set()
    transaction.on_commit(lambda: _recalendar_later(sorted(days)))


def calendar_before_edit(sender: Any, *, instance: Any, **kwargs: Any) -> None:
    """Remember the date an override had before an edit: both days may move deadlines."""
    if instance.pk:
        instance._date_before_edit = sender.objects.filter(pk=instance.pk).values_list("date", flat=True).first()


def _recalendar_later(days: list[Any]) -> None:
    """Hand the deadline recomputation and the dashboards' rebuild to the worker. Without a
    broker, move the deadlines here (a calendar edit is rare, and a due date must not
    silently stay wrong); the figures' rebuild waits for `manage.py dashboard_figures
    --rebuild` (minutes at a million cases: not in an admin's request)."""
    from triage.deadlines import deadlines_recalendar
    from triage.tasks import rebuild_dashboard_figures, recalendar_deadlines

    try:
        if days:
            recalendar_deadlines.delay([day.isoformat() for day in days])
        rebuild_dashboard_figures.delay()
    except Exception as exc:  # noqa: BLE001 - kombu raises several kinds when the broker is down
        logger.warning("Could not queue the calendar follow-up (%s): moving deadlines now; run "
                       "`manage.py dashboard_figures --rebuild` when the broker is back.", type(exc).__name__)
        deadlines_recalendar(days)


def config_change_logged(sender: Any, instance: Any, created: bool = False, raw: bool = False, **kwargs: Any) -> None:
    """An admin change-record entry was written: seal it into its hash chain, in the same
    transaction (triage/audit.py)."""
    if created and not raw:
        from triage.audit import config_seal_pending

        config_seal_pending()
