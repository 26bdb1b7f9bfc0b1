"""The triage queue from an officer's walk: content only under the one content policy,
bad corrections and merges come back with what was typed, bulk accept says what it did,
and the pickers are usable (departments by area, active categories only)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import translation

from intake.models import AccessRecord
from tests.factories import submit
from triage.models import Case, CaseStatus, Category, Correction, Department, StaffProfile

pytestmark = pytest.mark.django_db


def _staff(django_user_model: Any, username: str, department_code: str, *, group: str | None = "triage_officer") -> Any:
    user = django_user_model.objects.create_user(username, password="x-password-123")
    if group:
        user.groups.add(Group.objects.get(name=group))
    StaffProfile.objects.create(user=user, department=Department.objects.get(code=department_code))
    return user


def _queued(body: str, *, department: str | None = None) -> Case:
    case = Case.objects.get(report=submit(body=body).report)
    case.status = CaseStatus.AWAITING_TRIAGE
    case.category = Category.objects.get(name="城乡建设")
    case.confidence = 0.41
    case.department = Department.objects.get(code=department) if department else None
    case.triage_explanation = {"category": {"label": "城乡建设", "confidence": 0.41,
                                            "alternatives": [["交通运输", 0.3]], "terms": ["小区"]}}
    case.save()
    return case


def test_the_triage_permission_alone_does_not_open_content(demo_org: None, django_user_model: Any) -> None:
    # A custom role with the queue but not the content permission (an admin can make one).
    user = _staff(django_user_model, "queue-only", "379900-xf", group=None)
    user.user_permissions.add(Permission.objects.get(codename="triage_case"))
    client = Client()
    client.force_login(user)
    case = _queued("小区物业不作为，楼道堆满杂物。")
    page = client.get(f"/staff/triage/{case.pk}/").content.decode()
    assert 'value="view_content"' not in page and "您的角色不查看反映内容" in page
    response = client.post(f"/staff/triage/{case.pk}/", {"action": "view_content"})
    assert response.status_code == 403 and "楼道堆满杂物" not in response.content.decode()
    assert not AccessRecord.objects.exists()


def test_an_officer_still_opens_content_and_it_is_recorded(officer: Client) -> None:
    case = _queued("小区物业不作为，楼道堆满杂物。")
    response = officer.post(f"/staff/triage/{case.pk}/", {"action": "view_content"})
    assert response.status_code == 200 and "楼道堆满杂物" in response.content.decode()
    assert AccessRecord.objects.filter(report=case.report, kind="view_content").count() == 1


def test_a_refused_correction_keeps_what_was_typed(officer: Client) -> None:
    case = _queued("小区物业不作为，楼道堆满杂物。")
    response = officer.post(f"/staff/triage/{case.pk}/action/", {"action": "correct", "department": "",
                                                                  "reason": "应由街道处理"})
    text = response.content.decode()
    assert response.status_code == 400 and "更正未成功，请按提示修改" in text
    assert 'value="应由街道处理"' in text  # the reason typed is still there
    assert Case.objects.get(pk=case.pk).status == CaseStatus.AWAITING_TRIAGE and not Correction.objects.exists()
    merge = officer.post(f"/staff/triage/{case.pk}/action/", {"action": "merge", "into": "QF2026999",
                                                              "reason": "同一事项"})
    assert merge.status_code == 400 and 'value="同一事项"' in merge.content.decode()
    assert "找不到该案件" in merge.content.decode()


def test_bulk_accept_says_what_it_did(officer: Client) -> None:
    a = _queued("第一件，小区物业管理混乱。", department="379901-zj")
    b = _queued("第二件，没有承办部门的事情。")
    queue = officer.get("/staff/triage/").content.decode()
    # Without a suggested department there is nothing to accept as it stands.
    assert f'name="case" value="{a.pk}"' in queue
    assert f'name="case" value="{b.pk}"' not in queue
    nothing = officer.post("/staff/triage/accept/", {"case": [b.pk]}, follow=True).content.decode()
    assert "所选 1 件均未交办" in nothing and 'class="alert error"' in nothing
    # A ticked id out of reach counts as not handled.
    some = officer.post("/staff/triage/accept/", {"case": [a.pk, 999999]}, follow=True).content.decode()
    assert "已交办 1 件；1 件" in some
    assert Case.objects.get(pk=a.pk).status == CaseStatus.ASSIGNED


def test_pickers_group_departments_by_area_and_offer_active_categories(officer: Client) -> None:
    Category.objects.filter(name="交通运输").update(is_active=False)
    case = _queued("小区物业不作为，楼道堆满杂物。")
    page = officer.get(f"/staff/triage/{case.pk}/").content.decode()
    assert page.index('<optgroup label="清河市">') < page.index('<optgroup label="清河市东城区">')
    correct = page[page.index('value="correct"'):page.index('value="merge"')]
    assert ">交通运输<" not in correct and ">城乡建设<" in correct


def test_alternatives_are_named_in_the_reader_s_language(officer: Client) -> None:
    case = _queued("小区物业不作为，楼道堆满杂物。")
    with translation.override("en"):
        page = officer.get(f"/staff/triage/{case.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Transport 0.30" in page
