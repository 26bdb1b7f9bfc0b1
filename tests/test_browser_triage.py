"""Browser journey on the real server: a triage officer works the human queue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.browser import Orm, Screens, body_text, nav, submit_and_wait

PASSWORD = "triage-password-123"

# (key, channel, body, urgent, age in days, suggested category, suggested department)
QUEUED = [
    ("property", "web", "东关街道文化路小区物业管理混乱，楼道灯坏了半年没人修。", False, 5, "城乡建设", "379901-zj"),
    ("gas", "web", "文化路小区燃气管道泄漏，气味很大，很危险，请马上处理！", True, 0, "城乡建设", "379901-zj"),
    ("canteen", "letter", "来信反映：青石镇中心小学食堂卫生差，学生吃了拉肚子。", False, 3, "城乡建设", None),
    ("same", "web", "同一件事：北苑街道某小区楼道堆放杂物多年，物业不清理。", False, 2, "城乡建设", None),
    ("two", "call", "来电反映：青石镇某服装厂拖欠工人三个月工资；该厂还夜间偷排污水，河水发黑。", False, 1,
     "劳动和社会保障", "379902-rs"),
    ("road", "call", "来电反映：北苑街道某路段路灯不亮，夜间行人不安全。", False, 4, "交通运输", "379901-jt"),
]
EARLIER = "北苑街道某小区楼道堆放杂物多年，物业不清理，存在消防隐患。"


# --- database helpers (run on the ORM thread) ---------------------------------------------


def make_officer() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from triage.models import Department, StaffProfile

    user = get_user_model().objects.create_user("triage1", password=PASSWORD)
    user.groups.add(Group.objects.get(name="triage_officer"))
    StaffProfile.objects.create(user=user, department=Department.objects.get(code="379900-xf"))


def make_cases() -> dict[str, dict[str, Any]]:
    """Reports through the real intake service, then the triage outcome a worker would
    have stored (the worker itself is tested elsewhere)."""
    from django.utils import timezone

    from intake.models import Source
    from tests.factories import submit
    from triage.models import Case, CaseStatus, Category, Department

    now = timezone.now()
    cases: dict[str, dict[str, Any]] = {}

    def queued(body: str, channel: str, urgent: bool, age: int, category: str, department: str | None,
               status: str = CaseStatus.AWAITING_TRIAGE) -> Case:
        report = submit(body=body, channel=channel, source=Source.STAFF_FORM if channel != "web" else Source.WEB_FORM).report
        case = Case.objects.get(report=report)
        case.status = status
        case.urgent = urgent
        case.created_at = now - timedelta(days=age, minutes=1)
        case.category = Category.objects.get(name=category)
        case.confidence = 0.42
        case.department = Department.objects.get(code=department) if department else None
        case.queue_reason = "low_confidence"
        case.triage_explanation = {"category": {"label": category, "confidence": 0.42,
                                                "alternatives": [["交通运输", 0.2]], "terms": ["小区", "物业"]}}
        case.save()
        return case

    earlier = queued(EARLIER, "web", False, 6, "城乡建设", "379901-zj", status=CaseStatus.ASSIGNED)
    cases["earlier"] = {"pk": earlier.pk, "number": earlier.number}
    for key, channel, body, urgent, age, category, department in QUEUED:
        case = queued(body, channel, urgent, age, category, department)
        cases[key] = {"pk": case.pk, "number": case.number, "report": case.report_id}
    return cases


def access_records(report_id: Any) -> int:
    from intake.models import AccessRecord

    return AccessRecord.objects.filter(report_id=report_id, kind="view_content", user__username="triage1").count()


def case_facts(pk: int) -> dict[str, Any]:
    from triage.models import Case

    case = Case.objects.select_related("category", "department", "duplicate_of").get(pk=pk)
    return {
        "status": case.status,
        "category": case.category.name if case.category else None,
        "department": case.department.code if case.department else None,
        "duplicate_of": case.duplicate_of_id,
        "corrections": [(c.kind, c.reason) for c in case.corrections.all()],
    }


def split_parts(pk: int) -> list[dict[str, Any]]:
    from triage.models import Case

    return [
        {"status": c.status, "category": c.category.name if c.category else None,
         "department": c.department.code if c.department else None, "report": c.report_id}
        for c in Case.objects.filter(split_from_id=pk).select_related("category", "department")
    ]


def pk_of(name: str) -> int:
    from triage.models import Category, Department

    if "-" in name:
        return Department.objects.get(code=name).pk
    return Category.objects.get(name=name).pk


# --- the journey --------------------------------------------------------------------------


def queue_numbers(page: Page) -> list[str]:
    return [n.strip() for n in page.locator("table.list tbody td:nth-child(2) a").all_inner_texts()]


@pytest.mark.browser
def test_triage_officer_works_the_queue(
    live_server_url: str, demo_org: None, orm: Orm, browser: Callable[[], Browser], screens: Screens,
) -> None:
    orm(make_officer)
    cases = orm(make_cases)
    ids = {name: orm(pk_of, name) for name in ("卫生计生", "379902-wj", "劳动和社会保障", "379902-rs",
                                                "环境保护", "379902-sthj")}
    context = browser().new_context(locale="zh-CN", base_url=live_server_url)
    page = context.new_page()

    # Log in; the desk links to the queue.
    page.goto("/staff/login/")
    page.locator("input[name=username]").fill("triage1")
    page.locator("input[name=password]").fill(PASSWORD)
    response = submit_and_wait(page, "登录", "/staff/login/")
    assert response.status == 302, body_text(page)
    screens.take(page, "desk")
    nav(page, "待分流")

    # The queue: urgent first, then oldest first; the earlier, assigned case is not in it.
    assert page.get_by_role("heading", level=1).inner_text().startswith("待分流")
    expected = [cases[k]["number"] for k in ("gas", "property", "road", "canteen", "same", "two")]
    assert queue_numbers(page) == expected
    assert "紧急" in page.locator("table.list tbody tr").first.inner_text()
    screens.take(page, "queue")

    # Filters: by channel, then by age.
    page.get_by_label("渠道").select_option("letter")
    page.get_by_role("button", name="筛选", exact=True).click()
    page.wait_for_load_state()
    assert queue_numbers(page) == [cases["canteen"]["number"]]
    screens.take(page, "filter-letter")
    page.get_by_label("渠道").select_option("")
    page.get_by_label("等待天数≥").fill("4")
    page.get_by_role("button", name="筛选", exact=True).click()
    page.wait_for_load_state()
    assert queue_numbers(page) == [cases["property"]["number"], cases["road"]["number"]]
    screens.take(page, "filter-age")

    # Open a case: the suggestion and its reasons show; content only on request, audited.
    page.goto("/staff/triage/")
    page.get_by_role("link", name=cases["two"]["number"], exact=True).click()
    page.wait_for_load_state()
    assert "劳动和社会保障" in page.locator("dl.facts").inner_text()
    assert page.locator("#terms").inner_text() == "小区、物业"
    assert page.locator("#content").count() == 0
    screens.take(page, "case")
    assert orm(access_records, cases["two"]["report"]) == 0
    response = submit_and_wait(page, "查看内容", f"/staff/triage/{cases['two']['pk']}/")
    assert response.status == 200
    assert "偷排污水" in page.locator("#content").inner_text()
    assert orm(access_records, cases["two"]["report"]) == 1
    screens.take(page, "case-content")

    # Split it: wages to 人社局, the polluting factory to 生态环境局. A missing reason first.
    page.locator("select[name=part-0-category]").select_option(str(ids["劳动和社会保障"]))
    page.locator("select[name=part-0-department]").select_option(str(ids["379902-rs"]))
    page.locator("input[name=part-0-note]").fill("拖欠工资")
    page.locator("select[name=part-1-category]").select_option(str(ids["环境保护"]))
    page.locator("select[name=part-1-department]").select_option(str(ids["379902-sthj"]))
    page.locator("input[name=part-1-note]").fill("偷排污水")
    response = submit_and_wait(page, "拆分并交办", f"/staff/triage/{cases['two']['pk']}/split/")
    assert response.status == 400
    assert page.locator("#split-error").inner_text().strip() == "拆分未成功，请按提示修改。"
    assert page.locator("input[name=part-1-note]").input_value() == "偷排污水"
    screens.take(page, "split-error")
    assert orm(split_parts, cases["two"]["pk"]) == []
    page.get_by_label("拆分原因").fill("欠薪和污染是两件不同的事，分别交办")
    screens.take(page, "split-filled")
    response = submit_and_wait(page, "拆分并交办", f"/staff/triage/{cases['two']['pk']}/split/")
    assert response.status == 302, body_text(page)
    assert "已拆分为 2 件并分别交办" in page.locator(".alert.ok").inner_text()
    assert cases["two"]["number"] not in queue_numbers(page)
    screens.take(page, "split-done")
    assert orm(case_facts, cases["two"]["pk"])["department"] == "379902-rs"
    assert orm(split_parts, cases["two"]["pk"]) == [
        {"status": "assigned", "category": "环境保护", "department": "379902-sthj", "report": cases["two"]["report"]}
    ]

    # Correct one: the letter about a school canteen goes to 卫健委.
    page.get_by_role("link", name=cases["canteen"]["number"], exact=True).click()
    page.wait_for_load_state()
    correct = page.locator("form", has=page.locator("input[name=action][value=correct]"))
    correct.locator("select[name=category]").select_option(str(ids["卫生计生"]))
    correct.locator("select[name=department]").select_option(str(ids["379902-wj"]))
    correct.locator("input[name=reason]").fill("学校食堂卫生归卫健委")
    screens.take(page, "correct-filled")
    response = submit_and_wait(page, "更正并交办", f"/staff/triage/{cases['canteen']['pk']}/action/")
    assert response.status == 302
    assert "已更正并交办" in page.locator(".alert.ok").inner_text()
    screens.take(page, "corrected")
    assert orm(case_facts, cases["canteen"]["pk"]) == {
        "status": "assigned", "category": "卫生计生", "department": "379902-wj", "duplicate_of": None,
        "corrections": [("correct", "学校食堂卫生归卫健委")],
    }

    # Merge one into the earlier case about the same matter.
    page.get_by_role("link", name=cases["same"]["number"], exact=True).click()
    page.wait_for_load_state()
    merge = page.locator("form", has=page.locator("input[name=action][value=merge]"))
    merge.locator("input[name=into]").fill(cases["earlier"]["number"])
    merge.locator("input[name=reason]").fill("同一小区同一事项")
    screens.take(page, "merge-filled")
    response = submit_and_wait(page, "合并", f"/staff/triage/{cases['same']['pk']}/action/")
    assert response.status == 302
    assert f"已并入案件 {cases['earlier']['number']}" in page.locator(".alert.ok").inner_text()
    screens.take(page, "merged")
    merged = orm(case_facts, cases["same"]["pk"])
    assert (merged["duplicate_of"], merged["department"], merged["status"]) == (
        cases["earlier"]["pk"], "379901-zj", "assigned")

    # Bulk-accept the rest as suggested.
    remaining = [cases[k]["number"] for k in ("gas", "property", "road")]
    assert queue_numbers(page) == remaining
    for number in remaining:
        page.get_by_label(f"选择 {number}").check()
    screens.take(page, "bulk-selected")
    response = submit_and_wait(page, "按建议批量交办所选", "/staff/triage/accept/")
    assert response.status == 302
    assert "已交办 3 件" in page.locator(".alert.ok").inner_text()
    assert queue_numbers(page) == []
    assert "没有待分流的案件。" in page.locator("table.list").inner_text()
    screens.take(page, "queue-empty")
    assert [orm(case_facts, cases[k]["pk"])["status"] for k in ("gas", "property", "road")] == ["assigned"] * 3
    context.close()
