"""实时预警: find an unusual rise of reports about one place, department or topic, or many
检举控告 about the same unit, and record an Alert (counts only) for leadership. The
notifications app picks new alerts up; this module sends nothing itself.

"The same unit": the accused unit is encrypted and has no blind index yet, so accusations
are grouped by the unit they were routed to (the department of the accused unit's area
and line), which is what a triage officer sees too."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Case as When_
from django.db.models import Count, Value, When
from django.utils import timezone

from intake.models import Area, MatterType
from triage.dashboard import TOPIC_MIN_REPORTS, _figure_term_counts, week_start
from triage.dashboard_figures import figures_refresh
from triage.models import Alert, AlertKind, CaseFigures, Department

BASELINE_WEEKS = 4
MIN_COUNT = 10  # a rise below this many reports a week is noise
MIN_ACCUSATIONS = 5
RISE_FACTOR = 2.0  # this week's count at least twice the weekly mean of the weeks before


def _unusual(now_counts: dict[str, int], before: dict[str, int], minimum: int) -> Iterable[tuple[str, int, float]]:
    for subject, n in now_counts.items():
        baseline = before.get(subject, 0) / BASELINE_WEEKS
        if n >= minimum and n >= RISE_FACTOR * baseline + 1:
            yield subject, n, baseline


Counts = dict[str, int]


def _window_counts(start: datetime, base_start: datetime, now: datetime) -> dict[str, tuple[Counts, Counts]]:
    """Cases received (not RECEIVED: CaseFigures holds no others) per place (township area
    code), department and department of accusations, this week and in the weeks before:
    one grouped index-only scan of CaseFigures over the five weeks, summed up here."""
    rows = (CaseFigures.objects.filter(created_at__gte=base_start, created_at__lt=now).order_by()
            .annotate(this=When_(When(created_at__gte=start, then=Value(True)), default=Value(False)),
                      accusation=When_(When(matter_type=MatterType.ACCUSATION, then=Value(True)), default=Value(False)))
            .values("this", "department_id", "accusation").annotate(n=Count("case_id")))
    town = {pk: code[:9] for pk, code in Department.objects.values_list("pk", "area__code") if code}
    out: dict[str, tuple[Counts, Counts]] = {k: ({}, {}) for k in ("place", "department", "accusation")}
    for row in rows:
        dept, n, i = row["department_id"], int(row["n"]), 0 if row["this"] else 1
        if dept is None:
            continue
        keys = [("department", str(dept)), *((("place", town[dept]),) if dept in town else ())]
        if row["accusation"]:
            keys.append(("accusation", str(dept)))
        for kind, subject in keys:
            counts = out[kind][i]
            counts[subject] = counts.get(subject, 0) + n
    return out


def alerts_scan(*, now: datetime | None = None) -> list[Alert]:
    """Compare the last 7 days with the BASELINE_WEEKS weeks before; record (or update)
    one alert per subject and week. Safe to run any number of times. Counted from the
    dashboards' maintained figures (refreshed first, a bounded amount, as a page does),
    not from the case table (~1 s at 1,000,000 cases, now a few tens of ms)."""
    now = now or timezone.now()
    figures_refresh(max_rows=settings.DASHBOARD_READ_REFRESH_ROWS, rebuild_above=None)
    start = now - timedelta(days=7)
    base_start = start - timedelta(weeks=BASELINE_WEEKS)
    counts = _window_counts(start, base_start, now)
    found: list[tuple[str, str, str, int, float]] = []

    areas = {}
    for subject, n, baseline in _unusual(*counts["place"], MIN_COUNT):
        areas[subject] = n
        found.append((AlertKind.PLACE, subject, "", n, baseline))
    names = dict(Area.objects.filter(code__in=list(areas)).values_list("code", "full_name"))
    for subject, n, baseline in _unusual(*counts["department"], MIN_COUNT):
        found.append((AlertKind.DEPARTMENT, subject, "", n, baseline))
    for subject, n, baseline in _unusual(*counts["accusation"], MIN_ACCUSATIONS):
        found.append((AlertKind.ACCUSED_UNIT, subject, "", n, baseline))
    terms_now = _figure_term_counts(CaseFigures.objects.filter(created_at__gte=start, created_at__lt=now))
    terms_before = _figure_term_counts(CaseFigures.objects.filter(created_at__gte=base_start, created_at__lt=start))
    for subject, n, baseline in _unusual(terms_now, terms_before, max(MIN_COUNT, TOPIC_MIN_REPORTS)):
        found.append((AlertKind.TOPIC, subject, subject, n, baseline))

    departments = dict(Department.objects.filter(
        pk__in=[int(s) for k, s, *_ in found if k in (AlertKind.DEPARTMENT, AlertKind.ACCUSED_UNIT)])
        .values_list("pk", "name"))
    week = week_start(timezone.localdate(now))
    alerts = []
    for kind, subject, label, n, baseline in found:
        if kind == AlertKind.PLACE:
            label = names.get(subject, subject)
        elif kind in (AlertKind.DEPARTMENT, AlertKind.ACCUSED_UNIT):
            label = departments.get(int(subject), subject)
        alert, _created = Alert.objects.update_or_create(
            kind=kind, subject=subject, week_start=week,
            defaults={"subject_label": label[:120], "count": n, "baseline": round(baseline, 2)})
        alerts.append(alert)
    return alerts


def open_alerts(*, limit: int = 50) -> list[Alert]:
    return list(Alert.objects.filter(acknowledged_at__isnull=True).order_by("-raised_at")[:limit])
