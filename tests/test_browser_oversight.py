"""Browser journeys on the real server for the roles that oversee casework: leadership
(dashboards, filters, drill-down to the counted cases, CSV and Excel exports opened and
checked, the monthly printable report, a logged content grant), the auditor (the access
log, hash-chain verification, and never a word of content) and a department head's own
dashboard and publication of a typical case on the public page."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, Locator, Page

from tests.browser import Orm, Screens, body_text, nav, submit_and_wait
from tests.test_browser_console import staff_login

PASSWORD = "x-password-123"  # tests.triage.casework.staff
OWN, OTHER = "379901-zj", "379902-zj"  # 东城区住建局, 西城区住建局
# key: (days ago, channel, department, final state, rating, body)
HISTORY = {
    "a": (10, "web", OWN, "closed", "satisfied", "文化路小区楼道堆放杂物多年，存在消防隐患，请督促物业清理。"),
    "b": (8, "call", OWN, "closed", "unsatisfied", "来电反映：东关街道某工地夜间施工噪音扰民，凌晨两点还在打桩。"),
    "c": (5, "call", OWN, "in_progress", None, "来电反映：北苑小区二次供水水箱多年未清洗，自来水发黄有异味。"),
    "d": (3, "web", OTHER, "assigned", None, "西城区某老旧小区加装电梯工程停工半年，居民出行困难。"),
    "e": (45, "web", OWN, "closed", None, "去年反映过的小区违章搭建至今未拆除，请住建部门依法处理。"),
}
PERIOD = {"a", "b", "c", "d"}  # the dashboard's default period is the last 30 days
GRANT_REASON = "核查群众反映的消防隐患整改情况"
PUBLISHED_TITLE = "文化路小区楼道杂物清理"
PUBLISHED_SUMMARY = "群众反映某小区楼道长期堆放杂物、存在消防隐患。区住建局督促物业三日内清理完毕，并建立每周巡查制度。"


# --- database helpers (run on the ORM thread) ---------------------------------------------


def seed_history() -> dict[str, dict[str, Any]]:
    """Cases through the real services at past moments (the clock frozen at each step),
    staff of every overseeing role, and the heads' authenticators."""
    from django.utils import timezone

    from intake.services import feedback_give
    from tests.auth import totp_device
    from tests.triage.casework import Team, bring_to, frozen, new_case, staff
    from triage.models import Case

    now = timezone.now()
    teams = {OWN: Team(OWN, "own"), OTHER: Team(OTHER, "other")}
    for team in teams.values():
        totp_device(team.head)
    staff("leader1", "leadership", "379900-gov")
    staff("auditor1", "auditor", "379900-jw")
    facts: dict[str, dict[str, Any]] = {}
    for key, (days, channel, department, state, rating, body) in HISTORY.items():
        moment = now - timedelta(days=days)
        with frozen(moment):
            case = new_case(department=department, channel=channel, body=body)
        Case.objects.filter(pk=case.pk).update(created_at=moment)
        with frozen(moment + timedelta(days=2)):
            case = bring_to(Case.objects.get(pk=case.pk), state, teams[department])
        if rating:
            feedback_give(report=case.report, rating=rating)
        facts[key] = {"pk": case.pk, "number": case.number, "this_month": timezone.localtime(moment).month
                      == timezone.localtime(now).month}
    return facts


def access_log() -> list[tuple[str, str, str]]:
    from intake.models import AccessRecord

    return list(AccessRecord.objects.order_by("at").values_list("user__username", "kind", "reason"))


def alter_event(pk: int) -> None:
    """Someone with database access rewrites what happened (the chain must notice)."""
    from tests.tamper import owner_tampering
    from triage.models import CaseEvent

    with owner_tampering():
        CaseEvent.objects.filter(case_id=pk, seq=2).update(to_status="rejected")


def pk_of(code: str) -> int:
    from triage.models import Department

    return Department.objects.get(code=code).pk


# --- page helpers -------------------------------------------------------------------------


def figure(page: Page, label: str) -> Locator:
    """The drill-down link of one number in the dashboard's summary."""
    tile = page.locator("#summary dl.figures > div").filter(has=page.get_by_text(label, exact=True))
    return tile.locator("dd a.drill").first


def listed(page: Page) -> set[str]:
    return {n.strip() for n in page.locator("#cases tbody td:first-child a").all_inner_texts()}


def numbers(facts: dict[str, dict[str, Any]], keys: set[str]) -> set[str]:
    return {facts[k]["number"] for k in keys}


def filter_dashboard(page: Page, **fields: str) -> None:
    for name, value in fields.items():
        page.locator(f"form.filters select[name={name}]").select_option(value)
    page.locator("form.filters").get_by_role("button", name="筛选", exact=True).click()
    page.wait_for_load_state()


def download(page: Page, link: Locator, folder: Path) -> Path:
    with page.expect_download() as info:
        link.click()
    path = folder / info.value.suggested_filename
    info.value.save_as(path)
    return path


def drill(page: Page, link: Locator) -> set[str]:
    """Follow a number to the console; the list holds exactly as many cases as it said."""
    expected = link.inner_text().strip()
    link.click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "案件办理"
    assert page.get_by_text(f"共 {expected} 件", exact=True).is_visible()
    return listed(page)


# --- the journeys -------------------------------------------------------------------------


@pytest.mark.browser
def test_leadership_drills_down_exports_and_prints_and_the_auditor_checks_the_record(
    live_server_url: str, demo_org: None, orm: Orm, browser: Callable[[], Browser],
    screens: Screens, tmp_path: Path,
) -> None:
    facts = orm(seed_history)
    leader = browser().new_context(locale="zh-CN", base_url=live_server_url, accept_downloads=True).new_page()
    staff_login(leader, "leader1", screens, "leader-desk", password=PASSWORD)

    # The dashboard: every number of the period, each a link to the cases it counts.
    nav(leader, "统计看板")
    assert leader.get_by_role("heading", level=1).inner_text() == "统计看板"
    assert figure(leader, "收到").inner_text() == "4"
    assert figure(leader, "办结").inner_text() == "2"
    screens.take(leader, "leader-dashboard")
    assert drill(leader, figure(leader, "收到")) == numbers(facts, PERIOD)
    screens.take(leader, "leader-drill-received")
    leader.go_back()
    assert drill(leader, figure(leader, "当前积压")) == numbers(facts, {"c", "d"})
    leader.go_back()

    # The league table rolls departments up through the tree; a district opens its own.
    district = leader.locator("#league tr[data-department='379901-gov']")
    assert district.locator("td").nth(1).inner_text() == "3"
    district.get_by_role("link", name="东城区人民政府").click()
    leader.wait_for_load_state()
    assert figure(leader, "收到").inner_text() == "3"
    assert "东城区住房和城乡建设局" in leader.locator("#league").inner_text()
    screens.take(leader, "leader-district")
    leader.go_back()

    # Filters: 12345 calls only, then one department (with its sub-tree).
    filter_dashboard(leader, channel="call")
    assert (figure(leader, "收到").inner_text(), figure(leader, "办结").inner_text()) == ("2", "1")
    screens.take(leader, "leader-filter-call")
    assert drill(leader, figure(leader, "办结")) == numbers(facts, {"b"})
    screens.take(leader, "leader-drill-closed-calls")
    leader.go_back()

    # Exports under the same filters, opened and read back.
    summary_csv = download(leader, leader.locator("#summary .exports").get_by_role("link", name="CSV"), tmp_path)
    with summary_csv.open(encoding="utf-8-sig", newline="") as handle:
        rows = {row[0]: row[1] for row in csv.reader(handle)}
    assert (rows["指标"], rows["收到"], rows["办结"]) == ("数值", "2", "1")
    book = load_workbook(download(leader, leader.get_by_role("link", name="导出全部表格（Excel）"), tmp_path),
                         read_only=True)
    assert book.sheetnames[:3] == ["总体情况", "按期办理", "办理用时"]
    summary = {r[0]: r[1] for r in book["总体情况"].iter_rows(min_row=2, values_only=True)}
    assert (summary["收到"], summary["办结"]) == (2, 1)
    satisfaction = {r[0]: r[1] for r in book["满意度"].iter_rows(min_row=2, values_only=True)}
    assert (satisfaction["满意"], satisfaction["不满意"]) == (0, 1)  # b, the closed call, was unsatisfied

    filter_dashboard(leader, channel="", department=str(orm(pk_of, OWN)))
    assert figure(leader, "收到").inner_text() == "3"
    assert drill(leader, figure(leader, "收到")) == numbers(facts, {"a", "b", "c"})
    leader.go_back()
    screens.take(leader, "leader-filter-department")

    # The monthly report of this month for that department: a printable page, and the
    # browser prints it to PDF.
    leader.locator("a[href*='/staff/dashboard/report/?month=']").first.click()
    leader.wait_for_load_state()
    month = leader.get_by_role("heading", level=1).inner_text()
    assert re.fullmatch(r"信访举报办理情况月度报告（\d{4}年\d{1,2}月）", month), month
    assert "东城区住房和城乡建设局" in leader.locator("p.muted").first.inner_text()
    summary_rows = leader.locator("section.report-table").first.locator("tbody tr")
    received = summary_rows.filter(has=leader.get_by_text("收到", exact=True)).locator("td").last.inner_text()
    assert received == str(sum(1 for k in ("a", "b", "c", "e") if facts[k]["this_month"]))
    screens.take(leader, "leader-monthly-report")
    pdf = screens.folder / f"{screens.test}-monthly-report.pdf"
    leader.emulate_media(media="print")
    leader.pdf(path=str(pdf), format="A4")
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000
    leader.emulate_media(media="screen")

    # Early warning: the alerts page (no unusual rise in this small history).
    leader.goto("/staff/dashboard/")
    leader.get_by_role("link", name="预警", exact=True).click()
    leader.wait_for_load_state()
    screens.take(leader, "leader-alerts")

    # Leadership reads a case's content only after giving a reason, which is recorded.
    leader.goto(f"/staff/cases/{facts['a']['pk']}/")
    assert leader.locator("#content").count() == 0
    leader.get_by_label("查看理由").fill(GRANT_REASON)
    screens.take(leader, "leader-grant")
    response = submit_and_wait(leader, "查看内容", f"/staff/cases/{facts['a']['pk']}/content/")
    assert response.status == 200, body_text(leader)
    assert "楼道堆放杂物" in leader.locator("#content").inner_text()
    screens.take(leader, "leader-content")
    assert orm(access_log) == [("leader1", "view_content", GRANT_REASON)]
    leader.context.close()

    # The auditor: who saw what and why, with links to the cases, and no content anywhere.
    auditor = browser().new_context(locale="zh-CN", base_url=live_server_url).new_page()
    staff_login(auditor, "auditor1", screens, "auditor-desk", password=PASSWORD)
    nav(auditor, "审计")
    log = auditor.locator("#access-records tbody tr")
    assert log.count() == 1
    assert [c.strip() for c in log.first.locator("td").all_inner_texts()[1:]] == [
        "leader1", "查看内容", facts["a"]["number"], GRANT_REASON]
    screens.take(auditor, "auditor-log")
    auditor.get_by_label("查阅人").fill("nobody")
    auditor.locator("form.filters").get_by_role("button", name="筛选", exact=True).click()
    auditor.wait_for_load_state()
    assert "没有查阅记录。" in auditor.locator("#access-records").inner_text()
    auditor.goto("/staff/audit/")

    auditor.get_by_role("link", name=facts["a"]["number"], exact=True).click()
    auditor.wait_for_load_state()
    assert auditor.locator("#no-content").is_visible()
    assert auditor.locator("#events tbody tr").count() >= 6  # register … approve, rate
    assert auditor.locator("#actions").count() == 0
    screens.take(auditor, "auditor-case")
    html = auditor.content()
    assert not any(body[:8] in html for *_rest, body in HISTORY.values())
    refused = auditor.goto("/staff/dashboard/")
    assert refused is not None and refused.status == 403  # aggregates are leadership's

    # Verify the chains: intact; then a rewritten event is found and named.
    auditor.goto("/staff/audit/")
    response = submit_and_wait(auditor, "校验", "/staff/audit/verify/")
    assert response.status == 200
    assert "办理记录完整" in auditor.locator("#verify-result").inner_text()
    assert f"已校验 {len(HISTORY)} 件案件" in auditor.locator("#verify-result").inner_text()
    screens.take(auditor, "auditor-verified")
    orm(alter_event, facts["b"]["pk"])
    auditor.get_by_label("案件编号").first.fill(facts["b"]["number"])
    response = submit_and_wait(auditor, "校验", "/staff/audit/verify/")
    problems = auditor.locator("#verify-problems").inner_text()
    assert f"案件 {facts['b']['number']} 第 2 条" in problems and "哈希不符" in problems
    screens.take(auditor, "auditor-tampered")


@pytest.mark.browser
def test_a_head_reads_their_own_dashboard_and_publishes_a_typical_case(
    live_server_url: str, demo_org: None, orm: Orm, browser: Callable[[], Browser], screens: Screens,
) -> None:
    facts = orm(seed_history)
    head = browser().new_context(locale="zh-CN", base_url=live_server_url).new_page()
    staff_login(head, "own-head", screens, "head-desk", orm, password=PASSWORD)

    # Their own department only: the other district's case is in no figure and no option.
    nav(head, "统计看板")
    assert figure(head, "收到").inner_text() == "3"
    options = head.locator("form.filters select[name=department] option").all_inner_texts()
    assert "东城区住房和城乡建设局" in options and "西城区住房和城乡建设局" not in options
    screens.take(head, "head-dashboard")
    assert drill(head, figure(head, "收到")) == numbers(facts, {"a", "b", "c"})
    screens.take(head, "head-drill")

    # A closed case links to the publish page; the summary goes to the public page.
    head.get_by_role("link", name=facts["a"]["number"], exact=True).click()
    head.wait_for_load_state()
    head.locator("#publish").get_by_role("link", name="公开典型案例").click()
    head.wait_for_load_state()
    head.get_by_label("标题").fill(PUBLISHED_TITLE)
    head.get_by_label("公开摘要").fill("反映人张三丰（电话13812345678）反映楼道堆物。")
    response = submit_and_wait(head, "公开", f"/staff/cases/{facts['a']['pk']}/publish/")
    assert response.status == 400  # identity in the text is refused
    screens.take(head, "head-publish-refused")
    head.get_by_label("公开摘要").fill(PUBLISHED_SUMMARY)
    response = submit_and_wait(head, "公开", f"/staff/cases/{facts['a']['pk']}/publish/")
    assert response.status == 302, body_text(head)
    assert head.locator(".alert.ok").inner_text().strip() == "已公开。"
    screens.take(head, "head-published")

    # Anyone, without JavaScript, reads it on the public page.
    public = browser().new_context(java_script_enabled=False, locale="zh-CN", base_url=live_server_url).new_page()
    public.goto("/public/")
    assert re.search(r"\d{4}年\d{1,2}月各部门", public.locator("main").inner_text())
    public.get_by_role("link", name=PUBLISHED_TITLE).click()
    public.wait_for_load_state()
    assert PUBLISHED_SUMMARY in public.locator("main").inner_text()
    screens.take(public, "public-case")
