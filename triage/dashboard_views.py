"""Leadership dashboards (figures, league table, trend, places, topics, alerts), their
CSV / Excel exports and the monthly printable report; the head's publish action and the
public transparency page. Figures come from `triage.dashboard`; views translate only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from intake.forms import DayField
from intake.models import Channel, MatterType
from intake.validators import check_year, parse_id
from triage import dashboard as D
from triage.alerts import open_alerts
from triage.exports import download
from triage.models import Alert, Category, Department, PublishedCase
from triage.publication import (
    PublicationError,
    can_publish,
    case_publish,
    case_unpublish,
    month_bounds,
    public_statistics,
    published_cases,
)
from triage.selectors import cases_visible_to
from triage.workflow import Role, roles_of

DASHBOARD_ROLES = frozenset({Role.LEADERSHIP, Role.HEAD})


def dashboard_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Leadership (everything) and department heads (their sub-tree)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user: User = request.user  # type: ignore[assignment]
        if not (user.is_superuser or roles_of(user) & DASHBOARD_ROLES):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return login_required(wrapper)


class DashboardForm(forms.Form):
    start = DayField(label=_lazy("自"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = DayField(label=_lazy("至"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    department = forms.ModelChoiceField(label=_lazy("部门"), required=False, queryset=Department.objects.none(),
                                        empty_label=_lazy("全部"))
    channel = forms.ChoiceField(label=_lazy("渠道"), required=False, choices=[("", _lazy("全部")), *Channel.choices])
    category = forms.TypedChoiceField(label=_lazy("类别"), required=False, coerce=int, empty_value=None, choices=())
    matter_type = forms.ChoiceField(label=_lazy("事项类型"), required=False,
                                    choices=[("", _lazy("全部")), *MatterType.choices])

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        department = self.fields["department"]
        assert isinstance(department, forms.ModelChoiceField)
        department.queryset = D.dashboard_departments(user).only("pk", "name", "path")
        category = self.fields["category"]
        assert isinstance(category, forms.ChoiceField)
        category.choices = [("", _("全部")), *Category.objects.values_list("pk", "name")]


def _filters(request: HttpRequest, user: User) -> tuple[DashboardForm, D.DashboardFilters]:
    form = DashboardForm(request.GET or None, user=user)
    today = timezone.localdate()
    start, end = today - timedelta(days=29), today
    data: dict[str, Any] = {}
    if form.is_bound:
        form.is_valid()  # an invalid field (a department outside the user's scope) is ignored alone
        data = form.cleaned_data
        start, end = data.get("start") or start, data.get("end") or end
    if start > end:
        start, end = end, start
    department = data.get("department") or D.dashboard_root(user)
    return form, D.DashboardFilters(start=start, end=end, department=department, channel=data.get("channel", ""),
                                    category=data.get("category"), matter_type=data.get("matter_type", ""))


@require_safe
@dashboard_required
def dashboard_page(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form, filters = _filters(request, user)
    data = D.dashboard(user=user, filters=filters)
    leader = user.is_superuser or Role.LEADERSHIP in roles_of(user)
    return render(request, "triage/dashboard/index.html", {
        "form": form, "f": filters, "d": data, "query": filters.query(), "tables": TABLES,
        "alerts": open_alerts(limit=10) if leader else None,
        "months": _recent_months(),
    })


def _recent_months(n: int = 6) -> list[date]:
    first = timezone.localdate().replace(day=1)
    out = []
    for _i in range(n):
        out.append(first)
        first = (first - timedelta(days=1)).replace(day=1)
    return out


# --- tables: one definition for the CSV, the workbook and the printable report ---------------


def _pct(v: float | None) -> str:
    return "" if v is None else f"{v}%"


def _num(v: float | None) -> str:
    return "" if v is None else str(v)


def table_summary(d: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    c = d["counts"]
    return [_("指标"), _("数值")], [
        [_("收到"), c["received"].value], [_("办结"), c["closed"].value], [_("督办"), c["supervised"].value],
        [_("退回分流"), c["misrouted"].value],
        [_("退回分流率"), _pct(D.rate(c["misrouted"].value, c["routed"].value))],
        [_("复查申请"), c["review_requested"].value],
        [_("复查率"), _pct(D.rate(c["review_requested"].value, c["closed"].value))],
        [_("重新办理（重开）"), c["reopened"].value], [_("重开率"), _pct(D.rate(c["reopened"].value, c["closed"].value))],
        [_("重复反映"), c["duplicate"].value],
        [_("每件重复反映次数"), _num(round(c["duplicate"].value / c["original"].value, 3) if c["original"].value else None)],
        [_("延期次数"), d["extensions"]["extensions"].value], [_("延期案件"), d["extensions"]["cases"].value],
        [_("当前积压"), d["backlog"]["open"].value], [_("当前超期"), d["backlog"]["overdue"].value],
    ]


def table_deadlines(d: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    return [_("期限"), _("按期"), _("超期"), _("按期率")], [
        [str(r["label"]), r["on_time"].value, r["late"].value, _pct(r["rate"])] for r in d["deadlines"]]


def table_times(d: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    return [_("用时（工作日）"), _("中位数"), _("90分位"), _("案件数")], [
        [str(r["label"]), _num(r["median"]), _num(r["p90"]), r["n"]] for r in d["times"]]


def table_backlog(d: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    return [_("积压时长（自然日）"), _("件数")], [[b["label"], b["count"].value] for b in d["backlog"]["buckets"]]


def table_satisfaction(d: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    return [_("评价"), _("件数"), _("占比")], [
        [str(r["label"]), r["count"].value, _pct(r["share"])] for r in d["satisfaction"]["rows"]]


def _league_name(row: dict[str, Any]) -> str:
    if row["unrouted"]:
        return str(row["label"])
    return str(row["department"]) + (_("（本级）") if row["own"] else "")


def table_league(d: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    return [_("部门"), _("收到"), _("办结"), _("按期率"), _("积压"), _("超期"), _("满意率")], [
        [_league_name(r), r["received"].value, r["closed"].value,
         _pct(r["on_time_rate"]), r["backlog"].value, r["overdue"].value, _pct(r["satisfaction"])]
        for r in d["league"]]


def table_trend(d: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    return [_("周（起）"), _("收到"), _("办结"), _("评价数"), _("满意率")], [
        [w["week"].isoformat(), w["received"].value, w["closed"], w["rated"], _pct(w["satisfaction"])]
        for w in d["weeks"]]


def table_places(d: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    return [_("区（县）"), _("乡镇（街道）"), _("件数")], [
        [row["name"], str(cell["name"]), cell["count"].value] for row in d["places"] for cell in row["cells"]]


def table_topics(d: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    return [_("话题词"), _("本周"), _("上周"), _("增加")], [
        [t["term"], t["count"].value, t["previous"], t["rise"]] for t in d["topics"]]


TABLES: dict[str, tuple[Any, Callable[[dict[str, Any]], tuple[list[str], list[list[Any]]]]]] = {
    "summary": (_lazy("总体情况"), table_summary),
    "deadlines": (_lazy("按期办理"), table_deadlines),
    "times": (_lazy("办理用时"), table_times),
    "backlog": (_lazy("积压账龄"), table_backlog),
    "satisfaction": (_lazy("满意度"), table_satisfaction),
    "league": (_lazy("部门排行"), table_league),
    "trend": (_lazy("每周趋势"), table_trend),
    "places": (_lazy("地区分布"), table_places),
    "topics": (_lazy("本周上升话题"), table_topics),
}


@require_safe
@dashboard_required
def dashboard_export(request: HttpRequest, table: str, fmt: str) -> HttpResponse:
    """One table (or `all`, as one workbook) of the dashboard under the same filters."""
    if (table not in TABLES and table != "all") or fmt not in {"csv", "xlsx"} or (table == "all" and fmt == "csv"):
        raise Http404
    user: User = request.user  # type: ignore[assignment]
    _form, filters = _filters(request, user)
    data = D.dashboard(user=user, filters=filters)
    names = list(TABLES) if table == "all" else [table]
    sheets = [(str(TABLES[n][0]), *TABLES[n][1](data)) for n in names]
    return download(sheets, fmt=fmt, stem=f"qingfeng-{table}-{filters.start:%Y%m%d}-{filters.end:%Y%m%d}")


def _month_param(value: str | None) -> date:
    """The month a "YYYY-MM" names, within the plausible years; otherwise the last full month."""
    today = timezone.localdate()
    try:
        year, month = (int(x) for x in (value or "").split("-"))
        first = date(year, month, 1)
        check_year(first)
    except (ValueError, OverflowError, DjangoValidationError):  # 9999999999999-01 overflows date()
        return (today.replace(day=1) - timedelta(days=1)).replace(day=1)  # last full month
    return first


@require_safe
@dashboard_required
def monthly_report(request: HttpRequest) -> HttpResponse:
    """The month's figures as one printable page (print CSS; the browser prints to PDF)."""
    user: User = request.user  # type: ignore[assignment]
    month = _month_param(request.GET.get("month"))
    first, last = month_bounds(month)
    department = D.dashboard_root(user)
    dept_id = parse_id(request.GET.get("department"))
    if dept_id is not None:
        department = D.dashboard_departments(user).filter(pk=dept_id).first() or department
    filters = D.DashboardFilters(start=first, end=last, department=department)
    data = D.dashboard(user=user, filters=filters)
    tables = [(str(title), *build(data)) for title, build in TABLES.values()]
    return render(request, "triage/dashboard/report.html", {
        "month": month, "f": filters, "d": data, "tables": tables, "generated": timezone.localtime(),
    })


@require_safe
@dashboard_required
def alerts_page(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if not (user.is_superuser or Role.LEADERSHIP in roles_of(user)):
        raise PermissionDenied
    return render(request, "triage/dashboard/alerts.html", {
        "alerts": Alert.objects.select_related("acknowledged_by").order_by("-raised_at")[:200]})


@require_POST
@dashboard_required
def alert_acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if not (user.is_superuser or Role.LEADERSHIP in roles_of(user)):
        raise PermissionDenied
    Alert.objects.filter(pk=alert_id, acknowledged_at__isnull=True).update(acknowledged_at=timezone.now(),
                                                                         acknowledged_by=user)
    return redirect("dashboard-alerts")


# --- publishing ------------------------------------------------------------------------------------


class PublishForm(forms.Form):
    title = forms.CharField(label=_lazy("标题"), max_length=80)
    summary = forms.CharField(label=_lazy("公开摘要"), max_length=2000, widget=forms.Textarea(attrs={"rows": 6}),
                              help_text=_lazy("为公开而写：不得包含反映人姓名、电话、身份证号等可识别身份的信息。"))


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def case_publish_page(request: HttpRequest, case_id: int) -> HttpResponse:
    """A head writes and publishes a summary of a closed case of their sub-tree."""
    user: User = request.user  # type: ignore[assignment]
    case = get_object_or_404(cases_visible_to(user).select_related("department"), pk=case_id)
    if not can_publish(user=user, case=case):
        raise PermissionDenied
    form = PublishForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            case_publish(case=case, user=user, title=form.cleaned_data["title"], summary=form.cleaned_data["summary"])
        except PublicationError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("已公开。"))
            return redirect("console-case", case.pk)
    return render(request, "triage/dashboard/publish.html", {
        "case": case, "form": form, "publications": case.publications.all()}, status=400 if form.errors else 200)


@require_POST
@login_required
def publication_withdraw(request: HttpRequest, publication_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    publication = get_object_or_404(PublishedCase, pk=publication_id)
    if not cases_visible_to(user).filter(pk=publication.case_id).exists():
        raise Http404
    try:
        case_unpublish(publication=publication, user=user)
    except PermissionError as exc:
        raise PermissionDenied from exc
    return redirect("case-publish", publication.case_id)


# --- the public page --------------------------------------------------------------------------------


@csrf_exempt  # read-only (require_safe): a POST is a 405, not a CSRF page
@require_safe
def public_page(request: HttpRequest) -> HttpResponse:
    """Anyone, no login, no JavaScript, no cookies: per department and month, counts and
    rates, and the published summaries. Nothing here reads report content."""
    month = _month_param(request.GET.get("month"))
    department = None
    dept_id = parse_id(request.GET.get("department"))
    if dept_id is not None:
        department = Department.objects.filter(pk=dept_id, is_active=True).first()
    response = render(request, "triage/public/index.html", {
        "month": month, "department": department, "rows": public_statistics(month=month, department=department),
        "published": published_cases(department=department), "months": _recent_months(12),
    })
    return response


@csrf_exempt
@require_safe
def public_case(request: HttpRequest, publication_id: int) -> HttpResponse:
    publication = get_object_or_404(PublishedCase.objects.select_related("department"), pk=publication_id,
                                    published_at__isnull=False)
    return render(request, "triage/public/case.html", {"p": publication})



