"""Browser journey on the real server and worker: a citizen's report is routed, a handler
accepts it and asks a question, the citizen answers with the receipt, the handler drafts a
reply from a template, the head approves it, and the citizen reads it and rates it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from intake.staff_auth import otp_required
from tests.auth import totp_code, totp_device
from tests.browser import Orm, Screens, body_text, nav, submit_and_wait
from tests.conftest import wait_for

PASSWORD = "console-password-123"
DEPARTMENT = "379921-jt"  # 南山县交通运输局: where the worker routes a taxi complaint from 青石镇
TOWNSHIP = "379921101"  # 南山县青石镇
BODY = "出租车司机拒载绕路，还不打表乱收费，请交通运输局整治出租车行业。"
QUESTION = "请问您乘车的具体时间和车牌号是多少？"
ANSWER = "是上周五晚上八点左右，车牌号记不清了，是一辆绿色出租车。"
REPLY = "经调查核实，我局已约谈该出租车公司，责令其加强驾驶员管理，并在青石镇开展出租车专项整治。"


# --- database helpers (run on the ORM thread) ---------------------------------------------


def make_staff() -> None:
    """The department's staff, and the rows migrations load (an earlier transactional test
    may have flushed them): deadline policies and reply templates."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from triage.deadlines import seed_deadline_policies
    from triage.defaults import seed_reply_templates
    from triage.models import Department, ReplyTemplate, StaffProfile

    seed_deadline_policies()
    seed_reply_templates(ReplyTemplate)

    department = Department.objects.get(code=DEPARTMENT)
    for username, group, home in (("jt-handler", "handler", department), ("jt-head", "department_head", department),
                                  ("triage-x", "triage_officer", Department.objects.get(code="379900-xf"))):
        user = get_user_model().objects.create_user(username, password=PASSWORD)
        user.groups.add(Group.objects.get(name=group))
        StaffProfile.objects.create(user=user, department=home)
        if otp_required(user):
            totp_device(user)  # the head may reveal identities: an enrolled authenticator


def pk_of(name: str) -> int:
    from triage.models import Category, Department

    if "-" in name:
        return Department.objects.get(code=name).pk
    return Category.objects.get(name=name).pk


def case_facts(receipt: str) -> dict[str, Any] | None:
    from intake.selectors import report_by_receipt
    from triage.models import Case

    report = report_by_receipt(receipt)
    case = Case.objects.select_related("department").filter(report=report).first() if report else None
    if case is None:
        return None
    return {"pk": case.pk, "number": case.number, "status": case.status, "suspended": case.suspended_at is not None,
            "department": case.department.code if case.department else None, "queue_reason": case.queue_reason}


def event_kinds(pk: int) -> list[str]:
    from triage.models import CaseEvent

    return list(CaseEvent.objects.filter(case_id=pk).order_by("seq").values_list("kind", flat=True))


# --- the journey --------------------------------------------------------------------------


def current_totp(username: str) -> str:
    from django.contrib.auth import get_user_model

    return totp_code(totp_device(get_user_model().objects.get(username=username)))


def staff_login(page: Page, username: str, shots: Screens, step: str, run: Any = None, *,
                password: str = PASSWORD) -> None:
    page.goto("/staff/login/")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    response = submit_and_wait(page, "登录", "/staff/login/")
    assert response.status == 302, body_text(page)
    if "/staff/otp/" in page.url:  # a role that may reveal identities: the second factor
        shots.take(page, f"{step}-otp")
        assert run is not None, "a user with a second factor needs the orm helper to read the code"
        page.locator("input[name=token]").fill(run(current_totp, username))
        response = submit_and_wait(page, "验证", page.url[page.url.index("/staff/otp/"):])
        assert response.status == 302, body_text(page)
    shots.take(page, step)


def act(page: Page, button: str, pk: int) -> None:
    response = submit_and_wait(page, button, f"/staff/cases/{pk}/act/")
    assert response.status == 302, body_text(page)
    assert page.locator(".alert.ok").inner_text().strip() == f"已{button}。"


def citizen_status(page: Page, receipt: str) -> None:
    nav(page, "查询办理情况")
    page.get_by_label("查询码").fill(receipt)
    response = submit_and_wait(page, "查询", "/status/")
    assert response.status == 200, body_text(page)


@pytest.mark.browser
def test_a_report_is_handled_to_a_rated_reply(
    live_server_url: str, celery_worker: Any, active_classifier: Any, demo_org: None,
    orm: Orm, browser: Callable[[], Browser], screens: Screens,
) -> None:
    orm(make_staff)

    # The citizen files a report, without JavaScript.
    citizen = browser().new_context(java_script_enabled=False, locale="zh-CN", base_url=live_server_url).new_page()
    citizen.goto("/report/")
    citizen.get_by_label("投诉", exact=True).check()
    citizen.get_by_label("标题").fill("出租车拒载乱收费")
    citizen.get_by_role("textbox", name="反映内容").fill(BODY)
    citizen.get_by_label("事发地点（区县、乡镇街道、村社区）").select_option(TOWNSHIP)
    screens.take(citizen, "citizen-report")
    response = submit_and_wait(citizen, "提交", "/report/")
    assert response.status == 201, body_text(citizen)
    receipt = citizen.locator("#receipt").inner_text().strip().replace(" ", "")
    screens.take(citizen, "citizen-receipt")

    # The real worker triages it: to the county transport bureau, or, when the model is not
    # sure enough, to the human queue, where a triage officer assigns it there.
    assert wait_for(lambda: (orm(case_facts, receipt) or {}).get("status") in {"assigned", "awaiting_triage"},
                    timeout=90), f"case {orm(case_facts, receipt)!r}; worker log:\n{celery_worker.log_text()[-3000:]}"
    facts = orm(case_facts, receipt)
    assert facts is not None
    pk, number = facts["pk"], facts["number"]
    if facts["status"] == "awaiting_triage":
        officer = browser().new_context(locale="zh-CN", base_url=live_server_url).new_page()
        staff_login(officer, "triage-x", screens, "triage-desk")
        officer.goto(f"/staff/triage/{pk}/")
        screens.take(officer, "triage-case")
        correct = officer.locator("form", has=officer.locator("input[name=action][value=correct]"))
        correct.locator("select[name=category]").select_option(str(orm(pk_of, "交通运输")))
        correct.locator("select[name=department]").select_option(str(orm(pk_of, DEPARTMENT)))
        correct.locator("input[name=reason]").fill("出租车行业管理归县交通运输局")
        response = submit_and_wait(officer, "更正并交办", f"/staff/triage/{pk}/action/")
        assert response.status == 302, body_text(officer)
        screens.take(officer, "triage-assigned")
        officer.context.close()
    assert orm(case_facts, receipt)["department"] == DEPARTMENT  # type: ignore[index]

    # The handler finds it in the department queue and opens it: content shows, audited.
    handler = browser().new_context(locale="zh-CN", base_url=live_server_url).new_page()
    staff_login(handler, "jt-handler", screens, "handler-desk")
    nav(handler, "案件办理")
    assert handler.get_by_role("heading", level=1).inner_text() == "案件办理"
    assert number in handler.locator("#cases").inner_text()
    screens.take(handler, "handler-queue")
    handler.get_by_role("link", name=number, exact=True).click()
    handler.wait_for_load_state()
    assert "拒载绕路" in handler.locator("#content").inner_text()
    assert "受理告知" in handler.locator("#deadlines").inner_text()
    screens.take(handler, "handler-case")

    # Accept; then ask the citizen a question, which stops the clocks.
    act(handler, "受理", pk)
    assert handler.locator("#case-status").inner_text().strip() == "已受理"
    screens.take(handler, "handler-accepted")
    handler.get_by_label("向反映人询问的问题").fill(QUESTION)
    act(handler, "询问反映人", pk)
    assert "挂起中" in handler.locator("#case-status").inner_text()
    assert QUESTION in handler.locator("#thread").inner_text()
    assert "暂停" in handler.locator("#deadlines").inner_text()
    screens.take(handler, "handler-asked")
    assert orm(case_facts, receipt)["suspended"] is True  # type: ignore[index]

    # The citizen looks the case up with the receipt, reads the question and answers.
    citizen_status(citizen, receipt)
    assert QUESTION in citizen.locator("ol.thread").inner_text()
    screens.take(citizen, "citizen-question")
    citizen.get_by_label("留言或补充材料").fill(ANSWER)
    response = submit_and_wait(citizen, "发送", "/status/message/")
    assert response.status == 200, body_text(citizen)
    screens.take(citizen, "citizen-answered")
    assert wait_for(lambda: orm(case_facts, receipt)["suspended"] is False, timeout=10)  # type: ignore[index]

    # The handler sees the answer, starts handling, drafts a reply from a template.
    handler.reload()
    assert ANSWER in handler.locator("#thread").inner_text()
    act(handler, "开始办理", pk)
    handler.get_by_label("答复意见").fill("经现场核查：")
    with handler.expect_response(lambda r: r.url.split("#")[0].endswith(f"/staff/cases/{pk}/act/")) as inserted:
        handler.locator("#templates").get_by_role("button", name="已办结（问题已解决）").click()
    assert inserted.value.status == 200, body_text(handler)
    handler.wait_for_load_state()
    draft = handler.get_by_label("答复意见")  # the typed text kept, the template after it
    assert draft.input_value().startswith("经现场核查：\n\n您好！您反映的问题已收悉。")
    screens.take(handler, "handler-template")
    draft.fill(REPLY)
    act(handler, "拟写答复", pk)
    assert "未发布" in handler.locator("#thread").inner_text()
    screens.take(handler, "handler-drafted")
    act(handler, "提交审核", pk)
    assert handler.locator("#case-status").inner_text().strip() == "审核中"
    assert handler.get_by_role("button", name="审核通过并答复", exact=True).count() == 0  # heads approve
    screens.take(handler, "handler-submitted")

    # Before approval the citizen sees no reply.
    citizen_status(citizen, receipt)
    assert REPLY not in citizen.locator("ol.thread").inner_text()

    # The head (not the drafter) approves; the reply is released and the case closes.
    head = browser().new_context(locale="zh-CN", base_url=live_server_url).new_page()
    staff_login(head, "jt-head", screens, "head-desk", orm)
    nav(head, "案件办理")
    head.locator("nav.tabs a[data-status=in_review]").click()
    head.wait_for_load_state()
    assert number in head.locator("#cases").inner_text()
    screens.take(head, "head-queue")
    head.get_by_role("link", name=number, exact=True).click()
    head.wait_for_load_state()
    assert REPLY in head.locator("#thread").inner_text()
    screens.take(head, "head-case")
    response = submit_and_wait(head, "审核通过并答复", f"/staff/cases/{pk}/act/")
    assert response.status == 400 and "请勾选确认后再提交" in body_text(head)  # a stray click sends nothing
    head.get_by_label("已核对答复内容，确认发送给反映人并办结").check()
    act(head, "审核通过并答复", pk)
    assert head.locator("#case-status").inner_text().strip() == "已办结"
    screens.take(head, "head-approved")

    # The citizen reads the reply and rates it.
    citizen_status(citizen, receipt)
    assert citizen.locator("#case-status").inner_text().strip() == "已办结"
    assert REPLY in citizen.locator("ol.thread").inner_text()
    screens.take(citizen, "citizen-reply")
    citizen.get_by_label("满意", exact=True).check()
    response = submit_and_wait(citizen, "提交评价", "/status/feedback/")
    assert response.status == 200, body_text(citizen)
    assert citizen.locator(".alert.ok").inner_text().strip() == "感谢您的评价。"
    screens.take(citizen, "citizen-rated")

    assert orm(case_facts, receipt)["status"] == "rated"  # type: ignore[index]
    kinds = orm(event_kinds, pk)
    assert kinds[:2] == ["register", "route"]
    assert [k for k in kinds[2:] if k != "triage_correct"] == ["accept", "ask_question", "citizen_answer", "start",
                                    "draft_reply", "submit_review", "approve", "rate"]
    head.reload()
    assert head.locator("#rating").inner_text().strip() == "满意"
    screens.take(head, "head-rated")
