"""Write paths of triage: applying a decision, and the human triage queue's actions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from intake.selectors import report_text
from triage import workflow
from triage.decide import Decision, DecisionInput, bands, decide_many, find_duplicates
from triage.models import Case, CaseStatus, Category, Correction, CorrectionKind, Department

# The triage queue's actions are workflow transitions: one error type for both.
TriageError = workflow.WorkflowError


DECISION_FIELDS = [
    "category", "confidence", "matter_type", "violation", "urgent", "triage_explanation", "model_version",
    "queue_reason", "department", "fingerprint", "fp_band0", "fp_band1", "fp_band2", "fp_band3", "duplicate_of",
    "triaged_at", "status", "updated_at",
]


def _store_decisions(pairs: list[tuple[Case, Decision]]) -> list[Case]:
    """Write decisions onto locked cases (caller's transaction), duplicates found with one
    query for all of them, and save them with one UPDATE."""
    now = timezone.now()
    duplicates = find_duplicates(
        [(case.pk, decision.fingerprint, case.created_at) for case, decision in pairs if decision.fingerprint is not None]
    )
    cases = []
    for case, decision in pairs:
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
            case.fingerprint = decision.fingerprint
            case.fp_band0, case.fp_band1, case.fp_band2, case.fp_band3 = bands(decision.fingerprint)
            case.duplicate_of_id = duplicates.get(case.pk)
        case.triaged_at = now
        case.updated_at = now
        case.status = CaseStatus.ASSIGNED if decision.route else CaseStatus.AWAITING_TRIAGE
        cases.append(case)
    # Clocks, due dates and events for the whole batch; the cases are written (one UPDATE)
    # before their events are appended, so notifications see them routed.
    workflow.cases_routed(cases, at=now, save=lambda saved: _write_fields(saved, [*DECISION_FIELDS, *workflow.ROUTED_FIELDS]))
    return cases


def _write_fields(cases: list[Case], fields: list[str]) -> None:
    """UPDATE the given fields of many cases with one statement: on PostgreSQL one UPDATE
    … FROM json_to_recordset (the rows as one JSON parameter), elsewhere one prepared
    statement executed for every row. Django's bulk_update builds a CASE expression per
    field and row: for 100 cases x 18 fields that cost more than triaging them."""
    if not cases:
        return
    quote = connection.ops.quote_name
    columns: list[Any] = [Case._meta.get_field(name) for name in fields]
    table, pk = quote(Case._meta.db_table), quote(str(Case._meta.pk.column))  # type: ignore[union-attr]
    if connection.vendor == "postgresql":
        _write_fields_postgresql(cases, columns, table=table, pk=pk)
        return
    assignments = ", ".join(f"{quote(str(column.column))} = %s" for column in columns)
    sql = f"UPDATE {table} SET {assignments} WHERE {pk} = %s"  # noqa: S608 - quoted model names; values are parameters
    rows = [[column.get_db_prep_save(getattr(case, column.attname), connection) for column in columns] + [case.pk]
            for case in cases]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _json_value(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def _write_fields_postgresql(cases: list[Case], columns: list[Any], *, table: str, pk: str) -> None:
    quote = connection.ops.quote_name
    names = [str(column.column) for column in columns]
    # Strings arrive as text and are assigned to their varchar columns, so a value too long
    # fails as it would as a parameter (a cast to varchar(n) would cut it silently).
    types = [str(column.db_type(connection)) for column in columns]
    types = ["text" if kind.startswith("varchar") else kind for kind in types]
    assignments = ", ".join(f"{quote(name)} = v.{quote(name)}" for name in names)
    definition = ", ".join([f"{quote('pk')} bigint", *(f"{quote(name)} {kind}" for name, kind in zip(names, types, strict=True))])
    sql = (f"UPDATE {table} SET {assignments} FROM json_to_recordset(%s::json) AS v({definition}) "  # noqa: S608 - quoted model names
           f"WHERE {table}.{pk} = v.{quote('pk')}")
    pairs = list(zip(names, [str(column.attname) for column in columns], strict=True))
    rows = [{"pk": case.pk, **{name: _json_value(getattr(case, attname)) for name, attname in pairs}} for case in cases]
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(rows, ensure_ascii=False)])


def apply_decision(case: Case, decision: Decision) -> Case:
    """Store a decision on one case (inside the caller's transaction, row locked)."""
    return _store_decisions([(case, decision)])[0]


def triage_reports(report_ids: list[str]) -> int:
    """Triage the received reports among `report_ids`; the rest (already triaged, unknown,
    or being triaged by another worker right now) are skipped. Returns how many were
    triaged. Safe to call again with the same ids: a case is decided once.

    The texts are decrypted in memory only and go nowhere but the decision; the slow part
    (segmentation and the classifier) runs before any row is locked."""
    # Only the reports are read from these case objects (the cases are read again, whole,
    # under the lock below).
    waiting = list(
        Case.objects.filter(report_id__in=report_ids, status=CaseStatus.RECEIVED, split_from__isnull=True)
        .select_related("report")
        .only("report", "created_at")
        .order_by("created_at", "pk")
    )
    if not waiting:
        return 0
    inputs = []
    for case in waiting:
        text = report_text(case.report)
        inputs.append(
            DecisionInput(
                text=f"{text.title}\n{text.body}\n{text.place_detail}",
                chosen_matter_type=case.report.matter_type,
                area_code=text.area_code,
                accused=text.accused,
            )
        )
        del text
    decisions = decide_many(inputs)
    del inputs
    by_id = {case.pk: decision for case, decision in zip(waiting, decisions, strict=True)}
    reports = {case.pk: case.report for case in waiting}
    with transaction.atomic():
        # Locked cases belong to another worker deciding the same report (a redelivery):
        # skip them rather than wait and decide twice. The case rows are read again under
        # the lock; their reports (never changed by triage) are the ones already loaded, so
        # the ciphertext columns are not fetched a second time.
        locked = list(
            Case.objects.select_for_update(skip_locked=True)
            .filter(pk__in=by_id, status=CaseStatus.RECEIVED)
            .order_by("created_at", "pk")
        )
        for case in locked:
            case.report = reports[case.pk]
        if locked:
            _store_decisions([(case, by_id[case.pk]) for case in locked])
    return len(locked)


@transaction.atomic
def triage_failed(*, report_id: str) -> bool:
    """A report whose triage keeps failing goes to the human queue: a person decides."""
    case = (
        Case.objects.select_for_update()
        .filter(report_id=report_id, status=CaseStatus.RECEIVED, split_from__isnull=True)
        .first()
    )
    if case is None:
        return False
    case.status = CaseStatus.AWAITING_TRIAGE
    case.queue_reason = "triage_failed"
    case.triaged_at = timezone.now()
    workflow.case_routed(case=case)
    return True


@transaction.atomic
def triage_accept(*, case: Case, user: User) -> Case:
    """A triage officer accepts the suggestion as it stands."""
    case = Case.objects.select_for_update().get(pk=case.pk)
    if case.status != CaseStatus.AWAITING_TRIAGE:
        raise TriageError(_("只有待分流的案件可以分流。"))
    if case.department is None:
        raise TriageError(_("请先选择承办部门。"))
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
        raise TriageError(_("更正分流须说明原因。"))
    case = Case.objects.select_for_update().get(pk=case.pk)
    if case.status not in (CaseStatus.AWAITING_TRIAGE, CaseStatus.ASSIGNED):
        raise TriageError(_("该案件已受理，不能在分流环节更正。"))
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
        raise TriageError(_("合并须说明原因。"))
    case = Case.objects.select_for_update().get(pk=case.pk)
    if case.pk == into.pk:
        raise TriageError(_("不能并入自身。"))
    if case.status != CaseStatus.AWAITING_TRIAGE:
        raise TriageError(_("只有待分流的案件可以合并。"))
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
    workflow.triage_authorize(case=case, user=user, action="triage_split")

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
    # Every case of the split gets its event and its acceptance clock at its department.
    parts_payload = {"parts": [part.pk for part in result]}
    for part in result:
        from_status = CaseStatus.AWAITING_TRIAGE if part is case else ""
        workflow.triage_event(case=part, user=user, action="triage_split", from_status=from_status,
                              payload={**parts_payload, "department": part.department_id})
    return result
