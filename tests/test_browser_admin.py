"""Browser journey on the real server and worker: the administrator edits a routing rule,
the deadline policy and the holiday calendar in the Django admin and adds a handler with
their role and department; the next citizen's report is routed by the edited rule, its
deadline counts the new policy and the new holiday, and the new handler finds it. Then the
administrator makes the telephony system's API token, shown once, and the system uses it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.browser import Orm, Screens, body_text, nav, submit_and_wait
from tests.conftest import wait_for
from tests.test_browser_console import case_facts, staff_login

PASSWORD = "admin-password-123"
NEW_PASSWORD = "handler-password-456"
RULE_TERM = "路灯"  # a demo rule: street lighting goes to the government of the place
TARGET = "379901-jt"  # 东城区交通运输局: where the admin sends street lighting instead
VILLAGE = "379901001002"  # 东城区东关街道文化路社区
BODY = "文化路社区主干道的路灯坏了一个多月，晚上一片漆黑，老人和孩子出行很不安全，请尽快修复。"
NOTICE_DAYS = 10  # the admin shortens 受理告知 from 15 working days to 10


# --- database helpers (run on the ORM thread) ---------------------------------------------


def make_admin() -> dict[str, Any]:
    """A superuser with an authenticator, the statutory policies, and the dates the test
    expects, counted on the calendar as it is before the admin touches it."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from tests.auth import totp_device
    from triage.deadlines import seed_deadline_policies
    from triage.models import Department
    from triage.workdays import WorkCalendar

    seed_deadline_policies()
    admin = get_user_model().objects.create_superuser("admin1", password=PASSWORD)
    totp_device(admin)
    today, calendar = timezone.localdate(), WorkCalendar()
    return {
        "target": Department.objects.get(code=TARGET).pk,
        "petition": Department.objects.get(code="379900-xf").pk,
        "holiday": calendar.add_workdays(today, 1),  # the next working day becomes a day off
        # With one working day fewer, the 10th working day is the 11th of today's calendar.
        "due": calendar.add_workdays(today, NOTICE_DAYS + 1),
        "due_without_holiday": calendar.add_workdays(today, NOTICE_DAYS),
        "due_before": calendar.add_workdays(today, 15),
    }


def user_facts(username: str) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.select_related("staff_profile__department").get(username=username)
    return {"groups": sorted(user.groups.values_list("name", flat=True)), "department": user.staff_profile.department.code,
            "staff": user.is_staff, "superuser": user.is_superuser}


def rule_terms(pk: int) -> list[str]:
    from triage.models import Case

    return list(Case.objects.get(pk=pk).triage_explanation.get("rules", {}).get("terms", []))


# --- page helpers -------------------------------------------------------------------------


def admin_save(page: Page, path: str) -> None:
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith(path)) as info:
        page.locator("input[name=_save]").click()
    page.wait_for_load_state()
    assert info.value.status == 302, body_text(page)
    assert page.locator("ul.messagelist li.success").count() == 1, body_text(page)


def open_row(page: Page, changelist: str, name: str | None = None) -> str:
    """Open a row of a change list (the first, or the one whose link reads `name`)."""
    page.goto(changelist)
    links = page.locator("#result_list tbody tr th a")
    (links.first if name is None else links.filter(has_text=name).first).click()
    page.wait_for_load_state()
    return page.url[page.url.index("/admin/"):]


@pytest.mark.browser
def test_admin_changes_routing_deadlines_holidays_and_staff(
    live_server_url: str, celery_worker: Any, demo_org: None,
    orm: Orm, browser: Callable[[], Browser], screens: Screens,
) -> None:
    facts = orm(make_admin)
    page = browser().new_context(locale="zh-CN", base_url=live_server_url).new_page()
    staff_login(page, "admin1", screens, "admin-desk", orm, password=PASSWORD)
    page.get_by_role("link", name="系统管理", exact=True).click()
    page.wait_for_load_state()
    assert page.url.endswith("/admin/")
    screens.take(page, "admin-index")

    # The routing rule: street lighting to the district transport bureau.
    change = open_row(page, f"/admin/triage/termrule/?q={RULE_TERM}")
    assert page.locator("input[name=term]").input_value() == RULE_TERM
    page.locator("input[name=label]").fill("")
    page.locator("select[name=department]").select_option(str(facts["target"]))
    screens.take(page, "admin-rule")
    admin_save(page, change)
    screens.take(page, "admin-rule-saved")

    # The deadline policy: 受理告知 within 10 working days instead of 15.
    change = open_row(page, "/admin/triage/deadlinepolicy/?kind=acceptance_notice", "信访工作条例")
    assert page.locator("input[name=amount]").input_value() == "15"
    page.locator("input[name=amount]").fill(str(NOTICE_DAYS))
    screens.take(page, "admin-policy")
    admin_save(page, change)

    # A day off the national calendar does not know (a local holiday).
    page.goto("/admin/triage/calendaroverride/add/")
    page.locator("input[name=date]").fill(facts["holiday"].isoformat())
    page.locator("input[name=is_workday]").uncheck()
    page.locator("input[name=note]").fill("临时放假")
    screens.take(page, "admin-holiday")
    admin_save(page, "/admin/triage/calendaroverride/add/")
    screens.take(page, "admin-holiday-saved")

    # A new handler: the account, then the role and the department on one page.
    page.goto("/admin/auth/user/add/")
    page.locator("input[name=username]").fill("jt-new")
    page.locator("input[name=password1]").fill(NEW_PASSWORD)
    page.locator("input[name=password2]").fill(NEW_PASSWORD)
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/admin/auth/user/add/")) as info:
        page.locator("input[name=_save]").click()
    page.wait_for_load_state()
    assert info.value.status == 302, body_text(page)
    page.locator("#id_groups_from").select_option(label="承办人")  # the role, named as the console names it
    page.locator("#id_groups_add").click()
    page.locator("select[name='staff_profile-0-department']").select_option(str(facts["target"]))
    screens.take(page, "admin-user")
    admin_save(page, page.url[page.url.index("/admin/"):])
    assert orm(user_facts, "jt-new") == {"groups": ["handler"], "department": TARGET, "staff": False,
                                         "superuser": False}
    row = page.locator("#result_list tbody tr").filter(has=page.get_by_role("link", name="jt-new", exact=True))
    assert "东城区交通运输局" in row.inner_text() and "承办人" in row.inner_text()
    screens.take(page, "admin-users")

    # The next report about street lighting is routed by the edited rule.
    citizen = browser().new_context(java_script_enabled=False, locale="zh-CN", base_url=live_server_url).new_page()
    citizen.goto("/report/")
    citizen.get_by_label("投诉", exact=True).check()
    citizen.get_by_label("标题").fill("路灯不亮")
    citizen.get_by_role("textbox", name="反映内容").fill(BODY)
    citizen.get_by_label("事发地点（区县、乡镇街道、村社区）").select_option(VILLAGE)
    response = submit_and_wait(citizen, "提交", "/report/")
    assert response.status == 201, body_text(citizen)
    receipt = citizen.locator("#receipt").inner_text().strip().replace(" ", "")
    screens.take(citizen, "citizen-receipt")
    assert wait_for(lambda: (orm(case_facts, receipt) or {}).get("status") == "assigned", timeout=90), (
        f"case {orm(case_facts, receipt)!r}; worker log:\n{celery_worker.log_text()[-3000:]}")
    case = orm(case_facts, receipt)
    assert case is not None and case["department"] == TARGET
    assert orm(rule_terms, case["pk"]) == [RULE_TERM]

    # The new handler signs in, finds it, and its notice deadline counts policy and holiday.
    handler = browser().new_context(locale="zh-CN", base_url=live_server_url).new_page()
    staff_login(handler, "jt-new", screens, "new-handler-desk", password=NEW_PASSWORD)
    nav(handler, "案件办理")
    handler.get_by_role("link", name=case["number"], exact=True).click()
    handler.wait_for_load_state()
    notice = handler.locator("#deadlines tbody tr").filter(has=handler.get_by_text("受理告知", exact=True))
    due = notice.locator("td").nth(1).inner_text().strip()
    expected: date = facts["due"]
    assert due == f"{expected.isoformat()} 23:59", (due, facts)
    assert expected not in (facts["due_without_holiday"], facts["due_before"])
    screens.take(handler, "new-handler-case")

    # The telephony system's service account and its API token: shown once, then used by the
    # system to push a call.
    page.goto("/admin/auth/user/add/")
    page.locator("input[name=username]").fill("telephony")
    page.locator("input[name=password1]").fill(NEW_PASSWORD)
    page.locator("input[name=password2]").fill(NEW_PASSWORD)
    page.locator("input[name=_save]").click()
    page.wait_for_load_state()
    page.locator("#id_groups_from").select_option(label="话务员")
    page.locator("#id_groups_add").click()
    page.locator("select[name='staff_profile-0-department']").select_option(str(facts["petition"]))
    admin_save(page, page.url[page.url.index("/admin/"):])
    page.goto("/admin/intake/servicetoken/add/")
    page.locator("select[name=user]").select_option(label="telephony")
    page.locator("input[name=name]").fill("12345话务系统来电推送")
    page.locator("input[name=_save]").click()
    page.wait_for_load_state()
    key = page.locator("#shown-once code.secret").inner_text().strip()
    assert key.startswith("qfs_") and "只显示这一次" in body_text(page)
    screens.take(page, "admin-token")
    page.goto("/admin/intake/servicetoken/")
    assert key not in page.content() and key[:8] in page.content()
    api = browser().new_context(base_url=live_server_url).request
    pushed = api.post("/api/v1/staff/reports/", headers={"Authorization": f"Token {key}"},
                      data={"channel": "call", "body": BODY, "area_code": VILLAGE})
    assert pushed.status == 201, pushed.text()
    assert api.post("/api/v1/staff/reports/", headers={"Authorization": f"Token {key[:-2]}xx"},
                    data={"channel": "call", "body": BODY}).status == 401
