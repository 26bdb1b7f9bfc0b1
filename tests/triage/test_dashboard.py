"""Dashboard figures against a small hand-computed history: a case that crossed the 2026
National Day holiday (1–7 Oct; 10 Oct a make-up working day), a 12345 case whose handling
clock was paused, one that ran late, and one transferred to another district. Also the
drill-down (each number lists exactly the cases it counts), scope, exports and alerts."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from openpyxl import load_workbook

from intake.models import Channel, MatterType, Rating
from intake.services import feedback_give
from tests.auth import otp_login
from tests.triage.casework import Team, at, bring_to, frozen, new_case, staff
from triage import dashboard as D
from triage import workflow
from triage.alerts import alerts_scan
from triage.models import Alert, AlertKind, Case, CaseStatus, Department

pytestmark = pytest.mark.django_db
S = CaseStatus
OWN, OTHER = "379901-zj", "379902-zj"
NOW = at(2026, 10, 31, 12)
PERIOD = D.DashboardFilters(start=date(2026, 9, 28), end=date(2026, 10, 31))


def _case(created: tuple[int, ...], **report: Any) -> Case:
    with frozen(at(*created)):
        case = new_case(department=OWN, **report)
    Case.objects.filter(pk=case.pk).update(created_at=at(*created))
    return Case.objects.get(pk=case.pk)


def _close(case: Case, team: Team, when: tuple[int, ...]) -> Case:
    with frozen(at(*when)):
        return bring_to(Case.objects.get(pk=case.pk), S.CLOSED, team)


@pytest.fixture
def history(demo_org: None) -> dict[str, Any]:
    return build_history()


def build_history() -> dict[str, Any]:
    """The hand-computed history (needs the demo organisation)."""
    team, other = Team(OWN, "own"), Team(OTHER, "other")
    leader = staff("leader1", "leadership", "379900-gov")
    # A: web, received Wed 30 Sep 10:00, accepted Thu 8 Oct 10:00 (1–7 Oct are holidays):
    # 14 h + 10 h of working days = 1.0; closed Mon 12 Oct 10:00: 14 + 24·3 (8, 9, 10 Oct) + 10 = 96 h = 4.0.
    a = _case((2026, 9, 30, 10), identity={"name": "张三丰", "mobile": "13812345678"})
    with frozen(at(2026, 10, 8, 10)):
        workflow.case_accept(case=a, user=team.handler)
    a = _close(a, team, (2026, 10, 12, 10))
    # B: 12345 call (handling: 5 working days), received Tue 13 Oct 09:00, accepted 10:00 → due Tue 20 Oct;
    # paused Wed 14 Oct 09:00 – Mon 19 Oct 09:00 (15 + 24 + 24 + 9 h = 3 working days) → due Fri 23 Oct;
    # closed Thu 22 Oct 10:00: on time. Close time 15 + 6·24 + 10 = 169 h = 7.0417 working days.
    b = _case((2026, 10, 13, 9), channel=Channel.CALL)
    with frozen(at(2026, 10, 13, 10)):
        b = workflow.case_accept(case=b, user=team.handler)
    with frozen(at(2026, 10, 14, 9)):
        b = workflow.case_suspend(case=b, user=team.handler, reason="等待反映人补充材料")
    with frozen(at(2026, 10, 19, 9)):
        b = workflow.case_resume(case=b, user=team.handler)
    b = _close(b, team, (2026, 10, 22, 10))
    # C: the same as B without the pause: due Tue 20 Oct, closed Thu 22 Oct: late.
    c = _case((2026, 10, 13, 9), channel=Channel.CALL)
    with frozen(at(2026, 10, 13, 10)):
        c = workflow.case_accept(case=c, user=team.handler)
    c = _close(c, team, (2026, 10, 22, 10))
    # D: received Wed 14 Oct 09:00, accepted 10:00 (1 h), transferred to the other district at 11:00.
    d = _case((2026, 10, 14, 9))
    with frozen(at(2026, 10, 14, 10)):
        d = workflow.case_accept(case=d, user=team.handler)
    with frozen(at(2026, 10, 14, 11)):
        d = workflow.case_transfer(case=d, user=team.handler, to=Department.objects.get(code=OTHER),
                                   reason="属西城区管辖")
    with frozen(at(2026, 10, 14, 12)):
        d = workflow.case_transfer_accept(case=d, user=other.handler)
    for case, rating in ((a, Rating.SATISFIED), (b, Rating.UNSATISFIED), (c, Rating.BASICALLY_SATISFIED)):
        feedback_give(report=case.report, rating=rating)
    return {"team": team, "other": other, "leader": leader, "a": a, "b": b, "c": c, "d": d}


def _page(user: User, filters: D.DashboardFilters = PERIOD) -> dict[str, Any]:
    with frozen(NOW):
        return D.dashboard(user=user, filters=filters, now=NOW)


def _listed(user: User, query: str) -> set[int]:
    """The case ids the console lists for a figure's drill-down query."""
    client = Client()
    client.force_login(user)
    with frozen(NOW):
        page = client.get(f"/staff/cases/?{query}")
    assert page.status_code == 200
    return {case.pk for case in page.context["page"].object_list}


def test_counts(history: dict) -> None:
    d = _page(history["leader"])
    c = d["counts"]
    assert (c["received"].value, c["closed"].value, c["supervised"].value, c["misrouted"].value) == (4, 3, 0, 0)
    assert d["backlog"]["open"].value == 1 and d["backlog"]["overdue"].value == 0
    assert [b["count"].value for b in d["backlog"]["buckets"]] == [0, 1, 0, 0, 0]  # D: 17 days old


def test_working_day_percentiles_cross_the_holiday(history: dict) -> None:
    times = {r["measure"]: r for r in _page(history["leader"])["times"]}
    # Acknowledge: A 1.0, B, C, D 1/24 → median 1/24; p90 at rank 2.7: 1/24 + 0.7·(1 − 1/24) = 0.7125.
    assert (times["acknowledge"]["median"], times["acknowledge"]["p90"], times["acknowledge"]["n"]) == (0.04, 0.71, 4)
    # Close: A 4.0, B and C 7.0417 → median 7.04, p90 7.04.
    assert (times["close"]["median"], times["close"]["p90"], times["close"]["n"]) == (7.04, 7.04, 3)


def test_on_time_rates_count_the_pause(history: dict) -> None:
    rates = {r["kind"]: r for r in _page(history["leader"])["deadlines"]}
    handle = rates["handle"]
    assert (handle["on_time"].value, handle["late"].value, handle["rate"]) == (2, 1, 66.7)
    assert rates["acceptance_notice"]["late"].value == 0


def test_satisfaction(history: dict) -> None:
    s = _page(history["leader"])["satisfaction"]
    assert [r["count"].value for r in s["rows"]] == [1, 1, 1] and s["rate"] == 66.7


def test_every_drill_down_lists_what_the_number_counts(history: dict) -> None:
    leader, h = history["leader"], history
    d = _page(leader)
    rates = {r["kind"]: r for r in d["deadlines"]}
    assert _listed(leader, rates["handle"]["late"].query) == {h["c"].pk}
    assert _listed(leader, rates["handle"]["on_time"].query) == {h["a"].pk, h["b"].pk}
    assert _listed(leader, d["counts"]["closed"].query) == {h["a"].pk, h["b"].pk, h["c"].pk}
    assert _listed(leader, d["counts"]["received"].query) == {h["a"].pk, h["b"].pk, h["c"].pk, h["d"].pk}
    unsatisfied = next(r for r in d["satisfaction"]["rows"] if r["rating"] == Rating.UNSATISFIED)
    assert _listed(leader, unsatisfied["count"].query) == {h["b"].pk}
    assert _listed(leader, d["backlog"]["buckets"][1]["count"].query) == {h["d"].pk}
    assert _listed(leader, d["backlog"]["open"].query) == {h["d"].pk}


def test_the_transferred_case_counts_where_it_went(history: dict) -> None:
    league = {r["department"].code: r for r in _page(history["leader"])["league"]}
    assert league["379901-gov"]["received"].value == 3 and league["379902-gov"]["received"].value == 1
    assert league["379902-gov"]["backlog"].value == 1
    places = {cell["code"]: cell["count"].value for row in _page(history["leader"])["places"] for cell in row["cells"]}
    assert places == {"379901": 3, "379902": 1}


def test_a_head_sees_only_their_sub_tree(history: dict) -> None:
    head = history["team"].head
    d = _page(head)
    assert d["counts"]["received"].value == 3  # A, B, C; D went to the other district
    assert d["backlog"]["open"].value == 0
    client = otp_login(Client(), head)
    with frozen(NOW):
        # Another district is not a choice: the filter falls back to the head's own sub-tree.
        page = client.get(f"/staff/dashboard/?start=2026-09-28&end=2026-10-31&department="
                          f"{Department.objects.get(code=OTHER).pk}")
    assert page.status_code == 200
    assert page.context["d"]["counts"]["received"].value == 3


def test_a_handler_has_no_dashboard(history: dict) -> None:
    client = Client()
    client.force_login(history["team"].handler)
    assert client.get("/staff/dashboard/").status_code == 403
    assert Client().get("/staff/dashboard/").status_code == 302


def test_exports(history: dict) -> None:
    client = Client()
    client.force_login(history["leader"])
    query = "start=2026-09-28&end=2026-10-31"
    with frozen(NOW):
        response = client.get(f"/staff/dashboard/export/deadlines.csv?{query}")
        book = client.get(f"/staff/dashboard/export/all.xlsx?{query}")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["期限", "按期", "超期", "按期率"]
    assert ["办结", "2", "1", "66.7%"] in rows
    assert book["Content-Type"].startswith("application/vnd.openxmlformats")
    workbook = load_workbook(io.BytesIO(book.content))
    assert "部门排行" in workbook.sheetnames
    assert [c.value for c in next(workbook["满意度"].iter_rows(min_row=2, max_row=2))] == ["满意", 1, "33.3%"]
    assert client.get("/staff/dashboard/export/nope.csv").status_code == 404


def test_monthly_report_prints(history: dict) -> None:
    client = Client()
    client.force_login(history["leader"])
    with frozen(NOW):
        page = client.get("/staff/dashboard/report/?month=2026-10")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and "<script" not in html and "report.css" in html


def test_the_dashboard_page_renders_links_to_the_console(history: dict) -> None:
    client = Client()
    client.force_login(history["leader"])
    with frozen(NOW):
        html = client.get("/staff/dashboard/?start=2026-09-28&end=2026-10-31").content.decode()
    assert "/staff/cases/?status=all&amp;created_from=2026-09-28" in html
    assert "<svg" in html and "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")


def test_a_rise_of_reports_raises_an_alert(history: dict) -> None:
    for _i in range(12):
        _case((2026, 10, 28, 9))
    alerts_scan(now=NOW)
    alert = Alert.objects.get(kind=AlertKind.DEPARTMENT, subject=str(Department.objects.get(code=OWN).pk))
    assert alert.count == 12 and alert.baseline < 2
    alerts_scan(now=NOW)  # idempotent
    assert Alert.objects.filter(kind=AlertKind.DEPARTMENT).count() == 1


def test_a_rise_of_accusations_about_one_place_and_topic_raises_every_kind_of_alert(history: dict) -> None:
    cases = [_case((2026, 10, 28, 9)).pk for _i in range(12)]
    Case.objects.filter(pk__in=cases).update(matter_type=MatterType.ACCUSATION,
                                             triage_explanation={"category": {"terms": ["物业", "欠薪"]}})
    alerts_scan(now=NOW)  # counts from the maintained figures, refreshed first
    own = Department.objects.select_related("area").get(code=OWN)
    got = {(a.kind, a.subject): (a.count, a.subject_label) for a in Alert.objects.all()}
    assert got[(AlertKind.DEPARTMENT, str(own.pk))] == (12, own.name)
    assert got[(AlertKind.ACCUSED_UNIT, str(own.pk))] == (12, own.name)
    assert got[(AlertKind.PLACE, own.area.code[:9])][0] == 12  # A to D were received before the week
    assert got[(AlertKind.TOPIC, "物业")] == (12, "物业") and got[(AlertKind.TOPIC, "欠薪")] == (12, "欠薪")
    assert len(got) == 5


@pytest.mark.parametrize(("language", "month"), [("zh-hans", "（2026年10月）"), ("en", "October 2026")])
def test_the_monthly_report_names_the_month_in_the_reader_language(history: dict, language: str, month: str) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(history["leader"])
    with frozen(NOW):
        html = client.get("/staff/dashboard/report/?month=2026-10").content.decode()
    assert month in html
