"""Tests for the triage task through a real worker, and its human-queue outcomes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Process, wait_for
from tests.factories import submit
from triage.models import Case, CaseStatus
from triage.services import triage_reports


def test_the_worker_routes_a_confident_report(demo_org: None, active_classifier: Any, celery_worker: Process) -> None:
    report = submit(body="出租车司机拒载绕路，还不打表乱收费，请交通运输局整治出租车行业。", area_code="379921101").report
    assert wait_for(lambda: Case.objects.get(report=report).status != CaseStatus.RECEIVED, timeout=60), celery_worker.log_text()
    case = Case.objects.get(report=report)
    assert case.status == CaseStatus.ASSIGNED
    assert case.department is not None and case.department.code == "379921-jt"
    assert case.model_version == "test-model" and case.fingerprint is not None


@pytest.mark.django_db
def test_a_report_without_a_place_waits_for_a_person(demo_org: None, active_classifier: Any) -> None:
    report = submit(body="有一件事情想反映一下，具体情况比较复杂，希望有人联系。").report
    triage_reports([str(report.pk)])
    case = Case.objects.get(report=report)
    assert case.status == CaseStatus.AWAITING_TRIAGE and case.queue_reason == "no_department"


@pytest.mark.django_db
def test_a_repeated_report_is_linked_to_the_first(demo_org: None, active_classifier: Any) -> None:
    text = "东城区文化路小区楼道堆放杂物多年，物业不清理，存在消防隐患，请相关部门督促整改。"
    first, second, third = (submit(body=text, area_code="379901001002").report for _ in range(3))
    for report in (first, second, third):
        triage_reports([str(report.pk)])
    first_case = Case.objects.get(report=first)
    assert Case.objects.get(report=second).duplicate_of == first_case
    assert Case.objects.get(report=third).duplicate_of == first_case
    assert first_case.duplicates.count() == 2


@pytest.mark.django_db
def test_the_task_stores_no_text(demo_org: None, active_classifier: Any) -> None:
    canary = "独特姓名甲乙丙"
    report = submit(body=f"{canary}在东城区东关街道乱收费，请市场监管部门查处。").report
    triage_reports([str(report.pk)])
    case = Case.objects.get(report=report)
    assert canary not in str(case.triage_explanation)
