"""实时预警: find an unusual rise of reports about one place, department or topic, or many
检举控告 about the same unit, and record an Alert (counts only) for leadership. The
notifications app picks new alerts up; this module sends nothing itself.

"The same unit": the accused unit is encrypted and has no blind index yet, so accusations
are grouped by the unit they were routed to (the department of the accused unit's area
and line), which is what a triage officer sees too."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, QuerySet
from django.db.models.functions import Substr
from django.utils import timezone

from intake.models import Area, MatterType
from triage.dashboard import TOPIC_MIN_REPORTS, _term_counts, week_start
from triage.models import Alert, AlertKind, Case, CaseStatus, Department

BASELINE_WEEKS = 4
MIN_COUNT = 10  # a rise below this many reports a week is noise
MIN_ACCUSATIONS = 5
RISE_FACTOR = 2.0  # this week's count at least twice the weekly mean of the weeks before


def _window(start: datetime, end: datetime) -> QuerySet[Case]:
    return Case.objects.exclude(status=CaseStatus.RECEIVED).filter(created_at__gte=start, created_at__lt=end).order_by()


def _grouped(qs: QuerySet[Case], key: Any) -> dict[str, int]:
    return {str(k): int(n) for k, n in qs.annotate(k=key).values("k").annotate(n=Count("pk")).values_list("k", "n")
            if k is not None}


def _unusual(now_counts: dict[str, int], before: dict[str, int], minimum: int) -> Iterable[tuple[str, int, float]]:
    for subject, n in now_counts.items():
        baseline = before.get(subject, 0) / BASELINE_WEEKS
        if n >= minimum and n >= RISE_FACTOR * baseline + 1:
            yield subject, n, baseline


def alerts_scan(*, now: datetime | None = None) -> list[Alert]:
    """Compare the last 7 days with the BASELINE_WEEKS weeks before; record (or update)
    one alert per subject and week. Safe to run any number of times."""
    now = now or timezone.now()
    start = now - timedelta(days=7)
    base_start = start - timedelta(weeks=BASELINE_WEEKS)
    this, before = _window(start, now), _window(base_start, start)
    found: list[tuple[str, str, str, int, float]] = []

    place = Substr("department__area__code", 1, 9)
    areas = {}
    for subject, n, baseline in _unusual(_grouped(this, place), _grouped(before, place), MIN_COUNT):
        areas[subject] = n
        found.append((AlertKind.PLACE, subject, "", n, baseline))
    names = dict(Area.objects.filter(code__in=list(areas)).values_list("code", "full_name"))

    from django.db.models import F

    dept = F("department_id")
    for subject, n, baseline in _unusual(_grouped(this, dept), _grouped(before, dept), MIN_COUNT):
        found.append((AlertKind.DEPARTMENT, subject, "", n, baseline))
    accusations_now = _grouped(this.filter(matter_type=MatterType.ACCUSATION), dept)
    accusations_before = _grouped(before.filter(matter_type=MatterType.ACCUSATION), dept)
    for subject, n, baseline in _unusual(accusations_now, accusations_before, MIN_ACCUSATIONS):
        found.append((AlertKind.ACCUSED_UNIT, subject, "", n, baseline))
    terms_now, terms_before = _term_counts(this), _term_counts(before)
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
