"""Tests for the human triage queue: scope, order, audit of content views and the actions."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from intake.models import AccessRecord
from tests.factories import submit
from triage.models import Case, CaseStatus, Category, Correction, Department, StaffProfile

pytestmark = pytest.mark.django_db


def _staff(django_user_model: Any, username: str, group: str, department_code: str) -> Any:
    user = django_user_model.objects.create_user(username, password="x-password-123")
    user.groups.add(Group.objects.get(name=group))
    StaffProfile.objects.create(user=user, department=Department.objects.get(code=department_code))
    return user


def _queued(body: str, *, urgent: bool = False, department: str | None = None) -> Case:
    case = Case.objects.get(report=submit(body=body).report)
    case.status = CaseStatus.AWAITING_TRIAGE
    case.urgent = urgent
    case.category = Category.objects.get(name="城乡建设")
    case.confidence = 0.41
    case.department = Department.objects.get(code=department) if department else None
    case.triage_explanation = {"category": {"label": "城乡建设", "confidence": 0.41, "alternatives": [["交通运输", 0.3]],
                                            "terms": ["小区", "物业"]}}
    case.save()
    return case


def test_handlers_may_not_open_the_triage_queue(demo_org: None, django_user_model: Any) -> None:
    client = Client()
    client.force_login(_staff(django_user_model, "h", "handler", "379901-zj"))
    assert client.get("/staff/triage/").status_code == 403
    assert client.post("/staff/triage/accept/", {"case": []}).status_code == 403


def test_the_queue_lists_urgent_first_then_oldest(officer: Client) -> None:
    old = _queued("较早的一件普通事情，小区物业管理混乱。")
    urgent = _queued("燃气泄漏，很危险，请马上处理！", urgent=True)
    page = officer.get("/staff/triage/").content.decode()
    assert page.index(urgent.number) < page.index(old.number)
    assert "紧急" in page


def test_each_row_shows_the_registration_clock_and_its_state(officer: Client) -> None:
    """The 登记交办 clock (15 days) runs while a report waits for triage: the queue says when
    it is due and whether it is 临期 or 超期, as the console does for handlers."""
    from datetime import timedelta

    from django.utils import timezone

    from triage.models import Deadline

    fresh, late = _queued("一件新到的事情，小区物业管理混乱。"), _queued("等了很久的一件事情，小区物业管理混乱。")
    clock = Deadline.objects.get(case=late, met_at__isnull=True, cancelled_at__isnull=True)
    due = timezone.now() - timedelta(days=2)
    Deadline.objects.filter(pk=clock.pk).update(started_at=due - timedelta(days=20), due_at=due)
    Case.objects.filter(pk=late.pk).update(due_at=due)
    page = officer.get("/staff/triage/").content.decode()
    assert "交办期限" in page
    late_row = page[page.index(late.number):].split("</tr>")[0]
    assert timezone.localtime(due).strftime("%Y-%m-%d") in late_row and "超期" in late_row
    fresh_row = page[page.index(fresh.number):].split("</tr>")[0]
    assert "正常" in fresh_row and "超期" not in fresh_row


def test_filters_narrow_the_queue(officer: Client) -> None:
    case = _queued("一件事情需要分流，小区物业管理混乱。")
    assert case.number in officer.get("/staff/triage/?channel=web").content.decode()
    assert case.number not in officer.get("/staff/triage/?channel=letter").content.decode()
    assert officer.get("/staff/triage/?min_age_days=abc").status_code == 200


def test_opening_content_is_an_audit_event(officer: Client) -> None:
    case = _queued("楼道堆放杂物多年，物业不清理，存在消防隐患。")
    page = officer.get(f"/staff/triage/{case.pk}/").content.decode()
    assert "消防隐患" not in page and "小区、物业" in page
    assert AccessRecord.objects.count() == 0
    page = officer.post(f"/staff/triage/{case.pk}/", {"action": "view_content"}).content.decode()
    assert "消防隐患" in page
    assert AccessRecord.objects.filter(kind="view_content", report=case.report).count() == 1


def test_accept_assigns_to_the_suggested_department(officer: Client) -> None:
    case = _queued("小区物业管理混乱，需要住建部门处理。", department="379901-zj")
    response = officer.post(f"/staff/triage/{case.pk}/action/", {"action": "accept"})
    assert response.status_code == 302
    assert Case.objects.get(pk=case.pk).status == CaseStatus.ASSIGNED


def test_accept_without_a_department_is_refused(officer: Client) -> None:
    case = _queued("小区物业管理混乱，地点不明。")
    officer.post(f"/staff/triage/{case.pk}/action/", {"action": "accept"})
    assert Case.objects.get(pk=case.pk).status == CaseStatus.AWAITING_TRIAGE


def test_correct_records_who_when_and_why(officer: Client) -> None:
    case = _queued("学校食堂卫生差，学生吃了拉肚子。")
    department = Department.objects.get(code="379902-wj")
    category = Category.objects.get(name="卫生计生")
    officer.post(f"/staff/triage/{case.pk}/action/",
                 {"action": "correct", "category": category.pk, "department": department.pk, "reason": "食品卫生归卫健委"})
    case.refresh_from_db()
    assert case.status == CaseStatus.ASSIGNED and case.department == department and case.category == category
    correction = Correction.objects.get()
    assert correction.reason == "食品卫生归卫健委" and correction.old_category and correction.old_category.name == "城乡建设"
    # A correction without a reason is refused and changes nothing.
    other = _queued("另一件事情，小区物业管理混乱。")
    officer.post(f"/staff/triage/{other.pk}/action/", {"action": "correct", "department": department.pk, "reason": ""})
    assert Case.objects.get(pk=other.pk).status == CaseStatus.AWAITING_TRIAGE


def test_an_assigned_case_not_yet_accepted_can_still_be_corrected(officer: Client) -> None:
    case = _queued("学校食堂卫生差，学生吃了拉肚子。", department="379901-zj")
    assert officer.post(f"/staff/triage/{case.pk}/action/", {"action": "accept"}).status_code == 302
    page = officer.get(f"/staff/triage/{case.pk}/").content.decode()
    assert 'id="correct-assigned"' in page and 'id="correct"' in page and 'value="accept"' not in page
    department = Department.objects.get(code="379902-wj")
    officer.post(f"/staff/triage/{case.pk}/action/",
                 {"action": "correct", "department": department.pk, "reason": "食品卫生归卫健委"})
    case.refresh_from_db()
    assert case.status == CaseStatus.ASSIGNED and case.department == department
    assert Correction.objects.filter(case=case).count() == 1
    Case.objects.filter(pk=case.pk).update(status=CaseStatus.ACCEPTED)  # accepted: no longer triage's
    assert 'id="correct"' not in officer.get(f"/staff/triage/{case.pk}/").content.decode()


def test_bulk_accept(officer: Client) -> None:
    a = _queued("第一件，小区物业管理混乱。", department="379901-zj")
    b = _queued("第二件，小区物业管理混乱。", department="379902-zj")
    c = _queued("第三件，没有承办部门的事情。")
    response = officer.post("/staff/triage/accept/", {"case": [a.pk, b.pk, c.pk]}, follow=True)
    assert "已交办 2 件" in response.content.decode()
    assert [Case.objects.get(pk=x.pk).status for x in (a, b, c)] == ["assigned", "assigned", "awaiting_triage"]


def test_bulk_accept_with_nothing_selected_asks_for_a_selection(officer: Client) -> None:
    case = _queued("第一件，小区物业管理混乱。", department="379901-zj")
    response = officer.post("/staff/triage/accept/", {"case": ["²", "9" * 30]}, follow=True)
    text = response.content.decode()
    assert "请先勾选要按建议交办的案件" in text and "已交办" not in text
    assert Case.objects.get(pk=case.pk).status == "awaiting_triage"


def test_the_case_page_names_the_type_of_matter(officer: Client) -> None:
    case = _queued("我想咨询一下，小区物业费怎么收。", department="379901-zj")
    Case.objects.filter(pk=case.pk).update(matter_type="consultation")
    text = officer.get(f"/staff/triage/{case.pk}/").content.decode()
    assert "咨询" in text and "consultation" not in text


def test_queue_rows_tell_cases_apart_without_content(officer: Client) -> None:
    """Each row names the type of matter and the terms behind the suggestion; opening the
    queue reads no content, so it leaves no audit record."""
    case = _queued("我想咨询一下，小区物业费怎么收。", department="379901-zj")
    Case.objects.filter(pk=case.pk).update(matter_type="consultation")
    text = officer.get("/staff/triage/").content.decode()
    row = text[text.index(case.number):]
    row = row[:row.index("</tr>")]
    assert "咨询" in row and "小区、物业" in row
    assert "物业费怎么收" not in text
    assert not AccessRecord.objects.exists()


def test_paging_keeps_the_filters(officer: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("triage.views.PAGE_SIZE", 1)
    first = _queued("第一件，小区物业管理混乱。")
    second = _queued("第二件，小区物业管理混乱。")
    page1 = officer.get("/staff/triage/?channel=web").content.decode()
    assert first.number in page1 and second.number not in page1
    assert 'href="?channel=web&amp;page=2"' in page1
    page2 = officer.get("/staff/triage/?channel=web&page=2").content.decode()
    assert second.number in page2
    assert 'href="?channel=web&amp;page=1"' in page2 and "page=2&amp;page" not in page2


def test_merge_links_to_the_earlier_case(officer: Client) -> None:
    earlier = _queued("楼道堆放杂物，物业不管。", department="379901-zj")
    earlier.status = CaseStatus.ASSIGNED
    earlier.save()
    later = _queued("同一件事：楼道堆放杂物，物业不管。")
    officer.post(f"/staff/triage/{later.pk}/action/", {"action": "merge", "into": earlier.number, "reason": "同一事项"})
    later.refresh_from_db()
    assert later.duplicate_of == earlier and later.department == earlier.department
    page = officer.get(f"/staff/triage/{earlier.pk}/").content.decode()
    assert "重复来件" in page


def test_default_category_names_are_translated(officer: Client) -> None:
    from django.utils import translation

    category = Category.objects.get(name="交通运输")
    with translation.override("en"):
        assert str(category) == "Transport"
    with translation.override("zh-hans"):
        assert str(category) == "交通运输"
    Category.objects.create(name="自定义类别")  # added by an admin: shown as entered
    with translation.override("en"):
        assert str(Category.objects.get(name="自定义类别")) == "自定义类别"
