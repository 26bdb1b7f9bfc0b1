"""Leadership dashboard figures: each one an aggregate query in the database (grouped
counts, and percentiles with percentile_cont on PostgreSQL or window functions on SQLite),
never cases loaded into Python. Scope comes from `cases_visible_to`; every figure names
the console filters that list the cases it counts (`Figure.query`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Case as When_
from django.db.models import Count, F, IntegerField, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce, Substr, TruncWeek
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from intake.models import Area, Feedback, Rating
from triage.dashboard_figures import (
    close_end_sql,
    figures_as_of,
    figures_refresh,
    figures_version,
    local_date_sql,
    workday_index_sync,
    workdays_sql,
)
from triage.dashboard_models import FIGURE_KINDS
from triage.models import Case, CaseFigures, CaseStatus, Deadline, Department, FiguresDay, WorkdayIndex
from triage.selectors import (
    AGE_BUCKETS,
    OPEN_STATES,
    RATED_KINDS,
    _late_deadline_q,
    cases_visible_to,
    local_day_start,
    scope_root,
    subtree_ids,
)
from triage.workflow import Role, roles_of

KIND_LABELS = {"acceptance_notice": _("受理告知"), "handle": _("办结"), "transfer": _("转交（登记交办）")}
MEASURES = (("acknowledge", _("受理告知用时")), ("first_reply", _("首次答复用时")), ("close", _("办结用时")))
TREND_WEEKS = 12
TOPIC_MIN_REPORTS = 5  # DESIGN.md: only terms that occur in at least 5 reports are shown
# The league key of cases with no department yet (awaiting triage, or returned to it): a row
# of their own, never the selected department's own (本级) row.
UNROUTED = None
UNROUTED_LABEL = _("尚未分流（未确定承办部门）")


@dataclass(frozen=True)
class DashboardFilters:
    start: date
    end: date  # inclusive
    department: Department | None = None
    channel: str = ""
    category: int | None = None
    matter_type: str = ""

    def console(self, *, period: bool = True, **extra: Any) -> str:
        """The console queue's query string listing the cases a figure counts."""
        params: dict[str, Any] = {"status": "all"}
        if period:
            params |= {"created_from": self.start.isoformat(), "created_to": self.end.isoformat()}
        if self.department is not None:
            params["department"] = self.department.pk
        if self.channel:
            params["channel"] = self.channel
        if self.category:
            params["category"] = self.category
        if self.matter_type:
            params["matter_type"] = self.matter_type
        params |= {k: v for k, v in extra.items() if v not in (None, "")}
        return urlencode(params)

    def query(self, **override: Any) -> str:
        """This dashboard's own query string (for exports and drilling into a department)."""
        params: dict[str, Any] = {"start": self.start.isoformat(), "end": self.end.isoformat(),
                                  "department": self.department.pk if self.department else "",
                                  "channel": self.channel, "category": self.category or "",
                                  "matter_type": self.matter_type}
        params |= override
        return urlencode({k: v for k, v in params.items() if v not in (None, "")})


@dataclass(frozen=True)
class Figure:
    """A number and the console query that lists what it counts."""

    value: int
    query: str


def _keyed(key: str, rows: Any) -> dict[Any, dict[str, Any]]:
    return {r[key]: dict(r) for r in rows}


def rate(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


# --- the case sets ---------------------------------------------------------------------------


def dashboard_cases(*, user: User, filters: DashboardFilters, period: bool = True) -> QuerySet[Case]:
    """The scoped cases under the filters: the same set the console lists for the query of
    `filters.console()` (registered-only reports, status RECEIVED, are in neither)."""
    qs = cases_visible_to(user).exclude(status=CaseStatus.RECEIVED)
    if period:
        qs = qs.filter(created_at__gte=local_day_start(filters.start),
                       created_at__lt=local_day_start(filters.end + timedelta(days=1)))
    return _scoped(qs, filters, channel_field="report__channel")


def dashboard_departments(user: User) -> QuerySet[Department]:
    """The departments a user may filter the dashboard by: all for leadership, their
    sub-tree for a head."""
    roles = roles_of(user)
    if user.is_superuser or roles & {Role.LEADERSHIP, Role.AUDITOR}:
        return Department.objects.filter(is_active=True)
    profile = getattr(user, "staff_profile", None)
    if profile is None:
        return Department.objects.none()
    return Department.objects.filter(path__startswith=profile.department.path, is_active=True)


def dashboard_root(user: User) -> Department | None:
    """The node a head's dashboard opens on (their department); None for leadership."""
    roles = roles_of(user)
    if user.is_superuser or roles & {Role.LEADERSHIP, Role.AUDITOR}:
        return None
    profile = getattr(user, "staff_profile", None)
    return profile.department if profile is not None else scope_root(user)


def _sql(qs: QuerySet[Any]) -> tuple[str, tuple[Any, ...]]:
    sql, params = qs.query.sql_with_params()
    return sql, tuple(params)


def _fetch(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


# --- volume, routing, outcomes ----------------------------------------------------------------


def summary_counts(*, user: User, filters: DashboardFilters) -> dict[str, Figure]:
    """Received, closed, 督办, returned to triage, reopened, review requests, duplicates (one query
    but for review requests)."""
    from intake.models import ReviewRequest

    qs = dashboard_cases(user=user, filters=filters)
    c = qs.aggregate(
        received=Count("pk"), closed=Count("pk", filter=Q(closed_at__isnull=False)),
        supervised=Count("pk", filter=Q(supervised=True)), routed=Count("pk", filter=Q(triaged_at__isnull=False)),
        misrouted=Count("pk", filter=Q(misroute_count__gt=0)), reopened=Count("pk", filter=Q(review_round__gt=0)),
        duplicate=Count("pk", filter=Q(duplicate_of__isnull=False)),
    )
    c["review_requested"] = qs.filter(report__in=ReviewRequest.objects.values("report")).count()
    return _count_figures(c, filters)


def _count_figures(c: dict[str, Any], filters: DashboardFilters) -> dict[str, Figure]:
    c = {**c, "original": c["received"] - c["duplicate"]}
    flags = {"received": None, "supervised": None, "closed": "closed", "routed": "routed", "misrouted": "misrouted",
             "reopened": "reopened", "review_requested": "review_requested", "duplicate": "duplicate",
             "original": "original"}
    out = {k: Figure(int(c[k] or 0), filters.console(flag=flags[k])) for k in flags}
    out["supervised"] = Figure(int(c["supervised"]), filters.console(supervised="1"))
    return out


def deadline_rates(*, user: User, filters: DashboardFilters, now: datetime) -> list[dict[str, Any]]:
    """On-time rate per deadline kind, counted in cases: late when any clock of the kind
    finished late or runs (or stands paused) past due; on time when one was met in time and
    none is late. Cancelled clocks (a misrouted assignment's) do not count."""
    cases = dashboard_cases(user=user, filters=filters)
    per_case = (
        Deadline.objects.filter(case__in=cases.values("pk"), kind__in=RATED_KINDS, cancelled_at__isnull=True)
        .values("case_id", "kind")
        .annotate(late=Count("pk", filter=_late_deadline_q(now)),
                  ok=Count("pk", filter=Q(met_at__isnull=False, met_at__lte=F("due_at"))),
                  ext=Coalesce(Count("pk", filter=Q(extensions__gt=0)), 0))
        .order_by()
    )
    inner, params = _sql(per_case)
    rows = _fetch(
        "SELECT kind, SUM(CASE WHEN late > 0 THEN 1 ELSE 0 END), SUM(CASE WHEN late = 0 AND ok > 0 THEN 1 ELSE 0 END) "
        f"FROM ({inner}) AS per_case GROUP BY kind", params)
    return _deadline_figures({kind: (int(late or 0), int(ok or 0)) for kind, late, ok in rows}, filters)


def _deadline_figures(got: dict[str, tuple[int, int]], filters: DashboardFilters) -> list[dict[str, Any]]:
    out = []
    for kind in RATED_KINDS:
        late, ok = got.get(kind, (0, 0))
        out.append({"kind": kind, "label": KIND_LABELS[kind], "on_time": Figure(ok, filters.console(flag=f"ontime_{kind}")),
                    "late": Figure(late, filters.console(flag=f"late_{kind}")), "rate": rate(ok, ok + late)})
    return out


def extensions_used(*, user: User, filters: DashboardFilters) -> dict[str, Figure]:
    """Extensions granted (a count of extensions) and the cases that had one."""
    cases = dashboard_cases(user=user, filters=filters)
    c = Deadline.objects.filter(case__in=cases.values("pk"), extensions__gt=0, cancelled_at__isnull=True).aggregate(
        n=Coalesce(models_sum("extensions"), 0), cases=Count("case_id", distinct=True))
    return _extension_figures(int(c["n"]), int(c["cases"]), filters)


def _extension_figures(n: int, cases: int, filters: DashboardFilters) -> dict[str, Figure]:
    query = filters.console(flag="extended")
    return {"extensions": Figure(n, query), "cases": Figure(cases, query)}


def models_sum(name: str) -> Any:
    from django.db.models import Sum

    return Sum(name)


def satisfaction(*, user: User, filters: DashboardFilters) -> dict[str, Any]:
    """满意 / 基本满意 / 不满意 of the period's cases (one rating per report: split parts do not
    count it again)."""
    qs = dashboard_cases(user=user, filters=filters).filter(split_from__isnull=True, report__feedback__isnull=False)
    got = dict(qs.values("report__feedback__rating").annotate(n=Count("pk")).values_list(
        "report__feedback__rating", "n"))
    return _satisfaction_figures(got, filters)


def _satisfaction_figures(got: dict[str, int], filters: DashboardFilters) -> dict[str, Any]:
    total = sum(got.values())
    rows = [{"rating": r.value, "label": r.label, "count": Figure(int(got.get(r.value, 0)),
                                                                     filters.console(flag=f"rating_{r.value}")),
             "share": rate(int(got.get(r.value, 0)), total)} for r in Rating]
    satisfied = got.get(Rating.SATISFIED, 0) + got.get(Rating.BASICALLY_SATISFIED, 0)
    return {"rows": rows, "total": total, "rate": rate(satisfied, total)}


# --- working-day percentiles ----------------------------------------------------------------

def response_times(*, user: User, filters: DashboardFilters) -> list[dict[str, Any]]:
    """Median and p90 of the working days from receipt to acknowledgement, to the first reply
    and to closing, over the period's cases that reached each step."""
    workday_index_sync(first=filters.start - timedelta(days=1))
    cases = dashboard_cases(user=user, filters=filters).values_list("created_at", "acknowledged_at", "first_reply_at",
                                                                     "closed_at", "time_to_close")
    inner, params = _sql(cases)
    table = WorkdayIndex._meta.db_table
    ends = {"acknowledge": "c.ack", "first_reply": "c.reply", "close": "c.closing"}
    # time_to_close is stored once, at the first close; a reopened case keeps it.
    ends["close"] = close_end_sql("c.created", "c.closed", "c.ttc")
    joins, cols = [], []
    for i, (name, _label) in enumerate(MEASURES):
        end = ends[name]
        joins.append(f"LEFT JOIN {table} e{i} ON e{i}.date = {local_date_sql(end)}")
        cols.append(f"{workdays_sql('c.created', end, 's', f'e{i}')} AS w{i}")
    base = (f"SELECT {', '.join(cols)} FROM ({inner}) AS c(created, ack, reply, closed, ttc) "
            f"JOIN {table} s ON s.date = {local_date_sql('c.created')} {' '.join(joins)}")
    if connection.vendor == "sqlite":
        base = _sqlite_columns(base.replace("AS c(created, ack, reply, closed, ttc)", "AS c"))
    return _percentile_rows(base, params)


def _percentile_rows(base: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Median, p90 and count of the columns w0, w1, w2 of `base` (one per MEASURES)."""
    out = []
    if connection.vendor == "postgresql":
        aggs = ", ".join(f"percentile_cont(0.5) WITHIN GROUP (ORDER BY w{i}), "
                         f"percentile_cont(0.9) WITHIN GROUP (ORDER BY w{i}), COUNT(w{i})" for i in range(len(MEASURES)))
        row = _fetch(f"SELECT {aggs} FROM ({base}) AS w", params)[0]
        for i, (name, label) in enumerate(MEASURES):
            med, p90, n = row[3 * i: 3 * i + 3]
            out.append({"measure": name, "label": label, "median": _round(med), "p90": _round(p90), "n": int(n)})
        return out
    for i, (name, label) in enumerate(MEASURES):
        med, n = _sqlite_percentile(base, f"w{i}", 0.5, params)
        p90, _n = _sqlite_percentile(base, f"w{i}", 0.9, params)
        out.append({"measure": name, "label": label, "median": _round(med), "p90": _round(p90), "n": n})
    return out


def _sqlite_columns(sql: str) -> str:
    """SQLite has no column aliases on a derived table: name the inner columns instead."""
    return sql.replace("c.created", "c.created_at").replace("c.ack", "c.acknowledged_at").replace(
        "c.reply", "c.first_reply_at").replace("c.closed", "c.closed_at")


def _sqlite_percentile(base: str, col: str, p: float, params: tuple[Any, ...]) -> tuple[float | None, int]:
    """percentile_cont by window functions: the two ranks around p·(n−1), interpolated."""
    rows = _fetch(
        f"SELECT v, rn, n FROM (SELECT {col} AS v, ROW_NUMBER() OVER (ORDER BY {col}) - 1 AS rn, "
        f"COUNT(*) OVER () AS n FROM ({base}) AS w WHERE {col} IS NOT NULL) AS r "
        f"WHERE rn = CAST(({p} * (n - 1)) AS INTEGER) OR rn = CAST(({p} * (n - 1)) AS INTEGER) + 1 ORDER BY rn",
        params)
    if not rows:
        return None, 0
    n = int(rows[0][2])
    pos = p * (n - 1)
    lo = rows[0][0]
    hi = rows[1][0] if len(rows) > 1 else lo
    return lo + (hi - lo) * (pos - int(pos)), n


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


# --- backlog -----------------------------------------------------------------------------------


def backlog(*, user: User, filters: DashboardFilters, now: datetime) -> dict[str, Any]:
    """Open cases now (not bounded by the period): overdue, and by age since receipt."""
    qs = dashboard_cases(user=user, filters=filters, period=False).filter(status__in=OPEN_STATES)
    return _backlog_figures(qs.aggregate(**_backlog_aggregates(now)), filters)


def _backlog_aggregates(now: datetime) -> dict[str, Any]:
    """open, overdue and age_<bucket> counts of open cases (or their figures rows). Counts
    created_at (never null), which the figures' open-case index holds: an index-only scan."""
    aggs: dict[str, Any] = {"open": Count("created_at"),
                            "overdue": Count("created_at", filter=Q(due_at__lt=Coalesce(F("suspended_at"), Value(now))))}
    for code, first, last in AGE_BUCKETS:
        q = Q(created_at__lte=now - timedelta(days=first))
        if last is not None:
            q &= Q(created_at__gt=now - timedelta(days=last + 1))
        aggs[f"age_{code}"] = Count("created_at", filter=q)
    return aggs


def _backlog_figures(c: dict[str, Any], filters: DashboardFilters) -> dict[str, Any]:
    buckets = []
    for code, first, last in AGE_BUCKETS:
        label = f"{first}–{last}" if last is not None else f"≥{first}"
        buckets.append({"label": label, "count": Figure(int(c[f"age_{code}"]),
                                                        _open(filters.console(period=False, flag=f"age_{code}")))})
    return {"open": Figure(int(c["open"]), _open(filters.console(period=False))),
            "overdue": Figure(int(c["overdue"]), _open(filters.console(period=False, deadline_state="overdue"))),
            "buckets": buckets}


def _open(query: str) -> str:
    return query.replace("status=all", "status=open", 1)


# --- league table -----------------------------------------------------------------------------


def league_units(*, user: User, filters: DashboardFilters) -> tuple[Department | None, list[Department]]:
    """The rows of the league table: the children of the selected department (or of the
    user's root), each standing for its whole sub-tree."""
    node = filters.department or dashboard_root(user)
    if node is None:
        roots = list(Department.objects.filter(parent__isnull=True).order_by("path"))
        if len(roots) != 1:
            return None, roots
        node = roots[0]
    return node, list(Department.objects.filter(parent=node).order_by("path"))


def _unit_case(units: list[Department], node: Department | None, prefix: str = "") -> When_:
    """A case's league unit (`prefix`: the way from the rows queried to their case): the
    child of `node` whose sub-tree holds its department, else `node`; UNROUTED (None) for a
    case with no department yet, which is nobody's backlog but the triage queue's."""
    whens = [When(**{f"{prefix}department__isnull": True}, then=Value(UNROUTED))]
    whens += [When(**{f"{prefix}department__path__startswith": u.path}, then=Value(u.pk)) for u in units]
    default = Value(node.pk) if node is not None else Value(UNROUTED)
    return When_(*whens, default=default, output_field=IntegerField())


def league_table(*, user: User, filters: DashboardFilters, now: datetime) -> list[dict[str, Any]]:
    """Per unit (and for the cases not yet routed): received, closed, on-time rate (all
    rated kinds together, in clocks), backlog, overdue now, satisfaction. Four grouped
    queries whatever the number of units."""
    node, units = league_units(user=user, filters=filters)
    unit = _unit_case(units, node)
    period = dashboard_cases(user=user, filters=filters).annotate(unit=unit)
    counts = _keyed("unit", period.values("unit").annotate(
        received=Count("pk"), closed=Count("pk", filter=Q(closed_at__isnull=False))).order_by())
    clocks = _keyed("grp", Deadline.objects.filter(
        case__in=dashboard_cases(user=user, filters=filters).values("pk"), kind__in=RATED_KINDS,
        cancelled_at__isnull=True).annotate(grp=_unit_case(units, node, "case__"))
        .values("grp").annotate(late=Count("pk", filter=_late_deadline_q(now)),
                                       ok=Count("pk", filter=Q(met_at__isnull=False, met_at__lte=F("due_at"))))
        .order_by())
    backlog_rows = _keyed("unit", dashboard_cases(user=user, filters=filters, period=False).filter(
        status__in=OPEN_STATES).annotate(unit=unit).values("unit").annotate(
        open=Count("pk"), overdue=Count("pk", filter=Q(due_at__lt=Coalesce(F("suspended_at"), Value(now))))).order_by())
    rated = _keyed("unit", period.filter(split_from__isnull=True, report__feedback__isnull=False)
             .values("unit").annotate(
        n=Count("pk"), good=Count("pk", filter=Q(report__feedback__rating__in=[Rating.SATISFIED,
                                                                                Rating.BASICALLY_SATISFIED])))
             .order_by())
    return _league_rows(node, units, (counts, clocks, backlog_rows, rated), filters)


def _league_rows(node: Department | None, units: list[Department], got: tuple[dict[Any, dict[str, Any]], ...],
                 filters: DashboardFilters) -> list[dict[str, Any]]:
    """The league table from per-unit counts, clocks (ok, late), backlog (open, overdue) and
    ratings (n, good): the node's own row (if it counts anything), one row per unit, and
    last the cases not yet routed (if any), so the columns add up to the figures above."""
    keys: list[tuple[Department | None, str]] = [(node, "own")] if node is not None else []
    keys += [(u, "unit") for u in units] + [(None, "unrouted")]
    rows = []
    for department, role in keys:
        key = department.pk if department is not None else UNROUTED
        row = tuple(part.get(key, {}) for part in got)
        if role != "unit" and not any(row):
            continue
        rows.append(_league_row(department, role, row, filters))
    return rows


def _league_row(department: Department | None, role: str, got: tuple[dict[str, Any], ...],
                filters: DashboardFilters) -> dict[str, Any]:
    """One row of the league table. A unit's numbers drill down by its department; the
    unrouted row's by the `unrouted` flag (all but "closed", which is a flag itself). The
    node's own row does not: the console's department filter takes the whole sub-tree,
    which would list every row's cases."""
    c, k, b, r = got
    unit, unrouted = role == "unit", role == "unrouted"
    sub = DashboardFilters(start=filters.start, end=filters.end, department=department, channel=filters.channel,
                           category=filters.category, matter_type=filters.matter_type)
    flag = "unrouted" if unrouted else None
    drills = unit or unrouted
    return {
        "department": department, "own": role == "own", "unrouted": unrouted,
        "label": UNROUTED_LABEL if unrouted else "",
        "received": Figure(int(c.get("received", 0)), sub.console(flag=flag) if drills else ""),
        "closed": Figure(int(c.get("closed", 0)), sub.console(flag="closed") if unit else ""),
        "on_time_rate": rate(int(k.get("ok", 0)), int(k.get("ok", 0)) + int(k.get("late", 0))),
        "backlog": Figure(int(b.get("open", 0)), _open(sub.console(period=False, flag=flag)) if drills else ""),
        "overdue": Figure(int(b.get("overdue", 0)),
                          _open(sub.console(period=False, deadline_state="overdue", flag=flag)) if drills else ""),
        "satisfaction": rate(int(r.get("good", 0)), int(r.get("n", 0))),
        "drill": filters.query(department=department.pk) if unit and department is not None else "",
    }


# --- trend ------------------------------------------------------------------------------------


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _trend_window(filters: DashboardFilters) -> tuple[date, date]:
    last = week_start(filters.end)
    return last - timedelta(weeks=TREND_WEEKS - 1), last


def weekly_trend(*, user: User, filters: DashboardFilters) -> list[dict[str, Any]]:
    """The last TREND_WEEKS weeks up to the period's end: received, closed, and the
    satisfied share of ratings given that week."""
    first, last = _trend_window(filters)
    tz = timezone.get_current_timezone()
    window = DashboardFilters(start=first, end=last + timedelta(days=6), department=filters.department,
                              channel=filters.channel, category=filters.category, matter_type=filters.matter_type)
    scoped = dashboard_cases(user=user, filters=window, period=False)
    lo, hi = local_day_start(first), local_day_start(last + timedelta(days=7))
    received = dict(scoped.filter(created_at__gte=lo, created_at__lt=hi).annotate(w=TruncWeek("created_at", tzinfo=tz))
                    .values("w").annotate(n=Count("pk")).values_list("w", "n"))
    closed = dict(scoped.filter(closed_at__gte=lo, closed_at__lt=hi).annotate(w=TruncWeek("closed_at", tzinfo=tz))
                  .values("w").annotate(n=Count("pk")).values_list("w", "n"))
    fb = Feedback.objects.filter(report__cases__in=scoped.filter(split_from__isnull=True).values("pk"),
                                 created_at__gte=lo, created_at__lt=hi).annotate(w=TruncWeek("created_at", tzinfo=tz))
    ratings = {w: (n, good) for w, n, good in fb.values("w").annotate(
        n=Count("pk"), good=Count("pk", filter=Q(rating__in=[Rating.SATISFIED, Rating.BASICALLY_SATISFIED])))
        .values_list("w", "n", "good")}
    return _trend_rows(first, (_by_day(received), _by_day(closed), _by_day(ratings)), filters)


def _by_day(d: dict[Any, Any]) -> dict[date, Any]:
    return {(timezone.localtime(k).date() if isinstance(k, datetime) else k): v for k, v in d.items()}


def _trend_rows(first: date, got: tuple[dict[date, Any], ...], filters: DashboardFilters) -> list[dict[str, Any]]:
    received_d, closed_d, ratings_d = got
    weeks = []
    for i in range(TREND_WEEKS):
        w = first + timedelta(weeks=i)
        n, good = ratings_d.get(w, (0, 0))
        sub = DashboardFilters(start=w, end=w + timedelta(days=6), department=filters.department,
                               channel=filters.channel, category=filters.category, matter_type=filters.matter_type)
        weeks.append({"week": w, "received": Figure(int(received_d.get(w, 0)), sub.console()),
                      "closed": int(closed_d.get(w, 0)), "rated": int(n), "satisfaction": rate(int(good), int(n))})
    return weeks


@dataclass
class Chart:
    """An inline SVG line chart: polylines in a fixed viewBox, no script, no remote asset.
    Counts on the left axis; satisfaction (%) on a right axis, drawn only when there is a
    rating to plot (`y2_ticks` empty otherwise)."""

    width: int = 720
    height: int = 220
    pad: int = 36
    series: list[dict[str, Any]] = field(default_factory=list)
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    y2_ticks: list[tuple[float, str]] = field(default_factory=list)

    @property
    def right(self) -> int:
        return self.width - self.pad

    @property
    def bottom(self) -> int:
        return self.height - self.pad


def _segments(points: list[tuple[float, float] | None]) -> list[str]:
    """SVG polyline point lists of the runs of consecutive points (None: a week without a
    value, where the line breaks rather than bridging the gap)."""
    runs: list[list[tuple[float, float]]] = [[]]
    for p in points:
        if p is None:
            runs.append([])
        else:
            runs[-1].append(p)
    return [" ".join(f"{a},{b}" for a, b in run) for run in runs if run]


def _series(label: Any, colour: str, points: list[tuple[float, float] | None], *, dashed: bool = False) -> dict[str, Any]:
    return {"label": label, "colour": colour, "dashed": dashed, "lines": _segments(points),
            "dots": [p for p in points if p is not None], "empty": all(p is None for p in points)}


def trend_chart(weeks: list[dict[str, Any]]) -> Chart:
    chart = Chart()
    values = [w["received"].value for w in weeks] + [w["closed"] for w in weeks]
    top = max([*values, 1])
    n = max(len(weeks) - 1, 1)
    inner_w, inner_h = chart.width - 2 * chart.pad, chart.height - 2 * chart.pad

    def x(i: int) -> float:
        return round(chart.pad + inner_w * i / n, 1)

    def y(v: float, scale: float) -> float:
        return round(chart.height - chart.pad - inner_h * v / scale, 1)

    for key, label, colour in (("received", _("收到"), "#1d4ed8"), ("closed", _("办结"), "#15803d")):
        pts: list[tuple[float, float] | None] = [
            (x(i), y(w[key].value if key == "received" else w[key], top)) for i, w in enumerate(weeks)]
        chart.series.append(_series(label, colour, pts))
    sat = [(x(i), y(w["satisfaction"], 100)) if w["satisfaction"] is not None else None for i, w in enumerate(weeks)]
    rated = any(p is not None for p in sat)
    chart.series.append(_series(_("满意率（右轴，%）") if rated else _("满意率（所示各周均无评价）"), "#b45309", sat,
                                dashed=True))
    chart.x_labels = [(x(i), w["week"].strftime("%m-%d")) for i, w in enumerate(weeks)]
    chart.y_ticks = [(y(v, top), str(v)) for v in sorted({0, top // 2, top})]  # each label where its value is
    chart.y2_ticks = [(y(v, 100), f"{v}%") for v in (0, 50, 100)] if rated else []
    return chart


# --- places -----------------------------------------------------------------------------------


def place_heat(*, user: User, filters: DashboardFilters) -> list[dict[str, Any]]:
    """Cases of the period by the place of the handling department: district (6-digit area
    code) → township (9 digits); district-level departments form their own cell."""
    qs = dashboard_cases(user=user, filters=filters).filter(department__isnull=False)
    rows = (qs.annotate(town=Substr("department__area__code", 1, 9)).values("town").annotate(n=Count("pk"))
            .values_list("town", "n").order_by())
    counts: dict[str, int] = {}
    for town, n in rows:
        counts[town] = counts.get(town, 0) + int(n)
    return _place_rows(counts, filters)


def _place_rows(counts: dict[str, int], filters: DashboardFilters) -> list[dict[str, Any]]:
    names = dict(Area.objects.filter(code__in=list({c[:6] for c in counts} | set(counts))).values_list("code", "name"))
    top = max(counts.values(), default=0)
    districts: dict[str, dict[str, Any]] = {}
    for code, n in sorted(counts.items()):
        district = code[:6]
        row = districts.setdefault(district, {"code": district, "name": names.get(district, district), "cells": [],
                                              "total": 0})
        level = 0 if not top else min(5, 1 + int(5 * n / (top + 1)))
        label = names.get(code, code) if len(code) > 6 else _("区（县）直部门")
        row["cells"].append({"code": code, "name": label, "count": Figure(n, filters.console(place=code)),
                             "level": level})
        row["total"] += n
    for row in districts.values():
        row["total"] = Figure(row["total"], filters.console(place=row["code"]))
    return list(districts.values())


# --- topics -----------------------------------------------------------------------------------


def _term_counts(qs: QuerySet[Case]) -> dict[str, int]:
    """Reports per classifier term (Case.triage_explanation["category"]["terms"], which holds
    only words that occur in ≥ 5 training reports), counted in SQL over the JSON."""
    inner, params = _sql(qs.filter(split_from__isnull=True).values("triage_explanation"))
    if connection.vendor == "postgresql":
        sql = (f"SELECT t.term, COUNT(*) FROM ({inner}) AS c(ex) CROSS JOIN LATERAL "
               "jsonb_array_elements_text(CASE WHEN jsonb_typeof(c.ex->'category'->'terms') = 'array' "
               "THEN c.ex->'category'->'terms' ELSE '[]'::jsonb END) AS t(term) GROUP BY t.term")
    else:
        sql = (f"SELECT j.value, COUNT(*) FROM ({inner}) AS c, json_each(c.triage_explanation, '$.category.terms') AS j "
               "GROUP BY j.value")
    return {str(term): int(n) for term, n in _fetch(sql, params)}


def rising_topics(*, user: User, filters: DashboardFilters, limit: int = 10) -> list[dict[str, Any]]:
    """Terms in at least TOPIC_MIN_REPORTS reports in the week ending at the period's end,
    by their rise over the week before."""
    this, before = _topic_weeks(filters)
    now_counts = _term_counts(dashboard_cases(user=user, filters=this))
    prev = _term_counts(dashboard_cases(user=user, filters=before))
    return _topic_rows(this, now_counts, prev, limit)


def _topic_weeks(filters: DashboardFilters) -> tuple[DashboardFilters, DashboardFilters]:
    """The week ending at the period's end and the week before."""
    end = filters.end
    this = DashboardFilters(start=end - timedelta(days=6), end=end, department=filters.department,
                            channel=filters.channel, category=filters.category, matter_type=filters.matter_type)
    before = DashboardFilters(start=end - timedelta(days=13), end=end - timedelta(days=7),
                              department=filters.department, channel=filters.channel, category=filters.category,
                              matter_type=filters.matter_type)
    return this, before


def _topic_rows(this: DashboardFilters, now_counts: dict[str, int], prev: dict[str, int],
                limit: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"term": t, "count": Figure(n, this.console(term=t)), "previous": prev.get(t, 0), "rise": n - prev.get(t, 0)}
        for t, n in now_counts.items() if n >= TOPIC_MIN_REPORTS]
    rows.sort(key=lambda r: (-int(r["rise"]), -int(r["count"].value), str(r["term"])))
    return [r for r in rows if r["rise"] > 0][:limit]


# --- the same figures from the maintained per-case rows (triage.dashboard_figures) ------------------


def figures_apply(*, user: User, filters: DashboardFilters) -> bool:
    """Whether `dashboard_cases` is, for this user and filters, exactly the non-RECEIVED
    cases of the filters (which CaseFigures holds): for leadership always; for a head when
    the department filter lies within their sub-tree (their scope covers it whole)."""
    roles = roles_of(user)
    if not user.is_active:
        return False
    if user.is_superuser or roles & {Role.LEADERSHIP, Role.AUDITOR}:
        return True
    profile = getattr(user, "staff_profile", None)
    return (Role.HEAD in roles and profile is not None and filters.department is not None
            and filters.department.path.startswith(profile.department.path))


def _scoped(qs: QuerySet[Any], filters: DashboardFilters, *, channel_field: str = "channel") -> QuerySet[Any]:
    """Cases, CaseFigures or FiguresDay rows under the filters but the period. The
    department sub-tree is read as an id list (as a subquery it made the planner scan)."""
    if filters.department is not None:
        qs = qs.filter(department_id__in=subtree_ids(filters.department))
    if filters.channel:
        qs = qs.filter(**{channel_field: filters.channel})
    if filters.category:
        qs = qs.filter(category_id=filters.category)
    if filters.matter_type:
        qs = qs.filter(matter_type=filters.matter_type)
    return qs.order_by()


def figure_rows(filters: DashboardFilters, *, period: bool = True) -> QuerySet[CaseFigures]:
    """The CaseFigures rows of `dashboard_cases` under the filters (see `figures_apply`)."""
    qs = CaseFigures.objects.all()
    if period:
        qs = qs.filter(created_at__gte=local_day_start(filters.start),
                       created_at__lt=local_day_start(filters.end + timedelta(days=1)))
    return _scoped(qs, filters)


def day_rows(filters: DashboardFilters) -> QuerySet[FiguresDay]:
    """The FiguresDay rows of the period (local days, as `dashboard_cases` bounds it)."""
    detail = bool(filters.channel or filters.category or filters.matter_type)
    return _scoped(FiguresDay.objects.filter(detail=detail, day__gte=filters.start, day__lte=filters.end), filters)


_DAY_SUMS = ("received", "closed", "supervised", "routed", "misrouted", "reopened", "duplicate", "review_requested",
             "extensions", "extended", "clocks_ok", "clocks_late", *(f"{p}_{x}" for _k, p in FIGURE_KINDS
                                                                      for x in ("late", "ok")),
             *(r.value for r in Rating))
_RUNNING = Q(notice_due__isnull=False) | Q(handle_due__isnull=False) | Q(transfer_due__isnull=False)


def _running_aggregates(now: datetime) -> dict[str, Any]:
    """Over the cases with a clock running (not in FiguresDay's settled counts): per kind,
    cases late now and cases on time so far, and clocks late now."""
    aggs: dict[str, Any] = {}
    for _kind, prefix in FIGURE_KINDS:
        settled_late = Q(**{f"{prefix}_late": True}) | Q(**{f"{prefix}_paused_late": True})
        # (Named apart from the model's fields, which the filters read.)
        aggs[f"run_{prefix}_late"] = Count("created_at", filter=Q(**{f"{prefix}_due__lt": now}) & ~settled_late)
        aggs[f"run_{prefix}_ok"] = Count("created_at", filter=Q(**{f"{prefix}_due__gte": now, f"{prefix}_ok": True})
                                         & ~settled_late)
        aggs[f"run_{prefix}_clocks_late"] = Count("created_at", filter=Q(**{f"{prefix}_due__lt": now}))
    return aggs


def _unit_of(units: list[Department], node: Department | None) -> dict[int | None, int | None]:
    """Department id → the league unit (a child of `node` whose sub-tree holds it, else
    node); no department (None) → UNROUTED, as `_unit_case` groups the live queries."""
    default = node.pk if node is not None else UNROUTED
    out: dict[int | None, int | None] = {None: UNROUTED}
    for pk, path in Department.objects.values_list("pk", "path"):
        out[pk] = next((u.pk for u in units if path.startswith(u.path)), default)
    return out


def _rolled(rows: list[dict[str, Any]], key: dict[int | None, Any] | None = None) -> dict[Any, dict[str, int]]:
    """Sum per-department rows into groups (`key`: department id → group; None: one total)."""
    out: dict[Any, dict[str, int]] = {}
    for row in rows:
        group = out.setdefault(key.get(row["department_id"]) if key is not None else None, {})
        for k, v in row.items():
            if k != "department_id":
                group[k] = group.get(k, 0) + int(v or 0)
    return out


def _period_by_department(filters: DashboardFilters, now: datetime) -> list[dict[str, Any]]:
    """The period's counts per department: FiguresDay's settled counts plus, from
    CaseFigures, the clocks still running judged against now."""
    rows: dict[int | None, dict[str, Any]] = {
        r["department_id"]: dict(r) for r in day_rows(filters).values("department_id").annotate(
            **{k: Sum(k) for k in _DAY_SUMS})}
    running: Any = figure_rows(filters).filter(_RUNNING).values("department_id").annotate(**_running_aggregates(now))
    for run in running:
        row = rows.setdefault(run["department_id"], {"department_id": run["department_id"]})
        for _kind, prefix in FIGURE_KINDS:
            for x in ("late", "ok"):
                row[f"{prefix}_{x}"] = int(row.get(f"{prefix}_{x}") or 0) + int(run[f"run_{prefix}_{x}"])
            row["clocks_late"] = int(row.get("clocks_late") or 0) + int(run[f"run_{prefix}_clocks_late"])
    return list(rows.values())


def _figures_dashboard(*, user: User, filters: DashboardFilters, now: datetime) -> dict[str, Any]:
    """`dashboard` from FiguresDay and CaseFigures: a handful of grouped queries over per-day
    sums and over the open cases, whatever the number of cases."""
    period = _period_by_department(filters, now)
    open_rows: list[dict[str, Any]] = [dict(r) for r in figure_rows(filters, period=False).filter(is_open=True)
                                       .values("department_id").annotate(**_backlog_aggregates(now))]
    total = _rolled(period).get(None, {})
    c = {k: total.get(k, 0) for k in ("received", "closed", "supervised", "routed", "misrouted", "reopened",
                                       "duplicate", "review_requested")}
    deadlines = {kind: (total.get(f"{prefix}_late", 0), total.get(f"{prefix}_ok", 0)) for kind, prefix in FIGURE_KINDS}
    backlog_total = _rolled(open_rows).get(None, {})

    node, units = league_units(user=user, filters=filters)
    unit_of = _unit_of(units, node)
    by_unit = _rolled(period, unit_of)
    counts = {u: {"received": r.get("received", 0), "closed": r.get("closed", 0)} for u, r in by_unit.items()}
    clocks = {u: {"ok": r.get("clocks_ok", 0), "late": r.get("clocks_late", 0)} for u, r in by_unit.items()}
    rated = {u: {"n": sum(r.get(x.value, 0) for x in Rating),
                 "good": r.get(Rating.SATISFIED.value, 0) + r.get(Rating.BASICALLY_SATISFIED.value, 0)}
             for u, r in by_unit.items() if any(r.get(x.value, 0) for x in Rating)}

    area = dict(Department.objects.values_list("pk", "area__code"))
    places: dict[str, int] = {}
    for row in period:
        if row["department_id"] is not None and row.get("received"):
            town = area[row["department_id"]][:9]
            places[town] = places.get(town, 0) + int(row["received"])

    weeks = _figures_trend(filters)
    this, before = _topic_weeks(filters)
    return {
        "counts": _count_figures(c, filters),
        "deadlines": _deadline_figures(deadlines, filters),
        "extensions": _extension_figures(total.get("extensions", 0), total.get("extended", 0), filters),
        "times": _figures_times(filters),
        "backlog": _backlog_figures({k: backlog_total.get(k, 0) for k in _backlog_aggregates(now)}, filters),
        "satisfaction": _satisfaction_figures({x.value: total[x.value] for x in Rating if total.get(x.value)},
                                              filters),
        "league": _league_rows(node, units, (counts, clocks, _rolled(open_rows, unit_of), rated), filters),
        "weeks": weeks,
        "chart": trend_chart(weeks),
        "places": _place_rows(places, filters),
        "topics": _topic_rows(this, _figure_term_counts(figure_rows(this)), _figure_term_counts(figure_rows(before)),
                              10),
    }


def _figures_times(filters: DashboardFilters) -> list[dict[str, Any]]:
    """Percentiles sort every case of the period (a quarter: ~250,000 at a million a year),
    so they are cached under the figures' version and the query itself (filters, sub-tree):
    exact while the version stands, recomputed after any refresh that changed a figure."""
    inner, params = _sql(figure_rows(filters).values_list("days_to_acknowledge", "days_to_first_reply",
                                                          "days_to_close"))
    version = figures_version()
    key = "dashboard:times:" + hashlib.sha256(repr((version, inner, params)).encode()).hexdigest()
    cached = cache.get(key) if version is not None else None
    if cached is not None:
        return [{"measure": name, "label": label, "median": med, "p90": p90, "n": n}
                for (name, label), (med, p90, n) in zip(MEASURES, cached, strict=True)]
    if connection.vendor != "postgresql":
        rows = _percentile_rows(f"SELECT days_to_acknowledge AS w0, days_to_first_reply AS w1, days_to_close AS w2 "
                                f"FROM ({inner}) AS f", params)
    else:
        with transaction.atomic(), connection.cursor() as cursor:
            # Three sorts of a quarter's cases: in memory, not in temporary files (4 MB default).
            cursor.execute("SET LOCAL work_mem = '64MB'")
            rows = _percentile_rows(f"SELECT * FROM ({inner}) AS f(w0, w1, w2)", params)
    if version is not None:
        cache.set(key, [(r["median"], r["p90"], r["n"]) for r in rows], 3600)
    return rows


def _figures_trend(filters: DashboardFilters) -> list[dict[str, Any]]:
    first, last = _trend_window(filters)
    window = DashboardFilters(start=first, end=last + timedelta(days=6), department=filters.department,
                              channel=filters.channel, category=filters.category, matter_type=filters.matter_type)
    received: dict[date, int] = {}
    closed: dict[date, int] = {}
    ratings: dict[date, tuple[int, int]] = {}
    for day, n, closed_on, rated_on, good in day_rows(window).values("day").annotate(
            n=Sum("received"), c=Sum("closed_on"), r=Sum("rated_on"), g=Sum("rated_good_on")).values_list(
            "day", "n", "c", "r", "g"):
        w = week_start(day)
        received[w] = received.get(w, 0) + int(n)
        closed[w] = closed.get(w, 0) + int(closed_on)
        r, g = ratings.get(w, (0, 0))
        ratings[w] = (r + int(rated_on), g + int(good))
    return _trend_rows(first, (received, closed, {w: v for w, v in ratings.items() if v[0]}), filters)


def _figure_term_counts(qs: QuerySet[CaseFigures]) -> dict[str, int]:
    """Reports per classifier term over CaseFigures rows (terms: primary cases only)."""
    inner, params = _sql(qs.filter(is_primary=True, terms__isnull=False).values("terms"))
    if connection.vendor == "postgresql":
        sql = (f"SELECT t.term, COUNT(*) FROM ({inner}) AS f(terms) "
               "CROSS JOIN LATERAL jsonb_array_elements_text(f.terms) AS t(term) GROUP BY t.term")
    else:
        sql = f"SELECT j.value, COUNT(*) FROM ({inner}) AS f, json_each(f.terms) AS j GROUP BY j.value"
    return {str(term): int(n) for term, n in _fetch(sql, params)}


# --- the whole page ------------------------------------------------------------------------------


def dashboard(*, user: User, filters: DashboardFilters, now: datetime | None = None,
              source: str = "auto") -> dict[str, Any]:
    """Every figure of the page. `source`: "figures" reads the maintained CaseFigures rows
    (refreshed first, a bounded amount: see DASHBOARD_READ_REFRESH_ROWS), "live" the case
    tables; "auto" the figures wherever they hold exactly the user's cases."""
    now = now or timezone.now()
    if source == "figures" or (source == "auto" and figures_apply(user=user, filters=filters)):
        figures_refresh(max_rows=settings.DASHBOARD_READ_REFRESH_ROWS, rebuild_above=None)  # never a rebuild
        return {**_figures_dashboard(user=user, filters=filters, now=now), "as_of": figures_as_of(now)}
    weeks = weekly_trend(user=user, filters=filters)
    return {
        "counts": summary_counts(user=user, filters=filters),
        "deadlines": deadline_rates(user=user, filters=filters, now=now),
        "extensions": extensions_used(user=user, filters=filters),
        "times": response_times(user=user, filters=filters),
        "backlog": backlog(user=user, filters=filters, now=now),
        "satisfaction": satisfaction(user=user, filters=filters),
        "league": league_table(user=user, filters=filters, now=now),
        "weeks": weeks,
        "chart": trend_chart(weeks),
        "places": place_heat(user=user, filters=filters),
        "topics": rising_topics(user=user, filters=filters),
        "as_of": None,
    }
