"""Read paths of triage. Every staff query of cases starts from `cases_visible_to`, the one
place where a user's department scope is applied."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, overload

from django.conf import settings
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import (
    Count,
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.functional import cached_property

from intake.models import Area
from triage.deadlines import DeadlineState
from triage.models import CLOSED_STATES, Case, CaseFigures, CaseStatus, Deadline, Department, FiguresDirty
from triage.workflow import Role, covers, roles_of


def scope_root(user: User) -> Department | None:
    """The top of the department sub-tree a staff user's work covers: the government unit
    of their department's area (a county bureau's officer covers the county)."""
    profile = getattr(user, "staff_profile", None)
    if profile is None:
        return None
    department = profile.department
    return Department.objects.filter(code=f"{department.area.code}-gov").first() or department


def subtree_ids(department: Department) -> list[int]:
    """Ids of a department and everything below it. Read first (one small query), so the
    case filter is a list the planner serves from the department and transfer indexes; as
    a subquery it scanned every case (~0.7 s at 200,000 cases for a head's "all" tab)."""
    return list(Department.objects.filter(path__startswith=department.path).values_list("pk", flat=True))


def cases_visible_to(user: User) -> QuerySet[Case]:
    """The cases a staff user may see, by role (the union when they hold several):
    handler: their department's cases and transfers offered to it; head: also every
    sub-department's; triage officer: their scope's sub-tree and unrouted reports;
    leadership and auditors: all (leadership reads content only through a logged grant,
    auditors never act). Superusers see all. Nobody else sees any."""
    qs = Case.objects.all()
    if not user.is_active:
        return qs.none()
    roles = roles_of(user)
    if user.is_superuser or roles & {Role.LEADERSHIP, Role.AUDITOR}:
        return qs
    profile = getattr(user, "staff_profile", None)
    home = profile.department if profile is not None else None
    scope = Q(pk__in=[])
    if home is not None and Role.HANDLER in roles:
        scope |= Q(department_id=home.pk) | Q(transfer_to_id=home.pk)
    if home is not None and Role.HEAD in roles:
        subtree = subtree_ids(home)
        scope |= Q(department_id__in=subtree) | Q(transfer_to_id__in=subtree)
    if Role.TRIAGE_OFFICER in roles:
        root = scope_root(user)
        if root is not None:
            scope |= Q(department_id__in=subtree_ids(root)) | Q(department__isnull=True,
                                                               status=CaseStatus.AWAITING_TRIAGE)
    return qs.filter(scope)


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
        cases_visible_to(user)
        .filter(status=CaseStatus.AWAITING_TRIAGE)
        .select_related("report", "category", "department")
        .annotate(linked=Count("duplicates"))
        .prefetch_related(Prefetch("deadlines", queryset=_open_deadlines(), to_attr="open_deadlines"))
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


# --- the handler console ------------------------------------------------------------------

OPEN = "open"
ALL = "all"
OPEN_STATES = frozenset(set(CaseStatus) - CLOSED_STATES - {CaseStatus.RECEIVED})


class ContentAccess(StrEnum):
    DIRECT = "direct"  # shown on view, each view recorded
    GRANT = "grant"  # shown only after the user records a reason (leadership)
    NONE = "none"  # never (auditors: they read the record of who saw what, not the content)


def departments_by_area(departments: QuerySet[Department], *, area_label: Callable[[Area], str] = str,
                        ) -> list[tuple[str, list[tuple[int, str]]]]:
    """Departments as grouped choices under their area, in tree order (codes nest: city, its
    districts, their townships …), for a picker that would otherwise be one flat list."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for department in departments.select_related("area").order_by("code"):
        groups.setdefault(area_label(department.area), []).append((department.pk, department.name))
    return list(groups.items())


def content_access(*, user: User, case: Case) -> ContentAccess:
    """How this user may read the case's content. Handlers and heads who reach the case read
    it directly; leadership sees every case but its content only through a logged grant."""
    roles = roles_of(user)
    if user.has_perm("intake.view_report_content"):
        for role in roles & {Role.HANDLER, Role.HEAD, Role.TRIAGE_OFFICER}:
            if any(covers(user, role, d) for d in (case.department, case.transfer_to) if d is not None) or (
                    role == Role.TRIAGE_OFFICER and case.department_id is None):
                return ContentAccess.DIRECT
    if Role.LEADERSHIP in roles:
        return ContentAccess.GRANT
    return ContentAccess.NONE


class DeadlineFilter(StrEnum):
    NORMAL = DeadlineState.NORMAL.value
    DUE_SOON = DeadlineState.DUE_SOON.value
    OVERDUE = DeadlineState.OVERDUE.value


@dataclass(frozen=True)
class CaseFilters:
    status: str = OPEN  # OPEN, ALL or a CaseStatus
    deadline_state: str = ""
    channel: str = ""
    category: int | None = None
    matter_type: str = ""
    supervised: bool | None = None
    department: Department | None = None
    # Drill-down from the dashboards: the received period (local dates, inclusive), a place
    # (area code prefix: district or township) and one of CASE_FLAGS.
    created_from: date | None = None
    created_to: date | None = None
    place: str = ""
    flag: str = ""
    term: str = ""


def _late_deadline_q(now: datetime) -> Q:
    """A clock that finished after its due time, or is still running (or paused) past it."""
    return Q(met_at__gt=F("due_at")) | Q(met_at__isnull=True, due_at__lt=Coalesce(F("paused_at"), Value(now)))


def _deadline_exists(kind: str | None = None, **lookups: Any) -> Exists:
    qs = Deadline.objects.filter(case=OuterRef("pk"), cancelled_at__isnull=True, **lookups)
    return Exists(qs.filter(kind=kind) if kind else qs)


# The deadline kinds the dashboards rate: 受理告知, 办结 (handling) and 转交 (登记交办).
RATED_KINDS = ("acceptance_notice", "handle", "transfer")
# Backlog age buckets in calendar days since receipt: (code, first day, last day or None).
AGE_BUCKETS = (("0_7", 0, 7), ("8_30", 8, 30), ("31_60", 31, 60), ("61_90", 61, 90), ("91", 91, None))


def case_flag_q(flag: str, *, now: datetime) -> Q | None:
    """The cases a dashboard figure counts, by the figure's flag (None: unknown flag).
    Each must select exactly the cases the figure counts (tests compare both)."""
    from intake.models import Rating, ReviewRequest

    simple = {
        "closed": Q(closed_at__isnull=False),
        "misrouted": Q(misroute_count__gt=0),
        "routed": Q(triaged_at__isnull=False),
        "reopened": Q(review_round__gt=0),
        "review_requested": Q(Exists(ReviewRequest.objects.filter(report=OuterRef("report")))),
        "duplicate": Q(duplicate_of__isnull=False),
        "original": Q(duplicate_of__isnull=True),
        "extended": Q(_deadline_exists(extensions__gt=0)),
        "overdue": Q(status__in=OPEN_STATES, due_at__lt=Coalesce(F("suspended_at"), Value(now))),
        "unrouted": Q(department__isnull=True),  # the league table's row of cases not yet routed
    }
    if flag in simple:
        return simple[flag]
    kind = flag.removeprefix("late_").removeprefix("ontime_")
    if kind in RATED_KINDS and flag.startswith("late_"):
        return Q(Exists(Deadline.objects.filter(case=OuterRef("pk"), kind=kind, cancelled_at__isnull=True)
                        .filter(_late_deadline_q(now))))
    if kind in RATED_KINDS and flag.startswith("ontime_"):
        late = Deadline.objects.filter(case=OuterRef("pk"), kind=kind, cancelled_at__isnull=True).filter(
            _late_deadline_q(now))
        return Q(_deadline_exists(kind, met_at__isnull=False, met_at__lte=F("due_at"))) & ~Q(Exists(late))
    rating = flag.removeprefix("rating_")
    if flag.startswith("rating_") and rating in Rating.values:
        return Q(split_from__isnull=True, report__feedback__rating=rating)
    for code, first, last in AGE_BUCKETS:
        if flag == f"age_{code}":
            q = Q(created_at__lte=now - timedelta(days=first))
            if last is not None:
                q &= Q(created_at__gt=now - timedelta(days=last + 1))
            return q
    return None


# CaseFigures column prefix of each rated deadline kind (dashboard_models.FIGURE_KINDS).
_FIGURE_PREFIX = {"acceptance_notice": "notice", "handle": "handle", "transfer": "transfer"}


def figure_flag_q(flag: str, *, now: datetime) -> Q | None:
    """`case_flag_q` over the maintained CaseFigures row of a case: the same cases, for a
    figures row that is current (its case not queued in FiguresDirty). Only the flags that
    need other tables on the case side (clocks, review requests, ratings); None for the
    others, which the case row answers itself (closed, routed, overdue, age, ...)."""
    from intake.models import Rating

    simple = {
        "review_requested": Q(review_requested=True),
        "extended": Q(extensions__gt=0),  # extensions of the clocks not cancelled, each >= 0
    }
    if flag in simple:
        return simple[flag]
    kind = flag.removeprefix("late_").removeprefix("ontime_")
    if kind in RATED_KINDS:
        p = _FIGURE_PREFIX[kind]
        # Late: a clock met late, one paused past its due time, or the running one past due now.
        late = Q(**{f"{p}_late": True}) | Q(**{f"{p}_paused_late": True}) | Q(**{f"{p}_due__lt": now})
        if flag.startswith("late_"):
            return late
        return Q(**{f"{p}_ok": True}) & ~late
    rating = flag.removeprefix("rating_")
    if flag.startswith("rating_") and rating in Rating.values:
        return Q(is_primary=True, rating=rating)  # the rating sits on the report's primary case only
    return None


def _flag_filter(flag: str, *, now: datetime, narrow: dict[str, Any]) -> Q | None:
    """The cases of a dashboard flag. Where CaseFigures holds the flag, read it from there
    (an index-only scan of the period, instead of an EXISTS over every deadline). Cases
    still queued (FiguresDirty: changed since the last refresh) are judged live in the
    same statement, so the set is exactly `case_flag_q`'s; with none queued, the plain
    semi-join, which the planner estimates well.
    `narrow`: lookups on CaseFigures that the case filters imply anyway (period,
    departments, ...), to keep the scan short."""
    live = case_flag_q(flag, now=now)
    figures = figure_flag_q(flag, now=now)
    if live is None or figures is None:
        return live
    current = CaseFigures.objects.filter(figures, **narrow).order_by().values("case_id")
    if not FiguresDirty.objects.exists():
        return Q(pk__in=current)
    queued = FiguresDirty.objects.values("case_id")
    changed = Case.objects.filter(live, pk__in=queued).order_by().values("pk")
    return Q(pk__in=current.exclude(case_id__in=queued).union(changed, all=True))


def local_day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def term_q(term: str) -> Q:
    """Cases whose classifier explanation names `term` (a frequent word, never report text)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return Q(triage_explanation__category__terms__contains=[term])
    return Q(triage_explanation__icontains=f'"{term}"')  # SQLite: no JSON containment; close enough


def _open_deadlines() -> QuerySet[Deadline]:
    return Deadline.objects.filter(met_at__isnull=True, cancelled_at__isnull=True)


def _deadline_q(state: str, now: datetime) -> Q:
    """The deadline state as SQL, from the stored due/paused times (see deadlines.deadline_state:
    a paused clock is judged when it stopped; 临期 when less than the fraction is left)."""
    overdue = Q(due_at__lt=Coalesce(F("suspended_at"), Value(now)))
    if connection.vendor == "sqlite":
        # SQLite stores datetimes as text, and Django's duration arithmetic on them ends up
        # comparing strings: the same inequality in Julian days.
        def jd(expr: Any) -> Func:
            return Func(expr, function="julianday", output_field=FloatField())

        jd_threshold = ExpressionWrapper(
            jd(F("due_at")) - (jd(F("due_at")) - jd(F("started_at"))) * settings.DEADLINE_DUE_SOON_FRACTION,
            output_field=FloatField())
        soon = Exists(_open_deadlines().filter(case=OuterRef("pk")).alias(jd_threshold=jd_threshold)
                      .filter(jd_threshold__lte=jd(Coalesce(F("paused_at"), Value(now)))))
    else:
        period = ExpressionWrapper(F("due_at") - F("started_at"), output_field=DurationField())
        threshold = ExpressionWrapper(F("due_at") - period * settings.DEADLINE_DUE_SOON_FRACTION,
                                      output_field=DateTimeField())
        soon = Exists(_open_deadlines().filter(case=OuterRef("pk")).alias(threshold=threshold)
                      .filter(threshold__lte=Coalesce(F("paused_at"), Value(now))))
    if state == DeadlineFilter.OVERDUE:
        return overdue
    if state == DeadlineFilter.DUE_SOON:
        return Q(soon) & ~overdue
    return Q(due_at__isnull=False) & ~overdue & ~Q(soon)


def _narrow(filters: CaseFilters) -> dict[str, Any]:
    """The console filters that CaseFigures holds too (it has no RECEIVED cases), as its
    lookups; the case side applies the same ones (`_console_cases`)."""
    narrow: dict[str, Any] = {}
    if filters.channel:
        narrow["channel"] = filters.channel
    if filters.category:
        narrow["category_id"] = filters.category
    if filters.matter_type:
        narrow["matter_type"] = filters.matter_type
    if filters.department is not None:
        narrow["department_id__in"] = subtree_ids(filters.department)
    if filters.created_from is not None:
        narrow["created_at__gte"] = local_day_start(filters.created_from)
    if filters.created_to is not None:
        narrow["created_at__lt"] = local_day_start(filters.created_to + timedelta(days=1))
    return narrow


def _console_cases(*, user: User, filters: CaseFilters, now: datetime,
                   narrow: dict[str, Any] | None = None) -> QuerySet[Case]:
    """Visible cases under every filter but the status (the tabs count by status).
    `narrow`: `_narrow(filters)`, when the caller has it already."""
    narrow = _narrow(filters) if narrow is None else narrow
    # On a case the channel is its report's.
    qs = (cases_visible_to(user).exclude(status=CaseStatus.RECEIVED)
          .filter(**{("report__channel" if key == "channel" else key): value for key, value in narrow.items()}))
    if filters.deadline_state:
        qs = qs.filter(_deadline_q(filters.deadline_state, now))
    if filters.supervised is not None:
        qs = qs.filter(supervised=filters.supervised)
    if filters.place:
        qs = qs.filter(department__area__code__startswith=filters.place)
    if filters.term:
        qs = qs.filter(term_q(filters.term))
    if filters.flag:
        q = _flag_filter(filters.flag, now=now, narrow=narrow)
        qs = qs.filter(q) if q is not None else qs.none()
    return qs


def _status_q(status: str) -> Q:
    if status == OPEN:
        return Q(status__in=OPEN_STATES)
    if status == ALL:
        return Q()
    return Q(status=status)


# Urgent first, then 督办, then the nearest due date (cases without a running clock last).
CONSOLE_ORDER = ("-urgent", "-supervised", F("due_at").asc(nulls_last=True), "pk")


def _queue_rows(qs: QuerySet[Case]) -> QuerySet[Case]:
    return (
        qs.select_related("category", "department", "transfer_to")
        .annotate(channel=F("report__channel"))
        .prefetch_related(Prefetch("deadlines", queryset=_open_deadlines(), to_attr="open_deadlines"))
        .order_by(*CONSOLE_ORDER)
    )


def console_queue(*, user: User, filters: CaseFilters, now: datetime | None = None) -> QuerySet[Case]:
    """The department queue: a fixed number of queries whatever the page shows (the running
    clocks of the rows come in one prefetch; the report only for its channel)."""
    now = now or timezone.now()
    return _queue_rows(_console_cases(user=user, filters=filters, now=now).filter(_status_q(filters.status)))


def _tab_counts(rows: Any) -> dict[str, int]:
    counts = {str(s): int(n) for s, n in rows}
    counts[OPEN] = sum(n for s, n in counts.items() if s in OPEN_STATES)
    counts[ALL] = sum(n for s, n in counts.items() if s in set(CaseStatus))
    return counts


def console_status_counts(*, user: User, filters: CaseFilters, now: datetime | None = None) -> dict[str, int]:
    """Cases per status under the other filters, for the tabs (one grouped query). The
    entry of `filters.status` is the number of rows `console_queue` lists."""
    now = now or timezone.now()
    rows = (_console_cases(user=user, filters=filters, now=now).order_by().values("status")
            .annotate(n=Count("pk")).values_list("status", "n"))
    return _tab_counts(rows)


def _in_tab(status: str, tab: str) -> bool:
    return tab == ALL or (status in OPEN_STATES if tab == OPEN else status == tab)


class CasesById(Sequence[Case]):
    """Cases listed by id, in a given order: a slice (a page) is one query for its rows
    and their running clocks, in the order of the ids."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> Case: ...

    @overload
    def __getitem__(self, index: slice) -> list[Case]: ...

    def __getitem__(self, index: int | slice) -> Case | list[Case]:
        if isinstance(index, int):
            return self[index:index + 1 or None][0]
        ids = self.ids[index]
        rows = {case.pk: case for case in _queue_rows(Case.objects.filter(pk__in=ids))}
        return [rows[pk] for pk in ids if pk in rows]


def _console_order_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """CONSOLE_ORDER in Python, for (pk, status, urgent, supervised, due_at) rows."""
    pk, _status, urgent, supervised, due_at = row
    return (not urgent, not supervised, due_at is None, due_at or datetime.min.replace(tzinfo=UTC), pk)


def console_list(*, user: User, filters: CaseFilters,
                 now: datetime | None = None) -> tuple[QuerySet[Case] | CasesById, dict[str, int]]:
    """`console_queue` and `console_status_counts` together. A drill-down (a flag) usually
    lists a few thousand cases: they are read once, with their status and order keys, up
    to the paginator's cap; the tabs are counted and the list ordered from them, and a page
    is read by id. (As one ORDER BY ... LIMIT, the planner walks the queue's order index
    looking for a sparse flag's cases: 0.4 s for 824 cases of 1,000,000.) Beyond the cap
    (a flag most cases have), the grouped count and the queue query as for any filter,
    after a bounded refresh of the figures (as a dashboard page makes): over a union with
    the queued cases the planner misjudges a long list (3 s instead of 0.4 s)."""
    from triage.dashboard_figures import figures_refresh

    now = now or timezone.now()
    cap = CappedPaginator.cap
    figures_q = figure_flag_q(filters.flag, now=now) if filters.flag else None
    if figures_q is not None:
        narrow = _narrow(filters)
        cases = _console_cases(user=user, filters=filters, now=now, narrow=narrow).order_by()
        # The flag's figures rows alone (an index-only scan) tell a long list early.
        few = CaseFigures.objects.filter(figures_q, **narrow).order_by()[: cap + 1].count() <= cap
        rows = list(cases.values_list("pk", "status", "urgent", "supervised", "due_at")[: cap + 1]) if few else []
        if few and len(rows) <= cap:
            counts = _tab_counts(Counter(row[1] for row in rows).items())
            listed = sorted((row for row in rows if _in_tab(row[1], filters.status)), key=_console_order_key)
            return CasesById([row[0] for row in listed]), counts
        if FiguresDirty.objects.exists():
            figures_refresh(max_rows=settings.DASHBOARD_READ_REFRESH_ROWS, rebuild_above=None)  # never a rebuild
    return (console_queue(user=user, filters=filters, now=now),
            console_status_counts(user=user, filters=filters, now=now))


def worst_deadline_state(deadlines: list[Deadline], *, now: datetime) -> DeadlineState | None:
    from triage.deadlines import deadline_state

    states = {deadline_state(d, now=now) for d in deadlines}
    for state in (DeadlineState.OVERDUE, DeadlineState.DUE_SOON, DeadlineState.NORMAL):
        if state in states:
            return state
    return None


class CappedPaginator(Paginator):  # type: ignore[type-arg]
    """Django's paginator counting at most `cap` rows: the count is one LIMITed subquery, so a
    queue of 200,000 cases costs no more to count than one of 10,000."""

    cap = 10_000

    def __init__(self, *args: Any, known_count: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.known_count = known_count

    @cached_property
    def count(self) -> int:
        """At most cap + 1. `known_count`: the exact number, when the caller counted the same
        rows already (the console's status tabs): then no query at all."""
        if self.known_count is not None:
            return min(self.known_count, self.cap + 1)
        return int(self.object_list.order_by()[: self.cap + 1].count())  # type: ignore[attr-defined]

    @property
    def capped(self) -> bool:
        return self.count > self.cap
