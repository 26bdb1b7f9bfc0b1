"""Write paths of triage: applying a decision, and the human triage queue's actions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from triage.decide import Decision, bands
from triage.models import Case, CaseStatus, Category, Correction, CorrectionKind, Department


class TriageError(Exception):
    """A triage action that is not allowed now; the message is for the user."""


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
    return case


@transaction.atomic
def triage_accept(*, case: Case, user: User) -> Case:
    """A triage officer accepts the suggestion as it stands."""
    case = Case.objects.select_for_update().get(pk=case.pk)
    if case.status != CaseStatus.AWAITING_TRIAGE:
        raise TriageError("只有待分流的案件可以分流。")
    if case.department is None:
        raise TriageError("请先选择承办部门。")
    case.status = CaseStatus.ASSIGNED
    case.queue_reason = ""
    case.save(update_fields=["status", "queue_reason", "updated_at"])
    return case


@transaction.atomic
def triage_correct(*, case: Case, user: User, category: Category | None, department: Department, reason: str) -> Case:
    """Correct category and/or department and assign; the correction teaches the model."""
    reason = (reason or "").strip()
    if not reason:
        raise TriageError("更正分流须说明原因。")
    case = Case.objects.select_for_update().get(pk=case.pk)
    if case.status not in (CaseStatus.AWAITING_TRIAGE, CaseStatus.ASSIGNED):
        raise TriageError("该案件已受理，不能在分流环节更正。")
    Correction.objects.create(
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
    return case


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
    root = into.duplicate_of or into
    case.duplicate_of = root
    if root.department_id:
        case.department_id = root.department_id
        case.status = CaseStatus.ASSIGNED
        case.queue_reason = ""
    case.save(update_fields=["duplicate_of", "department", "status", "queue_reason", "updated_at"])
    return case


MAX_SPLIT_PARTS = 6


class SplitPart(NamedTuple):
    """One matter of a report being split: who handles it, and which part it is."""

    category: Category | None
    department: Department | None
    note: str = ""


@transaction.atomic
def triage_split(*, case: Case, user: User, parts: Sequence[tuple[Category | None, Department | None, str]],
                 reason: str) -> list[Case]:
    """Split a report that raises several separate matters into several cases.

    The case keeps the first part; every further part becomes a new case of the same
    report (split_from = this case), assigned at once. One transaction: all or nothing.
    Returns the cases in the order of `parts`.
    """
    reason = (reason or "").strip()
    if not reason:
        raise TriageError(_("拆分须说明原因。"))
    items = [SplitPart(*p) for p in parts]
    if len(items) < 2:
        raise TriageError(_("拆分至少需要两项。"))
    if len(items) > MAX_SPLIT_PARTS:
        raise TriageError(_("一次最多拆分为 %(n)d 项。") % {"n": MAX_SPLIT_PARTS})
    for number, item in enumerate(items, start=1):
        if item.category is None or not item.category.is_active:
            raise TriageError(_("第 %(n)d 项：请选择有效的类别。") % {"n": number})
        if item.department is None or not item.department.is_active:
            raise TriageError(_("第 %(n)d 项：请选择有效的承办部门。") % {"n": number})
    if len({(i.category.pk, i.department.pk) for i in items if i.category and i.department}) < len(items):
        raise TriageError(_("拆分后的各项类别和承办部门不能完全相同。"))
    case = Case.objects.select_for_update().get(pk=case.pk)
    if case.status != CaseStatus.AWAITING_TRIAGE:
        raise TriageError(_("只有待分流的案件可以拆分。"))
    if case.split_from_id is not None:
        raise TriageError(_("拆分出的案件不能再拆分。"))

    now = timezone.now()
    old_category, old_department = case.category, case.department
    first, rest = items[0], items[1:]
    case.category, case.department = first.category, first.department
    case.status = CaseStatus.ASSIGNED
    case.queue_reason = ""
    case.save(update_fields=["category", "department", "status", "queue_reason", "updated_at"])
    result = [case]
    for item in rest:
        result.append(Case.objects.create(
            report_id=case.report_id,
            split_from=case,
            status=CaseStatus.ASSIGNED,
            category=item.category,
            department=item.department,
            matter_type=case.matter_type,
            violation=case.violation,
            urgent=case.urgent,
            # Age and deadlines count from when the report arrived, not from the split.
            created_at=case.created_at,
            triaged_at=now,
        ))
    # Recorded as who/when/why, but kind=SPLIT keeps them out of training: a part's
    # category does not label the whole text of the report.
    Correction.objects.bulk_create([
        Correction(case=part, user=user, at=now, kind=CorrectionKind.SPLIT, reason=reason[:500],
                   note=(item.note or "").strip()[:200], old_category=old_category, old_department=old_department,
                   new_category=item.category, new_department=item.department)
        for part, item in zip(result, items, strict=True)
    ])
    return result
