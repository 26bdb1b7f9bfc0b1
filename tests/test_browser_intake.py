"""Browser journeys on the real server: a citizen without JavaScript, and the intake desk."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext

from tests.browser import Orm, Screens, body_text, nav, png_file, submit_and_wait
from tests.conftest import wait_for

VILLAGE = "379901001002"  # 清河市东城区东关街道文化路社区
GROUPED_RECEIPT = re.compile(r"^\d{4} \d{4} \d{4} \d{4}$")
CASE_NUMBER = re.compile(r"^QF\d{4}\d{8}$")
NOT_FOUND = "未找到与该查询码对应的记录，请核对后重试。"
LOCAL = ZoneInfo("Asia/Shanghai")

CITIZEN_BODY = "文化路社区菜市场门口的下水道堵塞两个多月，污水漫到路面，多次向社区反映无人处理，请督促疏通。"
CITIZEN_MESSAGE = "补充：今天早上污水已经流进旁边的幼儿园门口，请尽快处理。"
LETTER_BODY = "来信反映：北苑街道某小区电梯长期故障，业主多次报修，物业一直拖延不修，老人上下楼困难。"
VISIT_BODY = "三名村民来访反映：白沙村土地征收补偿款至今未发放到位，要求说明补偿标准并尽快发放。"
CALL_BODY = "来电反映：青石镇一家工厂夜间排放刺鼻废气，附近居民晚上无法开窗，请环保部门查处。"


# --- database helpers (run on the ORM thread) ---------------------------------------------


def case_status_for(receipt: str) -> str | None:
    from intake.selectors import report_by_receipt
    from triage.models import Case

    report = report_by_receipt(receipt)
    case = Case.objects.filter(report=report).first() if report else None
    return case.status if case else None


def report_facts(receipt: str) -> dict[str, Any] | None:
    from intake.models import Attachment
    from intake.selectors import report_by_receipt

    report = report_by_receipt(receipt)
    if report is None:
        return None
    return {
        "channel": report.channel,
        "source": report.source,
        "matter_type": report.matter_type,
        "logged_by": report.logged_by.get_username() if report.logged_by else None,
        "postmarked_on": report.postmarked_on,
        "visitor_count": report.visitor_count,
        "call_started_at": report.call_started_at,
        "call_duration_seconds": report.call_duration_seconds,
        "attachments": Attachment.objects.filter(report=report, message__isnull=True).count(),
    }


def report_count() -> int:
    from intake.models import Report

    return Report.objects.count()


def cases_triaged() -> int:
    """Cases the worker has moved on from 已登记 (to the human queue or a department)."""
    from triage.models import Case

    return Case.objects.exclude(status="received").count()


# --- citizen ----------------------------------------------------------------------------


@pytest.mark.browser
def test_citizen_files_a_report_and_follows_it_without_javascript(
    live_server_url: str, celery_worker: Any, demo_org: None, orm: Orm, browser: Callable[[], Browser],
    screens: Screens, tmp_path: Path,
) -> None:
    photo = png_file(tmp_path, "下水道.png", (90, 120, 160))
    context: BrowserContext = browser().new_context(java_script_enabled=False, locale="zh-CN", base_url=live_server_url)
    page = context.new_page()
    seen_urls: list[str] = []
    context.on("request", lambda r: seen_urls.append(r.url))
    page.on("framenavigated", lambda f: seen_urls.append(f.url))

    # Home, then 我要反映.
    page.goto("/")
    assert page.get_by_role("heading", level=1).inner_text() == "有话请说，清风为您守密"
    screens.take(page, "home")
    nav(page, "我要反映")
    assert page.url == f"{live_server_url}/report/"
    screens.take(page, "report-form")

    # The form, in Chinese, down to a 社区 in the place select.
    page.get_by_label("投诉", exact=True).check()
    page.get_by_label("标题").fill("文化路菜市场下水道堵塞")
    page.get_by_role("textbox", name="反映内容").fill(CITIZEN_BODY)
    page.get_by_label("事发地点（区县、乡镇街道、村社区）").select_option(VILLAGE)
    assert "文化路社区" in page.locator("select[name=area] option:checked").inner_text()
    page.get_by_label("具体地点").fill("菜市场东门")
    page.get_by_label("发生时间").fill("近两个月")
    page.get_by_label("附件").set_input_files(str(photo))
    screens.take(page, "report-filled")
    response = submit_and_wait(page, "提交", "/report/")
    assert response.status == 201, body_text(page)

    # The receipt page: 16 digits in groups of four, shown once.
    assert page.get_by_role("heading", level=1).inner_text() == "提交成功"
    grouped = page.locator("#receipt").inner_text().strip()
    assert GROUPED_RECEIPT.match(grouped), grouped
    receipt = grouped.replace(" ", "")
    assert CASE_NUMBER.match(page.locator("#case-number").inner_text().strip())
    screens.take(page, "receipt")

    facts = orm(report_facts, receipt)
    assert facts is not None
    assert facts["channel"] == "web"
    assert facts["matter_type"] == "complaint"
    assert facts["attachments"] == 1

    # The real worker moves the case on to 待分流.
    assert wait_for(lambda: orm(case_status_for, receipt) == "awaiting_triage", timeout=60), (
        f"case still {orm(case_status_for, receipt)!r}; worker log:\n{celery_worker.log_text()[-3000:]}"
    )

    # 查询办理情况 with the receipt as people type it (groups of four).
    nav(page, "查询办理情况")
    screens.take(page, "lookup")
    page.get_by_label("查询码").fill(grouped)
    response = submit_and_wait(page, "查询", "/status/")
    assert response.status == 200, body_text(page)
    assert page.locator("#case-status").inner_text().strip() == "待分流"
    screens.take(page, "status")

    # 留言或补充材料.
    page.get_by_label("留言或补充材料").fill(CITIZEN_MESSAGE)
    response = submit_and_wait(page, "发送", "/status/message/")
    assert response.status == 200, body_text(page)
    assert page.locator(".alert.ok").inner_text().strip() == "留言已发送。"
    assert CITIZEN_MESSAGE in page.locator("ol.thread").inner_text()
    assert page.locator("#case-status").inner_text().strip() == "待分流"
    screens.take(page, "message-sent")

    # A wrong receipt is "not found"; a malformed one is told the form of a receipt.
    wrong = str((int(receipt[0]) + 1) % 10) + receipt[1:]
    answers: list[tuple[int, str]] = []
    for attempt, label in ((wrong, "wrong"), ("1234 5678", "malformed")):
        nav(page, "查询办理情况")
        page.get_by_label("查询码").fill(attempt)
        response = submit_and_wait(page, "查询", "/status/")
        answers.append((response.status, page.locator(".alert.error").inner_text().strip()))
        assert page.locator("#case-status").count() == 0
        screens.take(page, f"lookup-{label}")
    assert answers == [(404, NOT_FOUND), (400, "请输入16位查询码。")]

    # Never a receipt in any address the browser asked for or showed.
    assert seen_urls
    for url in [*seen_urls, page.url]:
        assert receipt not in re.sub(r"\D", "", url), url
    context.close()


# --- intake desk ------------------------------------------------------------------------


@pytest.mark.browser
def test_clerk_logs_a_letter_a_visit_and_a_call(
    live_server_url: str, clerk: Any, celery_worker: Any, orm: Orm, browser: Callable[[], Browser],
    screens: Screens, tmp_path: Path,
) -> None:
    scan = png_file(tmp_path, "来信扫描件.png", (240, 240, 230))
    today = datetime.now(LOCAL).date()
    postmark = today - timedelta(days=3)
    call_start = (datetime.now(LOCAL) - timedelta(hours=1)).replace(second=0, microsecond=0)
    context = browser().new_context(locale="zh-CN", base_url=live_server_url)
    page = context.new_page()

    page.goto("/staff/login/")
    screens.take(page, "login")
    page.locator("input[name=username]").fill("clerk1")
    page.locator("input[name=password]").fill("clerk-password-123")
    response = submit_and_wait(page, "登录", "/staff/login/")
    assert response.status == 302, body_text(page)
    assert page.url == f"{live_server_url}/staff/"
    assert page.get_by_role("heading", level=1).inner_text() == "工作台"
    screens.take(page, "desk")

    def expect_slip(step: str, channel: str) -> tuple[str, dict[str, Any]]:
        assert page.get_by_role("heading", level=1).inner_text() == "信访事项登记回执"
        grouped = page.locator("#receipt").inner_text().strip()
        assert GROUPED_RECEIPT.match(grouped), grouped
        assert CASE_NUMBER.match(page.locator("#case-number").inner_text().strip())
        screens.take(page, step)
        facts = orm(report_facts, grouped)
        assert facts is not None
        assert (facts["channel"], facts["source"], facts["logged_by"]) == (channel, "staff_form", "clerk1")
        return grouped, facts

    # 来信登记, with a scan and a postmark date.
    nav(page, "来信登记")
    screens.take(page, "letter-form")
    page.get_by_label("检举控告", exact=True).check()
    page.get_by_role("textbox", name="反映内容").fill(LETTER_BODY)
    page.get_by_label("事发地点（区县、乡镇街道、村社区）").select_option("379901002001")
    page.get_by_label("收信日期").fill(today.isoformat())
    page.get_by_label("邮戳日期").fill(postmark.isoformat())
    page.get_by_label("信件扫描件").set_input_files(str(scan))
    response = submit_and_wait(page, "登记", "/staff/intake/letter/")
    assert response.status == 201, body_text(page)
    _, letter = expect_slip("letter-slip", "letter")
    assert letter["postmarked_on"] == postmark
    assert letter["attachments"] == 1

    # 来访登记: three visitors, two representatives.
    nav(page, "来访登记")
    screens.take(page, "visit-form")
    page.get_by_role("textbox", name="反映内容").fill(VISIT_BODY)
    page.get_by_label("事发地点（区县、乡镇街道、村社区）").select_option("379902101201")
    page.get_by_label("来访人数").fill("3")
    page.get_by_label("代表姓名").fill("王建国\n李秀英")
    response = submit_and_wait(page, "登记", "/staff/intake/visit/")
    assert response.status == 201, body_text(page)
    _, visit = expect_slip("visit-slip", "visit")
    assert visit["visitor_count"] == 3

    # Six representatives: a Chinese error, nothing stored.
    before = orm(report_count)
    nav(page, "来访登记")
    page.get_by_role("textbox", name="反映内容").fill(VISIT_BODY)
    page.get_by_label("来访人数").fill("30")
    page.get_by_label("代表姓名").fill("\n".join(["王建国", "李秀英", "张伟", "刘芳", "陈明", "赵丽"]))
    response = submit_and_wait(page, "登记", "/staff/intake/visit/")
    assert response.status == 400
    assert "提交未成功" in page.locator(".alert.error").inner_text()
    field_errors = page.locator(".field.has-error .error").all_inner_texts()
    assert "集体访代表不超过5人（《信访工作条例》）。" in field_errors
    assert page.locator("#receipt").count() == 0
    screens.take(page, "visit-six-representatives")
    assert orm(report_count) == before

    # 来电登记: number, start and duration.
    nav(page, "来电登记")
    screens.take(page, "call-form")
    page.get_by_label("求助", exact=True).check()
    page.get_by_role("textbox", name="反映内容").fill(CALL_BODY)
    page.get_by_label("来电号码").fill("13800138000")
    page.get_by_label("来电时间").fill(call_start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("通话时长（秒）").fill("185")
    response = submit_and_wait(page, "登记", "/staff/intake/call/")
    assert response.status == 201, body_text(page)
    assert "逐组读出查询码" in page.locator(".slip").inner_text()
    _, call = expect_slip("call-slip", "call")
    assert call["call_duration_seconds"] == 185
    assert call["call_started_at"] == call_start

    assert orm(report_count) == 3
    assert wait_for(lambda: orm(cases_triaged) == 3, timeout=60), celery_worker.log_text()[-3000:]
    context.close()
