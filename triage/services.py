"""Write paths of triage: applying a decision, and the human triage queue's actions."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from triage import workflow
from triage.decide import Decision, bands
from triage.models import Case, CaseStatus, Category, Correction, Department

# The triage queue's actions are workflow transitions: one error type for both.
TriageError = workflow.WorkflowError


def apply_decision(case: Case, decision: Decision) -> Case:
    """Store a decision on a case (inside the caller's transaction, row locked)."""
    case.category = decision.category
    case.confidence = decision.confidence
    case.matter_type = decision.matter_type
    case.violation = decision.violation
    case.urgent = decision.urgent
    case.triage_explanation = decision.explanation
    case.model_version = decision.model_version
    case.queue_reason = decision.queue_reason
    case.department = decision.department
    if decision.fingerprint is not None:
        from triage.decide import find_duplicate

        case.fingerprint = decision.fingerprint
        case.fp_band0, case.fp_band1, case.fp_band2, case.fp_band3 = bands(decision.fingerprint)
        case.duplicate_of = find_duplicate(decision.fingerprint, exclude_case_id=case.pk)
    case.triaged_at = timezone.now()
    case.status = CaseStatus.ASSIGNED if decision.route else CaseStatus.AWAITING_TRIAGE
    case.save()
    return workflow.case_routed(case=case)


@transaction.atomic
def triage_accept(*, case: Case, user: User) -> Case:
    """A triage officer accepts the suggestion as it stands."""
    case = Case.objects.select_for_update().get(pk=case.pk)
    if case.status != CaseStatus.AWAITING_TRIAGE:
        raise TriageError("只有待分流的案件可以分流。")
    if case.department is None:
        raise TriageError("请先选择承办部门。")
    workflow.triage_authorize(case=case, user=user, action="triage_accept")
    case.status = CaseStatus.ASSIGNED
    case.queue_reason = ""
    case.save(update_fields=["status", "queue_reason", "updated_at"])
    return workflow.triage_event(case=case, user=user, action="triage_accept", from_status=CaseStatus.AWAITING_TRIAGE,
                                 payload={"department": case.department_id})


@transaction.atomic
def triage_correct(*, case: Case, user: User, category: Category | None, department: Department, reason: str) -> Case:
    """Correct category and/or department and assign; the correction teaches the model."""
    reason = (reason or "").strip()
    if not reason:
        raise TriageError("更正分流须说明原因。")
    case = Case.objects.select_for_update().get(pk=case.pk)
    if case.status not in (CaseStatus.AWAITING_TRIAGE, CaseStatus.ASSIGNED):
        raise TriageError("该案件已受理，不能在分流环节更正。")
    workflow.triage_authorize(case=case, user=user, action="triage_correct")
    from_status = case.status
    correction = Correction.objects.create(
        case=case,
        user=user,
        old_category=case.category,
        new_category=category or case.category,
        old_department=case.department,
        new_department=department,
        reason=reason[:500],
    )
    case.category = category or case.category
    case.department = department
    case.status = CaseStatus.ASSIGNED
    case.queue_reason = ""
    case.save(update_fields=["category", "department", "status", "queue_reason", "updated_at"])
    return workflow.triage_event(case=case, user=user, action="triage_correct", from_status=from_status,
                                 payload={"department": department.pk, "category": case.category_id,
                                          "correction": correction.pk})


@transaction.atomic
def triage_merge(*, case: Case, into: Case, user: User, reason: str) -> Case:
    """Link a report to an earlier case about the same matter and hand it to the same
    department; the earlier case shows it among its linked reports."""
    if not (reason or "").strip():
        raise TriageError("合并须说明原因。")
    case = Case.objects.select_for_update().get(pk=case.pk)
    if case.pk == into.pk:
        raise TriageError("不能并入自身。")
    if case.status != CaseStatus.AWAITING_TRIAGE:
        raise TriageError("只有待分流的案件可以合并。")
    workflow.triage_authorize(case=case, user=user, action="triage_merge")
    root = into.duplicate_of or into
    case.duplicate_of = root
    if root.department_id:
        case.department_id = root.department_id
        case.status = CaseStatus.ASSIGNED
        case.queue_reason = ""
    case.save(update_fields=["duplicate_of", "department", "status", "queue_reason", "updated_at"])
    return workflow.triage_event(case=case, user=user, action="triage_merge", from_status=CaseStatus.AWAITING_TRIAGE,
                                 payload={"into": root.pk, "department": case.department_id})
