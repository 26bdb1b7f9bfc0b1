"""What the leadership dashboard tells a reader, beyond its numbers being right: cases not
yet routed form their own league row (never the city's own backlog) in both the live and
the figures path, and the table adds up to the figures above it; every tile with two
numbers says what each counts; the weekly chart draws the satisfaction axis only when
there is a rating to plot, and says so when there is none."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.template.loader import render_to_string
from django.test import Client

from intake.models import Feedback
from tests.triage.casework import at, frozen, new_case
from tests.triage.test_dashboard import NOW, PERIOD, _case, _listed, build_history
from tests.triage.test_dashboard_figures import _assert_equal_everywhere, _both
from triage import dashboard as D
from triage import workflow
from triage.models import Case, Department

pytestmark = pytest.mark.django_db
UNROUTED_LABEL = "尚未分流（未确定承办部门）"


@pytest.fixture
def history(demo_org: None) -> dict[str, Any]:
    """The hand-computed history, plus two cases without a department: E, a report triage
    could not place (awaiting triage since Mon 26 Oct), and F, routed on Tue 20 Oct and
    returned to triage by the handler on Wed 21 Oct."""
    h = build_history()
    with frozen(at(2026, 10, 26, 9)):
        e = new_case(department=None, route=False)
    Case.objects.filter(pk=e.pk).update(created_at=at(2026, 10, 26, 9))
    f = _case((2026, 10, 20, 9))
    with frozen(at(2026, 10, 21, 9)):
        f = workflow.case_return_to_triage(case=f, user=h["team"].handler, reason="不属本部门职责")
    assert Case.objects.filter(pk__in=[e.pk, f.pk], department__isnull=True).count() == 2
    return {**h, "e": Case.objects.get(pk=e.pk), "f": Case.objects.get(pk=f.pk)}


def _unrouted(league: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in league if r["unrouted"]]


def _assert_adds_up(d: dict[str, Any]) -> None:
    """The league's columns add up to the figures above the table."""
    league = d["league"]
    assert sum(r["received"].value for r in league) == d["counts"]["received"].value
    assert sum(r["closed"].value for r in league) == d["counts"]["closed"].value
    assert sum(r["backlog"].value for r in league) == d["backlog"]["open"].value
    assert sum(r["overdue"].value for r in league) == d["backlog"]["overdue"].value


# --- 1. cases not yet routed --------------------------------------------------------------------


def test_unrouted_cases_have_their_own_row_in_both_paths(history: dict) -> None:
    figures, live = _both(history["leader"])
    assert figures["league"] == live["league"]
    for d in (figures, live):
        league = d["league"]
        [row] = _unrouted(league)
        assert row is league[-1] and row["department"] is None and not row["own"]
        assert (row["received"].value, row["closed"].value, row["backlog"].value) == (2, 0, 2)
        # Its numbers drill down to exactly those cases (closed: a flag of its own, not linked);
        # there is no department to drill into.
        assert not row["drill"] and not row["closed"].query
        e, f = history["e"].pk, history["f"].pk
        assert _listed(history["leader"], row["received"].query) == {e, f}
        assert _listed(history["leader"], row["backlog"].query) == {e, f}
        overdue = set(Case.objects.filter(department__isnull=True, due_at__lt=NOW).values_list("pk", flat=True))
        assert len(overdue) == row["overdue"].value
        assert _listed(history["leader"], row["overdue"].query) == overdue
        # The city government itself handles nothing here: no 本级 row takes the triage queue.
        assert not [r for r in league if r["own"]]
        assert d["counts"]["received"].value == 6 and d["backlog"]["open"].value == 3
        _assert_adds_up(d)


def test_the_returned_case_is_overdue_in_the_unrouted_row_not_in_a_department(history: dict) -> None:
    later = NOW + timedelta(days=30)  # F's 登记交办 clock (started at the return) has run out by then
    for source in ("live", "figures"):
        with frozen(later):
            d = D.dashboard(user=history["leader"], filters=PERIOD, now=later, source=source)
        [row] = _unrouted(d["league"])
        late = Case.objects.filter(department__isnull=True, due_at__lt=later)
        assert row["overdue"].value == late.count() >= 1, source
        _assert_adds_up(d)


def test_the_figures_agree_with_the_live_queries_with_unrouted_cases(history: dict) -> None:
    _assert_equal_everywhere(history)


def test_a_department_filter_has_no_unrouted_row(history: dict) -> None:
    own_district = Department.objects.get(code="379901-gov")
    filters = D.DashboardFilters(start=PERIOD.start, end=PERIOD.end, department=own_district)
    for d in _both(history["leader"], filters):
        assert not _unrouted(d["league"])
        _assert_adds_up(d)
    head: User = history["team"].head
    for d in _both(head, D.DashboardFilters(start=PERIOD.start, end=PERIOD.end,
                                            department=head.staff_profile.department)):
        assert not _unrouted(d["league"])
        _assert_adds_up(d)


def test_the_page_and_the_export_name_the_unrouted_row(history: dict) -> None:
    client = Client()
    client.force_login(history["leader"])
    with frozen(NOW):
        html = client.get("/staff/dashboard/?start=2026-09-28&end=2026-10-31").content.decode()
        export = client.get("/staff/dashboard/export/league.csv?start=2026-09-28&end=2026-10-31")
    league = html[html.index('<section id="league">'):html.index('<section id="places">')]
    row = re.search(r'<tr data-unrouted="1"[^>]*>(.*?)</tr>', league, re.S)
    assert row is not None and UNROUTED_LABEL in row.group(1)
    assert [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row.group(1), re.S)][1:] \
        == ["2", "0", "100.0%", "2", "0", "—"]  # F met its 登记交办 clock when first routed
    assert "（本级）" not in league and "待分流或被退回分流" in league
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[-1] == [UNROUTED_LABEL, "2", "0", "100.0%", "2", "0", ""]


def test_a_department_s_own_cases_still_make_its_own_row(history: dict) -> None:
    """本级 stays for cases the selected department handles itself."""
    city = Department.objects.get(code="379900-gov")
    Case.objects.filter(pk=history["a"].pk).update(department=city)
    for d in _both(history["leader"]):
        own = [r for r in d["league"] if r["own"]]
        assert [r["department"] for r in own] == [city] and own[0]["received"].value == 1
        assert _unrouted(d["league"])[0]["received"].value == 2
        _assert_adds_up(d)


# --- 2. tiles with two numbers ----------------------------------------------------------------


def test_every_tile_with_two_numbers_says_what_they_count(history: dict) -> None:
    client = Client()
    client.force_login(history["leader"])
    with frozen(NOW):
        html = client.get("/staff/dashboard/?start=2026-09-28&end=2026-10-31").content.decode()
    summary = html[html.index('<section id="summary">'):html.index('<section id="deadlines">')]
    tiles = re.findall(r"<div><dt>(.*?)</dt>(.*?)</div>", summary, re.S)
    captions = {}
    for label, body in tiles:
        first = re.search(r"<dd>(.*?)</dd>", body, re.S)
        assert first is not None
        caption = re.search(r'<dd class="caption"><small class="muted">(.*?)</small></dd>', body, re.S)
        if " / " in re.sub(r"<[^>]+>", "", first.group(1)):
            assert caption is not None, label
            captions[label] = caption.group(1)
    assert captions == {
        "延期": "延期次数 / 延期案件数",
        "退回分流": "被退回分流 / 已分流（件）",
        "复查申请": "申请复查 / 已办结（件）",
        "重新办理": "重新办理 / 已办结（件）",
        "重复反映": "重复反映 / 首次反映（件）",
    }


# --- 3. the weekly chart ----------------------------------------------------------------------


def _weeks(satisfaction: list[float | None]) -> list[dict[str, Any]]:
    first = date(2026, 8, 10)
    return [{"week": first + timedelta(weeks=i), "received": D.Figure(i % 4, ""), "closed": i % 3,
             "rated": 0 if s is None else 2, "satisfaction": s} for i, s in enumerate(satisfaction)]


SAT = "#b45309"


def test_a_chart_without_ratings_says_so_and_draws_no_satisfaction_axis() -> None:
    chart = D.trend_chart(_weeks([None] * D.TREND_WEEKS))
    sat = chart.series[-1]
    assert str(sat["label"]) == "满意率（所示各周均无评价）" and sat["empty"]
    assert sat["lines"] == [] and sat["dots"] == [] and chart.y2_ticks == []
    svg = render_to_string("triage/dashboard/_chart.html", {"chart": chart})
    assert "满意率（所示各周均无评价）" in svg and "右轴" not in svg and "right-axis" not in svg
    assert f'fill="{SAT}"' not in svg  # no dot, no filled legend swatch: nothing promises a line


def test_a_chart_with_ratings_draws_them_on_a_right_axis() -> None:
    sat_by_week: list[float | None] = [None] * D.TREND_WEEKS
    sat_by_week[2], sat_by_week[4], sat_by_week[5] = 100.0, 50.0, 0.0
    chart = D.trend_chart(_weeks(sat_by_week))
    sat = chart.series[-1]
    assert str(sat["label"]) == "满意率（右轴，%）" and not sat["empty"]
    ys = {label: y for y, label in chart.y2_ticks}
    assert ys == {"0%": chart.bottom, "50%": (chart.bottom + chart.pad) / 2, "100%": chart.pad}
    # Three rated weeks: three dots at their heights; the unrated week 3 breaks the line.
    assert [y for _x, y in sat["dots"]] == [ys["100%"], ys["50%"], ys["0%"]]
    assert len(sat["lines"]) == 2 and len(sat["lines"][1].split()) == 2
    svg = render_to_string("triage/dashboard/_chart.html", {"chart": chart})
    assert "满意率（右轴，%）" in svg and 'class="right-axis"' in svg
    assert all(f">{t}</text>" in svg for t in ("0%", "50%", "100%"))
    # Dots: every week's received and closed, the three ratings; orange strokes: the axis, two lines.
    assert svg.count("<circle ") == 2 * D.TREND_WEEKS + 3 and svg.count(f'stroke="{SAT}"') == 3


def test_left_axis_labels_stand_at_their_values() -> None:
    chart = D.trend_chart(_weeks([None] * D.TREND_WEEKS))  # counts up to 3
    inner = chart.bottom - chart.pad
    assert chart.y_ticks == [(round(chart.bottom - inner * v / 3, 1), str(v)) for v in (0, 1, 3)]


def test_the_page_chart_follows_the_ratings_of_the_window(history: dict) -> None:
    def chart_of(d: dict[str, Any]) -> str:
        return str(d["chart"].series[-1]["label"])

    # build_history's ratings were given today, after the 12 weeks the chart shows.
    for d in _both(history["leader"]):
        assert chart_of(d) == "满意率（所示各周均无评价）" and d["chart"].y2_ticks == []
    Feedback.objects.filter(report__in=[history[k].report for k in "abc"]).update(created_at=at(2026, 10, 23, 9))
    figures, live = _both(history["leader"])
    assert figures["weeks"] == live["weeks"] and figures["chart"] == live["chart"]
    assert chart_of(live) == "满意率（右轴，%）" and len(live["chart"].series[-1]["dots"]) == 1
    client = Client()
    client.force_login(history["leader"])
    with frozen(NOW):
        html = client.get("/staff/dashboard/?start=2026-09-28&end=2026-10-31").content.decode()
    assert "满意率（右轴，%）" in html and 'class="right-axis"' in html and ">66.7%</td>" in html


def test_csv_cells_guard_formulas_but_leave_empty_cells_empty() -> None:
    from triage.exports import csv_bytes

    rows = list(csv.reader(io.StringIO(csv_bytes(["h"], [["=1+1"], ["-3"], ["@x"], [""], ["66.7%"], [5]]).decode("utf-8-sig"))))
    assert rows == [["h"], ["'=1+1"], ["'-3"], ["'@x"], [""], ["66.7%"], ["5"]]
