"""The public transparency page: per department and month, what was received, closed, on
time and how reporters rated it, and the case summaries heads chose to publish (典型案例、
曝光), each checked to hold no identity before it is stored."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Case as When_
from django.db.models import Count, F, IntegerField, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from intake import crypto
from intake.models import Rating, ReporterIdentity
from triage.dashboard import DashboardFilters, _keyed, _period_by_department, _rolled, _unit_of, rate
from triage.models import CLOSED_STATES, Case, Deadline, Department, PublishedCase
from triage.selectors import RATED_KINDS, _late_deadline_q, local_day_start
from triage.workflow import Role, covers, roles_of

# Patterns of identity a summary must not carry whoever the person is: mobile and landline
# numbers, 18/15-digit ID card numbers, e-mail addresses.
IDENTITY_PATTERNS = [
    re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)"),
    re.compile(r"(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)"),
    re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)"),
    re.compile(r"(?<!\d)\d{15}(?!\d)"),
    re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+"),
]


class PublicationError(Exception):
    """Why a summary cannot be published (shown to the head)."""


def _reporter_identity(case: Case) -> dict[str, Any]:
    """The reporter's identity, decrypted in memory only to compare it with the summary;
    nothing is shown or stored, so no access record is written."""
    identity = ReporterIdentity.objects.filter(report_id=case.report_id).first()
    if identity is None:
        return {}
    dk = crypto.unwrap_data_key(identity.wrapped_key, key_id=identity.key_id, owner=f"identity:{identity.pk}")
    data: dict[str, Any] = json.loads(crypto.open_text(
        dk, identity.data_ct, aad=crypto.field_aad(table="identity", row_id=str(identity.pk), field="data")))
    return data


def _compact(text: str) -> str:
    return re.sub(r"[\s\-－—_·.]", "", text)


def identity_problems(*, case: Case, text: str) -> list[str]:
    """What in `text` could identify a person: the case's reporter's name, phone or ID
    number (however spaced), or anything shaped like a phone, ID or e-mail."""
    problems = []
    compact = _compact(text)
    for key, label in (("name", _("反映人姓名")), ("mobile", _("反映人电话")), ("id_number", _("反映人身份证号"))):
        value = _compact(str(_reporter_identity(case).get(key) or "")) if key else ""
        if len(value) >= 2 and value in compact:
            problems.append(str(label))
    if any(p.search(text) or p.search(compact) for p in IDENTITY_PATTERNS):
        problems.append(_("电话号码、身份证号或电子邮箱"))
    return problems


def can_publish(*, user: User, case: Case) -> bool:
    """Only a department head whose sub-tree handles the case."""
    return Role.HEAD in roles_of(user) and case.department is not None and covers(user, Role.HEAD, case.department)


def case_publish(*, case: Case, user: User, title: str, summary: str) -> PublishedCase:
    """Publish a summary of a closed case on the public page (head only, no identity)."""
    if not can_publish(user=user, case=case):
        raise PermissionError
    if case.status not in CLOSED_STATES:
        raise PublicationError(_("只能公开已办结的案件。"))
    title, summary = title.strip(), summary.strip()
    if len(title) < 4 or len(summary) < 10:
        raise PublicationError(_("请填写标题（至少 4 个字）和摘要（至少 10 个字）。"))
    problems = identity_problems(case=case, text=f"{title}\n{summary}")
    if problems:
        raise PublicationError(_("摘要含有可识别身份的信息（%(what)s），请改写后再公开。") % {"what": "、".join(problems)})
    assert case.department is not None
    now = timezone.now()
    return PublishedCase.objects.create(case=case, department=case.department, title=title, summary=summary,
                                        published_at=now, published_by=user, created_by=user)


def case_unpublish(*, publication: PublishedCase, user: User) -> None:
    if not can_publish(user=user, case=publication.case):
        raise PermissionError
    publication.published_at = None
    publication.save(update_fields=["published_at"])


def month_bounds(month: date) -> tuple[date, date]:
    first = month.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return first, last


def public_statistics(*, month: date, department: Department | None = None, source: str = "figures",
                      now: datetime | None = None) -> list[dict[str, Any]]:
    """Per department (each with its sub-tree) for one month: reports received, closed,
    on-time rate (clocks of the rated kinds) and satisfaction. Counts only, in SQL: from the
    dashboards' maintained figures (as of the beat's last refresh: an anonymous page does
    not refresh them), or with source="live" from the case tables."""
    now = now or timezone.now()
    first, last = month_bounds(month)
    if department is None:
        roots = list(Department.objects.filter(parent__isnull=True, is_active=True))
        department = roots[0] if len(roots) == 1 else None
    units = list(Department.objects.filter(parent=department, is_active=True).order_by("path")
                 if department is not None else Department.objects.filter(parent__isnull=True, is_active=True))
    if source == "live":
        return _public_statistics_live(first, last, units, now)
    by_unit = _rolled(_period_by_department(DashboardFilters(start=first, end=last), now), _unit_of(units, None))
    rows = []
    for u in units:
        r = by_unit.get(u.pk, {})
        if not r.get("received"):
            continue
        good = r.get(Rating.SATISFIED.value, 0) + r.get(Rating.BASICALLY_SATISFIED.value, 0)
        rows.append({"department": u, "received": r["received"], "closed": r.get("closed", 0),
                     "on_time_rate": rate(r.get("clocks_ok", 0), r.get("clocks_ok", 0) + r.get("clocks_late", 0)),
                     "satisfaction": rate(good, sum(r.get(x.value, 0) for x in Rating)),
                     "has_children": u.children.exists()})
    return rows


def _public_statistics_live(first: date, last: date, units: list[Department], now: datetime) -> list[dict[str, Any]]:
    lo, hi = local_day_start(first), local_day_start(last + timedelta(days=1))

    def unit_of(prefix: str) -> When_:
        # Each row stands for its department's whole sub-tree.
        whens = [When(**{f"{prefix}department__path__startswith": u.path}, then=Value(u.pk)) for u in units]
        return When_(*whens, default=Value(None), output_field=IntegerField())

    cases = Case.objects.filter(created_at__gte=lo, created_at__lt=hi).exclude(status="received")
    counts = _keyed("unit", cases.annotate(unit=unit_of("")).values("unit").annotate(
        received=Count("pk"), closed=Count("pk", filter=Q(closed_at__isnull=False))).order_by())
    clocks = _keyed("grp", Deadline.objects.filter(
        case__in=cases.values("pk"), kind__in=RATED_KINDS, cancelled_at__isnull=True).annotate(
        grp=unit_of("case__")).values("grp").annotate(
        late=Count("pk", filter=_late_deadline_q(now)),
        ok=Count("pk", filter=Q(met_at__isnull=False, met_at__lte=F("due_at")))).order_by())
    rated = _keyed("unit", cases.filter(split_from__isnull=True, report__feedback__isnull=False)
             .annotate(unit=unit_of("")).values("unit").annotate(
        n=Count("pk"), good=Count("pk", filter=Q(report__feedback__rating__in=[Rating.SATISFIED,
                                                                                Rating.BASICALLY_SATISFIED])))
             .order_by())

    def pct(a: int, b: int) -> float | None:
        return round(100.0 * a / b, 1) if b else None

    rows = []
    for u in units:
        c, k, r = counts.get(u.pk, {}), clocks.get(u.pk, {}), rated.get(u.pk, {})
        if not c:
            continue
        rows.append({"department": u, "received": c.get("received", 0), "closed": c.get("closed", 0),
                     "on_time_rate": pct(k.get("ok", 0), k.get("ok", 0) + k.get("late", 0)),
                     "satisfaction": pct(r.get("good", 0), r.get("n", 0)), "has_children": u.children.exists()})
    return rows


def published_cases(*, month: date | None = None, department: Department | None = None) -> list[PublishedCase]:
    qs = PublishedCase.objects.filter(published_at__isnull=False).select_related("department")
    if month is not None:
        first, last = month_bounds(month)
        qs = qs.filter(published_at__gte=local_day_start(first), published_at__lt=local_day_start(last + timedelta(days=1)))
    if department is not None:
        qs = qs.filter(department__path__startswith=department.path)
    return list(qs.order_by("-published_at")[:50])
