"""Read paths of triage. Every staff query of cases starts from `cases_for`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from triage.models import Case, CaseStatus, Department


def scope_root(user: User) -> Department | None:
    """The top of the department sub-tree a staff user's work covers: the government unit
    of their department's area (a county bureau's officer covers the county)."""
    profile = getattr(user, "staff_profile", None)
    if profile is None:
        return None
    department = profile.department
    return Department.objects.filter(code=f"{department.area.code}-gov").first() or department


def cases_for(user: User) -> QuerySet[Case]:
    """Cases a staff user may see: their scope's sub-tree; all for superusers."""
    qs = Case.objects.all()
    if user.is_superuser:
        return qs
    root = scope_root(user)
    if root is None:
        return qs.none()
    return qs.filter(Q(department__path__startswith=root.path) | Q(department__isnull=True, status=CaseStatus.AWAITING_TRIAGE))


@dataclass(frozen=True)
class QueueFilters:
    channel: str = ""
    category: str = ""
    matter_type: str = ""
    level: int | None = None
    min_age_days: int | None = None


def triage_queue(*, user: User, filters: QueueFilters) -> QuerySet[Case]:
    """Uncertain and returned reports: urgent first, then oldest first."""
    qs = (
        cases_for(user)
        .filter(status=CaseStatus.AWAITING_TRIAGE)
        .select_related("report", "category", "department")
        .annotate(linked=Count("duplicates"))
        .order_by("-urgent", "created_at")
    )
    if filters.channel:
        qs = qs.filter(report__channel=filters.channel)
    if filters.category:
        qs = qs.filter(category__name=filters.category)
    if filters.matter_type:
        qs = qs.filter(matter_type=filters.matter_type)
    if filters.level:
        qs = qs.filter(department__level=filters.level)
    if filters.min_age_days:
        qs = qs.filter(created_at__lte=timezone.now() - timedelta(days=filters.min_age_days))
    return qs
